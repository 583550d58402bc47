"""make_submission.py: check the student's modules, run the public tests the way the grader
does (sandboxed), and write submission.zip with the five modules at its root.

Refusals (nothing is written) are one line each, naming the file and the fix: a module
missing, a symbolic link, a file over the size cap, a non-UTF-8 module, checkpoints, data or
images inside the folder. A module that does not parse or import, or a changed signature, is
a loud warning: the zip is still written (partial work may be submitted), and failing tests
never block it.
"""
import argparse
import ast
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from grader import ROOT, STUDENT_MODULES

MAX_FILE_BYTES = 1 << 20  # the grader's cap on a module (grader/trusted/intake.py)
FORBIDDEN = {".pt", ".pth", ".ckpt", ".npz", ".npy", ".pkl", ".pickle", ".safetensors", ".h5",
             ".png", ".jpg", ".jpeg", ".gif", ".bmp", ".pdf", ".zip", ".tar", ".gz", ".so"}
SKIP_DIRS = {"__pycache__", ".ipynb_checkpoints"}
IMPORT_TIMEOUT = 180

_IMPORT_CHECK = """
import json, sys
sys.path.insert(0, sys.argv[1])
from grader.worker.loader import StudentModules
modules = StudentModules(sys.argv[2], package="ps1_check")
for name in sys.argv[3:]:
    print(json.dumps({"start": name}), flush=True)
    try:
        modules.load(name)
        print(json.dumps({"ok": name}), flush=True)
    except BaseException as exc:
        print(json.dumps({"error": name, "message": str(exc)}), flush=True)
"""


def _show(path: Path, directory: Path) -> str:
    try:
        return f"{directory.name}/{path.relative_to(directory)}"
    except ValueError:
        return str(path)


def check(directory: Path, *, imports: bool = True) -> tuple[list[str], list[str]]:
    """(refusals, warnings) for the folder holding the student's modules."""
    from grader.trusted import signatures
    directory = Path(directory)
    refusals, warnings = [], []
    if not directory.is_dir():
        return [f"{directory}: folder not found; run from the release root or pass "
                f"--dir PATH_TO_YOUR_MODULES"], []
    for folder, dirs, files in os.walk(directory):  # never follows symbolic links
        folder = Path(folder)
        for name in list(dirs):
            if name in SKIP_DIRS:
                dirs.remove(name)
            elif (folder / name).is_symlink():
                refusals.append(f"{_show(folder / name, directory)} is a symbolic link: "
                                f"remove it (only real files can be submitted)")
        for name in files:
            path = folder / name
            shown = _show(path, directory)
            if path.is_symlink():
                refusals.append(f"{shown} is a symbolic link: replace it with the real file "
                                f"or delete it")
            elif path.suffix.lower() in FORBIDDEN:
                refusals.append(f"{shown}: checkpoints, data, images and archives do not belong "
                                f"in {directory.name}/; move it elsewhere (e.g. runs/)")
            elif path.stat().st_size > MAX_FILE_BYTES:
                refusals.append(f"{shown} is {path.stat().st_size / 2**20:.1f} MB, over the "
                                f"1 MB cap: move it out of {directory.name}/")
    expected = signatures.load()
    parsed = []
    for module in STUDENT_MODULES:
        path = directory / f"{module}.py"
        shown = _show(path, directory)
        if not path.exists() and not path.is_symlink():
            refusals.append(f"{shown} is missing: put your {module}.py there (a fresh copy "
                            f"is in the release's starter/)")
            continue
        if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_FILE_BYTES:
            continue  # reported above
        data = path.read_bytes()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            refusals.append(f"{shown} is not UTF-8 (byte {exc.start}): save it with UTF-8 "
                            f"encoding")
            continue
        try:
            ast.parse(text, str(path))  # parsing only: nothing runs
        except SyntaxError as exc:
            warnings.append(f"{shown} line {exc.lineno}: SyntaxError: {exc.msg}. Every test "
                            f"that uses {module}.py scores 0 until you fix it")
            continue
        except (ValueError, RecursionError, MemoryError) as exc:
            warnings.append(f"{shown} cannot be parsed ({type(exc).__name__})")
            continue
        warnings += signatures.compare(module, expected.get(module, {}), text)
        parsed.append(module)
    if imports and parsed and not refusals:
        warnings += import_problems(directory, parsed)
    return refusals, warnings


def import_problems(directory: Path, modules: list[str]) -> list[str]:
    """Import each module in a child process (a crash or a hang cannot take this tool down)."""
    try:
        done = subprocess.run([sys.executable, "-c", _IMPORT_CHECK, str(ROOT),
                               str(Path(directory).resolve()), *modules],
                              capture_output=True, text=True, timeout=IMPORT_TIMEOUT,
                              cwd=tempfile.gettempdir(), stdin=subprocess.DEVNULL)
        lines, code, errors = done.stdout.splitlines(), done.returncode, done.stderr
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        lines, code, errors = out.splitlines(), f"a timeout after {IMPORT_TIMEOUT} s", ""
    problems, current, finished = [], None, set()
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue  # the student's own prints
        if not isinstance(event, dict):
            continue
        if "start" in event:
            current = event["start"]
        elif "ok" in event:
            finished.add(event["ok"])
        elif "error" in event:
            finished.add(event["error"])
            problems.append(f"importing {event['error']}.py fails: {event['message']}")
    if current is not None and current not in finished:
        problems.append(f"importing {current}.py stopped the process ({code}): it must not "
                        f"exit, hang or crash when imported")
    elif current is None and modules:
        problems.append(f"the import check could not run (exit {code}): {errors[-300:]}")
    return problems


def write_zip(directory: Path, out: Path) -> Path:
    """submission.zip: the five modules at the zip's root, nothing else."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_name(out.name + ".part")
    with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as archive:
        for module in STUDENT_MODULES:
            info = zipfile.ZipInfo(f"{module}.py", date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o100644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, (Path(directory) / f"{module}.py").read_bytes())
    os.replace(temporary, out)
    return out


def public_tests(directory: Path) -> dict:
    """Run the public tests on `directory` exactly as the grader does (sandboxed workers)."""
    from grader.trusted import judge
    with tempfile.TemporaryDirectory(prefix="ps1-submit-") as work:
        return judge.grade(Path(directory), Path(work) / "results.json", mode="sandbox",
                           suites=("tests_public",), notice=None)  # students: no staff notes


def _loud(lines: list[str]) -> str:
    bar = "!" * 78
    return "\n".join([bar, "WARNING: your code has problems that will cost points:",
                      *(f"  - {line}" for line in lines), bar])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="make_submission.py", description=(
        "Check your modules, run the public tests as the grader does, write submission.zip."))
    parser.add_argument("--dir", default=str(ROOT / "starter"),
                        help="folder holding your five modules (default: starter/)")
    parser.add_argument("--out", default=str(ROOT / "submission.zip"),
                        help="where to write the zip (default: submission.zip)")
    parser.add_argument("--no-tests", action="store_true",
                        help="skip the public tests (the checks and the zip only)")
    args = parser.parse_args(argv)
    directory = Path(args.dir)
    refusals, warnings = check(directory)
    if refusals:
        for line in refusals:
            print(f"REFUSED: {line}")
        print(f"{args.out} NOT written: fix the {len(refusals)} problem(s) above and run "
              f"make_submission.py again.")
        return 1
    if warnings:
        print(_loud(warnings))
    if not args.no_tests:
        from grader.trusted import judge, manifest
        print("Running the public tests in the grader's sandbox (about a minute)...", flush=True)
        try:
            final = public_tests(directory)
            print(judge.table(final, manifest.load()))
        except Exception as exc:  # the zip matters more than the preview
            print(f"the public tests could not run here ({type(exc).__name__}: {exc}); "
                  f"the zip is written anyway")
    out = write_zip(directory, Path(args.out))
    print(f"Wrote {out} ({', '.join(f'{m}.py' for m in STUDENT_MODULES)}). "
          f"Upload it to Gradescope.")
    if warnings:
        print("(see the WARNING above: the zip was written, but fix those problems first "
              "if you can)")
    return 0
