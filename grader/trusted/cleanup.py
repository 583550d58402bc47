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
    """Processes with `uid` among their real, effective, saved or file uids, zombies left out.
    (Read after every worker: only the two lines needed are parsed.)"""
    pids, wanted = [], str(uid).encode()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            fd = os.open(f"/proc/{name}/status", os.O_RDONLY)
            try:
                status = os.read(fd, 8192)
            finally:
                os.close(fd)
        except OSError:
            continue
        state = status.partition(b"\nState:")[2][:8].split()
        uids = status.partition(b"\nUid:")[2].split(b"\n", 1)[0].split()
        if wanted in uids and state and state[0] != b"Z":
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
    while live := live_pids_of(uid):
        if time.monotonic() >= end:
            log(f"processes of uid {uid} survived the sweep: {live[:10]}")
            return
        as_user(uid, gid, _kill_all_of_my_user)
        time.sleep(0.005)


def _open_dir(name: str, dir_fd=None) -> int:
    return os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dir_fd)


def remove_tree(path: str) -> None:
    """Delete `path` and everything under it, never raising and never following a link."""
    parent, name = os.path.split(os.path.abspath(path))
    try:
        parent_fd = _open_dir(parent)
    except OSError as exc:
        log(f"cannot remove {path}: {exc}")
        return
    try:
        remove_at(parent_fd, name, label=path)
    finally:
        os.close(parent_fd)


def remove_at(parent_fd: int, name: str, *, owner: int | None = None, label: str = "") -> None:
    """Delete `name` inside the folder open as `parent_fd`, and everything under it: never
    raising, never following a link, never by path (a folder renamed meanwhile changes
    nothing: every step is relative to a descriptor). With `owner`, only what that uid owns
    is deleted or entered (root's sweep of a sandbox user's leftovers)."""
    label = label or name
    try:
        top = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
        if owner is not None and top.st_uid != owner:
            return
        if not stat.S_ISDIR(top.st_mode):
            os.unlink(name, dir_fd=parent_fd)
            return
        fd = _open_dir(name, dir_fd=parent_fd)
        if os.fstat(fd).st_ino != top.st_ino:  # swapped between the stat and the open
            os.close(fd)
            log(f"{label} changed while it was being deleted: left alone")
            return
    except FileNotFoundError:
        return
    except OSError as exc:
        log(f"cannot remove {label}: {exc}")
        return
    if _empty_folder(fd, label, owner):
        try:
            os.rmdir(name, dir_fd=parent_fd)
        except OSError as exc:
            log(f"cannot remove {label}: {exc}")


def _empty_folder(fd: int, label: str, owner: int | None) -> bool:
    """Delete everything under the folder open as `fd` (closed here). Any depth: one directory
    fd at a time (relative names, no PATH_MAX), back up through ".." checking each step up
    lands on the folder it came from. True when it reached the top again."""
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
                    info = entry.stat(follow_symlinks=False)
                    if owner is not None and info.st_uid != owner:
                        continue  # not the sandbox user's: never deleted, never entered
                    if not stat.S_ISDIR(info.st_mode):
                        os.unlink(entry.name, dir_fd=fd)
                    elif info.st_ino not in stuck:
                        below = entry.name
                        break
                except OSError as exc:
                    log(f"cannot remove {entry.name} under {label}: {exc}")
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
                return True
            name, parent_inode = ancestors.pop()
            up = _open_dir("..", dir_fd=fd)
            os.close(fd)
            fd = up
            if os.fstat(fd).st_ino != parent_inode:
                log(f"a folder under {label} moved while it was being deleted: stopped")
                return False
            try:
                os.rmdir(name, dir_fd=fd)
            except OSError as exc:
                stuck.add(here.st_ino)
                log(f"cannot remove a folder under {label}: {exc}")
    except OSError as exc:
        log(f"cannot remove {label}: {exc}")
        return False
    finally:
        os.close(fd)


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


SHARED_DEPTH = 64  # world-writable folders of others entered at most this deep


def sweep_shared(uid: int, folders=SHARED_WRITABLE) -> None:
    """Delete everything `uid` owns in the world-writable folders, at any depth of folders
    others own but anyone may write. Root walks by descriptor only (openat, O_NOFOLLOW,
    unlinkat): another sandbox user graded at the same time may rename its folders or swap
    them for links while this runs, and can at most move where root looks inside folders that
    user could write anyway; nothing `uid` does not own is ever deleted."""
    for top in folders:
        try:
            fd = _open_dir(top)
        except OSError:
            continue
        _sweep_folder(fd, top, uid, SHARED_DEPTH)


def _sweep_folder(fd: int, label: str, uid: int, depth: int) -> None:
    """`uid`'s entries of the folder open as `fd` (closed here), and of the world-writable
    folders in it that others own."""
    try:
        for entry in list(os.scandir(fd)):
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if info.st_uid == uid:
                remove_at(fd, entry.name, owner=uid, label=f"{label}/{entry.name}")
            elif stat.S_ISDIR(info.st_mode) and info.st_mode & stat.S_IWOTH:
                if depth <= 0:
                    log(f"{label}/{entry.name}: world-writable folders nested too deep to sweep")
                    continue
                try:
                    child = _open_dir(entry.name, dir_fd=fd)
                except OSError:
                    continue
                _sweep_folder(child, f"{label}/{entry.name}", uid, depth - 1)
    except OSError as exc:
        log(f"cannot sweep {label}: {exc}")
    finally:
        os.close(fd)
