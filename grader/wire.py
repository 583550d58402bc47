"""Typed, size-capped wire codec between the judge and the worker (no pickle).

Frame layout::

    b"PS1W" | u32 header length (big-endian) | JSON header | pad to 8 | blob, pad to 8, blob, ...

The header is ``{"v": tree, "blobs": [size, ...]}``.  In the tree, JSON lists are Python
lists and every JSON object is a one-key tagged record (``__tuple__``, ``__dict__``,
``__ndarray__``, ``__tensor__``, ``__unsupported__``), so a student's dict can never be
mistaken for a tagged value.  Raw array bytes live in 8-byte-aligned blobs.

Encoding checks EXACT types (``type(x) is ...``) before touching a value, so subclasses and
objects with rigged ``__eq__``/``__len__``/``__torch_function__`` are never called: they
become ``Unsupported(type name)``.  The encoder runs in the untrusted worker, so it only has
to be honest with honest values; the security boundary is :func:`decode`, which treats its
input as hostile (caps, exact lengths, known dtypes only).

The judge decodes with ``tensors="numpy"`` and never imports torch; the worker decodes with
``tensors="torch"``.
"""
from __future__ import annotations

import json
import struct
import sys
from dataclasses import dataclass

import numpy as np

MAGIC = b"PS1W"
MAX_BYTES = 64 << 20
MAX_DEPTH = 32
MAX_ITEMS = 1_000_000  # nodes in the tree (list items, dict entries, scalars)
MAX_STR = 1 << 20      # characters per string
MAX_NDIM = 32
INT_RANGE = 1 << 63

# numpy dtypes allowed on the wire (little-endian canonical form).
_NP_DTYPES = {np.dtype(t).newbyteorder("<").str for t in
              ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
               "uint64", "float16", "float32", "float64")}
_NP_SCALARS = {np.bool_: bool, np.int8: int, np.int16: int, np.int32: int, np.int64: int,
               np.uint8: int, np.uint16: int, np.uint32: int, np.uint64: int,
               np.float16: float, np.float32: float, np.float64: float}
# torch dtype name -> numpy dtype of the bytes on the wire (half types travel as float32).
_TORCH_TO_NP = {"float32": "<f4", "float64": "<f8", "float16": "<f4", "bfloat16": "<f4",
                "int8": "|i1", "int16": "<i2", "int32": "<i4", "int64": "<i8",
                "uint8": "|u1", "bool": "|b1"}


class WireError(ValueError):
    """A frame or value that breaks the codec's rules or caps."""


class ProbeError(Exception):
    """Raised by a probe for a contract violation; its message reaches the student as-is."""


@dataclass(frozen=True, eq=False)
class Tensor:
    """A torch tensor as the judge sees it: read-only array + original dtype name + device."""
    array: np.ndarray
    dtype: str
    device: str = "cpu"

    @property
    def shape(self) -> tuple:
        return self.array.shape

    def __repr__(self) -> str:
        # The values too (numpy abbreviates large arrays): `p got` in pdb shows the numbers.
        values = np.array2string(self.array, precision=4, threshold=200, edgeitems=4)
        return (f"wire.Tensor(shape={self.shape}, dtype={self.dtype}, device={self.device}, "
                f"values=\n{values})")


@dataclass(frozen=True)
class Unsupported:
    """Stands for a value of a type the wire does not carry; only its type name survives."""
    type_name: str


def _type_name(x) -> str:
    # type.__dict__'s descriptor reads the C-level name: a metaclass cannot fake it.
    return type.__dict__["__name__"].__get__(type(x))[:200]


# ----------------------------------------------------------------------------- encoding

class _Encoder:
    def __init__(self, max_bytes: int, max_depth: int, max_items: int):
        self.blobs: list[memoryview] = []
        self.size = 0
        self.items = 0
        self.max_bytes, self.max_depth, self.max_items = max_bytes, max_depth, max_items

    def blob(self, arr: np.ndarray) -> int:
        mv = memoryview(arr).cast("B")
        self.size += len(mv) + 8
        if self.size > self.max_bytes:
            raise WireError(f"value too large to send (over {self.max_bytes >> 20} MiB)")
        self.blobs.append(mv)
        return len(self.blobs) - 1

    def walk(self, x, depth: int):
        self.items += 1
        if self.items > self.max_items:
            raise WireError(f"value has too many elements (over {self.max_items})")
        if depth > self.max_depth:
            raise WireError(f"value nested too deeply (over {self.max_depth} levels)")
        t = type(x)
        if x is None or t is bool or t is float:
            return x
        if t is int:
            if not -INT_RANGE <= x < INT_RANGE:
                raise WireError("integer too large to send (beyond 64 bits)")
            return x
        if t is str:
            if len(x) > MAX_STR:
                raise WireError(f"string too long to send (over {MAX_STR} characters)")
            return x
        if t is list:
            return [self.walk(v, depth + 1) for v in x]
        if t is tuple:
            return {"__tuple__": [self.walk(v, depth + 1) for v in x]}
        if t is dict:
            out = {}
            for k, v in x.items():
                if type(k) is not str:
                    raise WireError(f"dict keys must be str, got {_type_name(k)}")
                out[k] = self.walk(v, depth + 1)
            return {"__dict__": out}
        if t in _NP_SCALARS:
            return self.walk(_NP_SCALARS[t](x.item()), depth)
        if t is np.ndarray:
            return self.ndarray(x)
        if t is Tensor:
            arr = np.ascontiguousarray(x.array, dtype=_TORCH_TO_NP.get(x.dtype, x.array.dtype))
            return {"__tensor__": {"blob": self.blob(arr), "dtype": x.dtype,
                                   "shape": list(arr.shape), "device": x.device}}
        torch = sys.modules.get("torch")  # no torch loaded -> nothing can be a tensor
        if torch is not None and t is torch.Tensor:
            return self.tensor(torch, x)
        return {"__unsupported__": _type_name(x)}

    def ndarray(self, x: np.ndarray):
        dt = x.dtype
        if dt.fields is not None or dt.newbyteorder("<").str not in _NP_DTYPES:
            return {"__unsupported__": f"ndarray[{dt}]"}
        if x.ndim > MAX_NDIM:
            raise WireError(f"array has too many dimensions ({x.ndim})")
        arr = np.ascontiguousarray(x, dtype=dt.newbyteorder("<"))
        return {"__ndarray__": {"blob": self.blob(arr), "dtype": arr.dtype.str,
                                "shape": list(arr.shape)}}

    def tensor(self, torch, x):
        # Base-class methods only, with every __torch_function__ mode/subclass hook off.
        with torch._C.DisableTorchFunction():
            t = torch.Tensor.detach(x)
            name = str(t.dtype).removeprefix("torch.")
            if t.layout is not torch.strided or name not in _TORCH_TO_NP:
                return {"__unsupported__": f"Tensor[{name}, {t.layout}]"}
            if t.ndim > MAX_NDIM:
                raise WireError(f"tensor has too many dimensions ({t.ndim})")
            device = str(t.device)
            try:
                t = t.cpu()
            except Exception:  # meta tensors and friends have no data
                return {"__unsupported__": f"Tensor[{device}]"}
            if name in ("float16", "bfloat16"):
                t = t.float()
            arr = t.resolve_conj().resolve_neg().contiguous().numpy()
        return {"__tensor__": {"blob": self.blob(arr), "dtype": name,
                               "shape": list(arr.shape), "device": device[:32]}}


def _pad(n: int) -> int:
    return -n % 8


def encode(obj, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH,
           max_items: int = MAX_ITEMS) -> bytes:
    """Encode ``obj`` into one frame; raises WireError when a cap is exceeded."""
    enc = _Encoder(max_bytes, max_depth, max_items)
    tree = enc.walk(obj, 0)
    header = json.dumps({"v": tree, "blobs": [len(b) for b in enc.blobs]},
                        separators=(",", ":")).encode("ascii")
    parts = [MAGIC, struct.pack(">I", len(header)), header, b"\0" * _pad(8 + len(header))]
    for b in enc.blobs:
        parts += [b, b"\0" * _pad(len(b))]
    frame = b"".join(parts)
    if len(frame) > max_bytes:
        raise WireError(f"value too large to send ({len(frame)} bytes, cap {max_bytes})")
    return frame


# ----------------------------------------------------------------------------- decoding

class _Decoder:
    def __init__(self, blobs: list[memoryview], tensors: str, max_depth: int, max_items: int):
        self.blobs, self.used = blobs, set()
        self.tensors, self.max_depth, self.max_items = tensors, max_depth, max_items
        self.items = 0

    def walk(self, x, depth: int):
        self.items += 1
        if self.items > self.max_items:
            raise WireError(f"frame has too many elements (over {self.max_items})")
        if depth > self.max_depth:
            raise WireError(f"frame nested too deeply (over {self.max_depth} levels)")
        t = type(x)
        if x is None or t is bool or t is float:
            return x
        if t is int:
            if not -INT_RANGE <= x < INT_RANGE:
                raise WireError("integer out of range")
            return x
        if t is str:
            if len(x) > MAX_STR:
                raise WireError("string too long")
            return x
        if t is list:
            return [self.walk(v, depth + 1) for v in x]
        if t is not dict or len(x) != 1:
            raise WireError("malformed tree node")
        (tag, body), = x.items()
        if tag == "__tuple__" and type(body) is list:
            return tuple(self.walk(v, depth + 1) for v in body)
        if tag == "__dict__" and type(body) is dict:
            return {k: self.walk(v, depth + 1) for k, v in body.items()}
        if tag == "__unsupported__" and type(body) is str and len(body) <= 200:
            return Unsupported(body)
        if tag == "__ndarray__" and type(body) is dict:
            if type(body.get("dtype")) is not str or body["dtype"] not in _NP_DTYPES:
                raise WireError(f"array dtype not allowed: {str(body.get('dtype'))[:40]}")
            arr = self.array(body, body["dtype"])
            return self.to_torch(arr, None) if self.tensors == "torch" else arr.copy()
        if tag == "__tensor__" and type(body) is dict:
            name, device = body.get("dtype"), body.get("device", "cpu")
            if type(name) is not str or name not in _TORCH_TO_NP:
                raise WireError(f"tensor dtype not allowed: {str(name)[:40]}")
            if type(device) is not str or len(device) > 32:
                raise WireError("malformed tensor device")
            arr = self.array(body, _TORCH_TO_NP[name])
            if self.tensors == "torch":
                return self.to_torch(arr, name)
            arr.flags.writeable = False
            return Tensor(arr, name, device)
        raise WireError(f"unknown tree tag {str(tag)[:40]!r}")

    def array(self, body: dict, dtype: str) -> np.ndarray:
        idx, shape = body.get("blob"), body.get("shape")
        if type(idx) is not int or not 0 <= idx < len(self.blobs) or idx in self.used:
            raise WireError("bad blob reference")
        self.used.add(idx)
        if (type(shape) is not list or len(shape) > MAX_NDIM
                or any(type(n) is not int or n < 0 for n in shape)):
            raise WireError("bad array shape")
        dt = np.dtype(dtype)
        count = 1
        for n in shape:
            count *= n
        blob = self.blobs[idx]
        if count * dt.itemsize != len(blob):
            raise WireError(f"array bytes ({len(blob)}) do not match shape {shape} of {dtype}")
        if dt.kind == "b" and len(blob) and np.frombuffer(blob, np.uint8).max() > 1:
            raise WireError("bool array with bytes other than 0/1")
        return np.frombuffer(blob, dt).reshape(shape)

    @staticmethod
    def to_torch(arr: np.ndarray, name):
        import torch  # worker side only
        t = torch.from_numpy(arr.astype(arr.dtype.newbyteorder("="), copy=True))
        return t.to(getattr(torch, name)) if name in ("float16", "bfloat16") else t


def decode(data: bytes, *, max_bytes: int = MAX_BYTES, tensors: str = "numpy",
           max_depth: int = MAX_DEPTH, max_items: int = MAX_ITEMS):
    """Decode one frame produced by :func:`encode`; hostile input raises WireError."""
    if tensors not in ("numpy", "torch"):
        raise ValueError("tensors must be 'numpy' or 'torch'")
    data = memoryview(data).cast("B")
    if len(data) > max_bytes:
        raise WireError(f"frame too large ({len(data)} bytes, cap {max_bytes})")
    if len(data) < 8 or bytes(data[:4]) != MAGIC:
        raise WireError("not a wire frame (bad magic)")
    (hlen,) = struct.unpack(">I", data[4:8])
    if 8 + hlen > len(data):
        raise WireError("truncated frame header")
    try:
        header = json.loads(bytes(data[8:8 + hlen]).decode("ascii"))
    except RecursionError:
        raise WireError("frame nested too deeply") from None
    except ValueError as e:
        raise WireError(f"malformed frame header: {type(e).__name__}") from None
    if type(header) is not dict or set(header) != {"v", "blobs"} or type(header["blobs"]) is not list:
        raise WireError("malformed frame header")
    pos = 8 + hlen + _pad(8 + hlen)
    blobs = []
    for size in header["blobs"]:
        if type(size) is not int or size < 0 or pos + size > len(data):
            raise WireError("bad blob size")
        blobs.append(data[pos:pos + size])
        pos += size + _pad(size)
    if pos != len(data):
        raise WireError(f"frame length mismatch ({len(data)} bytes, expected {pos})")
    dec = _Decoder(blobs, tensors, max_depth, max_items)
    try:
        value = dec.walk(header["v"], 0)
    except RecursionError:
        raise WireError("frame nested too deeply") from None
    if len(dec.used) != len(blobs):
        raise WireError("frame has unreferenced blobs")
    return value
