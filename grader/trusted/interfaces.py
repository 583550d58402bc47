"""The interfaces tests are written against (judge side; no torch, no student code).

    submission.call("made.made_masks", degrees)          # a student function on judge-chosen inputs
    submission.run("model_outputs", model="made", ...)   # any worker probe (grader/worker/probes.py)
    value, usage = submission.timed("train", ...)        # a fresh worker, measured by the fork server
    measure.run("nll", ...)                              # trusted torch worker, no student code
    expected.run(...)                                    # the same probes on reference/

Values are raw evaluations: numpy arrays in, `wire.Tensor` / JSON values out. `Sandboxed` runs
a test's untimed student probes in its session worker and the trusted roles' in the oracle
worker (grader/trusted/long_lived.py), timed ones each in a fresh worker; the students'
in-process mode lives in grader/worker/inprocess.py.
"""
import base64
import hashlib
import json
import os
import time
import zlib
from pathlib import Path

from grader import wire
from grader.trusted.outcome import RETRIED, Usage


class StudentCodeError(Exception):
    """The student's code failed (raised, crashed, timed out, broke the contract)."""

    def __init__(self, message: str, *, kind: str = "exception", traceback: str = "",
                 output: str = ""):
        super().__init__(message)
        self.kind, self.traceback, self.output = kind, traceback, output


class GraderFault(Exception):
    """A failure the student did not cause (the fork server died, an outside kill)."""


class Interface:
    def run(self, probe: str, **kwargs):
        return self.answer(probe, kwargs, fresh=False)[0]

    def timed(self, probe: str, **kwargs):
        """(value, Usage) of one probe run in a fresh worker: usages of timed runs compare."""
        return self.answer(probe, kwargs, fresh=True)

    def answer(self, probe: str, kwargs: dict, fresh: bool):
        """(value, Usage); `fresh`: in a worker of its own, whatever the role."""
        raise NotImplementedError

    def call(self, target: str, *args, generator_seed=None, generator_draws=0, **kwargs):
        """`generator_draws`: draws the seeded generator made before the call (sent only when
        there are some, so recorded answers keep their keys)."""
        extra = {"generator_draws": generator_draws} if generator_draws else {}
        return self.run("call", target=target, args=list(args), kwargs=kwargs,
                        generator_seed=generator_seed, **extra)

    def derived(self, name: str, kwargs: dict, compute):
        """A value computed from this oracle's answers, e.g. the held-out NLL of the
        parameters its `train` returned: recorded like an answer (small, where the answer
        itself would be large), so the student release has it too."""
        return compute()


class Sandboxed(Interface):
    """Runs probes in workers of `role` (student, reference or measure): see Sandbox.run."""

    def __init__(self, sandbox, *, role: str = "student", timeout: float = 120.0):
        self.sandbox, self.role = sandbox, role
        self.deadline = None  # set per test by the plugin (monotonic seconds)
        self.timeout = timeout

    def answer(self, probe: str, kwargs: dict, fresh: bool):
        timeout = self.timeout if self.deadline is None else self.deadline - time.monotonic()
        if timeout <= 0:
            raise StudentCodeError("the test ran out of time", kind="timeout")
        outcome = self._run(probe, kwargs, timeout, fresh)
        if outcome.kind in RETRIED:  # perhaps not the student's doing: once more
            timeout = self.timeout if self.deadline is None else self.deadline - time.monotonic()
            outcome = self._run(probe, kwargs, max(timeout, 1.0), fresh)
            if outcome.kind in ("killed", "system_kill"):  # the student's test, not the grading
                outcome.message += (", twice in a row (if your code did not cause it, tell the "
                                    "course staff)" if outcome.kind == "system_kill"
                                    else ", twice in a row")
        if outcome.kind == "infrastructure" or (not outcome.ok and self.role != "student"):
            raise GraderFault(f"{self.role} worker: {outcome.kind}: {outcome.message}\n"
                              f"{outcome.traceback}{outcome.output[-2000:]}")
        if not outcome.ok:
            raise StudentCodeError(outcome.message, kind=outcome.kind,
                                   traceback=outcome.traceback, output=outcome.output)
        return outcome.value, outcome.usage

    def end(self) -> None:
        """The test is over: its session worker goes (the plugin calls this)."""
        if self.role == "student":
            self.sandbox.end_session()

    def _run(self, probe: str, kwargs: dict, timeout: float, fresh: bool):
        outcome = self.sandbox.run(probe, kwargs, timeout=timeout, role=self.role, fresh=fresh)
        if self.deadline is not None:  # time others took from the worker is not the test's
            self.deadline += outcome.credited_seconds
        return outcome


def _key(probe: str, kwargs: dict) -> str:
    return hashlib.sha256(wire.encode([probe, kwargs])).hexdigest()


class AnswerStore:
    """Reference answers that cost a worker at least PERSIST_SECONDS, kept on disk across the
    gradings of one batch on one machine (`grader batch` names a folder per grader fingerprint
    and machine): the reference's timed runs do not depend on the submission, so a batch
    measures them once, not once per submission. Written only by judges (root-only folder)."""
    PERSIST_SECONDS = 0.5

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)

    def get(self, key: str):
        try:
            entry = json.loads((self.folder / f"{key}.json").read_text())
            return base64.b64decode(entry["answer"]), Usage(*entry["usage"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put(self, key: str, answer: bytes, usage: Usage) -> None:
        entry = {"answer": base64.b64encode(answer).decode(),
                 "usage": [usage.cpu_seconds, usage.wall_seconds, usage.orphans]}
        temporary = self.folder / f".{key}.{os.getpid()}"
        temporary.write_text(json.dumps(entry))
        os.replace(temporary, self.folder / f"{key}.json")  # whole or absent: jobs share it


class Cached(Interface):
    """Memoises an oracle (the reference is deterministic and tests share values; its timed
    runs are measured once per grading, or once per batch with a `store`); `save` writes every
    answer the tests used (not the ones only a derived value needed): the recorded file of the
    student release. A timed request is answered from memory only when the answer there was
    measured in a fresh worker too; the store keeps only such answers."""

    def __init__(self, inner: Interface, store: AnswerStore | None = None):
        self.inner, self.store, self.answers, self.usages = inner, store, {}, {}
        self.used, self.fresh, self._deriving = set(), set(), 0

    def _recall(self, key: str, fresh: bool = False) -> bool:
        missing = key not in (self.fresh if fresh else self.answers)
        found = self.store.get(key) if self.store and missing else None
        if found:
            self.answers[key], self.usages[key] = found
            self.fresh.add(key)
        return key in (self.fresh if fresh else self.answers)

    def _keep(self, key: str, seconds: float) -> None:
        if self.store and seconds >= AnswerStore.PERSIST_SECONDS:
            self.store.put(key, self.answers[key], self.usages[key])

    def answer(self, probe: str, kwargs: dict, fresh: bool):
        key = _key(probe, kwargs)
        if not self._recall(key, fresh):
            value, self.usages[key] = self.inner.answer(probe, kwargs, fresh)
            self.answers[key] = wire.encode(value)
            if fresh:
                self.fresh.add(key)
                self._keep(key, self.usages[key].cpu_seconds)
        if not self._deriving:
            self.used.add(key)
        return wire.decode(self.answers[key]), self.usages[key]

    def derived(self, name: str, kwargs: dict, compute):
        key = _key(f"derived:{name}", kwargs)
        if not self._recall(key):
            self._deriving += 1
            started = time.monotonic()
            try:
                self.answers[key], self.usages[key] = wire.encode(compute()), Usage()
            finally:
                self._deriving -= 1
            self._keep(key, time.monotonic() - started)
        self.used.add(key)
        return wire.decode(self.answers[key])

    def save(self, path: Path):
        packed = {k: base64.b64encode(zlib.compress(v, 9)).decode() for k, v in
                  sorted(self.answers.items()) if k in self.used}
        Path(path).write_text(json.dumps(packed, indent=0) + "\n")


class Recorded(Interface):
    """Expected values of the public tests, recorded from the reference by `grader record`."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.answers = json.loads(self.path.read_text()) if self.path.exists() else {}

    def answer(self, probe: str, kwargs: dict, fresh: bool):
        packed = self.answers.get(_key(probe, kwargs))
        if packed is None:
            raise LookupError(f"no recorded expected value for this call in {self.path}; "
                              f"staff: run `python -m grader record`")
        return wire.decode(zlib.decompress(base64.b64decode(packed))), Usage()

    def derived(self, name: str, kwargs: dict, compute):
        return self.run(f"derived:{name}", **kwargs)
