"""Grade mutants in-process, fail fast: a child process (restarted when a mutant kills it)
runs the tests of the mutant's own parts until one fails (killed); a mutant that survives
them runs the rest of the suite (a failure there: charged to the wrong part). Tests are
called directly with the plugin's fixtures, as the seed sweep calls them (seeds.py): the
oracle is the pristine reference, cached across mutants; hidden tests draw from the mutated
copy's own per-submission seed, as its grading would.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

from grader import ROOT
from ..sources import reference_files, write_tree

TIMEOUT_FACTOR = 3      # a test's manifest timeout, times this (the machine may be loaded)
MUTANT_LIMIT = 900.0    # seconds for one mutant before the parent gives up on the child
MEMORY_LIMIT = 8 << 30  # bytes of address space: a mutant allocating 10^12 floats fails alone


class TestTimeout(BaseException):
    """A test ran past its deadline (BaseException: a test's `except Exception` keeps it)."""


def _alarm(signum, frame):
    raise TestTimeout()


class Suite:
    """The tests and the fixtures shared by every mutant graded in this process."""

    def __init__(self):
        from grader.trusted import manifest
        from grader.trusted.interfaces import Cached
        from grader.worker.inprocess import InProcess, InProcessMeasure
        from ..seeds import _tests
        self.entries = manifest.load().by_id()
        self.tests = _tests()
        self.oracle = Cached(InProcess(ROOT / "reference", package="engine_reference"))
        self.measure = InProcessMeasure()

    def run(self, directory: str, package: str, parts: tuple, rest: bool = True) -> dict:
        """Own parts' tests first, then (only if all of them pass, and `rest`) the others."""
        import inspect
        from grader.trusted.checks import Check
        from grader.trusted.plugin import submission_seed
        from grader.worker.inprocess import InProcess
        from ..seeds import _rng
        fixtures = {"submission": InProcess(directory, package=package),
                    "expected": self.oracle, "measure": self.measure}
        seed = submission_seed(Path(directory))
        own = [t for t in self.tests if self.entries[t[0]].part in parts]
        others = [t for t in self.tests if self.entries[t[0]].part not in parts]
        for group in (own, others) if rest else (own,):
            for nodeid, fn, params, _ in group:
                public = nodeid.startswith("tests_public/")
                wanted = inspect.signature(fn).parameters
                args = dict(fixtures, **params, rng=_rng("public" if public else seed, nodeid),
                            check=Check(public=public))
                failure = self._call(fn, {k: v for k, v in args.items() if k in wanted},
                                     self.entries[nodeid].timeout * TIMEOUT_FACTOR)
                if failure:
                    return {"failed": nodeid, "part": self.entries[nodeid].part, **failure}
        return {"failed": None}

    @staticmethod
    def _call(fn, args: dict, limit: float) -> dict | None:
        signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, limit)
        try:
            fn(**args)
            return None
        except TestTimeout:
            return {"timeout": True, "message": f"past {limit:g} s"}
        except Exception as exc:  # noqa: BLE001 - a failed check or the mutant's exception
            return {"message": f"{type(exc).__name__}: {str(exc)[:300]}"}
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)


def _forget(package: str) -> None:
    for name in [n for n in sys.modules if n == package or n.startswith(package + ".")]:
        del sys.modules[name]


def _child(connection) -> None:
    """Grade the mutants the parent sends, one at a time, until it sends None."""
    import resource
    import warnings
    warnings.simplefilter("ignore")
    os.environ.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    import torch
    torch.set_num_threads(1)
    suite, reference = Suite(), reference_files()
    work = Path(tempfile.mkdtemp(prefix="ps1-engine-"))
    while (job := connection.recv()) is not None:
        number, module, source, parts, rest = job
        files = dict(reference, **{f"{module}.py": source})
        package = f"engine_m{os.getpid()}_{number}"
        started = time.monotonic()
        try:
            result = suite.run(str(write_tree(files, work / str(number))), package, parts, rest)
        except BaseException as exc:  # noqa: BLE001 - the harness, not the mutant: an error
            result = {"error": f"{type(exc).__name__}: {exc}"}
        finally:
            _forget(package)
        connection.send(dict(result, seconds=round(time.monotonic() - started, 2)))


class Grader:
    """The parent's handle on one child process; restarts it after a crash or a hang."""

    def __init__(self):
        self.process = self.connection = None
        self.count = 0

    def _start(self):
        context = multiprocessing.get_context("spawn")
        self.connection, theirs = context.Pipe()
        self.process = context.Process(target=_child, args=(theirs,), daemon=True)
        self.process.start()

    def grade(self, module: str, source: str, parts: tuple, rest: bool = True) -> dict:
        if self.process is None or not self.process.is_alive():
            self._start()
        self.count += 1
        started = time.monotonic()
        self.connection.send((self.count, module, source, parts, rest))
        if self.connection.poll(MUTANT_LIMIT):
            try:
                return self.connection.recv()
            except EOFError:
                pass
        code = self.stop()
        seconds = round(time.monotonic() - started, 2)
        if code is None:
            return {"timeout": True, "failed": None, "seconds": seconds,
                    "message": f"no answer in {MUTANT_LIMIT:g} s"}
        return {"crashed": code, "failed": None, "seconds": seconds,
                "message": f"the grading process died (exit {code})"}

    def stop(self):
        """Ends the child; its exit code, or None when it had to be killed."""
        if self.process is None:
            return None
        code = self.process.exitcode
        if code is None:
            self.process.kill()
        self.process.join()
        self.process = None
        return code

    def close(self):
        if self.process is not None and self.process.is_alive():
            self.connection.send(None)
            self.process.join(30)
        self.stop()
