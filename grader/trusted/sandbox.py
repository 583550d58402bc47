"""Judge-side client of the fork server: run one probe in a worker, get an Outcome.

Imports numpy (through grader.wire) and never torch.  One Sandbox per grading run::

    with Sandbox(submission_dir, reference_dir=ref, protected=[ref, hidden, results]) as sb:
        out = sb.run("call", {"target": "made.made_masks", "args": [...]}, timeout=10)
        out = sb.run("nll", {...}, timeout=10, role="measure")   # trusted, no student code
        out = sb.run("nll", {...}, timeout=10, role="measure", fresh=False)  # oracle worker

When the judge is root, student workers run as an unprivileged user from a locked pool
(grader/trusted/users.py) and every process of that user is killed after each run.  Otherwise
they run as the judge's user, and the fork server (a child subreaper) kills its whole tree.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile

from grader import wire
from grader.trusted import cleanup
from grader.trusted.long_lived import LongLivedWorkers, Session
from grader.trusted.outcome import Capped, Outcome, Usage, classify
from grader.trusted.pipes import WorkerPipes, frame_of
from grader.trusted.protocol import recv_msg, send_msg
from grader.trusted.users import (SandboxError, claimed_user, close_checkout, ensure_user,
                                  protect)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROBE_MODULES = {"student": "grader.worker.probes", "reference": "grader.worker.probes",
                 "measure": "grader.trusted.measure"}
_BOOT = ("import sys; sys.path.insert(0, {root!r}); from grader.trusted.zygote import main; "
         "main(sys.argv[1:])")
_NOTICED: set[str] = set()  # notices already given by this process


def staff_notice(text: str) -> None:
    """The default `notice` of a Sandbox: one line on stderr, once per process."""
    if text not in _NOTICED:
        _NOTICED.add(text)
        sys.stderr.write(f"grader (staff note): {text}\n")


class Sandbox(LongLivedWorkers, WorkerPipes):
    def __init__(self, submission_dir, *, reference_dir=None, probe_modules=None,
                 user: str | None = "auto", memory_mb: int = 1000, cpu_seconds: int = 60,
                 output_cap: int = 64_000, result_cap: int = 64 << 20, protected=(),
                 fsize_mb: int = 64, nofile: int = 256, nproc: int = 64, tmpfs_mb: int = 64,
                 checkout=None,
                 namespaces: bool = True, python: str = sys.executable, launch=None,
                 notice=staff_notice):
        self.submission_dir = os.path.realpath(submission_dir)
        self.reference_dir = os.path.realpath(reference_dir) if reference_dir else None
        self.probe_modules = dict(PROBE_MODULES, **(probe_modules or {}))
        self.python = python
        self.launch = launch  # argv -> argv for the server, e.g. seccomp.docker_like (tests)
        self.memory_mb, self.cpu_seconds = memory_mb, cpu_seconds
        self.output_cap, self.result_cap = output_cap, result_cap
        self.limits = {"fsize_mb": fsize_mb, "nofile": nofile, "nproc": nproc,
                       "tmpfs_mb": tmpfs_mb}
        self.protected = [os.path.realpath(p) for p in protected]
        self.checkout = checkout  # closed to other users when children run as another user
        self.namespaces_off = ("PS1_NAMESPACES=0" if os.environ.get("PS1_NAMESPACES") == "0"
                               else None if namespaces else "turned off")
        self._claim = None
        # How this machine differs from Gradescope's (an unreadable stdlib, no namespaces):
        # facts for staff, given as one line through `notice` (None: silent; students).
        self.notice, self.notices = notice, []
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
        self.isolated = False
        self.oracle: socket.socket | None = None  # the oracle worker's socket (oracle.py)
        self.session: Session | None = None  # the running test's student worker

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> "Sandbox":
        if self._claim is not None:
            self.user = self._claim.__enter__()
        if self.user:
            self.uid, self.gid = ensure_user(self.user)
            left_open = protect(self.protected, self.gid)
            if self.checkout is not None:
                left_open += close_checkout(self.checkout, self.gid)
            if left_open:
                self.notices.append(f"shared folders left open to {self.user}: "
                                    f"{', '.join(left_open)}")
        self.scratch_root = tempfile.mkdtemp(prefix="ps1-sandbox-")
        os.chmod(self.scratch_root, 0o711)  # children reach their own run dir, list nothing
        self._start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _start(self) -> None:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        cfg = dict(self.limits, sock_fd=child.fileno(), probe_modules=self.probe_modules,
                   uid=self.uid, gid=self.gid, memory_mb=self.memory_mb,
                   cpu_seconds=self.cpu_seconds, result_cap=self.result_cap,
                   submission_dir=self.submission_dir, reference_dir=self.reference_dir,
                   scratch_root=self.scratch_root,
                   namespaces_off=self.namespaces_off)
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": self.scratch_root,
               "TMPDIR": self.scratch_root, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        log_path = os.path.join(self.scratch_root, "zygote.log")
        # 0600: the run dirs sit beside it and grader tracebacks are not for students.
        with open(os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab") as log:
            argv = [self.python, "-I", "-c", _BOOT.format(root=ROOT), json.dumps(cfg)]
            self.proc = subprocess.Popen(
                self.launch(argv) if self.launch else argv,
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
        if self.uid is not None and self.zygote_info.get("seccomp") != "yes":
            self._stop_zygote()  # as root, student workers never run without their filter
            raise SandboxError(f"no seccomp filter for student workers: "
                               f"{self.zygote_info.get('seccomp')} (is libseccomp2 installed?)")
        self.isolated = self.zygote_info.get("namespaces") == "yes"
        refused = self.zygote_info.get("namespaces")
        if self.uid is not None and not self.isolated:
            self.notices.append(f"no private namespaces for workers ({refused}), so the "
                                f"sandbox user's files and IPC objects are swept instead")
        if self.notices and self.notice is not None:
            self.notice("; ".join(self.notices))

    def _alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None and self.ctrl is not None

    def share(self, folder, tree) -> None:
        """Let this run's sandbox user, and no other, read `tree` inside `folder` (both owned
        by the judge): group = the user's own group, no access for others."""
        if self.gid is None:
            return
        os.chown(folder, -1, self.gid)
        os.chmod(folder, 0o710)
        for path in [tree, *sorted(os.scandir(tree), key=lambda e: e.name)]:
            path = getattr(path, "path", path)
            os.chown(path, -1, self.gid, follow_symlinks=False)
            os.chmod(path, 0o750 if os.path.isdir(path) else 0o640)

    def _stop_zygote(self) -> None:
        if self.session is not None:  # its worker dies with the server's sweep or ours
            for fd in (self.session.res_r, self.session.out_r, self.session.req_w):
                os.close(fd)
            self.session = None
        if self.oracle is not None:
            self.oracle.close()
            self.oracle = None
        if self.ctrl is not None:
            self.ctrl.close()
            self.ctrl = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            self.proc = None

    def close(self) -> None:
        """Shut the server down, kill everything left, delete temporary files. Never raises."""
        try:
            self.end_session()
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
                cleanup.remove_tree(self.scratch_root)
                self.scratch_root = None
        except Exception as exc:  # noqa: BLE001 - cleanup must not turn into a lost grade
            cleanup.log(f"closing the sandbox failed: {type(exc).__name__}: {exc}")
        finally:
            if self._claim is not None:
                self._claim.__exit__(None, None, None)
                self._claim = None

    # ------------------------------------------------------------------ cleaning up
    def sweep(self) -> None:
        """Kill every sandbox process and delete what workers left behind."""
        self.end_session()
        if self.uid is not None:
            cleanup.kill_user(self.uid, self.gid)
        self._ask_server({"op": "sweep"})
        if self.uid is not None and not self.isolated:  # namespaces leave nothing behind
            cleanup.sweep_shared(self.uid)
            cleanup.remove_ipc(self.uid)
        if self.scratch_root and os.path.isdir(self.scratch_root):
            for name in os.listdir(self.scratch_root):
                if name.startswith("run-"):
                    cleanup.remove_tree(os.path.join(self.scratch_root, name))

    def _ask_server(self, message: dict) -> None:
        """Send `message` to a live server and wait for its answer; a lost server is stopped."""
        if self._alive():
            try:
                send_msg(self.ctrl, message)
                recv_msg(self.ctrl)
            except (OSError, EOFError, wire.WireError):
                self._stop_zygote()

    def _ensure_server(self) -> None:
        if not self._alive():
            self._stop_zygote()
            self._start()

    def _kill(self, pid: int) -> None:
        for kill in (os.killpg, os.kill):  # its own session; before setsid, just the pid
            try:
                kill(pid, 9)
            except OSError:
                pass
        if self.uid is not None:
            cleanup.kill_user(self.uid, self.gid)

    # ------------------------------------------------------------------ running
    def run(self, probe: str, kwargs: dict, *, timeout: float, role: str = "student",
            seed: int = 0, fresh: bool = True) -> Outcome:
        """Run ``PROBES[probe](**kwargs)`` of the role's probe module. Fresh (timed runs are):
        in a worker of its own, with the machine to itself (no session or oracle worker is
        alive). Not fresh: a trusted role's probe runs in the oracle worker, a student's in
        the test's session worker (until end_session)."""
        if role == "reference" and not self.reference_dir:
            raise SandboxError("a reference run needs reference_dir")
        if fresh:
            self.end_session()
            if self.oracle is not None:
                self._stop_oracle()
        self._ensure_server()
        request = {"probe": probe, "kwargs": kwargs, "role": role, "seed": seed}
        if not fresh:
            return (self._session_run(request, timeout) if role == "student"
                    else self._ask_oracle(request, timeout))
        res_r, res_w = os.pipe()
        out_r, out_w = os.pipe()
        try:
            send_msg(self.ctrl, dict(request, op="run"), fds=[res_w, out_w])
        finally:
            os.close(res_w)
            os.close(out_w)
        try:
            pid = recv_msg(self.ctrl)[0]["pid"]
            collected = self._collect(pid, res_r, out_r, timeout)
        except (OSError, EOFError, wire.WireError, KeyError, TypeError):
            self._stop_zygote()
            collected = bytearray(), Capped(self.output_cap), None, "dead", 0.0
        return self._ended(res_r, out_r, timeout, *collected)

    def _ended(self, res_r, out_r, timeout, result, output, exit_msg, state, credited,
               framed=False) -> Outcome:
        """The outcome of a worker that is gone: sweep, read what is left, classify."""
        self.sweep()
        self._drain(res_r, out_r, result, output, self.result_cap + (8 if framed else 0))
        out = classify(frame_of(result) if framed else bytes(result), exit_msg, state,
                       timeout=timeout, memory_mb=self.memory_mb,
                       cpu_seconds=self.cpu_seconds, result_cap=self.result_cap,
                       baseline_kb=self.zygote_info.get("vm_rss_kb", 0))
        out.output, out.credited_seconds = output.text(), credited
        if exit_msg:
            out.usage = Usage(exit_msg["cpu_seconds"], exit_msg["wall_seconds"],
                              exit_msg["orphans"])
        return out
