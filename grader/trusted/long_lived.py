"""The two long-lived workers of a grading (Sandbox, sandbox.py, mixes this in):

  session worker   a test's untimed student probes: the first starts it through the fork
                   server, later ones go down its request pipe, and the test's end (or any run
                   that needs the server) ends it. One fork per test instead of one per probe.
  oracle worker    the trusted roles' untimed probes, all grading long (grader/trusted/oracle.py).

Each reply is judged alone, exactly as a fresh worker's: a worker that dies, times out, or
writes an unreadable reply or more than one (as far as the judge has read) ends its session,
and the next probe starts another. Frames a worker writes itself may answer its own later
probes of the test (their replies are its choice anyway), never another test's. Timed runs
never use either (Sandbox.run stops both first), so their clocks compare.
"""
from __future__ import annotations

import os
import socket
import struct
from dataclasses import dataclass

from grader import wire
from grader.trusted.outcome import Outcome, Usage, decode_result
from grader.trusted.pipes import CONTENTION_CAP, declared, frame_of, read_ready
from grader.trusted.protocol import recv_msg, recv_raw, send_msg


@dataclass
class Session:
    """A student's session worker: its pid and our ends of its pipes."""
    pid: int
    res_r: int
    out_r: int
    req_w: int


class LongLivedWorkers:
    def _session_run(self, request: dict, timeout: float) -> Outcome:
        """One of a test's untimed student probes, in the test's session worker (the first
        starts it, through the server; later ones go down its request pipe). Each reply is
        judged alone, exactly as a fresh worker's; a worker that dies ends the session, and
        the next probe starts another."""
        send = b""
        if self.session is None:
            (res_r, res_w), (out_r, out_w), (req_r, req_w) = (os.pipe() for _ in range(3))
            try:
                send_msg(self.ctrl, dict(request, op="run", session=True),
                         fds=[res_w, out_w, req_r])
                pid = recv_msg(self.ctrl)[0]["pid"]
            except (OSError, EOFError, wire.WireError, KeyError, TypeError):
                for fd in (res_r, out_r, req_w):
                    os.close(fd)
                return self._lost()
            finally:
                for fd in (res_w, out_w, req_r):
                    os.close(fd)
            self.session = Session(pid, res_r, out_r, req_w)
        else:
            frame = wire.encode(request)
            send = struct.pack(">Q", len(frame)) + frame
        session = self.session
        try:
            collected = self._collect(session.pid, session.res_r, session.out_r, timeout,
                                      send=send, req_w=session.req_w,
                                      waited=self.waited_seconds(session.pid) if send else 0.0)
        except (OSError, EOFError, wire.WireError, KeyError, TypeError):
            return self._lost()  # the session's pipes close with the server
        result, output, exit_msg, state, credited = collected
        if exit_msg is None and state == "":  # one whole reply
            out = decode_result(frame_of(result), memory_mb=self.memory_mb,
                                result_cap=self.result_cap)
            read_ready(session.out_r, output)  # printed before the reply was written
            out.output, out.credited_seconds = output.text(), credited
            if out.kind == "bad_output" or len(result) > 8 + declared(result):
                self.end_session()  # it wrote more than its reply: the next starts afresh
            return out
        self.session = None
        os.close(session.req_w)
        return self._ended(session.res_r, session.out_r, timeout, *collected, framed=True)

    def _lost(self) -> Outcome:
        self._stop_zygote()
        return Outcome(False, kind="infrastructure",
                       message="the grader lost track of this run (its fork server died)")

    def end_session(self) -> None:
        """End the test's session worker (the plugin does after each test, and any run that
        needs the server does first): it exits when its request pipe closes, or is killed
        after two seconds; then the sandbox user's leftovers are swept as after any worker."""
        session, self.session = self.session, None
        if session is None:
            return
        os.close(session.req_w)
        try:
            self._collect(session.pid, session.res_r, session.out_r, 2.0)
        except (OSError, EOFError, wire.WireError, KeyError, TypeError):
            self._stop_zygote()
        self.sweep()
        os.close(session.res_r)
        os.close(session.out_r)

    def _ask_oracle(self, request: dict, timeout: float) -> Outcome:
        """One request to the oracle worker, started on first use. Its usage is its own
        account (it is trusted); a timeout or a lost worker ends it, and the next request
        starts another."""
        try:
            if self.oracle is None:
                self.end_session()  # the server is busy with it
                self._ensure_server()
                send_msg(self.ctrl, {"op": "oracle"})
                self.oracle = socket.socket(fileno=recv_msg(self.ctrl)[1][0])
            self.oracle.settimeout(CONTENTION_CAP * timeout)
            send_msg(self.oracle, request)
            frame, _ = recv_raw(self.oracle, self.result_cap)
            usage, _ = recv_msg(self.oracle)
        except TimeoutError:
            self._stop_oracle()
            return Outcome(False, kind="timeout", message=f"the oracle worker took more than "
                           f"{CONTENTION_CAP * timeout:.0f} s")
        except (OSError, EOFError, wire.WireError, IndexError) as exc:
            self._stop_oracle()
            return Outcome(False, kind="infrastructure", message=f"the oracle worker was "
                           f"lost: {type(exc).__name__}: {exc}")
        out = decode_result(frame, memory_mb=self.memory_mb, result_cap=self.result_cap)
        out.usage = Usage(usage["cpu_seconds"], usage["wall_seconds"], 0)
        return out

    def _stop_oracle(self) -> None:
        """The server kills and reaps it (between runs: its CPU is no worker's)."""
        self.end_session()
        if self.oracle is not None:
            self.oracle.close()
            self.oracle = None
        self._ask_server({"op": "oracle_stop"})

