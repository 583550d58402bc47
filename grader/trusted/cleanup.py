"""Cleaning up after sandboxed workers: kill every process of the sandbox user, delete what it
left in shared writable places. Nothing here raises: a cleanup that fails is logged and the
grading goes on (a crash here must never cost a student points)."""
from __future__ import annotations

import os
import signal
import stat
import sys
import time

SHARED_WRITABLE = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/dev/mqueue")
IPC_RMID = 0
_libc = None


def log(message: str) -> None:
    try:
        sys.stderr.write(f"[grader cleanup] {message}\n")
    except (OSError, ValueError):
        pass


def live_pids_of(uid: int) -> list[int]:
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


def as_user(uid: int, gid: int, action) -> int:
    """Run `action` in a forked child that has become uid/gid; its exit code."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            os._exit(action())
        finally:
            os._exit(2)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def _kill_all_of_my_user() -> int:
    for _ in range(20):  # kill(-1) reaches every process we may signal, not the killer
        os.kill(-1, signal.SIGKILL)
    return 0


def kill_user(uid: int, gid: int, deadline: float = 5.0) -> None:
    """Kill every process of `uid`: a killer with that uid does kill(-1) until none is left."""
    end = time.monotonic() + deadline
    while live_pids_of(uid) and time.monotonic() < end:
        as_user(uid, gid, _kill_all_of_my_user)
        time.sleep(0.005)
    if live_pids_of(uid):
        log(f"processes of uid {uid} survived the sweep: {live_pids_of(uid)[:10]}")


def _open_dir(name: str, dir_fd=None) -> int:
    return os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dir_fd)


def remove_tree(path: str) -> None:
    """Delete `path` and everything under it, never raising and never following a link.
    Any depth: it walks with one directory fd at a time (relative names, no PATH_MAX), goes
    back up through ".." and checks each step up lands on the folder it came from."""
    try:
        if not os.path.isdir(path) or os.path.islink(path):
            if os.path.lexists(path):
                os.unlink(path)
            return
        fd = _open_dir(path)
    except OSError as exc:
        log(f"cannot remove {path}: {exc}")
        return
    ancestors, stuck = [], set()  # (name of the current folder in its parent, parent's inode)
    try:
        while True:
            here = os.fstat(fd)
            if here.st_mode & 0o700 != 0o700:  # a student may leave mode-000 folders
                try:
                    os.fchmod(fd, 0o700)
                except OSError:
                    pass
            below = None
            for entry in os.scandir(fd):
                try:
                    if not entry.is_dir(follow_symlinks=False):
                        os.unlink(entry.name, dir_fd=fd)
                    elif entry.inode() not in stuck:
                        below = entry.name
                        break
                except OSError as exc:
                    log(f"cannot remove {entry.name} under {path}: {exc}")
            if below is not None:
                try:
                    child = _open_dir(below, dir_fd=fd)
                except OSError:
                    stuck.add(os.stat(below, dir_fd=fd, follow_symlinks=False).st_ino)
                    continue
                ancestors.append((below, here.st_ino))
                os.close(fd)
                fd = child
                continue
            if not ancestors:
                break
            name, parent_inode = ancestors.pop()
            up = _open_dir("..", dir_fd=fd)
            os.close(fd)
            fd = up
            if os.fstat(fd).st_ino != parent_inode:
                log(f"a folder under {path} moved while it was being deleted: stopped")
                return
            try:
                os.rmdir(name, dir_fd=fd)
            except OSError as exc:
                stuck.add(here.st_ino)
                log(f"cannot remove a folder under {path}: {exc}")
    except OSError as exc:
        log(f"cannot remove {path}: {exc}")
    finally:
        os.close(fd)
    try:
        os.rmdir(path)
    except OSError as exc:
        log(f"cannot remove {path}: {exc}")


def remove_ipc(uid: int) -> None:
    """Remove the SysV shared memory segments, semaphore sets and message queues `uid` owns
    or created (they outlive every process)."""
    global _libc
    import ctypes
    _libc = _libc or ctypes.CDLL(None, use_errno=True)
    removers = {"shm": lambda i: _libc.shmctl(i, IPC_RMID, None),
                "sem": lambda i: _libc.semctl(i, 0, IPC_RMID),
                "msg": lambda i: _libc.msgctl(i, IPC_RMID, None)}
    for kind, remove in removers.items():
        try:
            with open(f"/proc/sysvipc/{kind}") as f:
                header, *rows = [line.split() for line in f if line.strip()]
        except (OSError, ValueError):
            continue
        column = {name: i for i, name in enumerate(header)}
        ident = column.get("shmid", column.get("semid", column.get("msqid")))
        for row in rows:
            try:
                owners = {int(row[column["uid"]]), int(row[column["cuid"]])}
                if uid in owners and remove(int(row[ident])) != 0:
                    log(f"cannot remove SysV {kind} {row[ident]}")
            except (KeyError, IndexError, ValueError, TypeError):
                continue


def owned_by(path: str, uid: int) -> bool:
    try:
        return os.lstat(path).st_uid == uid
    except OSError:
        return False


def sweep_shared(uid: int, folders=SHARED_WRITABLE) -> None:
    """Delete everything `uid` owns at any depth of the world-writable folders (files it
    created inside folders owned by others included)."""
    for top in folders:
        try:
            if not stat.S_ISDIR(os.lstat(top).st_mode):
                continue
        except OSError:
            continue
        stack = [top]
        while stack:
            folder = stack.pop()
            try:
                entries = list(os.scandir(folder))
            except OSError:
                continue
            for entry in entries:
                if owned_by(entry.path, uid):
                    remove_tree(entry.path)
                else:
                    try:  # the sandbox user can only have written into world-writable folders
                        mode = os.lstat(entry.path).st_mode
                        if stat.S_ISDIR(mode) and mode & stat.S_IWOTH:
                            stack.append(entry.path)
                    except OSError:
                        pass
