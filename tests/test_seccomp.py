"""The seccomp filters (grader/trusted/seccomp.py): what each refuses, and what still works.

Each check runs in a child process: a loaded filter cannot be unloaded.
"""
import json
import os
import subprocess
import sys
import textwrap

import pytest

from grader.trusted import seccomp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Each syscall the filters refuse, tried once; every value is an errno name or "ok".
PROBE = textwrap.dedent('''
    import ctypes, errno, json, os, socket, threading, subprocess
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    # x86-64 numbers, with arguments that do nothing unfiltered (PTRACE_ATTACH to pid 0,
    # clone with CLONE_THREAD but not CLONE_SIGHAND: EINVAL), so that the control is harmless.
    CALLS = {"clone3": (435, 0, 0), "ptrace": (101, 16, 0), "process_vm_readv": (310, 0, 0),
             "bpf": (321, 0, 0), "perf_event_open": (298, 0, 0), "keyctl": (250, 0, 0),
             "userfaultfd": (323, 0, 0), "io_uring_setup": (425, 0, 0),
             "clone_newpid": (56, 0x20000000 | 0x10000, 0)}

    def outcome(result):
        return "ok" if result >= 0 else errno.errorcode[ctypes.get_errno()]

    def opened(family, kind):
        try:
            socket.socket(family, kind).close()
            return "ok"
        except OSError as exc:
            return errno.errorcode[exc.errno]

    out = {name: outcome(libc.syscall(*args, 0, 0, 0)) for name, args in CALLS.items()}
    out["unshare_net"] = outcome(libc.unshare(0x40000000))
    out["inet"] = opened(socket.AF_INET, socket.SOCK_STREAM)
    out["netlink"] = opened(socket.AF_NETLINK, socket.SOCK_RAW)
    out["unix"] = opened(socket.AF_UNIX, socket.SOCK_STREAM)
    thread = threading.Thread(target=lambda: None)  # glibc's clone3, then its clone fallback
    thread.start()
    thread.join()
    out["thread_and_subprocess"] = subprocess.run(["true"]).returncode
    print(json.dumps(out))
''')
ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="unshare as root is the control")


COMMAND = [sys.executable, "-c", PROBE]
WORKER_FILTERED = [sys.executable, "-c", f"import sys; sys.path.insert(0, {ROOT!r}); "
                   "from grader.trusted import seccomp; seccomp.build_worker_filter().load(); "
                   f"exec({PROBE!r})"]


def probe(argv: list[str]) -> dict:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@ROOT_ONLY
def test_docker_refusals_refuse_what_dockers_profile_refuses():
    bare, refused = probe(COMMAND), probe(seccomp.docker_like(COMMAND))
    # The control: as root without a filter, each succeeds or fails for its own reason.
    assert bare["unshare_net"] == "ok" and bare["inet"] == "ok" and bare["clone3"] != "ENOSYS"
    assert bare["clone_newpid"] == "EINVAL"
    assert refused["unshare_net"] == refused["clone_newpid"] == "EPERM"
    assert refused["clone3"] == "ENOSYS"
    assert refused["inet"] == "ok" and refused["thread_and_subprocess"] == 0  # nothing more


def test_the_worker_filter_refuses_the_network_and_other_processes():
    refused = probe(WORKER_FILTERED)
    assert {k: refused[k] for k in ("inet", "netlink", "unix")} == {
        "inet": "EPERM", "netlink": "EPERM", "unix": "ok"}
    for name in ("ptrace", "process_vm_readv", "bpf", "perf_event_open", "keyctl",
                 "userfaultfd", "io_uring_setup", "unshare_net", "clone_newpid"):
        assert refused[name] == "EPERM", name
    assert refused["clone3"] == "ENOSYS" and refused["thread_and_subprocess"] == 0
