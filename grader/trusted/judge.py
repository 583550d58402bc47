"""The judge: grades one submission and writes results.json. It never imports the
submission nor torch (in sandbox mode); every value from student code arrives through the
worker as plain data, and every score is computed here.

    python -m grader grade [PATH] [--json FILE] [--mode sandbox|inprocess]
"""
import contextlib
import io
import os
import stat
import sys
import tempfile
import time
from pathlib import Path

import pytest

from grader import ROOT
from grader.trusted import manifest as manifest_module
from grader.trusted import plugin, results, scores
from grader.trusted.intake import stage
from grader.trusted.interfaces import AnswerStore, Cached, GraderFault, Recorded, Sandboxed
from grader.trusted.sandbox import Sandbox, staff_notice

MEMORY_MB, CPU_SECONDS = 1000, 120  # per worker child; the judge's timeouts bound wall time


def _pytest_args(test_dirs: list[Path], rootdir: Path) -> list[str]:
    return [*map(str, test_dirs), "--rootdir", str(rootdir), "-c", os.devnull, "-q",
            "--tb=no", "--no-header", "-p", "no:cacheprovider", "-p", "no:warnings"]


def run_tests(session: plugin.Session, test_dirs: list[Path], rootdir: Path = ROOT):
    """Run the suites with `session` installed; returns pytest's exit code and its log."""
    plugin.SESSION = session
    log = io.StringIO()
    try:
        with contextlib.redirect_stdout(log):
            code = pytest.main(_pytest_args(test_dirs, rootdir))
    finally:
        plugin.SESSION = None
    return int(code), log.getvalue()


def test_dirs(root: Path = ROOT) -> list[Path]:
    return [root / d for d in (manifest_module.PUBLIC_DIR, manifest_module.HIDDEN_DIR)
            if (root / d).is_dir()]


def use_reachable_tempdir():
    """Sandboxed children must reach the judge's temporary folders; some machines ship /tmp
    without access for other users (mode 1770), so fall back to /var/tmp there."""
    if not os.stat(tempfile.gettempdir()).st_mode & 0o001:
        tempfile.tempdir = "/var/tmp"


def grade(upload: Path, json_path: Path, *, mode: str = "sandbox", root: Path = ROOT,
          suites=None, notice=staff_notice, answers: Path | None = None) -> dict:
    """Grade `upload` (zip or folder); write results.json; return the results dict.
    `suites`: names of the test folders to run (default: all present), e.g. ("tests_public",).
    `notice`: where the sandbox's one-line note for staff goes (None: nowhere; students).
    `answers`: a root-only folder of the reference's costly answers, shared by the gradings
    of one batch on this machine (interfaces.AnswerStore)."""
    started = time.monotonic()
    use_reachable_tempdir()
    manifest = manifest_module.load()
    unsupported = manifest_module.visibility_problems(manifest)
    if unsupported:  # before any grading: a minute of tests would end in the same error
        raise ValueError("grader/trusted/manifest.toml: " + "; ".join(unsupported))
    dirs = [d for d in test_dirs(root) if suites is None or d.name in suites]
    hidden_present = any(d.name == manifest_module.HIDDEN_DIR for d in dirs)
    work = Path(tempfile.mkdtemp(prefix="ps1-grade-"))  # 0700: shared below with one user
    try:
        intake = stage(upload, work / "submission")
        # Provisional results before any student code runs: valid on every later failure.
        results.write(results.build(manifest, {}, intake_problems=intake.problems,
                                    not_run_message="not run (grading did not finish)"),
                      json_path)
        if not intake.found:  # nothing to run: say so at once, on every test
            final = results.build(manifest, {}, intake_problems=intake.problems,
                                  execution_time=time.monotonic() - started,
                                  not_run_message="not run: no module could be read from the "
                                                  "upload (see the Submission check)")
            results.write(final, json_path)
            return final
        seed = plugin.submission_seed(intake.directory)
        if mode == "inprocess":
            session = plugin.in_process_session(intake.directory)
            session.refused = intake.refused
            code, log = run_tests(session, dirs, root)
        else:
            # The whole checkout (.git, dist/, the manifest's hidden test names), not only
            # reference/ and tests_hidden/, is closed to other users for good (see README).
            protected = [root / "reference", root / manifest_module.HIDDEN_DIR]
            results_dir = Path(json_path).resolve().parent
            if not (results_dir.stat().st_mode & stat.S_ISVTX  # a shared /tmp-like folder
                    or results_dir.is_relative_to(root.resolve())):  # closed with the checkout
                protected.append(results_dir)
            with Sandbox(intake.directory, reference_dir=root / "reference",
                         memory_mb=MEMORY_MB, cpu_seconds=CPU_SECONDS,
                         protected=[p for p in protected if p.exists()], checkout=root,
                         notice=notice) as sandbox:
                sandbox.share(work, intake.directory)
                store = AnswerStore(answers) if answers else None
                oracle = (Cached(Sandboxed(sandbox, role="reference"), store)
                          if (root / "reference").is_dir()
                          else Recorded(plugin.RECORDED))  # the student release: recorded
                session = plugin.Session(Sandboxed(sandbox), oracle,
                                         Sandboxed(sandbox, role="measure"), seed,
                                         intake.directory, refused=intake.refused)
                code, log = run_tests(session, dirs, root)
            check_untouched()
        problems = manifest_module.problems(manifest, session.collected, full=hidden_present)
        problems = [p for p in problems if hidden_present or "tests_hidden/" not in p]
        if problems or code not in (0, 1):
            sys.stderr.write(log)
            raise RuntimeError("the test suites do not match the manifest or did not run: "
                               + "; ".join(problems or [f"pytest exit code {code}"]))
        if session.faults:  # never the student's failure: the whole grading is a grader error
            raise GraderFault("the grader failed twice in a row, not because of the submission: "
                              + " | ".join(session.faults)[:3000])
        final = results.build(manifest, session.results, intake_problems=intake.problems,
                              execution_time=time.monotonic() - started,
                              not_run_message=scores.HIDDEN_NOT_RUN)
        results.write(final, json_path)
        return final
    finally:
        import shutil
        shutil.rmtree(work, ignore_errors=True)


def check_untouched() -> None:
    """The judge process must hold neither torch nor any code that runs beside student code."""
    leaked = sorted(m for m in sys.modules if m == "torch" or m.startswith("grader.worker"))
    if leaked:
        raise RuntimeError(f"the judge imported {', '.join(leaked[:5])}: code that runs beside "
                           f"student code leaked into the judge process")


def table(final: dict, manifest) -> str:
    """The per-part table (grader/trusted/scores.py), as every command prints it."""
    from grader.trusted import scores
    return scores.text(final, manifest)
