"""The unprivileged users that run student code, and keeping them out of staff files.

Each grading run claims a user of its own (ps1sandbox, ps1sandbox1, ...) with a lock file,
because the sweep after every test kills *all* processes of its user: two runs sharing one
user (batch grading with --jobs, two staff terminals) would kill each other's children.
"""
import contextlib
import fcntl
import os
import pwd
import stat
import subprocess
import warnings

SANDBOX_USER = "ps1sandbox"
LOCK_DIR = "/run/lock" if os.path.isdir("/run/lock") else "/tmp"


class SandboxError(RuntimeError):
    """The sandbox itself could not be set up or died (a grader problem, not the student's)."""


def ensure_user(name: str) -> tuple[int, int]:
    """(uid, gid) of ``name``, creating a system user without home or shell if needed."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        cmd = ["useradd", "--system", "--no-create-home", "--user-group",
               "--shell", "/usr/sbin/nologin", name]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True)
        except FileNotFoundError:
            raise SandboxError("useradd not found: cannot create the sandbox user") from None
        if done.returncode not in (0, 9):  # 9: created concurrently by someone else
            raise SandboxError(f"useradd {name} failed: {done.stderr.strip()}")
        entry = pwd.getpwnam(name)
    if entry.pw_uid == 0 or entry.pw_uid == os.geteuid():
        raise SandboxError(f"sandbox user {name} must be an unprivileged, separate user")
    return entry.pw_uid, entry.pw_gid


_SHARED = {"/", "/tmp", "/var/tmp", "/dev/shm", "/home", "/root", "/usr", "/var", "/etc", "/work"}


def protect(paths, gid: int) -> None:
    """Make each path unreadable to the sandbox user: no 'other' bits, no sandbox group.
    Shared directories (/tmp and other sticky or system ones) are never touched: closing them
    would break every other user of the machine; protect the file inside them instead."""
    for path in paths:
        if not os.path.exists(path):
            continue
        st = os.stat(path)
        if os.path.realpath(path) in _SHARED or (os.path.isdir(path) and st.st_mode & stat.S_ISVTX):
            warnings.warn(f"not closing shared directory {path} to the sandbox user")
            continue
        mask = 0o007 | (0o070 if st.st_gid == gid else 0)
        if st.st_mode & mask:
            os.chmod(path, st.st_mode & 0o7777 & ~mask)




@contextlib.contextmanager
def claimed_user(prefix: str = SANDBOX_USER, slots: int = 32):
    """Yield the name of a sandbox user that no other grading run on this machine holds."""
    for slot in range(slots):
        name = prefix if slot == 0 else f"{prefix}{slot}"
        with open(os.path.join(LOCK_DIR, f"{name}.lock"), "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            yield name
            return
    raise SandboxError(f"all {slots} sandbox users are busy")
