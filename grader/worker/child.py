"""One forked worker: drop privileges, set limits, run one probe, write one frame, exit.

The fork server (grader/trusted/zygote.py) forks a child per request and calls :func:`run`.
Roles:
  student    the sandbox user (when the server is root), the submission's modules, worker probes
  reference  the server's user, reference/ (the oracle), worker probes
  measure    the server's user, no modules at all: trusted measurement probes
The reply goes to fd 3 as one wire frame. Once a student module is imported, every byte of
it is the student's choice: the judge reads raw evaluations from it, nothing more.

A session worker (a student's untimed probes of one test, sandbox.py) reads further requests
from fd 4 after the first, and writes each reply as a u64 length and a frame, until fd 4
ends: one fork per test instead of one per probe, state kept between them as in-process.

The trusted roles' untimed probes run instead in the oracle worker (grader/trusted/oracle.py),
which shares :func:`evaluate` with this module.
"""
from __future__ import annotations

import ctypes
import fcntl
import os
import random
import resource
import signal
import struct
import sys
import tempfile

from grader import wire

RESULT_FD, REQUEST_FD = 3, 4
MAX_REQUEST = 256 << 20
PR_SET_NO_NEW_PRIVS, CLONE_NEWNET = 38, 0x40000000
ENVIRONMENT = {"PATH": "/usr/local/bin:/usr/bin:/bin", "OMP_NUM_THREADS": "1",
               "MKL_NUM_THREADS": "1", "LANG": "C.UTF-8"}
_MEMORY_WORDS = ("can't allocate memory", "not enough memory", "out of memory", "bad_alloc")
_libc = ctypes.CDLL(None, use_errno=True)


def _vm_size_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _drop_privileges(cfg: dict) -> None:
    """Own network namespace (best effort), then groups, gid, uid — in that order."""
    _libc.unshare(CLONE_NEWNET)  # EPERM in some containers: the uid change still holds
    os.setgroups([])
    os.setgid(cfg["gid"])
    os.setuid(cfg["uid"])
    if os.getuid() != cfg["uid"] or os.geteuid() != cfg["uid"]:
        os._exit(71)


def set_limits(cfg: dict, sandboxed: bool, cpu: bool = True) -> None:
    mb = 1 << 20
    limits = [(resource.RLIMIT_FSIZE, cfg["fsize_mb"] * mb, cfg["fsize_mb"] * mb),
              (resource.RLIMIT_NOFILE, cfg["nofile"], cfg["nofile"]),
              (resource.RLIMIT_CORE, 0, 0)]
    if cpu:  # the oracle worker lives for the whole grading: the judge's deadlines bound it
        limits.append((resource.RLIMIT_CPU, cfg["cpu_seconds"], cfg["cpu_seconds"] + 1))
    if sandboxed:  # NPROC counts every process of the uid: only meaningful for our own user
        limits.append((resource.RLIMIT_NPROC, cfg["nproc"], cfg["nproc"]))
    # Last, so the allowance is on top of torch already mapped (CUDA builds map GBs).
    address_space = _vm_size_bytes() + cfg["memory_mb"] * mb
    limits.append((resource.RLIMIT_AS, address_space, address_space))
    for which, soft, hard in limits:
        resource.setrlimit(which, (soft, hard))


def _type_name(x) -> str:
    return type.__dict__["__name__"].__get__(type(x))


def _error(exc: BaseException, directory: str | None) -> dict:
    from grader.worker.loader import StudentImportError, filter_traceback
    name = _type_name(exc)
    try:
        text = str(exc)
    except BaseException:
        text = "<unprintable>"
    first = (text.splitlines() or [""])[0][:500]
    if isinstance(exc, wire.ProbeError):
        return {"ok": False, "kind": "contract", "message": text[:2000], "traceback": ""}
    if isinstance(exc, StudentImportError):
        return {"ok": False, "kind": "import", "message": exc.message, "traceback": exc.traceback}
    memory = isinstance(exc, MemoryError) or (
        isinstance(exc, RuntimeError) and any(w in text.lower() for w in _MEMORY_WORDS))
    return {"ok": False, "kind": "memory" if memory else "exception",
            "message": f"{name}: {first}" if first else name,
            "traceback": filter_traceback(exc, directory) if directory else ""}


def _tell_torch_sigchld_is_set() -> None:
    """The worker's filter refuses any change of SIGCHLD (the clock must see every child).
    torch's DataLoader sets a SIGCHLD handler the first time it starts workers: it is told one
    is set, and notices a dead worker by polling, as it also does."""
    from torch.utils.data._utils import signal_handling
    signal_handling._SIGCHLD_handler_set = True


def _redirect(res_w: int, out_w: int, req_r: int | None) -> None:
    """fd 0 reads nothing, 1 and 2 go to the capped output pipe, 3 is the result pipe, 4 the
    request pipe of a session; every other descriptor (the control socket included) is
    closed."""
    # Each pipe is first copied above every target number: received descriptors may be 3 or
    # 4 themselves, and one dup2 would close another before it is in place.
    out_w, res_w, *req = (fcntl.fcntl(fd, fcntl.F_DUPFD, 16)
                          for fd in (out_w, res_w, req_r) if fd is not None)
    null = os.open("/dev/null", os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(out_w, 1)
    os.dup2(out_w, 2)
    os.dup2(res_w, RESULT_FD)
    last = RESULT_FD
    if req:
        os.dup2(req[0], REQUEST_FD)
        last = REQUEST_FD
    os.closerange(last + 1, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
    sys.stdout.reconfigure(line_buffering=True)
    sys.stderr.reconfigure(line_buffering=True)


def frame(reply: dict, result_cap: int) -> bytes:
    try:
        return wire.encode(reply, max_bytes=result_cap)
    except BaseException as exc:
        kind = "memory" if isinstance(exc, MemoryError) else "bad_output"
        return wire.encode({"ok": False, "kind": kind, "traceback": "",
                            "message": f"the returned value could not be sent: {exc}"})


def _reply(reply: dict, result_cap: int, framed: bool = False) -> None:
    """Write the reply (after what was printed); `framed`: length first, pipe left open."""
    _flush()
    data = frame(reply, result_cap)
    view = memoryview(struct.pack(">Q", len(data)) + data if framed else data)
    while view:
        view = view[os.write(RESULT_FD, view):]
    if not framed:
        os.close(RESULT_FD)


def _next_request() -> bytes | None:
    """A session's next request from fd 4, or None when the judge has ended the session."""
    head = _read_exactly(8)
    if head is None:
        return None
    (size,) = struct.unpack(">Q", head)
    return _read_exactly(size) if size <= MAX_REQUEST else None


def _read_exactly(size: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < size:
        data = os.read(REQUEST_FD, min(size - len(buf), 1 << 20))
        if not data:
            return None
        buf += data
    return bytes(buf)


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass


def run(cfg: dict, raw: bytes, res_w: int, out_w: int, scratch: str, role: str, probes,
        refusals=None, req_r: int | None = None) -> None:
    """The child's whole life; never returns. `refusals`: the seccomp filter a student worker
    loads (grader/trusted/seccomp.py), built by the server; None where it cannot be had.
    `req_r`: a session's request pipe (the first request is `raw`)."""
    os.setsid()
    signal.signal(signal.SIGINT, signal.default_int_handler)  # the server ignores it
    _redirect(res_w, out_w, req_r)
    os.chdir(scratch)
    sandboxed = role == "student" and cfg["uid"] is not None
    _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)  # no setuid binaries (su, sudo) from here on
    if sandboxed:
        _drop_privileges(cfg)
    if role == "student" and refusals is not None:
        refusals.load()  # after the uid change and the network unshare, before student code
    os.environ.clear()
    os.environ.update(ENVIRONMENT, HOME=scratch, TMPDIR=scratch)
    tempfile.tempdir = scratch
    set_limits(cfg, sandboxed)

    if role == "student" and refusals is not None:
        _tell_torch_sigchld_is_set()
    if sandboxed:  # the grader's root holds reference/ and tests_hidden/: not even their names
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != root]
    directory = {"student": cfg["submission_dir"], "reference": cfg["reference_dir"]}.get(role)
    while raw is not None:
        _reply(evaluate(raw, probes, directory), cfg["result_cap"], framed=req_r is not None)
        raw = _next_request() if req_r is not None else None
    _flush()
    os._exit(0)


def evaluate(raw: bytes, probes, directory: str | None) -> dict:
    """The reply to one encoded request: the probe's value, or what went wrong."""
    try:
        request = wire.decode(raw, max_bytes=MAX_REQUEST, tensors="torch")
    except BaseException as exc:
        return _error(exc, directory)
    return answer(request, probes, directory)


def answer(request: dict, probes, directory: str | None) -> dict:
    """The reply to one decoded request ({"probe", "kwargs", "seed"}), seeded alike every time."""
    import numpy as np
    import torch
    try:
        torch.set_num_threads(1)
        torch.manual_seed(request["seed"])
        random.seed(request["seed"])
        np.random.seed(request["seed"] % (1 << 32))
        probe = probes.PROBES[request["probe"]]
        if directory is None:
            value = probe(**request["kwargs"])
        else:
            from grader.worker.loader import StudentModules
            value = probe(StudentModules(directory), **request["kwargs"])
        return {"ok": True, "value": value}
    except BaseException as exc:  # SystemExit, KeyboardInterrupt and custom ones included
        return _error(exc, directory)
