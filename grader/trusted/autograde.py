"""Gradescope's entry point: `run_autograder` runs `python -m grader.trusted.autograde` in the source
folder. Grades the submission with the public and hidden suites (sandboxed) and writes
results.json; on any failure of the grader itself it still writes a valid results.json that
lists every test and says what happened.

Paths come from the environment (run_autograder sets them; defaults are Gradescope's):
PS1_AUTOGRADER_ROOT (/autograder), PS1_SUBMISSION, PS1_RESULTS.
"""
import os
import sys
import traceback
from pathlib import Path

from grader import STUDENT_MODULES

WANTED = {f"{m}.py" for m in STUDENT_MODULES}


def choose_upload(submission: Path) -> Path:
    """The folder itself, unless it holds no module but exactly one zip (an uploaded zip that
    was not unpacked): then that zip, read member by member by grader/trusted/intake.py."""
    if not submission.is_dir():
        return submission
    from grader.trusted.intake import entries
    has_module = any(e.name in WANTED for e in entries(submission))
    zips = [p for p in submission.iterdir() if p.suffix.lower() == ".zip"
            and p.is_file() and not p.is_symlink()]
    if not has_module and len(zips) == 1:
        return zips[0]
    return submission


def paths() -> tuple[Path, Path]:
    root = Path(os.environ.get("PS1_AUTOGRADER_ROOT", "/autograder"))
    submission = Path(os.environ.get("PS1_SUBMISSION", root / "submission"))
    results_path = Path(os.environ.get("PS1_RESULTS", root / "results" / "results.json"))
    return submission, results_path


def main() -> int:
    submission, results_path = paths()
    from grader.trusted import judge, manifest, results
    try:
        final = judge.grade(choose_upload(submission), results_path, mode="sandbox")
    except BaseException as exc:  # noqa: BLE001 - results.json must exist whatever happened
        traceback.print_exc()
        message = (f"The autograder failed ({type(exc).__name__}); this is not your fault. "
                   f"Please tell the course staff. Your score is not final.")
        results.write(results.build(manifest.load(), {}, intake_problems=[message],
                                    not_run_message="not run (the autograder failed)"),
                      results_path)
        return 0
    show(lambda: judge.table(final, manifest.load()))
    return 0


def show(table) -> None:
    """Print the staff's table (Gradescope's stdout, hidden from students). The final
    results.json is written by now: nothing here may replace it, so a failure to print (a
    closed stdout, a student's text the terminal cannot encode) is reported and ignored."""
    try:
        print(table(), flush=True)
    except Exception:  # noqa: BLE001 - the score stands whatever printing does
        traceback.print_exc()


if __name__ == "__main__":
    sys.exit(main())
