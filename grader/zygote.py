"""Fork server: imports torch and the probe module once, then forks one child per request.

Started by :class:`grader.sandbox.Sandbox` as ``python -I -c ... main(config_json)``.  The
zygote is trusted (it runs as the judge's user, root on Gradescope) and never imports
student code; only its forked children do, after dropping privileges and setting rlimits.

Protocol on a Unix stream socket (never stdin/stdout): each message is a u64 length followed
by a wire frame; a "run" request carries two fds (result pipe, output pipe) as SCM_RIGHTS on
its length prefix.  Replies: ``{"pid", "scratch"}`` right after the fork, then ``{"pid",
"exit_status", "cpu_seconds", "max_rss_kb"}`` once the child is reaped.  Other ops: "sweep"
(kill every descendant) and "shutdown".

This module imports no torch at import time: the judge imports it for send_msg/recv_msg.
"""
from __future__ import annotations

import ctypes
import importlib
import json
import os
import random
import resource
import signal
import socket
import struct
import sys
import tempfile
import time

from grader import wire

PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS, CLONE_NEWNET = 36, 38, 0x40000000
RESULT_FD = 3
MAX_CONTROL = 256 << 20
# Imported before any fork: cheap once, shared copy-on-write, and still importable when the
# sandbox user cannot read the interpreter's files (a Python under /root, mode 0700).
PRELOAD = ("numpy.random", "random", "secrets", "math", "cmath", "itertools", "functools",
           "collections", "collections.abc", "heapq", "bisect", "copy", "dataclasses", "typing",
           "enum", "abc", "json", "re", "string", "time", "warnings", "contextlib", "operator",
           "statistics", "fractions", "decimal", "inspect", "pathlib", "io", "struct", "textwrap",
           "traceback", "argparse", "logging", "numbers", "torch.nn", "torch.nn.functional",
           "torch.optim", "torch.utils.data", "torch.distributions", "torch.autograd.functional")
_MEMORY_WORDS = ("can't allocate memory", "not enough memory", "out of memory", "bad_alloc")


# ----------------------------------------------------------------------------- protocol

def send_msg(sock: socket.socket, obj, fds=()) -> None:
    frame = wire.encode(obj)
    socket.send_fds(sock, [struct.pack(">Q", len(frame))], list(fds))
    sock.sendall(frame)


def recv_msg(sock: socket.socket, max_bytes: int = MAX_CONTROL):
    """One (message, fds) pair; EOFError when the peer has gone."""
    raw, fds = recv_raw(sock, max_bytes)
    return wire.decode(raw, max_bytes=max_bytes), fds


def recv_raw(sock: socket.socket, max_bytes: int = MAX_CONTROL) -> tuple[bytes, list[int]]:
    head, fds = b"", []
    while len(head) < 8:
        data, got, _flags, _addr = socket.recv_fds(sock, 8 - len(head), 4)
        fds += got
        if not data:
            raise EOFError("control socket closed")
        head += data
    (size,) = struct.unpack(">Q", head)
    if size > max_bytes:
        raise wire.WireError(f"control message too large ({size} bytes)")
    buf = bytearray()
    while len(buf) < size:
        chunk = sock.recv(min(size - len(buf), 1 << 20))
        if not chunk:
            raise EOFError("control socket closed mid-message")
        buf += chunk
    return bytes(buf), fds


# ----------------------------------------------------------------------------- processes

_libc = ctypes.CDLL(None, use_errno=True)


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as f:
                    ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(name))
    out, todo = [], [root]
    while todo:
        for c in children.get(todo.pop(), ()):
            out.append(c)
            todo.append(c)
    return out


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def kill_descendants(deadline: float = 5.0) -> int:
    """SIGKILL every descendant until none is left.  As a child subreaper the zygote
    inherits orphans (a setsid'd grandchild included), so nothing escapes this tree."""
    killed, end = set(), time.monotonic() + deadline
    while time.monotonic() < end:
        _reap()
        pids = _descendants(os.getpid())
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            except ProcessLookupError:
                pass
        time.sleep(0.002)
    return len(killed)


# ----------------------------------------------------------------------------- the child

def _vm_size_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _drop_privileges(cfg: dict) -> None:
    """Own network namespace (best effort), then groups, gid, uid — in that order."""
    _libc.unshare(CLONE_NEWNET)  # EPERM in some containers: the seccomp-less fallback is fine
    os.setgroups([])
    os.setgid(cfg["gid"])
    os.setuid(cfg["uid"])
    if os.getuid() != cfg["uid"] or os.geteuid() != cfg["uid"]:
        os._exit(71)


def _set_limits(cfg: dict, sandboxed: bool) -> None:
    mb = 1 << 20
    limits = [(resource.RLIMIT_CPU, cfg["cpu_seconds"], cfg["cpu_seconds"] + 1),
              (resource.RLIMIT_FSIZE, cfg["fsize_mb"] * mb, cfg["fsize_mb"] * mb),
              (resource.RLIMIT_NOFILE, cfg["nofile"], cfg["nofile"]),
              (resource.RLIMIT_CORE, 0, 0)]
    if sandboxed:  # NPROC counts every process of the uid: only meaningful for our own user
        limits.append((resource.RLIMIT_NPROC, cfg["nproc"], cfg["nproc"]))
    # Last, so the allowance is on top of torch already mapped (CUDA builds map GBs).
    address_space = _vm_size_bytes() + cfg["memory_mb"] * mb
    limits.append((resource.RLIMIT_AS, address_space, address_space))
    for which, soft, hard in limits:
        resource.setrlimit(which, (soft, hard))


def _type_name(x) -> str:
    return type.__dict__["__name__"].__get__(type(x))


def _error(exc: BaseException, directory: str) -> dict:
    from grader.loader import StudentImportError, filter_traceback
    name = _type_name(exc)
    try:
        text = str(exc)
    except BaseException:
        text = "<unprintable>"
    first = (text.splitlines() or [""])[0][:500]
    if isinstance(exc, wire.ProbeError):
        return {"ok": False, "kind": "contract", "type": name, "message": text[:2000],
                "traceback": ""}
    if isinstance(exc, StudentImportError):
        return {"ok": False, "kind": "import", "type": name, "message": exc.message,
                "traceback": exc.traceback}
    memory = isinstance(exc, MemoryError) or (
        isinstance(exc, RuntimeError) and any(w in text.lower() for w in _MEMORY_WORDS))
    return {"ok": False, "kind": "memory" if memory else "exception", "type": name,
            "message": f"{name}: {first}" if first else name,
            "traceback": filter_traceback(exc, directory)}


def _child(cfg: dict, sock: socket.socket, raw: bytes, res_w: int, out_w: int,
           scratch: str, trusted: bool, probes) -> None:
    os.setsid()
    signal.signal(signal.SIGINT, signal.default_int_handler)  # the zygote ignores it
    sock.detach()  # its fd is closed below; never let the object close a reused number
    null = os.open("/dev/null", os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(out_w, 1)
    os.dup2(out_w, 2)
    os.dup2(res_w, RESULT_FD)
    os.closerange(RESULT_FD + 1, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
    sys.stdout.reconfigure(line_buffering=True)
    sys.stderr.reconfigure(line_buffering=True)
    os.chdir(scratch)
    sandboxed = cfg["uid"] is not None and not trusted
    _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)  # no setuid binaries (su, sudo) from here on
    if sandboxed:
        _drop_privileges(cfg)
    os.environ.clear()
    os.environ.update(PATH="/usr/local/bin:/usr/bin:/bin", HOME=scratch, TMPDIR=scratch,
                      OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", LANG="C.UTF-8")
    tempfile.tempdir = scratch
    _set_limits(cfg, sandboxed)

    import numpy as np
    import torch
    from grader.loader import StudentModules
    if sandboxed:  # the grader's root holds reference/ and tests_hidden/: not even their names
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != root]
    directory = cfg["reference_dir"] if trusted else cfg["submission_dir"]
    try:
        req = wire.decode(raw, max_bytes=MAX_CONTROL, tensors="torch")
        torch.set_num_threads(1)
        torch.manual_seed(req["seed"])
        random.seed(req["seed"])
        np.random.seed(req["seed"] % (1 << 32))
        value = probes.PROBES[req["probe"]](StudentModules(directory), **req["kwargs"])
        reply = {"ok": True, "value": value}
    except BaseException as exc:  # SystemExit, KeyboardInterrupt and custom ones included
        reply = _error(exc, directory)
    try:
        frame = wire.encode(reply, max_bytes=cfg["result_cap"])
    except BaseException as exc:
        kind = "memory" if isinstance(exc, MemoryError) else "bad_output"
        frame = wire.encode({"ok": False, "kind": kind, "type": _type_name(exc),
                             "message": f"the returned value could not be sent: {exc}",
                             "traceback": ""})
    view = memoryview(frame)
    while view:
        view = view[os.write(RESULT_FD, view):]
    os.close(RESULT_FD)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass
    os._exit(0)


# ----------------------------------------------------------------------------- main loop

def _serve_run(cfg: dict, sock: socket.socket, req: dict, raw: bytes, fds: list, probes):
    res_w, out_w = fds
    scratch = tempfile.mkdtemp(prefix="run-", dir=cfg["scratch_root"])
    trusted = bool(req.get("trusted"))
    if cfg["uid"] is not None and not trusted:
        os.chown(scratch, cfg["uid"], cfg["gid"])
    pid = os.fork()
    if pid == 0:
        try:
            _child(cfg, sock, raw, res_w, out_w, scratch, trusted, probes)
        finally:
            os._exit(70)  # never fall back into the server loop
    os.close(res_w)
    os.close(out_w)
    send_msg(sock, {"pid": pid, "scratch": scratch})
    _, status, usage = os.wait4(pid, 0)
    _reap()
    send_msg(sock, {"pid": pid, "exit_status": os.waitstatus_to_exitcode(status),
                    "cpu_seconds": usage.ru_utime + usage.ru_stime,
                    "max_rss_kb": usage.ru_maxrss})


def main(argv: list[str]) -> None:
    cfg = json.loads(argv[0])
    sock = socket.socket(fileno=cfg["sock_fd"])
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the judge decides when we stop
    _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    import torch
    torch.set_num_threads(1)
    import grader.loader  # noqa: F401  (imported before fork, used by every child)
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    if cfg.get("preload_lazy_torch"):
        # The sandbox user cannot read the stdlib here, and the first optimizer.step() imports
        # torch._dynamo, which imports stdlib modules nobody else does: load it before forking.
        importlib.import_module("torch._dynamo")
    probes = importlib.import_module(cfg["probe_module"])
    send_msg(sock, {"ready": True, "pid": os.getpid(), "torch": str(torch.__version__),
                    "vm_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss})
    while True:
        try:
            raw, fds = recv_raw(sock)
        except (EOFError, ConnectionError):
            break
        try:
            req = wire.decode(raw, max_bytes=MAX_CONTROL)
        except wire.WireError:
            req = None
        op = req.get("op") if type(req) is dict else None
        if op == "run" and len(fds) == 2:
            _serve_run(cfg, sock, req, raw, fds, probes)
        elif op == "sweep":
            send_msg(sock, {"killed": kill_descendants()})
        elif op == "shutdown":
            kill_descendants()
            send_msg(sock, {"bye": True})
            break
        else:
            for fd in fds:
                os.close(fd)
            send_msg(sock, {"error": f"bad request {op!r}"})
    kill_descendants()
    os._exit(0)  # skip interpreter teardown: with torch loaded it takes most of a second
