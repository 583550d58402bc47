"""The students' debugging mode: probes run in the pytest process itself, so `pytest --pdb`
stops inside the student's function. Nothing here is used when grading (the judge installs
sandboxed interfaces before pytest starts); values still round-trip through the wire codec so
tests see exactly what they see when graded.
"""
import contextlib
import sys
import time
import warnings

from grader import wire
from grader.trusted.interfaces import Interface
from grader.trusted.outcome import Usage


def _prepare(seed: int = 0):
    import torch
    torch.set_num_threads(1)  # as in the sandboxed worker: same numbers, no oversubscription
    torch.manual_seed(seed)


class _Counted:
    """A text stream that passes everything on and counts the characters written."""

    def __init__(self, stream):
        self.stream, self.count = stream, 0

    def write(self, text):
        self.count += len(text)
        return self.stream.write(text)

    def __getattr__(self, name):
        return getattr(self.stream, name)


@contextlib.contextmanager
def _counting_output():
    out, err = _Counted(sys.stdout), _Counted(sys.stderr)
    sys.stdout, sys.stderr = out, err
    try:
        yield out, err
    finally:
        sys.stdout, sys.stderr = out.stream, err.stream


def warn_noisy_imports(student) -> None:
    """Import every student module once, counting what it prints; one warning per module that
    prints a lot (make_submission.py says the same). An import error is left to the test that
    uses the module, which imports it again."""
    from grader.trusted.submit import NOISY_BYTES
    for name in sorted(student.allowed):
        with _counting_output() as (out, err):
            try:
                student.load(name)
            except Exception:  # noqa: BLE001 - reported by the tests that need the module
                pass
        printed = out.count + err.count
        if printed >= NOISY_BYTES:
            warnings.warn(f"{name}.py prints {printed / 2**20:.1f} MB when it is imported: "
                          f"that output floods every test that fails; remove those prints (or "
                          f"put them under `if __name__ == \"__main__\":`)", stacklevel=2)


class InProcess(Interface):
    """Worker probes against the student's modules in `directory`; exceptions from student
    code propagate unchanged."""

    def __init__(self, directory, package: str = "submission"):
        from grader.worker.loader import StudentModules
        self.student = StudentModules(directory, package)
        self.imported = False

    def answer(self, probe: str, kwargs: dict, fresh: bool):
        from grader.worker import probes
        arguments = wire.decode(wire.encode(kwargs), tensors="torch")
        _prepare()
        if not self.imported:
            self.imported = True
            warn_noisy_imports(self.student)
        start = time.process_time()
        value = probes.PROBES[probe](self.student, **arguments)
        return wire.decode(wire.encode(value)), Usage(cpu_seconds=time.process_time() - start)


class InProcessMeasure(Interface):
    """The trusted measurement probes (grader/trusted/measure.py), in this process."""

    def answer(self, probe: str, kwargs: dict, fresh: bool):
        from grader.trusted import measure
        arguments = wire.decode(wire.encode(kwargs), tensors="torch")
        _prepare()
        return wire.decode(wire.encode(measure.PROBES[probe](**arguments))), Usage()
