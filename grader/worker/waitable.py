"""Every process a student worker starts stays waitable, so the fork server's clock sees it.

The clock (grader/trusted/zygote.py) is the kernel's rusage of what was waited for: a process's
CPU time reaches its parent's when the parent waits for it, and an orphan is waited for by the
fork server (a child subreaper) or by the namespace's init. The one way a process ends without
anyone waiting is the kernel's auto-reap: its parent set SIGCHLD to SIG_IGN or SA_NOCLDWAIT,
and its CPU time is then added to nobody's (measured: a `train` doing its work in such a child
passed the timed tests at 7x the reference's CPU). So a student worker may not change
SIGCHLD's disposition at all: a seccomp filter refuses rt_sigaction(SIGCHLD, act != NULL) with
EPERM (querying it stays allowed). The filter cannot read `act` itself (a pointer), nor needs
to. Syscalls of another ABI (i386's int 0x80, x32), whose numbers it would not know, are
refused with ENOSYS. ptrace, which also changes who reaps, is refused by the worker's own
seccomp filter. Loaded after no_new_privs and the uid change, before any student module.
"""
from __future__ import annotations

import ctypes
import errno
import os
import signal
import struct

PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2
RET_ALLOW, RET_ERRNO = 0x7FFF0000, 0x00050000
BPF_LD_W_ABS, BPF_JEQ_K, BPF_JGE_K, BPF_RET_K = 0x20, 0x15, 0x35, 0x06
X32_BIT = 0x40000000  # x32 syscall numbers have it; native x86_64 ones never do
# machine -> (AUDIT_ARCH of the native ABI, rt_sigaction's number there)
NATIVE = {"x86_64": (0xC000003E, 13), "aarch64": (0xC00000B7, 134)}
# struct seccomp_data: nr (u32), arch (u32), instruction pointer (u64), args[6] (u64 each)
NR, ARCH, ARG0_LOW, ARG1_LOW, ARG1_HIGH = 0, 4, 16, 24, 28


class _Program(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _instructions(arch: int, rt_sigaction: int) -> list[tuple]:
    """(code, jump if true, jump if false, k); a jump skips that many instructions."""
    return [
        (BPF_LD_W_ABS, 0, 0, ARCH),
        (BPF_JEQ_K, 0, 11, arch),                # 1: another ABI: ENOSYS (13)
        (BPF_LD_W_ABS, 0, 0, NR),
        (BPF_JGE_K, 9, 0, X32_BIT),              # 3: x32: ENOSYS (13)
        (BPF_JEQ_K, 0, 6, rt_sigaction),         # 4: any other call: allow (11)
        (BPF_LD_W_ABS, 0, 0, ARG0_LOW),          # the kernel reads the signal as an int
        (BPF_JEQ_K, 0, 4, signal.SIGCHLD),       # 6: another signal: allow (11)
        (BPF_LD_W_ABS, 0, 0, ARG1_LOW),
        (BPF_JEQ_K, 0, 3, 0),                    # 8: act's low half set: EPERM (12)
        (BPF_LD_W_ABS, 0, 0, ARG1_HIGH),
        (BPF_JEQ_K, 0, 1, 0),                    # 10: act is NULL (a query): allow, else EPERM
        (BPF_RET_K, 0, 0, RET_ALLOW),            # 11
        (BPF_RET_K, 0, 0, RET_ERRNO | errno.EPERM),   # 12
        (BPF_RET_K, 0, 0, RET_ERRNO | errno.ENOSYS),  # 13
    ]


def program() -> bytes | None:
    """The filter as raw sock_filter instructions, or None on a machine it does not know."""
    native = NATIVE.get(os.uname().machine)
    if native is None:
        return None
    return b"".join(struct.pack("=HBBI", *i) for i in _instructions(*native))


def forbid_auto_reap() -> bool:
    """Load the filter into this process (and everything it starts); irreversible. Needs
    no_new_privs. False where the machine is not one it knows (the clock may then miss an
    auto-reaped child; docs/DESIGN.md)."""
    code = program()
    if code is None:
        return False
    buffer = ctypes.create_string_buffer(code, len(code))
    prog = _Program(len(code) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "seccomp: the auto-reap filter was refused")
    return True
