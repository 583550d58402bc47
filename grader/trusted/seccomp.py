"""Seccomp filters: what a student worker may not ask of the kernel, and Docker's refusals.

Two filters, both "allow everything except", refusing with an error (never a kill) so that a
student's code sees an ordinary OSError and is graded on the rest:

- :func:`docker_refusals`: what Docker's default profile refuses that the grader relies on
  (unshare, setns, mount and the new mount API, pivot_root, clone with any CLONE_NEW* flag;
  clone3 with ENOSYS, since a filter cannot read clone3's flags and glibc then falls back to
  clone). Gradescope runs the autograder under that profile, so the project's sweep-path tests
  and the rehearsal run under it too (:func:`docker_like`), not merely with PS1_NAMESPACES=0:
  as root on a bare machine the worker's own network unshare would still succeed.
- :func:`worker_filter`: the same, plus no socket but AF_UNIX (no network of any kind, DNS
  included, no netlink or raw sockets), no io_uring (it can open sockets without socket(2)),
  no ptrace or process_vm_readv/writev, no bpf, perf_event_open, keyctl family, userfaultfd.
  The fork server builds it once (:func:`build_worker_filter`) and each student worker loads it
  after dropping privileges, before any student module is imported (grader/worker/child.py).

Syscalls of another ABI (i386 int 0x80, x32) kill the process: libseccomp's default for a
foreign architecture, and the only way around a filter written for the native one.
The binding is pyseccomp (ctypes over libseccomp.so.2, which apt itself depends on, so every
Debian and Ubuntu image has it); importing it fails where the library is missing.
"""
from __future__ import annotations

import errno
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
AF_UNIX = 1
# CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET: Docker's mask 0x7E020000.
CLONE_NEW_FLAGS = (0x20000, 0x2000000, 0x4000000, 0x8000000, 0x10000000, 0x20000000, 0x40000000)
NAMESPACE_CALLS = ("unshare", "setns", "mount", "umount2", "pivot_root", "open_tree",
                   "move_mount", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr")
WORKER_REFUSED = ("ptrace", "process_vm_readv", "process_vm_writev", "bpf", "perf_event_open",
                  "keyctl", "add_key", "request_key", "userfaultfd",
                  "io_uring_setup", "io_uring_enter", "io_uring_register")


def _new_filter():
    import pyseccomp
    refusals = pyseccomp.SyscallFilter(pyseccomp.ALLOW)
    # As root, load without no_new_privs, as Docker does; anyone else needs it to load at all.
    refusals.set_attr(pyseccomp.Attr.CTL_NNP, 0 if os.geteuid() == 0 else 1)
    return refusals


def _add_docker_rules(refusals) -> None:
    import pyseccomp
    refused = pyseccomp.ERRNO(errno.EPERM)
    for name in NAMESPACE_CALLS:
        refusals.add_rule(refused, name)
    for flag in CLONE_NEW_FLAGS:  # one rule per flag: "flags & mask != 0" has no single test
        refusals.add_rule(refused, "clone", pyseccomp.Arg(0, pyseccomp.MASKED_EQ, flag, flag))
    refusals.add_rule(pyseccomp.ERRNO(errno.ENOSYS), "clone3")


def docker_refusals():
    """A pyseccomp.SyscallFilter (not loaded) refusing what Docker's default profile refuses
    of what the grader relies on: namespaces and mounts with EPERM, clone3 with ENOSYS."""
    refusals = _new_filter()
    _add_docker_rules(refusals)
    return refusals


def build_worker_filter():
    """The student worker's filter (not loaded): Docker's refusals, no socket but AF_UNIX, no
    access to other processes or kernel facilities a grading never needs; all with EPERM."""
    import pyseccomp
    refusals = docker_refusals()
    refused = pyseccomp.ERRNO(errno.EPERM)
    refusals.add_rule(refused, "socket", pyseccomp.Arg(0, pyseccomp.NE, AF_UNIX))
    refusals.add_rule(refused, "socketpair", pyseccomp.Arg(0, pyseccomp.NE, AF_UNIX))
    for name in WORKER_REFUSED:
        refusals.add_rule(refused, name)
    return refusals


def docker_like(argv: list[str], python: str = sys.executable) -> list[str]:
    """The command line that runs `argv` under :func:`docker_refusals` (irreversibly, for it
    and everything it starts): a tiny Python loads the filter, then execs `argv`. For tests and
    the rehearsal, which need Gradescope's kernel refusals on a machine that has none. Make it
    the last wrapper: nothing it runs can create namespaces or mount (a chroot still works)."""
    boot = (f"import sys; sys.path.insert(0, {ROOT!r}); "
            "from grader.trusted.seccomp import _exec_refused; _exec_refused(sys.argv[1:])")
    return [python, "-I", "-c", boot, *argv]


def _exec_refused(argv: list[str]) -> None:
    docker_refusals().load()
    os.execvp(argv[0], argv)
