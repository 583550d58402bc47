"""pytest plugin: the fixtures tests are written against, per-test deadlines, and outcomes.

Fixtures: `submission`, `expected` and `measure` (grader/trusted/interfaces.py), `check`
(checks.py, bound to the test's visibility) and `rng` (numpy Generator: fixed for public
tests, drawn from the per-submission seed for hidden tests). The judge installs a `Session`
before running pytest; without one (students running `pytest tests_public`), tests run
in-process against --submission (default: starter/), through grader/worker/inprocess.py,
and the terminal shows the student view (see "the students' terminal" below).
"""
import hashlib
import os
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from grader import ROOT, STUDENT_MODULES
from grader.trusted import manifest as manifest_module
from grader.trusted import results, scores
from grader.trusted import text as escape
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
    local: bool = False  # a student's own run (in-process): failures may draw pictures


SESSION: Session | None = None
PICTURES = Path("ps1-feedback")  # relative to where the student runs pytest


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
                   Path(directory), local=True)


def pytest_addoption(parser):
    group = parser.getgroup("ps1", "PS1 autograder")
    group.addoption("--submission", default=None, metavar="PATH",
                    help="folder holding your modules (default: starter/)")
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


class NotSubmitted(Failure):
    """An extra-credit part whose optional module is not in the submission: not graded."""


def _absent(session: Session, entry) -> str | None:
    """The optional module (e.g. "attention.py") that `entry`'s part grades, when the
    submission lacks it."""
    manifest = manifest_module.load()
    module = manifest.module(entry.part) if entry is not None else None
    name = f"{module}.py"
    if module and name not in session.refused and not (Path(session.directory) / name).is_file():
        return name  # (a refused upload, e.g. not UTF-8, says why on each row instead)
    return None


@pytest.fixture
def submission(request):
    session = _session(request.config)
    entry = _entry(request.node.nodeid)
    absent = _absent(session, entry)
    if absent:  # extra credit not attempted: no worker, no error, one line
        raise NotSubmitted(f"{absent} was not submitted (extra credit, optional): part "
                           f"{entry.part} is not graded")
    if hasattr(session.submission, "deadline") and entry is not None:
        session.submission.deadline = time.monotonic() + entry.timeout
    yield session.submission
    if hasattr(session.submission, "deadline"):
        session.submission.deadline = None
    if hasattr(session.submission, "end"):
        session.submission.end()


@pytest.fixture
def expected(request):
    return _session(request.config).expected


@pytest.fixture
def measure(request):
    return _session(request.config).measure


@pytest.fixture
def check(request):
    public = _public(request.node.nodeid)
    local = public and _session(request.config).local
    return Check(public=public, pictures=PICTURES / request.node.name if local else None)


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
    # StudentImportError: the in-process loader's import failure (grader/worker/loader.py,
    # matched by name: the judge never imports the worker side).
    if (isinstance(exc, StudentCodeError) and exc.kind == "import") or (
            type(exc).__name__ == "StudentImportError"):
        module = str(exc).split(":", 1)[0].split(" line ")[0]
        if module in (refused or {}):
            return f"{module} was not graded: {refused[module]} (see the Submission check)"
    if isinstance(exc, StudentCodeError):
        text = str(exc) + (f"\n{exc.traceback}" if exc.traceback else "")
        if public and exc.output.strip():
            text += f"\nYour code printed:\n{exc.output.strip()}"
        # The staged copy's folder means nothing to the student: "made.py", not /tmp/.../made.py
        return text.replace(os.path.realpath(directory) + os.sep, "")
    # In-process only (sandboxed, student code raises in its worker): the student's frames.
    folder = os.path.realpath(directory) + os.sep
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if os.path.realpath(f.filename).startswith(folder)]
    if not frames and not isinstance(exc, ImportError):
        return (f"internal grader error ({type(exc).__name__}); this is not your fault, "
                f"please tell the course staff")
    return (f"{escape.describe(exc)}\nTraceback (from your code only):\n"  # __str__ may raise
            + "".join(traceback.format_list(frames)))


# ----------------------------------------------------------------- the students' terminal
# `pytest tests_public` run by a student (no judge: SESSION is None at collection, and only
# the problem set's suites collected) gets the student view: tracebacks that hold only the
# student's frames (a failed check: only the test's line), no traceback at all for a stub
# that is not implemented yet, one line per failing test with its part and reason, and the
# per-part table of the grader. `--pdb` opens in the student's last frame.
STUDENT_VIEW = pytest.StashKey[bool]()
SUITES = (manifest_module.PUBLIC_DIR + "/", manifest_module.HIDDEN_DIR + "/")


def _student_view(config) -> bool:
    return config.stash.get(STUDENT_VIEW, False)


def pytest_collection_modifyitems(session, config, items):
    if SESSION is not None:  # the judge (or `grader record`) runs the suites
        SESSION.collected = {item.nodeid for item in items}
        return
    if items and all(item.nodeid.startswith(SUITES) for item in items):
        config.stash[STUDENT_VIEW] = True
        if config.option.tbstyle == "auto":  # not chosen with --tb: one line per frame
            config.option.tbstyle = "short"
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None and config.option.reportchars == "fE":  # pytest's default -r
            reporter.reportchars = reporter.reportchars.replace("f", "")  # ours replace them


def _under(path, folder: str) -> bool:
    return os.path.realpath(str(path)).startswith(folder)


def _unimplemented(exc, folder: str) -> bool:
    """A stub's `raise NotImplementedError("Part 2b: ...")`, raised in the student's file."""
    return (type(exc) is NotImplementedError and str(exc).startswith("Part ")
            and exc.__traceback__ is not None
            and _under(traceback.extract_tb(exc.__traceback__)[-1].filename, folder))


def _end_traceback_at(excinfo, keep) -> None:
    """Cut the raw traceback after its last frame for which `keep(filename)` holds, so that
    `--pdb` opens there (pytest's post-mortem starts in the last frame)."""
    tb, last = excinfo.tb, None
    while tb is not None:
        if keep(tb.tb_frame.f_code.co_filename):
            last = tb
        tb = tb.tb_next
    if last is not None:
        last.tb_next = None


def _student_report(item, call, report) -> None:
    """The student view of a failed test: tracebacks from the student's own frames only."""
    excinfo = call.excinfo
    exc = excinfo.value
    folder = os.path.realpath(_session(item.config).directory) + os.sep
    tests_folder = os.path.realpath(ROOT) + os.sep
    if type(exc).__name__ == "StudentImportError":
        report.longrepr = f"{exc}\n{getattr(exc, 'traceback', '')}".rstrip()
        return
    if isinstance(exc, NotSubmitted):  # the summary line says it all
        report._pdbshown = True
        return
    if isinstance(exc, GraderFault) or not isinstance(exc, Exception):
        return  # pytest's own report (a grader problem, KeyboardInterrupt, ...)
    student = any(_under(entry.path, folder) for entry in excinfo.traceback)
    if student:
        def keep(filename):
            return _under(filename, folder)
    else:  # a check of the returned value failed: the test's own line
        def keep(filename):
            return _under(filename, tests_folder) and os.path.basename(
                filename).startswith("test_")
    style = item.config.option.tbstyle
    if style in ("short", "long", "native"):
        report.longrepr = excinfo.getrepr(
            style=style, funcargs=False, chain=False, truncate_locals=True,
            showlocals=item.config.option.showlocals,
            tbfilter=lambda info: type(info.traceback)(
                [e for e in info.traceback if keep(str(e.path))] or info.traceback[-1:]))
    if item.config.option.usepdb:
        _end_traceback_at(excinfo, keep)
    elif _unimplemented(exc, folder):
        report._pdbshown = True  # pytest then leaves it out of FAILURES: the line below says it


def _reason(nodeid: str) -> str:
    result = SESSION.results.get(nodeid) if SESSION else None
    return scores.first_line(result.message) if result else ""


def _student_summary(terminalreporter) -> None:
    """One line per failing test (part, test, reason), then the grader's per-part table."""
    manifest = manifest_module.load()
    entries = manifest.by_id()
    order = {entry.id: i for i, entry in enumerate(manifest.tests)}
    failing = sorted((n for n, r in SESSION.results.items() if not r.passed),
                     key=lambda n: order.get(n, len(order)))
    if failing:
        terminalreporter.write_sep("=", f"PS1: {len(failing)} failing test"
                                        + "s" * (len(failing) != 1))
        width = max(len(n.split("/", 1)[-1]) for n in failing)
        for nodeid in failing:
            entry = entries.get(nodeid)
            part = entry.number if entry else "?"
            terminalreporter.write_line(f"{part:<5} {nodeid.split('/', 1)[-1]:<{width}}  "
                                        f"{_reason(nodeid)}", red=True)

    def not_run(entry):
        if entry.public:
            return "not run in this pytest run (deselected, or stopped early)"
        return scores.HIDDEN_NOT_RUN

    final = results.build(manifest, SESSION.results, not_run_message=not_run)
    terminalreporter.write_sep("=", "PS1: points per part (as the grader counts them)")
    for line in scores.text(final, manifest).splitlines():
        terminalreporter.write_line(line)
    if terminalreporter.getreports("failed"):  # the ones with a traceback (not bare stubs)
        terminalreporter.write_line("Tracebacks of the failures (your code's frames only) "
                                    "are above.")


def pytest_terminal_summary(terminalreporter):
    """Students: the failing tests, one line each, and the per-part table."""
    if SESSION is None or not SESSION.results or not _student_view(terminalreporter.config):
        return
    _student_summary(terminalreporter)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    report = (yield).get_result()
    if SESSION is None and not item.nodeid.startswith(SUITES):
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
            if exc is not None and _student_view(item.config) and report.failed:
                _student_report(item, call, report)
