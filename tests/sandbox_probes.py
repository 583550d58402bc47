"""Probes for tests/test_sandbox.py: each plays one kind of (mis)behaving student code.

Imported by the zygote (``probe_module="tests.sandbox_probes"``) before any fork.
"""
import errno
import os
import signal
import socket
import sys
import time

import numpy as np
import torch

from grader.wire import ProbeError


def echo(student, value=None):
    return value


def call_student(student, target, args=(), kwargs=None):
    module, name = target.split(".")
    return getattr(getattr(student, module), name)(*args, **(kwargs or {}))


def busy_loop(student):
    while True:
        pass


def exit_now(student, code=0):
    os._exit(code)


class Boom(BaseException):
    pass


def raise_(student, what="custom"):
    if what == "SystemExit":
        sys.exit(3)
    if what == "KeyboardInterrupt":
        raise KeyboardInterrupt
    if what == "contract":
        raise ProbeError("made_masks must return a list of tensors, got dict")
    raise Boom("boom")


def alloc(student, how="bytearray", gb=50):
    n = int(gb * (1 << 30))
    data = bytearray(n) if how == "bytearray" else torch.empty(n, dtype=torch.uint8)
    return len(data)


def fork_bomb(student, n=1000):
    forked = 0
    for _ in range(n):
        try:
            pid = os.fork()
        except OSError:
            break
        if pid == 0:
            time.sleep(120)
            os._exit(0)
        forked += 1
    return forked


def print_flood(student, mb=1024):
    chunk = b"x" * 1023 + b"\n"
    for _ in range(mb * 1024):
        os.write(1, chunk)
    print("the end")
    return mb


def setsid_grandchild(student, path, delay=1.0):
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            time.sleep(delay)
            with open(path, "w") as f:
                f.write("escaped")
        os._exit(0)
    return os.getpid()


def _spin(seconds):
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def burn(student, seconds=0.5, where="self"):
    """Use `seconds` of CPU here, in a child that is waited for, in an orphan that is still
    running (not yet done) when this worker returns, or in a child that the kernel would
    reap by itself (SIGCHLD ignored): nobody waits for it, so no rusage holds its CPU time."""
    refused = None
    if where == "auto_reaped":
        try:
            signal.signal(signal.SIGCHLD, signal.SIG_IGN)
        except OSError as exc:
            refused = exc.errno
    if where == "self":
        _spin(seconds)
    else:
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:
            _spin(seconds)
            if where == "orphan":  # says it has burnt `seconds` (however loaded the machine
                os.write(write_fd, b".")  # is), then goes on burning
                _spin(100 * seconds)
            os._exit(0)
        os.close(write_fd)
        if where == "waited_child":
            os.waitpid(pid, 0)
        elif where == "auto_reaped":
            os.read(read_fd, 1)  # EOF: the child has exited (and, unrefused, is reaped)
            while refused is None and os.path.exists(f"/proc/{pid}"):
                time.sleep(0.01)
        else:
            os.read(read_fd, 1)
    return {"own_cpu": time.process_time(), "refused": refused}


def data_loader_sum(student, workers=2):
    """torch's DataLoader with worker processes (it sets a SIGCHLD handler for them)."""
    from torch.utils.data import DataLoader, TensorDataset
    loader = DataLoader(TensorDataset(torch.arange(100.0)), batch_size=10, num_workers=workers)
    return sum(float(batch[0].sum()) for batch in loader)


PERSIST_FOLDERS = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")
SHM_KEY = 0x50531337


def _libc():
    import ctypes
    return ctypes.CDLL(None, use_errno=True)


def persist(student, marker, extra_folder):
    """Leave `marker` wherever the sandbox user can write: top level and sub-folders of the
    shared writable folders, a world-writable folder owned by someone else, SysV shm."""
    left = []
    for folder in (*PERSIST_FOLDERS, extra_folder):
        for path in (os.path.join(folder, f"{marker}.txt"),
                     os.path.join(folder, f"{marker}-dir", "deep", f"{marker}.txt")):
            try:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "w") as f:
                    f.write(marker)
                left.append(path)
            except OSError:
                pass
    libc = _libc()
    shmid = libc.shmget(SHM_KEY, 4096, 0o1000 | 0o666)  # IPC_CREAT
    if shmid >= 0:
        left.append(f"shm {shmid}")
    return left


def look(student, marker, extra_folder):
    """What a later worker finds of `persist`'s marker."""
    found = []
    for folder in (*PERSIST_FOLDERS, extra_folder):
        for root, dirs, files in os.walk(folder):
            found += [os.path.join(root, f) for f in files if marker in f]
    if _libc().shmget(SHM_KEY, 0, 0) >= 0:
        found.append("shm")
    return found


def kill_self(student):
    import signal
    os.kill(os.getpid(), signal.SIGKILL)


def nap(student, seconds=1.0):
    time.sleep(seconds)
    return "awake"


def read_file(student, path):
    try:
        with open(path) as f:
            return f.read()
    except OSError as exc:
        return errno.errorcode[exc.errno]


def list_dir(student, path):
    try:
        return sorted(os.listdir(path))
    except OSError as exc:
        return errno.errorcode[exc.errno]


def whoami(student):
    return {"uid": os.getuid(), "euid": os.geteuid(), "gid": os.getgid(),
            "groups": os.getgroups(), "cwd": os.getcwd(), "env": dict(os.environ),
            "fds": sorted(int(fd) for fd in os.listdir("/proc/self/fd")),
            "threads": torch.get_num_threads(), "seed_draw": torch.rand(3).tolist()}


def memstat(student):
    """Resident memory of this child: total (shares the zygote's pages) and private."""
    out = {}
    for name in ("/proc/self/status", "/proc/self/smaps_rollup"):
        with open(name) as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("VmHWM", "VmRSS", "Pss", "Private_Clean", "Private_Dirty"):
                    out[key] = int(rest.split()[0])
    return out


def attack(student, port):
    """Try the privileged moves a child must not be able to make (`port`: the test's listener
    on 127.0.0.1)."""
    out = {}
    for name, act in (("kill_parent", lambda: os.kill(os.getppid(), 9)),
                      ("setuid_root", lambda: os.setuid(0)),
                      ("connect", lambda: socket.socket().connect(("127.0.0.1", port)))):
        try:
            act()
            out[name] = "ok"
        except OSError as exc:
            out[name] = errno.errorcode.get(exc.errno, str(exc))
    return out


def sockets(student):
    """Which socket families this worker may open: the name of each refusal's errno."""
    out = {}
    for name, family, kind in (("inet", socket.AF_INET, socket.SOCK_STREAM),
                               ("inet6", socket.AF_INET6, socket.SOCK_DGRAM),
                               ("netlink", socket.AF_NETLINK, socket.SOCK_RAW),
                               ("unix", socket.AF_UNIX, socket.SOCK_STREAM)):
        try:
            socket.socket(family, kind).close()
            out[name] = "ok"
        except OSError as exc:
            out[name] = errno.errorcode.get(exc.errno, str(exc))
    return out


def write_big_file(student, mb=200):
    with open("big.bin", "wb") as f:
        for _ in range(mb):
            f.write(b"\0" * (1 << 20))
    return mb


def return_value(student, what):
    class MyTensor(torch.Tensor):
        pass

    class Rigged:
        def __eq__(self, other):
            raise AssertionError("__eq__ called")
        __len__ = __iter__ = __repr__ = __eq__

    values = {"subclass": torch.ones(3).as_subclass(MyTensor), "rigged": Rigged(),
              "huge": np.zeros(100 << 20, dtype=np.uint8),
              "tensor": torch.arange(6, dtype=torch.float32).reshape(2, 3)}
    return values[what]


_PROCESS = []  # filled by the first call in a process (the zygote never calls it)


def identity(student):
    """Which process answers (a token of its own: pids repeat across PID namespaces), as whom,
    and whether the module state of earlier calls is there."""
    _PROCESS[:] = _PROCESS or [os.urandom(8).hex()]
    student.probability.calls = getattr(student.probability, "calls", 0) + 1
    return {"pid": _PROCESS[0], "uid": os.getuid(), "calls": student.probability.calls}


def write_raw_result(student, data: str):
    """Writes `data` (hex) on the result pipe itself (a forged reply, a bogus length), then
    returns."""
    os.write(3, bytes.fromhex(data))
    return "honest value"



PROBES = {f.__name__.rstrip("_"): f for f in (
    echo, call_student, busy_loop, exit_now, raise_, alloc, fork_bomb, print_flood,
    setsid_grandchild, burn, persist, look, kill_self, nap, read_file, list_dir, whoami, memstat,
    attack, sockets, write_big_file, return_value, data_loader_sum,
    identity, write_raw_result)}
