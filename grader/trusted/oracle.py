"""The oracle worker: the trusted roles' untimed probes (the reference's and the measurement
probes), one after another in one process forked by the fork server (zygote.py, op "oracle").

It never imports student code: the reference's modules and the measurement probes only, and
student values arrive as data through the wire codec. So one process can serve them all,
which saves a fork per request (~30 ms of CPU each, ~90 per grading); a timed request still
gets a worker of its own, measured exactly like the student's (sandbox.py). It runs as the
judge's user, outside the workers' process tree that the server sweeps after each run.
"""
from __future__ import annotations

import ctypes
import os
import resource
import socket
import tempfile
import time

from grader import wire
from grader.trusted.protocol import recv_raw, send_msg, send_raw

_libc = ctypes.CDLL(None, use_errno=True)


def serve(cfg: dict, sock_fd: int, scratch: str, modules: dict) -> None:
    """The oracle worker's whole life; never returns. Requests ({"role", "probe", "kwargs",
    "seed"}, role reference or measure) come on `sock_fd` from the judge; each gets its reply
    frame, then {"cpu_seconds", "wall_seconds"}. One process for the whole grading saves a
    fork per request (~30 ms of CPU each); a timed request still gets a worker of its own,
    measured like the student's. Modules persist, as in-process: probes undo their patches."""
    from grader.worker import child  # in this process only, like the server's workers
    os.setsid()
    null = os.open("/dev/null", os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)  # stderr stays: the server's log, for staff
    os.closerange(3, sock_fd)
    os.closerange(sock_fd + 1, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
    os.chdir(scratch)
    _libc.prctl(child.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    os.environ.clear()
    os.environ.update(child.ENVIRONMENT, HOME=scratch, TMPDIR=scratch)
    tempfile.tempdir = scratch
    child.set_limits(cfg, sandboxed=False, cpu=False)
    sock = socket.socket(fileno=sock_fd)
    while True:
        try:
            raw, _ = recv_raw(sock, child.MAX_REQUEST)
        except (EOFError, OSError):
            os._exit(0)
        started, cpu = time.monotonic(), _cpu_seconds()
        reply = _answer(cfg, raw, modules)
        try:
            send_raw(sock, child.frame(reply, cfg["result_cap"]))
            send_msg(sock, {"cpu_seconds": _cpu_seconds() - cpu,
                            "wall_seconds": time.monotonic() - started})
        except OSError:
            os._exit(0)
        _libc.malloc_trim(0)  # give back what the request freed: this process stays


def _answer(cfg: dict, raw: bytes, modules: dict) -> dict:
    import torch

    from grader.worker import child
    directories = {"reference": cfg["reference_dir"], "measure": None}
    try:
        request = wire.decode(raw, max_bytes=child.MAX_REQUEST, tensors="torch")
        role = request["role"]
        probes, directory = modules[role], directories[role]
    except Exception as exc:  # noqa: BLE001 - the judge's request: a grader problem
        return {"ok": False, "kind": "exception", "message": f"bad request: {exc!r}"[:500],
                "traceback": ""}
    torch.set_grad_enabled(True)  # what one request left is not the next one's start
    torch.set_default_dtype(torch.float32)
    return child.answer(request, probes, directory)


def _cpu_seconds() -> float:
    own, waited = (resource.getrusage(who) for who in (resource.RUSAGE_SELF,
                                                        resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + waited.ru_utime + waited.ru_stime
