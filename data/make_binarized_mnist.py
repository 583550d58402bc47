#!/usr/bin/env python3
"""Build ``data/binarized_mnist.npz``: statically binarized MNIST (50k / 10k / 10k).

Static binarization, the convention of the literature's fixed binarized MNIST
(Salakhutdinov & Murray 2008; Larochelle & Murray 2011): every grey level is read as
a probability ``p = intensity / 255`` and binarized ONCE with a single Bernoulli draw
per pixel from a fixed seed, so every user gets exactly the same bits.

Splits: train = first 50,000 MNIST training images, valid = last 10,000 MNIST training
images, test = the 10,000 MNIST test images.

Storage: ``np.packbits`` of the (N, 784) bit matrix of each split (keys ``train``,
``valid``, ``test``) plus ``shape_<split>`` = (N, 784) for unpacking.

Usage (from the repository root):
    python data/make_binarized_mnist.py                  # from ../shared/data/mnist (raw IDX .gz)
    python data/make_binarized_mnist.py --raw DIR        # from DIR with the four IDX .gz files
    python data/make_binarized_mnist.py --download       # fetch MNIST with torchvision (online)
    python data/make_binarized_mnist.py --check          # verify the committed npz

Needs numpy only (torchvision only for --download).
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import struct
import sys
from pathlib import Path

import numpy as np

SEED = 20240517
SPLITS = ("train", "valid", "test")
NUM_PIXELS = 784
# SHA-256 of the unpacked bits (see content_sha256); independent of zip metadata.
EXPECTED_SHA256 = "0522359ba618ed1c7e89ebf6f585f4a50286b567b100087f26cf3b0e8b5b96c7"

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "binarized_mnist.npz"
DEFAULT_RAW = HERE.parent.parent / "shared" / "data" / "mnist"
RAW_FILES = {"train": "train-images-idx3-ubyte.gz", "test": "t10k-images-idx3-ubyte.gz"}


def read_idx_images(path: Path) -> np.ndarray:
    """Read an IDX3 (optionally gzipped) image file into a uint8 array (N, 784)."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    magic, n, rows, cols = struct.unpack(">IIII", raw[:16])
    if magic != 2051:
        raise ValueError(f"{path}: not an IDX3 image file (magic {magic})")
    images = np.frombuffer(raw, dtype=np.uint8, offset=16)
    if images.size != n * rows * cols:
        raise ValueError(f"{path}: truncated ({images.size} of {n * rows * cols} bytes)")
    return images.reshape(n, rows * cols)


def load_raw(raw_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """Raw uint8 intensities (60000, 784), (10000, 784) from a folder of IDX .gz files."""
    paths = {k: raw_dir / v for k, v in RAW_FILES.items()}
    for p in paths.values():
        if not p.exists() and not p.with_suffix("").exists():
            raise FileNotFoundError(f"missing raw MNIST file {p} (use --raw DIR or --download)")
    return tuple(read_idx_images(p if p.exists() else p.with_suffix("")) for p in paths.values())


def download_raw(root: Path) -> tuple[np.ndarray, np.ndarray]:
    """Fetch MNIST with torchvision (needs internet); same uint8 arrays as load_raw."""
    from torchvision.datasets import MNIST

    train = MNIST(str(root), train=True, download=True)
    test = MNIST(str(root), train=False, download=True)
    return (train.data.numpy().reshape(-1, NUM_PIXELS).astype(np.uint8),
            test.data.numpy().reshape(-1, NUM_PIXELS).astype(np.uint8))


def binarize(train_raw: np.ndarray, test_raw: np.ndarray, seed: int = SEED) -> dict[str, np.ndarray]:
    """One Bernoulli(intensity/255) draw per pixel; train images first, then test."""
    if train_raw.shape != (60000, NUM_PIXELS) or test_raw.shape != (10000, NUM_PIXELS):
        raise ValueError(f"unexpected raw shapes {train_raw.shape}, {test_raw.shape}")
    rng = np.random.default_rng(seed)
    raw = np.concatenate([train_raw, test_raw]).astype(np.float64) / 255.0
    bits = (rng.random(raw.shape) < raw).astype(np.uint8)
    return {"train": bits[:50000], "valid": bits[50000:60000], "test": bits[60000:]}


def content_sha256(splits: dict[str, np.ndarray]) -> str:
    """SHA-256 over split name, shape and the uint8 bits of each split, in SPLITS order."""
    h = hashlib.sha256()
    for name in SPLITS:
        a = np.ascontiguousarray(splits[name], dtype=np.uint8)
        h.update(f"{name}:{a.shape[0]}x{a.shape[1]};".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def save(splits: dict[str, np.ndarray], out: Path) -> None:
    arrays = {}
    for name in SPLITS:
        arrays[name] = np.packbits(splits[name], axis=1)
        arrays[f"shape_{name}"] = np.array(splits[name].shape, dtype=np.int64)
    tmp = out.with_name(out.name + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(out)


def load(path: Path) -> dict[str, np.ndarray]:
    """Unpack the npz into {split: uint8 (N, 784) in {0, 1}}."""
    with np.load(path) as z:
        return {name: np.unpackbits(z[name], axis=1, count=int(z[f"shape_{name}"][1]))[: int(z[f"shape_{name}"][0])]
                for name in SPLITS}


def check(path: Path = DEFAULT_OUT) -> str:
    """Raise ValueError unless ``path`` holds the expected bits; returns the digest."""
    splits = load(path)
    for name, n in zip(SPLITS, (50000, 10000, 10000)):
        a = splits[name]
        if a.shape != (n, NUM_PIXELS) or a.max() > 1:
            raise ValueError(f"{path}: split {name} has shape {a.shape}, max {a.max()}")
    digest = content_sha256(splits)
    if digest != EXPECTED_SHA256:
        raise ValueError(f"{path}: SHA-256 {digest} != expected {EXPECTED_SHA256}")
    return digest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--raw", type=Path, default=None, help=f"folder with the raw MNIST IDX .gz files (default {DEFAULT_RAW})")
    ap.add_argument("--download", action="store_true", help="download MNIST with torchvision instead (needs internet)")
    ap.add_argument("--download-root", type=Path, default=HERE / "raw", help="where --download stores raw MNIST")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--check", action="store_true", help="only verify --out against the recorded SHA-256")
    args = ap.parse_args(argv)
    try:
        if args.check:
            print(f"OK {args.out} sha256={check(args.out)}")
            return 0
        if args.download:
            train_raw, test_raw = download_raw(args.download_root)
        else:
            train_raw, test_raw = load_raw(args.raw or DEFAULT_RAW)
        splits = binarize(train_raw, test_raw)
        digest = content_sha256(splits)
        save(splits, args.out)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB) sha256={digest}")
    if digest != EXPECTED_SHA256:
        print(f"error: SHA-256 differs from the recorded {EXPECTED_SHA256}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
