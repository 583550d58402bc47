"""Fork server: imports torch and the probe modules once, then forks one worker per request.

Started by :class:`grader.trusted.sandbox.Sandbox` as ``python -I -c ... main(config_json)``.
The server is trusted: it runs as the judge's user (root on Gradescope) and never imports
student code; only its forked children do (grader/worker/child.py), after dropping privileges.

It is also the clock: a run's CPU time is what the kernel accounted to the worker and to every
process descended from it (the server is a child subreaper, so orphans are re-parented to it
and reaped here), its wall time is measured here, and processes a worker leaves running when
it exits are counted, then killed. Nothing a worker says about itself enters these figures.

Student workers get private namespaces where the kernel allows (isolation.py). A "run" with
"session" and a third descriptor starts a session worker (grader/trusted/long_lived.py): it
reads further requests from that pipe, and is waited for, and accounted, like any worker.

Replies on the control socket (grader/trusted/protocol.py): ``{"pid", "scratch"}`` right after
the fork, then ``{"pid", "exit_status", "cpu_seconds", "wall_seconds", "orphans",
"max_rss_kb", "oom_kills", "isolated"}`` once the worker and its leftovers are reaped. Other
ops: "sweep" (kill every descendant), "oracle" (fork the oracle worker, grader/trusted/oracle.py,
and pass the judge its socket: it is spared by the sweeps, and its CPU never enters a worker's
figures), "oracle_stop" and "shutdown".
"""
from __future__ import annotations

import ctypes
import gc
import importlib
import json
import os
import resource
import signal
import socket
import tempfile
import time

from grader import wire
from grader.trusted import isolation
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
_oracle: int | None = None  # the oracle worker's pid, while it lives


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


def descendants(root: int, spare: int | None = None) -> list[int]:
    """Every process below `root`, leaving out `spare` and what is below it."""
    children, out, todo = _children_of(), [], [root]
    while todo:
        for c in children.get(todo.pop(), ()):
            if c != spare:
                out.append(c)
                todo.append(c)
    return out


def _reap() -> None:
    global _oracle
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        if pid == _oracle:  # died by itself: its number may be a worker's next
            _oracle = None


def kill_descendants(deadline: float = 5.0, spare: int | None = None) -> int:
    """SIGKILL every descendant but `spare` until none is left, reaping as we go.  As a
    child subreaper the server inherits orphans (a setsid'd grandchild included), so nothing
    escapes."""
    killed, end = set(), time.monotonic() + deadline
    while time.monotonic() < end:
        _reap()
        pids = descendants(os.getpid(), spare)
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

def _fork_worker(cfg, sock, raw, fds, scratch, role, probes) -> tuple[int, int | None]:
    """Fork the worker; returns (pid to wait for, read end of the namespace init's report or
    None). With namespaces the forked process enters them and forks the init (pid 1), which
    runs the worker; otherwise the forked process is the worker."""
    from grader.worker import child
    res_w, out_w, *session = fds  # a session worker also gets its request pipe
    req_r = session[0] if session else None
    isolated = cfg["namespaces"] and role == "student"
    report_r, report_w = os.pipe() if isolated else (None, None)
    pid = os.fork()
    if pid == 0:
        try:
            sock.detach()  # its fd is closed in the worker; never close a reused number
            if not isolated:
                child.run(cfg, raw, res_w, out_w, scratch, role, probes, cfg["refusals"], req_r)
            os.close(report_r)
            isolation.enter([(cfg["submission_dir"], True)], cfg["tmpfs_mb"],
                            fresh=[(scratch, cfg["uid"], cfg["gid"])])
            if os.fork() == 0:
                def worker():
                    os.close(report_w)
                    child.run(cfg, raw, res_w, out_w, scratch, role, probes, cfg["refusals"],
                              req_r)
                isolation.run_init(worker, report_w, close_fds=fds)
            os.close(report_w)
            for fd in fds:
                os.close(fd)
            os.wait()
            os._exit(0)
        except BaseException:
            import traceback
            traceback.print_exc()  # to zygote.log: a grader problem, for staff
        finally:
            os._exit(70)  # never fall back into the server loop
    if report_w is not None:
        os.close(report_w)
    return pid, report_r


def _read_report(fd: int | None) -> dict | None:
    if fd is None:
        return None
    try:
        return json.loads(os.read(fd, 4096) or b"null")
    except ValueError:
        return None
    finally:
        os.close(fd)


def _serve_run(cfg: dict, sock: socket.socket, req: dict, raw: bytes, fds: list, modules):
    role = req.get("role")
    if role not in ROLES or (role == "reference" and not cfg["reference_dir"]):
        for fd in fds:
            os.close(fd)
        send_msg(sock, {"error": f"bad role {role!r}"})
        return
    scratch = tempfile.mkdtemp(prefix="run-", dir=cfg["scratch_root"])
    if cfg["uid"] is not None and role == "student":
        os.chown(scratch, cfg["uid"], cfg["gid"])
    cpu_before, oom_before, started = _children_cpu(), _oom_kills(), time.monotonic()
    pid, report_fd = _fork_worker(cfg, sock, raw, fds, scratch, role, modules[role])
    for fd in fds:
        os.close(fd)
    send_msg(sock, {"pid": pid, "scratch": scratch})
    _, status, usage = os.wait4(pid, 0)
    wall = time.monotonic() - started
    orphans = len(descendants(os.getpid(), _oracle))  # left running by the worker
    kill_descendants(spare=_oracle)
    reply = {"pid": pid, "exit_status": os.waitstatus_to_exitcode(status), "orphans": orphans,
             "max_rss_kb": usage.ru_maxrss, "isolated": report_fd is not None}
    if report_fd is not None:
        report = _read_report(report_fd)
        if type(report) is dict:
            reply.update(exit_status=report["exit_status"], orphans=report["orphans"],
                         max_rss_kb=report["max_rss_kb"])
        else:
            reply["lost"] = True  # the namespace's init did not report: not the student's doing
    reply.update(cpu_seconds=_children_cpu() - cpu_before, wall_seconds=wall,
                 oom_kills=_oom_kills() - oom_before)
    send_msg(sock, reply)


def _start_oracle(cfg: dict, sock: socket.socket, modules: dict) -> None:
    """Fork the oracle worker (a new one: the judge asks again only when it lost the last)
    and pass the judge its end of a fresh socket pair."""
    global _oracle
    from grader.trusted import oracle
    _stop_oracle()
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    scratch = tempfile.mkdtemp(prefix="oracle-", dir=cfg["scratch_root"])
    pid = os.fork()
    if pid == 0:
        try:
            oracle.serve(cfg, theirs.detach(), scratch, modules)
        except BaseException:
            import traceback
            traceback.print_exc()  # to zygote.log: a grader problem, for staff
        finally:
            os._exit(70)  # never fall back into the server loop
    theirs.close()
    _oracle = pid
    send_msg(sock, {"pid": pid}, fds=[ours.fileno()])
    ours.close()


def _stop_oracle() -> None:
    """Kill and reap the oracle worker: between runs, so its CPU is no worker's."""
    global _oracle
    if _oracle is not None:
        try:
            os.kill(_oracle, signal.SIGKILL)
            os.waitpid(_oracle, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        _oracle = None


def _oom_kills() -> int:
    """The kernel's count of OOM kills so far (all processes), or 0 where unknown."""
    try:
        with open("/proc/vmstat") as f:
            for line in f:
                if line.startswith("oom_kill "):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _load_modules(cfg: dict) -> dict:
    import torch
    torch.set_num_threads(1)
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    # The first optimizer.step() of every training worker would import torch._dynamo (~1 CPU-s
    # and ~70 MB each; stdlib modules nobody else imports, which a sandbox user may not even
    # be able to read): once here, shared by every fork.
    importlib.import_module("torch._dynamo")
    importlib.import_module("grader.worker.child")
    return {role: importlib.import_module(cfg["probe_modules"][role]) for role in ROLES}


def _worker_filter():
    """(the student workers' seccomp filter, None) or (None, why it cannot be had)."""
    try:
        from grader.trusted import seccomp
        return seccomp.build_worker_filter(), None
    except (ImportError, RuntimeError, OSError, AttributeError) as exc:  # no libseccomp
        return None, f"{type(exc).__name__}: {exc}"[:300]


def main(argv: list[str]) -> None:
    cfg = json.loads(argv[0])
    sock = socket.socket(fileno=cfg["sock_fd"])
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the judge decides when we stop
    _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    modules = _load_modules(cfg)
    refused = ("no sandbox user" if cfg["uid"] is None else cfg["namespaces_off"]
               or isolation.available(cfg["scratch_root"]))
    cfg["namespaces"] = refused is None
    cfg["refusals"], no_seccomp = _worker_filter()  # an object, kept in this process only
    import torch
    # Every worker is a fork of this process: a garbage collection in one walks every object
    # loaded here (torch's included) and copies each page it touches (~0.1 CPU-s a worker).
    gc.freeze()
    send_msg(sock, {"ready": True, "pid": os.getpid(), "torch": str(torch.__version__),
                    "namespaces": refused or "yes", "seccomp": no_seccomp or "yes",
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
        if op == "run" and len(fds) == (3 if req.get("session") else 2):
            _serve_run(cfg, sock, req, raw, fds, modules)
        elif op == "sweep":
            send_msg(sock, {"killed": kill_descendants(spare=_oracle)})
        elif op == "oracle":
            _start_oracle(cfg, sock, modules)
        elif op == "oracle_stop":
            _stop_oracle()
            send_msg(sock, {"stopped": True})
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
