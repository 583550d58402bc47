"""Framing on the control socket between the judge (sandbox.py) and the fork server (zygote.py).

Each message is a u64 length followed by one wire frame; a "run" request carries two file
descriptors (result pipe, output pipe) as SCM_RIGHTS on its length prefix. Both ends are
trusted: no student process ever holds this socket.
"""
import socket
import struct

from grader import wire

MAX_CONTROL = 256 << 20


def send_msg(sock: socket.socket, obj, fds=()) -> None:
    send_raw(sock, wire.encode(obj, max_bytes=MAX_CONTROL), fds)


def send_raw(sock: socket.socket, frame: bytes, fds=()) -> None:
    """One frame encoded already (e.g. a worker's reply)."""
    socket.send_fds(sock, [struct.pack(">Q", len(frame))], list(fds))
    sock.sendall(frame)


def recv_msg(sock: socket.socket, max_bytes: int = MAX_CONTROL):
    """One (message, fds) pair; EOFError when the peer has gone."""
    raw, fds = recv_raw(sock, max_bytes)
    return wire.decode(raw, max_bytes=max_bytes), fds


def recv_raw(sock: socket.socket, max_bytes: int = MAX_CONTROL) -> tuple[bytes, list[int]]:
    head, fds = b"", []
    while len(head) < 8:
        data, got, _flags, _addr = socket.recv_fds(sock, 8 - len(head), 4)
        fds += got
        if not data:
            raise EOFError("control socket closed")
        head += data
    (size,) = struct.unpack(">Q", head)
    if size > max_bytes:
        raise wire.WireError(f"control message too large ({size} bytes)")
    buf = bytearray()
    while len(buf) < size:
        chunk = sock.recv(min(size - len(buf), 1 << 20))
        if not chunk:
            raise EOFError("control socket closed mid-message")
        buf += chunk
    return bytes(buf), fds
