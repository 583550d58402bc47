"""Run an autograder zip as Gradescope would, in a temporary copy of its /autograder layout:

    ROOT/source/          the autograder zip, unpacked (setup.sh, run_autograder at its top)
    ROOT/submission/      the student's upload: a zip is placed as it is, a folder is copied
    ROOT/submission_metadata.json
    ROOT/results/results.json   written by run_autograder

run_autograder runs as Gradescope runs it (root when we are root, cwd ROOT) with the paths
pointed at ROOT. It uses this interpreter's environment, unless --setup first runs the zip's
setup.sh into a fresh virtual environment under ROOT (apt-get and useradd skipped; needs the
wheels: PIP_* variables, PS1_WHEELHOUSE or PS1_TORCH_INDEX as setup.sh documents).

    python -m grader gradescope dist/autograder.zip submission.zip [--results FILE] [--setup]
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

from grader import ROOT
from grader.trusted.text import for_terminal
from grader.trusted.users import close_checkout


def _unzip(archive: Path, target: Path) -> None:
    """Unpack a trusted (staff-built) zip, keeping the executable bits."""
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            path = zf.extract(info, target)
            mode = (info.external_attr >> 16) & 0o777
            if mode and not info.is_dir():
                os.chmod(path, mode)


def _metadata() -> dict:
    now = datetime.now(timezone.utc)
    return {"id": 1, "created_at": now.isoformat(), "submission_method": "upload",
            "assignment": {"title": "PS1: Autoregressive Models", "total_points": "40.0",
                           "due_date": (now + timedelta(days=7)).isoformat(),
                           "release_date": (now - timedelta(days=7)).isoformat()},
            "users": [{"email": "student@example.edu", "id": 1, "name": "A Student"}],
            "previous_submissions": []}


def run(autograder_zip: Path, submission: Path, *, setup: bool = False, keep: bool = False,
        timeout: float = 40 * 60, log=None) -> tuple[dict | None, str]:
    """Returns (results.json as a dict or None, the combined output of the scripts)."""
    if os.geteuid() == 0:
        # The autograder closes its own copies; the checkout running this command is on the
        # same machine (reference/, tests_hidden/, .git, dist/) and must be closed to
        # students too.
        close_checkout(ROOT, gid=-1)
    base = "/var/tmp" if not os.stat(tempfile.gettempdir()).st_mode & 0o001 else None
    root = Path(tempfile.mkdtemp(prefix="ps1-gradescope-", dir=base))
    root.chmod(0o700)  # the upload inside is this run's alone
    output = [f"kept {root}\n"] if keep else []
    try:
        source = root / "source"
        _unzip(Path(autograder_zip), source)
        source.chmod(0o755)
        upload = root / "submission"
        upload.mkdir()
        submission = Path(submission)
        if submission.is_dir():
            shutil.copytree(submission, upload, symlinks=True, dirs_exist_ok=True)
        else:
            shutil.copy2(submission, upload / submission.name)
        (root / "submission_metadata.json").write_text(json.dumps(_metadata(), indent=1))
        (root / "results").mkdir()
        paths = ("PS1_AUTOGRADER_ROOT", "PS1_SOURCE", "PS1_SUBMISSION", "PS1_RESULTS",
                 "PS1_PYTHON", "PS1_VENV")
        env = {k: v for k, v in os.environ.items() if k not in paths and not k.startswith("PYTHON")}
        env.update(PS1_AUTOGRADER_ROOT=str(root), PS1_PYTHON=sys.executable)
        if setup:
            venv = root / "venv"
            done = subprocess.run(["bash", str(source / "setup.sh")], cwd=source,
                                  env=dict(env, PS1_VENV=str(venv), PS1_SKIP_SYSTEM="1",
                                           PS1_PYTHON_BIN=os.environ.get("PS1_PYTHON_BIN", sys.executable)),
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, errors="surrogateescape",
                                  timeout=timeout)
            output.append(done.stdout)
            if done.returncode != 0:
                output.append(f"setup.sh failed (exit {done.returncode})")
                return None, "".join(output)
            env["PS1_PYTHON"] = str(venv / "bin" / "python")
        started = time.monotonic()
        try:
            done = subprocess.run([str(source / "run_autograder")], cwd=root, env=env,
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, errors="surrogateescape",
                                  timeout=timeout)
            output.append(done.stdout)
        except subprocess.TimeoutExpired:
            output.append(f"run_autograder did not finish in {timeout:g} s (Gradescope would "
                          f"show no results)")
        output.append(f"[run_autograder took {time.monotonic() - started:.1f} s]\n")
        results_file = root / "results" / "results.json"
        try:
            return json.loads(results_file.read_text()), "".join(output)
        except (OSError, ValueError) as exc:
            output.append(f"no valid results.json: {exc}")
            return None, "".join(output)
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)


def summary(final: dict) -> str:
    """The per-part table of a results.json, as `grade` and make_submission.py print it."""
    from grader.trusted import manifest, scores
    return scores.text(final, manifest.load())


def add_gradescope_arguments(parser):
    parser.add_argument("autograder_zip", help="the autograder zip (python -m grader build)")
    parser.add_argument("submission", help="the student's upload: a zip or a folder")
    parser.add_argument("--results", default="results.json",
                        help="where to copy results.json (default: ./results.json)")
    parser.add_argument("--setup", action="store_true",
                        help="run the zip's setup.sh into a fresh venv first (needs wheels)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary /autograder")
    parser.add_argument("--timeout", type=float, default=40 * 60,
                        help="seconds before run_autograder is stopped (Gradescope: 600 by default)")
    parser.add_argument("--verbose", action="store_true", help="print the scripts' output")


def run_gradescope(args) -> int:
    from grader.trusted.results import validate
    final, output = run(Path(args.autograder_zip), Path(args.submission), setup=args.setup,
                        keep=args.keep, timeout=args.timeout)
    if args.verbose or final is None:
        print(for_terminal(output))  # a student's prints: shown, never obeyed by the terminal
    if final is None:
        print("Gradescope would show: 'The autograder failed to execute correctly'.")
        return 1
    Path(args.results).write_text(json.dumps(final, indent=1))
    print(summary(final))
    errors = validate(final)
    for error in errors:
        print(for_terminal(f"results.json does not follow the Gradescope specification: {error}"))
    print(f"results.json written to {args.results}")
    return 1 if errors else 0
