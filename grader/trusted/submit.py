"""make_submission.py: check the student's modules, run the public tests the way the grader
does (sandboxed), and write submission.zip with the five modules at its root (and
attention.py, the optional extra credit of part 6, when it is there).

Refusals (nothing is written) are one line each, naming the file and the fix: a module
missing (or all of them: a wrapping folder is named), a symbolic link, a file over the size
cap, a non-UTF-8 module, checkpoints, data or images inside the folder, a module of the folder
that a graded module imports (only the five are zipped and graded). A module that does not
parse or import, or a parameter renamed that the grader passes by name, is a loud warning
(it will cost points): the zip is still written (partial work may be submitted), and failing
tests never block it. What costs nothing by itself (a parameter renamed that the grader passes
by position, megabytes printed at import) is a one-line warning.
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
from typing import NamedTuple

from grader import OPTIONAL_MODULES, REQUIRED_MODULES, ROOT, STUDENT_MODULES
from grader.trusted.text import for_terminal

MAX_FILE_BYTES = 1 << 20  # the grader's cap on a module (grader/trusted/intake.py)
FORBIDDEN = {".pt", ".pth", ".ckpt", ".npz", ".npy", ".pkl", ".pickle", ".safetensors", ".h5",
             ".png", ".jpg", ".jpeg", ".gif", ".bmp", ".pdf", ".zip", ".tar", ".gz", ".so"}
SKIP_DIRS = {"__pycache__", ".ipynb_checkpoints"}
IMPORT_TIMEOUT = 180

NOISY_BYTES = 1 << 20  # printing more than this at import is worth a note
_IMPORT_CHECK = """
import json, os, sys
sys.path.insert(0, sys.argv[1])
from grader.worker.loader import StudentModules
events = os.fdopen(os.dup(1), "w")  # the student's prints are counted, not passed on


class Count:
    def __init__(self):
        self.bytes = 0

    def write(self, text):
        self.bytes += len(text.encode("utf-8", "replace") if isinstance(text, str) else text)
        return len(text)

    def flush(self):
        pass

    def isatty(self):
        return False


modules = StudentModules(sys.argv[2], package="ps1_check")
for name in sys.argv[3:]:
    print(json.dumps({"start": name}), file=events, flush=True)
    count, saved = Count(), (sys.stdout, sys.stderr)
    sys.stdout = sys.stderr = count
    try:
        modules.load(name)
        event = {"ok": name}
    except BaseException as exc:
        event = {"error": name, "message": str(exc)}
    finally:
        sys.stdout, sys.stderr = saved
    event["printed"] = count.bytes
    print(json.dumps(event), file=events, flush=True)
"""


def _show(path: Path, directory: Path) -> str:
    try:
        return f"{directory.name}/{path.relative_to(directory)}"
    except ValueError:
        return str(path)


def wrapped(directory: Path) -> str:
    """The one refusal for a folder without any of the five modules at its top: where they
    are, when they are in a folder below (a wrapping folder), else what was expected."""
    from grader.trusted.intake import entries
    wanted = {f"{m}.py" for m in REQUIRED_MODULES}
    found: dict[str, int] = {}
    for entry in entries(directory, depth=4):
        if entry.name in wanted and entry.is_file(follow_symlinks=False):
            parent = os.path.dirname(entry.path)
            found[parent] = found.get(parent, 0) + 1
    if found:
        best = max(found, key=lambda folder: (found[folder], -folder.count(os.sep)))
        shown = Path(best)
        return (f"{directory} holds none of the five modules, but {shown} does ({found[best]} "
                f"of them): your files are in {shown}; run make_submission.py --dir {shown}")
    return (f"{directory} holds none of the five modules ("
            + ", ".join(f"{m}.py" for m in REQUIRED_MODULES)
            + "): pass --dir with the folder that holds them")


class Checked(NamedTuple):
    refusals: list   # nothing is written: one line each, naming the file and the fix
    warnings: list   # problems that will cost points (the zip is still written)
    notes: list      # worth knowing, costs nothing


def check(directory: Path, *, imports: bool = True) -> Checked:
    """What make_submission.py says about the folder holding the student's modules."""
    from grader.trusted import signatures
    directory = Path(directory)
    refusals, warnings, notes = [], [], []
    if not directory.is_dir():
        return Checked([f"{directory}: folder not found; run from the release root or pass "
                        f"--dir PATH_TO_YOUR_MODULES"], [], [])
    if not any((directory / f"{m}.py").exists() for m in REQUIRED_MODULES):
        return Checked([wrapped(directory)], [], [])
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
            if module not in OPTIONAL_MODULES:  # extra credit: absent is fine (see main)
                refusals.append(f"{shown} is missing: put your {module}.py there (a fresh "
                                f"copy is in the release's starter/)")
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
        costly, harmless = signatures.compare(module, expected.get(module, {}), text)
        warnings += costly
        notes += harmless
        refusals += helper_imports(directory, module, text)
        parsed.append(module)
    if imports and parsed and not refusals:
        failing, noisy = import_problems(directory, parsed)
        warnings += failing
        notes += noisy
    return Checked(refusals, warnings, notes)


def imported_names(text: str) -> set[str]:
    """Top-level names of the modules a source imports (absolute or relative, anywhere)."""
    names = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.module:
                names.add(node.module.split(".")[0])
            elif node.level:  # from . import helpers
                names |= {alias.name.split(".")[0] for alias in node.names}
    return names


def helper_imports(directory: Path, module: str, text: str) -> list[str]:
    """One refusal per module of `directory` that `module` imports but the zip would leave
    out (only the five modules are submitted and graded: the import would fail there)."""
    problems = []
    for name in sorted(imported_names(text) - set(STUDENT_MODULES)):
        for candidate in (directory / f"{name}.py", directory / name):
            if candidate.is_file() or (candidate.is_dir() and any(candidate.glob("*.py"))):
                problems.append(
                    f"{_show(directory / f'{module}.py', directory)} imports {name} "
                    f"({_show(candidate, directory)}), which is not submitted: only the problem "
                    f"set's modules are graded, so that import fails on Gradescope; move the code "
                    f"you need into {module}.py")
                break
    return problems


def import_problems(directory: Path, modules: list[str]) -> tuple[list[str], list[str]]:
    """Import each module in a child process (a crash or a hang cannot take this tool down).
    (failures, notes): a module that fails to import; a module that prints megabytes."""
    try:
        done = subprocess.run([sys.executable, "-c", _IMPORT_CHECK, str(ROOT),
                               str(Path(directory).resolve()), *modules],
                              capture_output=True, text=True, errors="surrogateescape",
                              timeout=IMPORT_TIMEOUT,
                              cwd=tempfile.gettempdir(), stdin=subprocess.DEVNULL)
        lines, code, errors = done.stdout.splitlines(), done.returncode, done.stderr
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        lines, code, errors = out.splitlines(), f"a timeout after {IMPORT_TIMEOUT} s", ""
    problems, notes, current, finished = [], [], None, set()
    printed: dict[str, int] = {}
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            event = None
        if not isinstance(event, dict):  # written straight to the file descriptor
            if current is not None:
                printed[current] = printed.get(current, 0) + len(line) + 1
            continue
        if "start" in event:
            current = event["start"]
        elif "ok" in event or "error" in event:
            name = event.get("ok") or event.get("error")
            finished.add(name)
            if isinstance(event.get("printed"), int):
                printed[name] = printed.get(name, 0) + event["printed"]
            if "error" in event:
                problems.append(f"importing {name}.py fails: {event['message']}")
    for name, size in printed.items():
        if size >= NOISY_BYTES:
            notes.append(f"{name}.py prints {size / 2**20:.1f} MB when it is imported, and "
                         f"every test imports it again: the grader keeps only the first and "
                         f"last 32 kB of a test's output and each test runs slower; remove "
                         f"those prints (or put them under `if __name__ == \"__main__\":`)")
    if current is not None and current not in finished:
        problems.append(f"importing {current}.py stopped the process ({code}): it must not "
                        f"exit, hang or crash when imported")
    elif current is None and modules:
        problems.append(f"the import check could not run (exit {code}): {errors[-300:]}")
    return problems, notes


def submitted(directory: Path) -> list[str]:
    """The modules that go into the zip: the five, and each optional one that is there."""
    return [m for m in STUDENT_MODULES
            if m in REQUIRED_MODULES or (Path(directory) / f"{m}.py").is_file()]


def write_zip(directory: Path, out: Path) -> Path:
    """submission.zip: the five modules (and attention.py when it is there) at the zip's root,
    nothing else."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_name(out.name + ".part")
    with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as archive:
        for module in submitted(directory):
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


def say(line: str, **kwargs) -> None:
    """Print one line for a person: a module's text (an import error, a file name) is shown,
    never obeyed by the terminal (grader/trusted/text.py)."""
    print(for_terminal(line), **kwargs)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="make_submission.py", description=(
        "Check your modules, run the public tests as the grader does, write submission.zip."))
    parser.add_argument("--dir", default=str(ROOT / "starter"),
                        help="folder holding your modules (default: starter/)")
    parser.add_argument("--out", default=str(ROOT / "submission.zip"),
                        help="where to write the zip (default: submission.zip)")
    parser.add_argument("--no-tests", action="store_true",
                        help="skip the public tests (the checks and the zip only)")
    args = parser.parse_args(argv)
    directory = Path(args.dir)
    refusals, warnings, notes = check(directory)
    if refusals:
        for line in refusals:
            say(f"REFUSED: {line}")
        say(f"{args.out} NOT written: fix the {len(refusals)} problem(s) above and run "
              f"make_submission.py again.")
        return 1
    if warnings:
        say(_loud(warnings))
    for line in notes:
        say(f"warning: {line}")
    if not args.no_tests:
        from grader.trusted import judge, manifest
        say("Running the public tests in the grader's sandbox (about a minute)...", flush=True)
        try:
            final = public_tests(directory)
            say(judge.table(final, manifest.load()))
        except Exception as exc:  # the zip matters more than the preview
            say(f"the public tests could not run here ({type(exc).__name__}: {exc}); "
                  f"the zip is written anyway")
    out = write_zip(directory, Path(args.out))
    modules = submitted(directory)
    say(f"Wrote {out} ({', '.join(f'{m}.py' for m in modules)}). Upload it to Gradescope.")
    for module in sorted(set(OPTIONAL_MODULES) - set(modules)):
        say(f"({module}.py is not in {directory}: the extra credit (part 6, optional) is "
              f"not graded; the 40 points are graded as usual.)")
    if warnings:
        say("(see the WARNING above: the zip was written, but fix those problems first "
              "if you can)")
    return 0
