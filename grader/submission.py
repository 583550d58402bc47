"""The submission interface the tests are written against.

    submission.run("made_dependencies", arch=..., mode="train")   # a probe (grader/probes.py)
    submission.call("made.made_masks", degrees)                    # shortcut for probe "call"

`InProcess` imports the student's modules into this process (students debugging with pytest
and pdb); `Sandboxed` runs every probe in a forked worker (grading). `expected` is the same
interface over `reference/` (or, in the student release, over recorded values). Tests see
plain data either way: numpy arrays in, `wire.Tensor` / JSON values out.
"""
import base64
import hashlib
import json
import time
import zlib
from pathlib import Path

from . import wire


class StudentCodeError(Exception):
    """The student's code failed (raised, crashed, timed out, broke the contract)."""

    def __init__(self, message: str, *, kind: str = "exception", traceback: str = "",
                 output: str = ""):
        super().__init__(message)
        self.kind, self.traceback, self.output = kind, traceback, output


class _Interface:
    def run(self, probe: str, **kwargs):
        raise NotImplementedError

    def call(self, target: str, *args, generator_seed=None, **kwargs):
        return self.run("call", target=target, args=list(args), kwargs=kwargs,
                        generator_seed=generator_seed)


class InProcess(_Interface):
    """Runs probes in this process: exceptions from student code propagate unchanged, so
    `pytest --pdb` stops inside the student's function."""

    def __init__(self, directory, package: str = "submission"):
        from .loader import StudentModules
        self.directory = Path(directory)
        self.student = StudentModules(directory, package)

    def run(self, probe: str, **kwargs):
        import torch
        from . import probes
        arguments = wire.decode(wire.encode(kwargs), tensors="torch")
        torch.set_num_threads(1)  # as in the sandboxed worker: same numbers, no oversubscription
        torch.manual_seed(0)
        value = probes.PROBES[probe](self.student, **arguments)
        return wire.decode(wire.encode(value))


class Sandboxed(_Interface):
    """Runs each probe in a fresh sandboxed child; failures become StudentCodeError."""

    def __init__(self, sandbox, *, trusted: bool = False, timeout: float = 120.0):
        self.sandbox, self.trusted = sandbox, trusted
        self.deadline = None  # set per test by the plugin (monotonic seconds)
        self.timeout = timeout

    def run(self, probe: str, **kwargs):
        timeout = self.timeout if self.deadline is None else self.deadline - time.monotonic()
        if timeout <= 0:
            raise StudentCodeError("the test ran out of time", kind="timeout")
        outcome = self.sandbox.run(probe, kwargs, timeout=timeout, trusted=self.trusted)
        if not outcome.ok:
            raise StudentCodeError(outcome.message, kind=outcome.kind,
                                   traceback=outcome.traceback, output=outcome.output)
        return outcome.value


def _key(probe: str, kwargs: dict) -> str:
    return hashlib.sha256(wire.encode([probe, kwargs])).hexdigest()


class Cached(_Interface):
    """Memoises an oracle (the reference is deterministic and tests share values); `save`
    writes every answer so far: the recorded file of the student release."""

    def __init__(self, inner: _Interface):
        self.inner, self.answers = inner, {}

    def run(self, probe: str, **kwargs):
        key = _key(probe, kwargs)
        if key not in self.answers:
            self.answers[key] = wire.encode(self.inner.run(probe, **kwargs))
        return wire.decode(self.answers[key])

    def save(self, path: Path):
        packed = {k: base64.b64encode(zlib.compress(v, 9)).decode() for k, v in
                  sorted(self.answers.items())}
        Path(path).write_text(json.dumps(packed, indent=0) + "\n")


class Recorded(_Interface):
    """Expected values of the public tests, recorded from the reference by `grader record`."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.answers = json.loads(self.path.read_text()) if self.path.exists() else {}

    def run(self, probe: str, **kwargs):
        packed = self.answers.get(_key(probe, kwargs))
        if packed is None:
            raise LookupError(f"no recorded expected value for this call in {self.path}; "
                              f"staff: run `python -m grader record`")
        return wire.decode(zlib.decompress(base64.b64decode(packed)))
