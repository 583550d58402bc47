"""Private namespaces for a student worker, so that nothing it leaves outlives its test.

Used by the fork server (zygote.py) for role "student" when it runs as root and the kernel
allows it (detected once: `available`). The forked process, still trusted:

1. `enter`: new mount, IPC, network and PID namespaces; every mount private; fresh tmpfs on
   /tmp, /var/tmp, /dev/shm and /run/lock (what the sandbox user could write to), with the
   submission bound back, read-only, at its own path and the run's scratch folder made anew
   on the private /tmp. SysV IPC objects, files, sockets: all die with the namespaces.
2. forks the namespace's init (pid 1), which mounts a /proc of the namespace, forks the
   worker, waits for it, counts what it left running (`orphans`), kills the rest (they cannot
   escape a PID namespace) and reports to the server on a pipe the worker never holds.

Where namespaces are refused (Docker's default profile, non-root), the server falls back to a
sweep of everything the sandbox user owns (cleanup.py).
"""
from __future__ import annotations

import ctypes
import json
import os
import signal

CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWPID, CLONE_NEWNET = 0x20000, 0x8000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
COVERED = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")
_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _mount(source, target, fstype, flags, data=None) -> None:
    _check(_libc.mount(source and source.encode(), target.encode(),
                       fstype and fstype.encode(), ctypes.c_ulong(flags),
                       data and data.encode()), f"mount {target}")


def enter(keep: list[tuple[str, bool]], tmpfs_mb: int, fresh=()) -> None:
    """New namespaces for this process (its next child is pid 1), private tmpfs over the
    covered folders, each (path, read_only) of `keep` bound back where it was, and each
    (path, uid, gid) of `fresh` made anew (on the private tmpfs when under a covered folder,
    so that it vanishes with the namespace)."""
    _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWPID), "unshare")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    # Opened in the new namespace (a bind source must belong to it), before the covering.
    handles = [(os.open(path, os.O_PATH | os.O_DIRECTORY), path, read_only)
               for path, read_only in keep]
    for folder in COVERED:
        if os.path.isdir(folder) and not os.path.islink(folder):
            _mount("tmpfs", folder, "tmpfs", MS_NOSUID | MS_NODEV,
                   f"mode=1777,size={tmpfs_mb}m")
    for fd, path, read_only in handles:
        os.makedirs(path, exist_ok=True)
        _mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
        if read_only:
            _mount(None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
        os.close(fd)
    for path, uid, gid in fresh:
        os.makedirs(path, mode=0o700, exist_ok=True)
        os.chown(path, uid, gid)


def _namespace_pids() -> list[int]:
    alive = []
    for name in os.listdir("/proc"):
        if name.isdigit() and name != "1":
            try:
                with open(f"/proc/{name}/stat", "rb") as f:
                    state = f.read().rsplit(b")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue
            if state != b"Z":
                alive.append(int(name))
    return alive


def _reap_all() -> None:
    """Wait for every child: as pid 1, every process left in the namespace is one (orphans
    are re-parented to it), and reaping them here counts their CPU time."""
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return
        except InterruptedError:
            continue


def run_init(worker, report_fd: int, close_fds=()) -> None:
    """The namespace's pid 1: run `worker()` in a child, then report and clean up. Never
    returns. `worker` must close `report_fd` before it runs any student code; `close_fds`
    (the worker's pipes) are closed here once it has them."""
    try:
        _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        proc_ok = True
    except OSError:
        proc_ok = False  # the host's /proc stays: counting falls back to our children
    pid = os.fork()
    if pid == 0:
        try:
            worker()
        finally:
            os._exit(70)
    for fd in close_fds:
        os.close(fd)
    _, status, usage = os.wait4(pid, 0)
    orphans = len(_namespace_pids()) if proc_ok else 0
    try:
        os.kill(-1, signal.SIGKILL)  # everything else in this namespace, none can escape it
    except OSError:
        pass
    _reap_all()
    report = {"exit_status": os.waitstatus_to_exitcode(status), "orphans": orphans,
              "max_rss_kb": usage.ru_maxrss}
    os.write(report_fd, json.dumps(report).encode())
    os._exit(0)


def available(scratch: str) -> str | None:
    """None when a forked child can enter the namespaces and mount a tmpfs, else the reason."""
    if os.geteuid() != 0:
        return "not root"
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        try:
            _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWPID),
                   "unshare")
            _mount(None, "/", None, MS_REC | MS_PRIVATE)
            _mount("tmpfs", scratch, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m")
            message = b"ok"
        except OSError as exc:
            message = str(exc).encode()[:300] or b"refused"
        os.write(write_fd, message)
        os._exit(0)
    os.close(write_fd)
    message = os.read(read_fd, 400).decode(errors="replace")
    os.close(read_fd)
    os.waitpid(pid, 0)
    return None if message == "ok" else (message or "the check crashed")
