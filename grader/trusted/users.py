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
import sys

SANDBOX_USER = "ps1sandbox"
# Root's own folder: never a world-writable one, where a sandboxed process could plant a
# symbolic link for root to follow. Every grading on the machine shares it (see claimed_user).
LOCK_DIR = "/run/ps1-grader" if os.path.isdir("/run") else "/var/lib/ps1-grader"


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


def protect(paths, gid: int) -> list[str]:
    """Make each path unreadable to the sandbox user: no 'other' bits, no sandbox group.
    Shared directories (/tmp and other sticky or system ones) are never touched: closing them
    would break every other user of the machine; protect the file inside them instead.
    Returns the shared directories left open (for the caller to tell staff)."""
    skipped = []
    for path in paths:
        if not os.path.exists(path):
            continue
        st = os.stat(path)
        if os.path.realpath(path) in _SHARED or (os.path.isdir(path) and st.st_mode & stat.S_ISVTX):
            skipped.append(str(path))
            continue
        mask = 0o007 | (0o070 if st.st_gid == gid else 0)
        if st.st_mode & mask:
            os.chmod(path, st.st_mode & 0o7777 & ~mask)
    return skipped


def checkout_closures(root) -> tuple[list[str], list[str]]:
    """What grading as root closes in a checkout: everything, except the way to the
    interpreter's environment when it lives inside (sandboxed code imports torch's lazily
    loaded modules from it): the folders on that way keep only their search bit, and every
    other entry of theirs is closed. Returns (paths to close entirely, folders on the way)."""
    root = os.path.abspath(root)
    venv = os.path.abspath(sys.prefix)
    if not venv.startswith(root + os.sep):
        return [root], []
    closed, way, folder = [], [], root
    for name in os.path.relpath(venv, root).split(os.sep):
        way.append(folder)
        closed += [os.path.join(folder, e) for e in sorted(os.listdir(folder)) if e != name]
        folder = os.path.join(folder, name)
    return closed, way


def close_checkout(root, gid: int) -> list[str]:
    """Close the checkout at `root` to other users (see checkout_closures); returns the
    shared folders protect() left open."""
    closed, searchable = checkout_closures(root)
    for folder in searchable:
        mode = os.stat(folder).st_mode
        os.chmod(folder, (mode & 0o7777 & ~0o007) | 0o001)
    return protect(closed, gid)


def _lock_folder() -> str:
    """LOCK_DIR, created 0700; refused unless it is a real folder that only root can write."""
    try:
        os.mkdir(LOCK_DIR, 0o700)
    except FileExistsError:
        pass
    info = os.lstat(LOCK_DIR)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o022:
        raise SandboxError(f"{LOCK_DIR} must be a folder owned by root that nobody else can "
                           f"write (remove it and grade again)")
    return LOCK_DIR


def _open_lock(path: str) -> int:
    """The lock file, opened without following links or truncating; it must be root's own."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
        os.close(fd)
        raise SandboxError(f"{path} is not a lock file of ours: remove it")
    return fd


@contextlib.contextmanager
def claimed_user(prefix: str = SANDBOX_USER, slots: int = 32):
    """Yield the name of a sandbox user that no other grading run on this machine holds."""
    folder = _lock_folder()
    for slot in range(slots):
        name = prefix if slot == 0 else f"{prefix}{slot}"
        fd = _open_lock(os.path.join(folder, f"{name}.lock"))
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        try:
            yield name
        finally:
            os.close(fd)  # releases the lock
        return
    raise SandboxError(f"all {slots} sandbox users are busy")
