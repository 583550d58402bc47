"""Fork server: imports torch and the probe modules once, then forks one worker per request.

Started by :class:`grader.trusted.sandbox.Sandbox` as ``python -I -c ... main(config_json)``.
The server is trusted: it runs as the judge's user (root on Gradescope) and never imports
student code; only its forked children do (grader/worker/child.py), after dropping privileges.

It is also the clock: a run's CPU time is what the kernel accounted to the worker and to every
process descended from it (the server is a child subreaper, so orphans are re-parented to it
and reaped here), its wall time is measured here, and processes a worker leaves running when
it exits are counted, then killed. Nothing a worker says about itself enters these figures.

Replies on the control socket (grader/trusted/protocol.py): ``{"pid", "scratch"}`` right after
the fork, then ``{"pid", "exit_status", "cpu_seconds", "wall_seconds", "orphans",
"max_rss_kb"}`` once the worker and its leftovers are reaped. Other ops: "sweep" (kill every
descendant) and "shutdown".
"""
from __future__ import annotations

import ctypes
import importlib
import json
import os
import resource
import signal
import socket
import tempfile
import time

from grader import wire
from grader.trusted.protocol import recv_raw, send_msg

PR_SET_CHILD_SUBREAPER = 36
# Imported before any fork: cheap once, shared copy-on-write, and still importable when the
# sandbox user cannot read the interpreter's files (a Python under /root, mode 0700).
PRELOAD = ("numpy.random", "random", "secrets", "math", "cmath", "itertools", "functools",
           "collections", "collections.abc", "heapq", "bisect", "copy", "dataclasses", "typing",
           "enum", "abc", "json", "re", "string", "time", "warnings", "contextlib", "operator",
           "statistics", "fractions", "decimal", "inspect", "pathlib", "io", "struct", "textwrap",
           "traceback", "argparse", "logging", "numbers", "torch.nn", "torch.nn.functional",
           "torch.optim", "torch.utils.data", "torch.distributions", "torch.autograd.functional",
           "torch.nn.utils.parametrize", "grader.worker.loader")
ROLES = ("student", "reference", "measure")
_libc = ctypes.CDLL(None, use_errno=True)


# ----------------------------------------------------------------------------- processes

def _children_of() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as f:
                    fields = f.read().rsplit(b")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if fields[0] != b"Z":  # zombies are reaped, not killed
                children.setdefault(int(fields[1]), []).append(int(name))
    return children


def descendants(root: int) -> list[int]:
    children, out, todo = _children_of(), [], [root]
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
    """SIGKILL every descendant until none is left, reaping as we go.  As a child subreaper
    the server inherits orphans (a setsid'd grandchild included), so nothing escapes."""
    killed, end = set(), time.monotonic() + deadline
    while time.monotonic() < end:
        _reap()
        pids = descendants(os.getpid())
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            except ProcessLookupError:
                pass
        time.sleep(0.002)
    _reap()
    return len(killed)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# ----------------------------------------------------------------------------- serving

def _serve_run(cfg: dict, sock: socket.socket, req: dict, raw: bytes, fds: list, modules):
    from grader.worker import child
    res_w, out_w = fds
    role = req.get("role")
    if role not in ROLES or (role == "reference" and not cfg["reference_dir"]):
        for fd in fds:
            os.close(fd)
        send_msg(sock, {"error": f"bad role {role!r}"})
        return
    scratch = tempfile.mkdtemp(prefix="run-", dir=cfg["scratch_root"])
    if cfg["uid"] is not None and role == "student":
        os.chown(scratch, cfg["uid"], cfg["gid"])
    cpu_before, started = _children_cpu(), time.monotonic()
    pid = os.fork()
    if pid == 0:
        try:
            sock.detach()  # its fd is closed in the child; never close a reused number
            child.run(cfg, raw, res_w, out_w, scratch, role, modules[role])
        finally:
            os._exit(70)  # never fall back into the server loop
    os.close(res_w)
    os.close(out_w)
    send_msg(sock, {"pid": pid, "scratch": scratch})
    _, status, usage = os.wait4(pid, 0)
    wall = time.monotonic() - started
    orphans = len(descendants(os.getpid()))  # left running by the worker when it exited
    kill_descendants()
    send_msg(sock, {"pid": pid, "exit_status": os.waitstatus_to_exitcode(status),
                    "cpu_seconds": _children_cpu() - cpu_before, "wall_seconds": wall,
                    "orphans": orphans, "max_rss_kb": usage.ru_maxrss})


def _load_modules(cfg: dict) -> dict:
    import torch
    torch.set_num_threads(1)
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    if cfg.get("preload_lazy_torch"):
        # The sandbox user cannot read the stdlib here, and the first optimizer.step() imports
        # torch._dynamo, which imports stdlib modules nobody else does: load it before forking.
        importlib.import_module("torch._dynamo")
    importlib.import_module("grader.worker.child")
    return {role: importlib.import_module(cfg["probe_modules"][role]) for role in ROLES}


def main(argv: list[str]) -> None:
    cfg = json.loads(argv[0])
    sock = socket.socket(fileno=cfg["sock_fd"])
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the judge decides when we stop
    _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    modules = _load_modules(cfg)
    import torch
    send_msg(sock, {"ready": True, "pid": os.getpid(), "torch": str(torch.__version__),
                    "vm_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss})
    while True:
        try:
            raw, fds = recv_raw(sock)
        except (EOFError, ConnectionError):
            break
        try:
            req = wire.decode(raw, max_bytes=len(raw))
        except wire.WireError:
            req = None
        op = req.get("op") if type(req) is dict else None
        if op == "run" and len(fds) == 2:
            _serve_run(cfg, sock, req, raw, fds, modules)
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
