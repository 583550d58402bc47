"""pytest plugin: the fixtures tests are written against, per-test deadlines, and outcomes.

Fixtures: `submission`, `expected` and `measure` (grader/trusted/interfaces.py), `check`
(checks.py, bound to the test's visibility) and `rng` (numpy Generator: fixed for public
tests, drawn from the per-submission seed for hidden tests). The judge installs a `Session`
before running pytest; without one (students running `pytest tests_public`), tests run
in-process against --submission (default: starter/), through grader/worker/inprocess.py.
"""
import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from grader import ROOT, STUDENT_MODULES
from grader.trusted import manifest as manifest_module
from grader.trusted.checks import Check, Failure
from grader.trusted.interfaces import Cached, GraderFault, Recorded, StudentCodeError

RECORDED = ROOT / "tests_public" / "expected.json"
MAX_MESSAGE = 6000


@dataclass
class Result:
    passed: bool
    message: str = ""
    seconds: float = 0.0


@dataclass
class Session:
    submission: object
    expected: object
    measure: object
    seed: int
    directory: Path
    refused: dict = field(default_factory=dict)  # "made.py" -> why the upload's copy is not graded
    faults: list = field(default_factory=list)   # grader faults (not the student's doing)
    results: dict = field(default_factory=dict)  # node id -> Result
    collected: set = field(default_factory=set)


SESSION: Session | None = None


def submission_seed(directory: Path) -> int:
    """Per-submission seed: a hash of the student's modules, so regrades are identical."""
    digest = hashlib.sha256()
    for name in STUDENT_MODULES:
        path = Path(directory) / f"{name}.py"
        digest.update(name.encode() + b"\0" + (path.read_bytes() if path.is_file() else b""))
    return int.from_bytes(digest.digest()[:8], "little")


def in_process_session(directory: Path, expected: str = "auto") -> Session:
    """Students debugging: every probe runs in this process (never used when grading)."""
    from grader.worker.inprocess import InProcess, InProcessMeasure
    reference = ROOT / "reference"
    if expected == "reference" or (expected == "auto" and reference.is_dir()):
        oracle = Cached(InProcess(reference, package="ps1_reference"))
    else:
        oracle = Recorded(RECORDED)
    return Session(InProcess(directory), oracle, InProcessMeasure(), submission_seed(directory),
                   Path(directory))


def pytest_addoption(parser):
    group = parser.getgroup("ps1", "PS1 autograder")
    group.addoption("--submission", default=None, metavar="PATH",
                    help="folder holding your five modules (default: starter/)")
    group.addoption("--expected", default="auto", choices=("auto", "reference", "recorded"),
                    help="where expected values come from (staff)")


def _session(config) -> Session:
    global SESSION
    if SESSION is None:
        directory = Path(config.getoption("submission") or ROOT / "starter").resolve()
        SESSION = in_process_session(directory, config.getoption("expected"))
    return SESSION


def _entry(nodeid: str):
    return manifest_module.load().by_id().get(nodeid)


def _public(nodeid: str) -> bool:
    return nodeid.startswith(manifest_module.PUBLIC_DIR + "/")


@pytest.fixture
def submission(request):
    session = _session(request.config)
    entry = _entry(request.node.nodeid)
    if hasattr(session.submission, "deadline") and entry is not None:
        session.submission.deadline = time.monotonic() + entry.timeout
    yield session.submission
    if hasattr(session.submission, "deadline"):
        session.submission.deadline = None


@pytest.fixture
def expected(request):
    return _session(request.config).expected


@pytest.fixture
def measure(request):
    return _session(request.config).measure


@pytest.fixture
def check(request):
    return Check(public=_public(request.node.nodeid))


@pytest.fixture
def rng(request):
    nodeid = request.node.nodeid
    base = "public" if _public(nodeid) else str(_session(request.config).seed)
    seed = int.from_bytes(hashlib.sha256(f"{base}:{nodeid}".encode()).digest()[:8], "little")
    return np.random.default_rng(seed)


def describe(exc: BaseException, public: bool, directory: Path, refused=None) -> str:
    """The message a student sees for a failed test."""
    if isinstance(exc, Failure):
        return str(exc)
    if isinstance(exc, StudentCodeError) and exc.kind == "import":
        module = str(exc).split(":", 1)[0]
        if module in (refused or {}):
            return f"{module} was not graded: {refused[module]} (see the Submission check)"
    if isinstance(exc, StudentCodeError):
        text = str(exc) + (f"\n{exc.traceback}" if exc.traceback else "")
        if public and exc.output.strip():
            text += f"\nYour code printed:\n{exc.output.strip()}"
        return text
    # In-process only (sandboxed, student code raises in its worker): the student's frames.
    import os
    import traceback
    folder = os.path.realpath(directory) + os.sep
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if os.path.realpath(f.filename).startswith(folder)]
    if not frames and not isinstance(exc, ImportError):
        return (f"internal grader error ({type(exc).__name__}); this is not your fault, "
                f"please tell the course staff")
    return (f"Your code raised {type(exc).__name__}: {exc}\nTraceback (from your code only):\n"
            + "".join(traceback.format_list(frames)))


def pytest_collection_modifyitems(session, config, items):
    if SESSION is not None:
        SESSION.collected = {item.nodeid for item in items}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    report = (yield).get_result()
    if SESSION is None and not item.nodeid.startswith(("tests_public/", "tests_hidden/")):
        return
    session = _session(item.config)
    if report.when == "call" or (report.when == "setup" and not report.passed):
        if report.passed:
            session.results[item.nodeid] = Result(True, "", report.duration)
        else:
            exc = call.excinfo.value if call.excinfo else None
            if isinstance(exc, GraderFault):
                session.faults.append(f"{item.nodeid}: {exc}")
            message = describe(exc, _public(item.nodeid), session.directory,
                               session.refused) if exc else "skipped"
            session.results[item.nodeid] = Result(False, message[:MAX_MESSAGE], report.duration)


def pytest_terminal_summary(terminalreporter):
    """Students: points per part of the public tests they ran, and what Gradescope adds."""
    if SESSION is None or not SESSION.results or not any(
            nodeid.startswith("tests_public/") for nodeid in SESSION.results):
        return
    entries = manifest_module.load().by_id()
    earned = sum(entries[n].points for n, r in SESSION.results.items() if r.passed and n in entries)
    ran = sum(entries[n].points for n in SESSION.results if n in entries)
    hidden = sum(t.points for t in entries.values() if not t.public)
    terminalreporter.write_sep("=", "PS1 points")
    terminalreporter.write_line(f"Tests run here: {earned:g} / {ran:g} points "
                                f"(submission: {SESSION.directory})")
    terminalreporter.write_line(f"Hidden tests worth {hidden:g} more points run on Gradescope.")
