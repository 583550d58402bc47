"""Attacks the student worker's seccomp filter refuses (grader/trusted/seccomp.py), run at
import. Each lists what it managed and leaks it (an exception: the module fails to import,
the score drops); refused, it finds nothing and the submission scores as the reference.
Loopback only: the network attack addresses the audit's own listeners on 127.0.0.1
(LISTENER_*_PORT, substituted by the runner; see listener.py)."""
from .attacks import _fn

# The DNS lookup is the query a resolver sends (a UDP datagram), to the audit's listener: a
# real getaddrinfo would address this machine's nameserver, which a test may not. Under the
# filter getaddrinfo fails the same way, at the UDP socket.
NETWORK = _fn('''
import socket as _s, struct as _st
_found = []
try:  # no create_connection: its getaddrinfo needs the idna codec, which may be unreadable
    _conn = _s.socket(_s.AF_INET, _s.SOCK_STREAM)
    _conn.settimeout(2)
    _conn.connect(("127.0.0.1", LISTENER_TCP_PORT))
    _conn.sendall(b"the hidden inputs this worker received")
    _conn.close()
    _found.append("sent data over TCP to 127.0.0.1")
except OSError:
    pass
_query = _st.pack(">6H", 0x5053, 0x0100, 1, 0, 0, 0) + b"\\x04leak\\x07example\\x00\\x00\\x01\\x00\\x01"
try:
    _s.socket(_s.AF_INET, _s.SOCK_DGRAM).sendto(_query, ("127.0.0.1", LISTENER_UDP_PORT))
    _found.append("sent a DNS query over UDP to 127.0.0.1")
except OSError:
    pass
for _name, _args in (("raw ICMP", (_s.AF_INET, _s.SOCK_RAW, _s.IPPROTO_ICMP)),
                     ("packet", (_s.AF_PACKET, _s.SOCK_RAW, 0)),
                     ("netlink", (_s.AF_NETLINK, _s.SOCK_RAW, 0)),
                     ("IPv6", (_s.AF_INET6, _s.SOCK_STREAM, 0))):
    try:
        _s.socket(*_args).close()
        _found.append(f"opened a {_name} socket")
    except OSError:
        pass
_leak(_found, label="NETWORK")
''')

# A process of its own is what ptrace could reach without the filter (same uid, and Yama's
# default scope allows descendants); the parent (root, or the namespace's init) is tried too.
PTRACE = _fn('''
import ctypes as _c, os as _os, time as _t
class _Iovec(_c.Structure):
    _fields_ = [("base", _c.c_void_p), ("len", _c.c_size_t)]
_libc = _c.CDLL(None, use_errno=True)
_libc.ptrace.restype = _c.c_long
_libc.process_vm_readv.restype = _c.c_ssize_t
_found = []
_libc.prctl(4, 1, 0, 0, 0)  # PR_SET_DUMPABLE: undo what the uid change set, as an attacker would
_sibling = _os.fork()
if _sibling == 0:
    _t.sleep(60)
    _os._exit(0)
try:
    for _pid in (_sibling, _os.getppid()):
        if _libc.ptrace(16, _pid, None, None) == 0:  # PTRACE_ATTACH
            _found.append(f"attached to pid {_pid}")
            _libc.ptrace(17, _pid, None, None)  # PTRACE_DETACH
        _buf = _c.create_string_buffer(64)  # the same address in the forked sibling
        _mine = _Iovec(_c.cast(_buf, _c.c_void_p), 64)
        _theirs = _Iovec(_c.cast(_buf, _c.c_void_p), 64)
        if _libc.process_vm_readv(_pid, _c.byref(_mine), 1, _c.byref(_theirs), 1, 0) > 0:
            _found.append(f"read the memory of pid {_pid}")
finally:
    _os.kill(_sibling, 9)
    _os.waitpid(_sibling, 0)
_leak(_found, label="PTRACE")
''')
