"""The judge's half of one worker run: read its result and output pipes (and write a
session's next request) until the fork server reports the worker's exit or the deadline
passes, crediting the time other processes kept the worker from a CPU. Mixed into Sandbox
(sandbox.py), whose ctrl socket, limits and _kill it uses."""
from __future__ import annotations

import os
import selectors
import struct
import time

from grader.trusted import cleanup
from grader.trusted.outcome import Capped
from grader.trusted.protocol import recv_msg

# A run's deadline grows by the time others kept it from a CPU, up to this many timeouts.
CONTENTION_CAP = 4.0


def read_ready(fd: int, output: Capped) -> None:
    """What a pipe holds now, without waiting."""
    while True:
        try:
            data = os.read(fd, 1 << 16)
        except BlockingIOError:
            return
        if not data:
            return
        output.add(data)


def declared(result: bytearray) -> int:
    """The length a session's reply says its frame has (0 until it has said)."""
    return struct.unpack(">Q", result[:8])[0] if len(result) >= 8 else 0


def whole(result: bytearray) -> bool:
    """A session's reply bytes (a u64 length, then the frame) hold the whole frame."""
    return len(result) >= 8 and len(result) >= 8 + declared(result)


def frame_of(result: bytearray) -> bytes:
    """What has come of the frame in a session's reply bytes (b"" while the length has not)."""
    return bytes(result[8:8 + declared(result)]) if len(result) >= 8 else b""


class WorkerPipes:
    def _collect(self, pid, res_r, out_r, timeout, *, send=b"", req_w=None, waited=0.0):
        """Read both pipes until the server reports the worker's exit, or kill it at the
        deadline: `timeout` from now, plus the time other processes kept it from a CPU (see
        waited_seconds; `waited` of it is older), up to CONTENTION_CAP timeouts. Also returns
        that credit. A session's call (`req_w`) writes `send` to the worker's request pipe as
        the worker reads it, and ends as soon as one whole reply has come."""
        result, output, state, exit_msg = bytearray(), Capped(self.output_cap), "", None
        start = time.monotonic()
        deadline, ceiling = start + timeout, start + CONTENTION_CAP * timeout
        sel = selectors.DefaultSelector()
        for fd in (res_r, out_r):
            os.set_blocking(fd, False)
            sel.register(fd, selectors.EVENT_READ)
        sel.register(self.ctrl, selectors.EVENT_READ)
        pending = memoryview(send)
        if pending:
            os.set_blocking(req_w, False)
            sel.register(req_w, selectors.EVENT_WRITE)
        grace, limit = None, self.result_cap + (8 if req_w is not None else 0)
        while exit_msg is None and not (req_w is not None and state == "" and whole(result)):
            now = time.monotonic()
            if state == "" and now >= deadline:
                credit = max(0.0, self.waited_seconds(pid) - waited)
                deadline = min(ceiling, start + timeout + credit)
            if state == "" and now >= deadline:
                state, grace = "timeout", now + 15
                self._kill(pid)
            if grace is not None and now >= grace:
                raise EOFError("the fork server did not reap a killed worker")
            wait = (deadline if grace is None else grace) - now
            for key, _ in sel.select(timeout=max(0.0, wait)):
                if key.fileobj is self.ctrl:
                    exit_msg = recv_msg(self.ctrl)[0]
                elif key.fd == req_w:
                    pending = self._write_some(req_w, pending, sel)
                elif (self._read_some(key.fd, out_r, result, output, sel, limit)
                      or req_w is not None and declared(result) > self.result_cap) and not state:
                    state = "too_large"
                    self._kill(pid)
        sel.close()
        return result, output, exit_msg, state, max(0.0, deadline - start - timeout)

    def _write_some(self, fd: int, pending: memoryview, sel) -> memoryview:
        try:
            pending = pending[os.write(fd, pending[:1 << 16]):]
        except BlockingIOError:
            return pending
        except OSError:  # the worker is gone: its exit report is on its way
            pending = pending[:0]
        if not pending:
            sel.unregister(fd)
        return pending

    @staticmethod
    def _read_some(fd, out_r, result, output, sel, limit) -> bool:
        """Read what `fd` has; True when the result would go over `limit` bytes (not kept)."""
        data = os.read(fd, 1 << 16)
        if not data:
            sel.unregister(fd)
        elif fd == out_r:
            output.add(data)
        elif len(result) + len(data) > limit:
            return True
        else:
            result += data
        return False

    def waited_seconds(self, pid: int) -> float:
        """How long the worker was kept from a CPU by other processes: the largest run delay
        (the kernel's schedstat: time runnable but not running) of any thread of the worker
        and everything it started. A classmate's grading hogging the machine cannot make a
        correct submission time out. A worker that sleeps earns nothing; one whose threads
        crowd each other earns at most CONTENTION_CAP timeouts of its own grading's time."""
        others = {self.proc.pid} if self.proc is not None else set()
        pids = ([p for p in cleanup.live_pids_of(self.uid) if p not in others]
                if self.uid is not None else [pid])
        waited = 0
        for process in pids:
            try:
                threads = os.listdir(f"/proc/{process}/task")
            except OSError:
                continue
            for thread in threads:
                try:
                    with open(f"/proc/{process}/task/{thread}/schedstat") as f:
                        waited = max(waited, int(f.read().split()[1]))
                except (OSError, ValueError, IndexError):
                    continue
        return waited / 1e9

    def _drain(self, res_r, out_r, result, output, limit: int) -> None:
        """After the sweep every writer is dead: read what is left (of the result, up to
        `limit` bytes), then close."""
        end = time.monotonic() + 2
        for fd, sink in ((res_r, None), (out_r, output)):
            os.set_blocking(fd, False)
            while time.monotonic() < end:
                try:
                    data = os.read(fd, 1 << 16)
                except BlockingIOError:
                    time.sleep(0.001)
                    continue
                if not data:
                    break
                if sink is not None:
                    sink.add(data)
                elif len(result) + len(data) <= limit:
                    result += data
            os.close(fd)
