"""Judge-side client of the zygote: run one probe in a sandboxed child, get an Outcome.

Imports numpy (through grader.wire) and never torch.  One Sandbox per grading run::

    with Sandbox(submission_dir, reference_dir=ref, protected=[ref, hidden, results]) as sb:
        out = sb.run("call", {"target": "made.made_masks", "args": [...]}, timeout=10)

When the judge is root, children run as the unprivileged ``ps1sandbox`` user (created on
demand) and every process of that user is killed after each run.  Otherwise children run as
the judge's user, and the zygote (a child subreaper) kills its whole process tree instead.
"""
from __future__ import annotations

import json
import os
import pwd
import selectors
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from typing import Any

from grader import wire
from grader.users import SandboxError, claimed_user, ensure_user, protect
from grader.zygote import recv_msg, send_msg

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KINDS = {"exception", "contract", "import", "timeout", "crash", "memory", "cpu",
         "bad_output", "no_result"}
_BOOT = "import sys; sys.path.insert(0, {root!r}); from grader.zygote import main; main(sys.argv[1:])"


@dataclass
class Outcome:
    ok: bool
    value: Any = None
    kind: str = ""        # one of KINDS when not ok
    message: str = ""     # one line a student can act on
    traceback: str = ""   # frames from the student's files only
    output: str = ""      # captured stdout+stderr, head and tail
    seconds: float = 0.0
    cpu_seconds: float = 0.0


class _Capped:
    """Keeps the first and last ``cap // 2`` bytes of a stream of any length."""

    def __init__(self, cap: int):
        self.half, self.head, self.tail, self.total = cap // 2, bytearray(), bytearray(), 0

    def add(self, data: bytes) -> None:
        self.total += len(data)
        room = self.half - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        self.tail = (self.tail + data)[-self.half:] if data else self.tail

    def text(self) -> str:
        skipped = self.total - len(self.head) - len(self.tail)
        middle = f"\n... [{skipped} bytes of output omitted] ...\n" if skipped else ""
        return (self.head.decode("utf-8", "replace") + middle
                + self.tail.decode("utf-8", "replace"))


def _rmtree(path: str) -> None:
    def retry(func, p, _exc):  # non-root: a student may leave mode-000 directories
        try:
            os.chmod(os.path.dirname(p), 0o700)
            os.chmod(p, 0o700)
            func(p)
        except OSError:
            pass
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, onerror=retry)
    elif os.path.lexists(path):
        os.unlink(path)


def _live_pids_of(uid: int) -> list[int]:
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/status") as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
        except OSError:
            continue
        uids = {int(u) for u in fields.get("Uid", "").split()}
        if uid in uids and not fields.get("State", "").strip().startswith("Z"):
            pids.append(int(name))
    return pids


class Sandbox:
    def __init__(self, submission_dir, *, reference_dir=None, probe_module: str = "grader.probes",
                 user: str | None = "auto", memory_mb: int = 1000, cpu_seconds: int = 60,
                 output_cap: int = 64_000, result_cap: int = 64 << 20, protected=(),
                 fsize_mb: int = 64, nofile: int = 256, nproc: int = 64,
                 python: str = sys.executable):
        self.submission_dir = os.path.realpath(submission_dir)
        self.reference_dir = os.path.realpath(reference_dir) if reference_dir else None
        self.probe_module, self.python = probe_module, python
        self.memory_mb, self.cpu_seconds = memory_mb, cpu_seconds
        self.output_cap, self.result_cap = output_cap, result_cap
        self.limits = {"fsize_mb": fsize_mb, "nofile": nofile, "nproc": nproc}
        self.protected = [os.path.realpath(p) for p in protected]
        self._claim = None
        self.stdlib_readable = True
        if user == "auto":  # as root: a user no concurrent grading run holds (see users.py)
            self._claim = claimed_user() if os.geteuid() == 0 else None
            user = None
        if user and os.geteuid() != 0:
            raise SandboxError("running children as another user needs root")
        self.user = user
        self.uid = self.gid = None
        self.proc: subprocess.Popen | None = None
        self.ctrl: socket.socket | None = None
        self.scratch_root: str | None = None
        self.zygote_info: dict = {}

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> "Sandbox":
        if self._claim is not None:
            self.user = self._claim.__enter__()
        if self.user:
            self.uid, self.gid = ensure_user(self.user)
            protect(self.protected, self.gid)
            self.stdlib_readable = self._check_stdlib()
        self.scratch_root = tempfile.mkdtemp(prefix="ps1-sandbox-")
        os.chmod(self.scratch_root, 0o711)  # children reach their own run dir, list nothing
        self._start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _start(self) -> None:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        cfg = dict(self.limits, sock_fd=child.fileno(), probe_module=self.probe_module,
                   uid=self.uid, gid=self.gid, memory_mb=self.memory_mb,
                   cpu_seconds=self.cpu_seconds, result_cap=self.result_cap,
                   submission_dir=self.submission_dir, reference_dir=self.reference_dir,
                   scratch_root=self.scratch_root,
                   preload_lazy_torch=not self.stdlib_readable)
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": self.scratch_root,
               "TMPDIR": self.scratch_root, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        log_path = os.path.join(self.scratch_root, "zygote.log")
        # 0600: the run dirs sit beside it and grader tracebacks are not for students.
        with open(os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab") as log:
            self.proc = subprocess.Popen(
                [self.python, "-I", "-c", _BOOT.format(root=ROOT), json.dumps(cfg)],
                pass_fds=[child.fileno()], env=env, cwd=self.scratch_root,
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
                start_new_session=True)  # a Ctrl-C in the terminal goes to the judge only
        child.close()
        self.ctrl = parent
        self.ctrl.settimeout(120)
        try:
            self.zygote_info, _ = recv_msg(self.ctrl)
        except (EOFError, OSError, wire.WireError):
            with open(log_path, errors="replace") as f:
                tail = f.read()[-3000:]
            self._stop_zygote()
            raise SandboxError(f"the sandbox server failed to start:\n{tail}") from None
        self.ctrl.settimeout(60)

    def _alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None and self.ctrl is not None

    def _check_stdlib(self) -> bool:
        """Can the sandbox user read the interpreter's standard library? Warn when not."""
        stdlib = os.path.dirname(os.__file__)
        if self._as_user(lambda: 0 if os.access(stdlib, os.R_OK | os.X_OK) else 1) == 0:
            return True
        warnings.warn(f"user {self.user} cannot read {stdlib}: only modules the zygote "
                      "preloads can be imported by student code (it preloads torch._dynamo, "
                      "~70 MB, for optimizers); make the interpreter's directories "
                      "world-readable (chmod o+rx) on the grading machine")
        return False

    def _stop_zygote(self) -> None:
        if self.ctrl is not None:
            self.ctrl.close()
            self.ctrl = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            self.proc = None

    def close(self) -> None:
        """Shut the zygote down, kill everything left, delete temporary files."""
        if self._alive():
            try:
                send_msg(self.ctrl, {"op": "shutdown"})
                recv_msg(self.ctrl)
                self.proc.wait(timeout=10)
            except (OSError, EOFError, wire.WireError, subprocess.TimeoutExpired):
                pass
        self._stop_zygote()
        self.sweep()
        if self.scratch_root:
            _rmtree(self.scratch_root)
            self.scratch_root = None
        if self._claim is not None:
            self._claim.__exit__(None, None, None)
            self._claim = None

    # ------------------------------------------------------------------ cleaning up
    def _kill_user(self, deadline: float = 5.0) -> None:
        """Kill every process of the sandbox uid: a killer with that uid does kill(-1)."""
        end = time.monotonic() + deadline
        while _live_pids_of(self.uid) and time.monotonic() < end:
            self._as_user(self._kill_all_of_my_user)
            time.sleep(0.005)

    @staticmethod
    def _kill_all_of_my_user() -> int:
        for _ in range(20):  # kill(-1) reaches every process we may signal, not the killer
            os.kill(-1, signal.SIGKILL)
        return 0

    def _as_user(self, action) -> int:
        """Run `action` in a forked child that has become the sandbox user; its exit code."""
        pid = os.fork()
        if pid == 0:
            try:
                os.setgroups([])
                os.setgid(self.gid)
                os.setuid(self.uid)
                os._exit(action())
            finally:
                os._exit(2)
        return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])

    def sweep(self) -> None:
        """Kill every sandbox process and delete what children left behind."""
        if self.uid is not None:
            self._kill_user()
        if self._alive():
            try:
                send_msg(self.ctrl, {"op": "sweep"})
                recv_msg(self.ctrl)
            except (OSError, EOFError, wire.WireError):
                self._stop_zygote()
        if self.uid is not None:
            for tmp in ("/tmp", "/var/tmp", "/dev/shm"):
                try:
                    names = os.listdir(tmp)
                except OSError:
                    continue
                for name in names:
                    path = os.path.join(tmp, name)
                    try:
                        if os.lstat(path).st_uid == self.uid:
                            _rmtree(path)
                    except OSError:
                        pass
        if self.scratch_root and os.path.isdir(self.scratch_root):
            for name in os.listdir(self.scratch_root):
                if name.startswith("run-"):
                    _rmtree(os.path.join(self.scratch_root, name))

    def _kill(self, pid: int) -> None:
        for kill in (os.killpg, os.kill):  # its own session; before setsid, just the pid
            try:
                kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if self.uid is not None:
            self._kill_user()

    # ------------------------------------------------------------------ running
    def run(self, probe: str, kwargs: dict, *, timeout: float, trusted: bool = False,
            seed: int = 0) -> Outcome:
        """Run ``probes.PROBES[probe](student, **kwargs)`` in a fresh child."""
        if trusted and not self.reference_dir:
            raise SandboxError("a trusted run needs reference_dir")
        if not self._alive():
            self._stop_zygote()
            self._start()
        request = {"op": "run", "probe": probe, "kwargs": kwargs, "trusted": trusted, "seed": seed}
        res_r, res_w = os.pipe()
        out_r, out_w = os.pipe()
        start = time.monotonic()
        try:
            send_msg(self.ctrl, request, fds=[res_w, out_w])
        finally:
            os.close(res_w)
            os.close(out_w)
        try:
            pid = recv_msg(self.ctrl)[0]["pid"]
            result, output, exit_msg, state = self._collect(pid, res_r, out_r, start + timeout)
        except (OSError, EOFError, wire.WireError, KeyError, TypeError):
            self._stop_zygote()
            result, output, exit_msg, state = bytearray(), _Capped(self.output_cap), None, "dead"
        self.sweep()
        self._drain(res_r, out_r, result, output)
        out = self._classify(result, exit_msg, state, timeout)
        out.output, out.seconds = output.text(), time.monotonic() - start
        out.cpu_seconds = exit_msg["cpu_seconds"] if exit_msg else 0.0
        return out

    def _collect(self, pid, res_r, out_r, deadline):
        """Read both pipes until the zygote reports the child's exit (or kill at deadline)."""
        result, output, state, exit_msg = bytearray(), _Capped(self.output_cap), "", None
        sel = selectors.DefaultSelector()
        for fd in (res_r, out_r):
            os.set_blocking(fd, False)
            sel.register(fd, selectors.EVENT_READ)
        sel.register(self.ctrl, selectors.EVENT_READ)
        grace = None
        while exit_msg is None:
            now = time.monotonic()
            if state == "" and now >= deadline:
                state, grace = "timeout", now + 15
                self._kill(pid)
            if grace is not None and now >= grace:
                raise EOFError("the zygote did not reap a killed child")
            wait = (deadline if grace is None else grace) - now
            for key, _ in sel.select(timeout=max(0.0, wait)):
                if key.fileobj is self.ctrl:
                    exit_msg = recv_msg(self.ctrl)[0]
                    continue
                data = os.read(key.fd, 1 << 16)
                if not data:
                    sel.unregister(key.fd)
                elif key.fd == out_r:
                    output.add(data)
                elif len(result) + len(data) > self.result_cap:
                    if state == "":
                        state = "too_large"
                        self._kill(pid)
                else:
                    result += data
        sel.close()
        return result, output, exit_msg, state

    def _drain(self, res_r, out_r, result, output) -> None:
        """After the sweep every writer is dead: read what is left, then close."""
        end = time.monotonic() + 2
        for fd, sink in ((res_r, None), (out_r, output)):
            os.set_blocking(fd, False)
            while time.monotonic() < end:
                try:
                    data = os.read(fd, 1 << 16)
                except BlockingIOError:
                    time.sleep(0.001)
                    continue
                if not data:
                    break
                if sink is not None:
                    sink.add(data)
                elif len(result) + len(data) <= self.result_cap:
                    result += data
            os.close(fd)

    def _classify(self, result: bytearray, exit_msg, state: str, timeout: float) -> Outcome:
        if state == "dead" or exit_msg is None:
            return Outcome(False, kind="crash", message="the sandbox server died (a grader "
                           "problem, not your code); the test could not run")
        if state == "timeout":
            return Outcome(False, kind="timeout", message=f"timed out after {timeout:.1f} s")
        if state == "too_large":
            return Outcome(False, kind="bad_output", message="returned more than "
                           f"{self.result_cap >> 20} MiB of data")
        status, cpu = exit_msg["exit_status"], exit_msg["cpu_seconds"]
        if result:
            return self._decode_result(bytes(result))
        if status == -signal.SIGXCPU or (status == -signal.SIGKILL and cpu >= self.cpu_seconds - 0.1):
            return Outcome(False, kind="cpu", message=f"used more than {self.cpu_seconds} s of CPU time")
        if status == -signal.SIGKILL:
            return Outcome(False, kind="memory", message="was killed by the system, probably "
                           f"for using too much memory (limit {self.memory_mb} MB)")
        if status < 0:
            name = signal.Signals(-status).name if -status in signal.valid_signals() else str(-status)
            return Outcome(False, kind="crash", message=f"crashed with signal {name}")
        return Outcome(False, kind="no_result", message=f"your code called os._exit({status}) or "
                       "the process exited before returning a result")

    def _decode_result(self, frame: bytes) -> Outcome:
        try:
            msg = wire.decode(frame, max_bytes=self.result_cap)
        except wire.WireError as exc:
            return Outcome(False, kind="bad_output", message=f"sent data the grader could not read ({exc})")
        if type(msg) is not dict or type(msg.get("ok")) is not bool:
            return Outcome(False, kind="bad_output", message="sent a malformed result")
        if msg["ok"]:
            return Outcome(True, value=msg.get("value"))
        text = {k: msg.get(k) if type(msg.get(k)) is str else "" for k in ("kind", "message", "traceback")}
        kind = text["kind"] if text["kind"] in KINDS else "exception"
        message = text["message"][:2000] if kind == "contract" else (
            text["message"].splitlines() or [kind])[0][:1000]
        if kind == "memory":
            message = f"ran out of memory (limit {self.memory_mb} MB): {message}"
        return Outcome(False, kind=kind, message=message, traceback=text["traceback"][:20000])
