"""The students' debugging mode: probes run in the pytest process itself, so `pytest --pdb`
stops inside the student's function. Nothing here is used when grading (the judge installs
sandboxed interfaces before pytest starts); values still round-trip through the wire codec so
tests see exactly what they see when graded.
"""
import time

from grader import wire
from grader.trusted.interfaces import Interface
from grader.trusted.outcome import Usage


def _prepare(seed: int = 0):
    import torch
    torch.set_num_threads(1)  # as in the sandboxed worker: same numbers, no oversubscription
    torch.manual_seed(seed)


class InProcess(Interface):
    """Worker probes against the student's modules in `directory`; exceptions from student
    code propagate unchanged."""

    def __init__(self, directory, package: str = "submission"):
        from grader.worker.loader import StudentModules
        self.student = StudentModules(directory, package)

    def timed(self, probe: str, **kwargs):
        from grader.worker import probes
        arguments = wire.decode(wire.encode(kwargs), tensors="torch")
        _prepare()
        start = time.process_time()
        value = probes.PROBES[probe](self.student, **arguments)
        return wire.decode(wire.encode(value)), Usage(cpu_seconds=time.process_time() - start)


class InProcessMeasure(Interface):
    """The trusted measurement probes (grader/trusted/measure.py), in this process."""

    def timed(self, probe: str, **kwargs):
        from grader.trusted import measure
        arguments = wire.decode(wire.encode(kwargs), tensors="torch")
        _prepare()
        return wire.decode(wire.encode(measure.PROBES[probe](**arguments))), Usage()
