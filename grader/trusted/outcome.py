"""What one worker run came to, in words a student can act on (judge side, no torch).

The value is whatever the worker's result frame holds (raw evaluations, chosen by the student
once their code ran); the usage comes from the fork server's accounting, never from the worker.
"""
from __future__ import annotations

import signal
from dataclasses import dataclass, field
from typing import Any

from grader import wire

KINDS = {"exception", "contract", "import", "timeout", "crash", "memory", "cpu",
         "bad_output", "no_result", "killed", "system_kill", "infrastructure"}
# Run once more: the first may not be the student's doing. A repeat of "killed" or
# "system_kill" costs the test (a student's process can provoke either: SIGKILL itself, or
# the OOM killer through a child); "infrastructure" (the fork server lost) is the grader's.
RETRIED = {"killed", "system_kill", "infrastructure"}


@dataclass(frozen=True)
class Usage:
    """Measured by the fork server: CPU seconds of the worker and everything it started, wall
    seconds from fork to exit, and how many processes it left running when it exited."""
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0
    orphans: int = 0


@dataclass
class Outcome:
    ok: bool
    value: Any = None
    kind: str = ""        # one of KINDS when not ok
    message: str = ""     # one line a student can act on
    traceback: str = ""   # frames from the student's files only
    output: str = ""      # captured stdout+stderr, head and tail
    usage: Usage = field(default_factory=Usage)
    credited_seconds: float = 0.0  # the deadline grew by this: others kept the worker waiting


class Capped:
    """Keeps the first and last ``cap // 2`` bytes of a stream of any length."""

    def __init__(self, cap: int):
        self.half, self.head, self.tail, self.total = cap // 2, bytearray(), bytearray(), 0

    def add(self, data: bytes) -> None:
        self.total += len(data)
        room = self.half - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        self.tail = (self.tail + data)[-self.half:] if data else self.tail

    def text(self) -> str:
        skipped = self.total - len(self.head) - len(self.tail)
        middle = f"\n... [{skipped} bytes of output omitted] ...\n" if skipped else ""
        return (self.head.decode("utf-8", "replace") + middle
                + self.tail.decode("utf-8", "replace"))


def classify(result: bytes, exit_msg: dict | None, state: str, *, timeout: float,
             memory_mb: int, cpu_seconds: int, result_cap: int, baseline_kb: int = 0) -> Outcome:
    """An Outcome from the result frame, the server's exit report and what the judge did.
    A kill tells its cause apart: our wall-clock timeout, the CPU limit (CPU time at the
    limit), the memory limit (the kernel's OOM killer struck while the worker's resident
    memory was near its limit), the OOM killer striking a small worker (memory pressure from
    elsewhere, or a child's: "system_kill") and a plain SIGKILL with no such evidence ("killed": from
    outside, or by the worker itself; a repeat on the retry is the student's)."""
    if state == "timeout":
        return Outcome(False, kind="timeout", message=f"timed out after {timeout:.1f} s")
    if state == "too_large":
        return Outcome(False, kind="bad_output",
                       message=f"returned more than {result_cap >> 20} MiB of data")
    if exit_msg is None or exit_msg.get("lost"):
        return Outcome(False, kind="infrastructure",
                       message="the grader lost track of this run (its fork server died)")
    status, cpu = exit_msg["exit_status"], exit_msg["cpu_seconds"]
    if result:
        return decode_result(result, memory_mb=memory_mb, result_cap=result_cap)
    if status == -signal.SIGXCPU or (status == -signal.SIGKILL and cpu >= cpu_seconds - 0.1):
        return Outcome(False, kind="cpu", message=f"used more than {cpu_seconds} s of CPU time")
    if status == -signal.SIGKILL:
        grown_mb = (exit_msg.get("max_rss_kb", 0) - baseline_kb) / 1024
        if exit_msg.get("oom_kills", 0) > 0:
            if grown_mb >= 0.8 * memory_mb:
                return Outcome(False, kind="memory", message=f"was killed for using too much "
                               f"memory ({grown_mb:.0f} MB; limit {memory_mb} MB)")
            return Outcome(False, kind="system_kill", message=f"was killed by the system "
                           f"for lack of memory while using only {grown_mb:.0f} MB")
        return Outcome(False, kind="killed", message="was killed by a SIGKILL signal, not by "
                       "the grader's memory or CPU limits")
    if status < 0:
        name = signal.Signals(-status).name if -status in signal.valid_signals() else str(-status)
        return Outcome(False, kind="crash", message=f"crashed with signal {name}")
    return Outcome(False, kind="no_result", message=f"your code called os._exit({status}) or "
                   "the process exited before returning a result")


def decode_result(frame: bytes, *, memory_mb: int, result_cap: int) -> Outcome:
    try:
        msg = wire.decode(frame, max_bytes=result_cap)
    except wire.WireError as exc:
        return Outcome(False, kind="bad_output",
                       message=f"sent data the grader could not read ({exc})")
    if type(msg) is not dict or type(msg.get("ok")) is not bool:
        return Outcome(False, kind="bad_output", message="sent a malformed result")
    if msg["ok"]:
        return Outcome(True, value=msg.get("value"))
    text = {k: msg.get(k) if type(msg.get(k)) is str else "" for k in ("kind", "message",
                                                                         "traceback")}
    kind = text["kind"] if text["kind"] in KINDS - RETRIED else "exception"  # ours to tell
    message = text["message"][:2000] if kind == "contract" else (
        text["message"].splitlines() or [kind])[0][:1000]
    if kind == "memory":
        message = f"ran out of memory (limit {memory_mb} MB): {message}"
    return Outcome(False, kind=kind, message=message, traceback=text["traceback"][:20000])
