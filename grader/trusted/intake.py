"""Turn what a student uploaded (a zip, a folder, loose files) into a staged folder holding
only the student modules (the five required ones, and attention.py, extra credit, when it is
there), and list the problems found, each as one line a student can act on.

Nothing here imports or runs student code. Zip members are read as bytes: no symlinks, no
absolute or `..` paths, size caps before anything is written.
"""
import ast
import os
import shutil
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from grader import OPTIONAL_MODULES, REQUIRED_MODULES, STUDENT_MODULES

MAX_MODULE_BYTES = 1 << 20       # a module over 1 MB is not a solution
MAX_UPLOAD_BYTES = 300 << 20     # total uncompressed size we are willing to look at
WANTED = {f"{name}.py" for name in STUDENT_MODULES}
REQUIRED = {f"{name}.py" for name in REQUIRED_MODULES}
OPTIONAL = {f"{name}.py" for name in OPTIONAL_MODULES}  # absent: not graded, no problem


@dataclass
class Intake:
    directory: Path
    problems: list[str] = field(default_factory=list)
    found: list[str] = field(default_factory=list)
    refused: dict = field(default_factory=dict)  # module name -> why it is not graded


def _depth_key(path: PurePosixPath):
    return (len(path.parts), str(path))


def _choose(candidates: dict[str, list], problems: list[str], refused: dict) -> dict:
    """Pick one file per module name: the shallowest (a wrapping folder is fine)."""
    chosen = {}
    for name in sorted(WANTED):
        options = sorted(candidates.get(name, []), key=lambda c: _depth_key(c[0]))
        if not options:
            if name in OPTIONAL:  # extra credit: its tests say it was not submitted
                continue
            refused.setdefault(name, "it is missing from the upload")
            problems.append(f"{name} is missing: submit all five files ("
                            + ", ".join(sorted(REQUIRED)) + "; attention.py too for the "
                            "extra credit)")
            continue
        if len(options) > 1:
            problems.append(f"{name} appears {len(options)} times; graded {options[0][0]}")
        chosen[name] = options[0]
    return chosen


def _check_source(name: str, data: bytes, problems: list[str], refused: dict) -> bool:
    if len(data) > MAX_MODULE_BYTES:
        refused[name] = f"it is {len(data) >> 20} MB, over the 1 MB limit"
        problems.append(f"{name} is {len(data) >> 20} MB, over the 1 MB limit: remove data or "
                        f"generated code from it")
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        refused[name] = f"it is not valid UTF-8 (byte {exc.start}); save it as UTF-8"
        problems.append(f"{name} is not valid UTF-8 (byte {exc.start}): save it as UTF-8")
        return False
    try:  # parsing only (nothing runs); staged anyway so each test shows the error too
        ast.parse(data, name)
    except SyntaxError as exc:
        problems.append(f"{name} line {exc.lineno}: SyntaxError: {exc.msg}; fix it (every test "
                        f"that uses {name} scores 0)")
    except (ValueError, RecursionError, MemoryError) as exc:
        problems.append(f"{name} cannot be parsed ({type(exc).__name__}); simplify the code")
    return True


def _from_zip(path: Path, problems: list[str], refused: dict) -> dict:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        problems.append(f"the upload is not a readable zip file ({exc}): zip your five modules "
                        f"again (python make_submission.py writes submission.zip)")
        return {}
    candidates, total = {}, 0
    with archive:
        if not archive.infolist():
            problems.append("the zip is empty: put your five modules in it "
                            "(python make_submission.py writes submission.zip)")
        for info in archive.infolist():
            member = PurePosixPath(info.filename)
            mode = info.external_attr >> 16
            if member.is_absolute() or ".." in member.parts:
                problems.append(f"refused {info.filename}: paths outside the zip are not allowed")
                continue
            if stat.S_ISLNK(mode):
                problems.append(f"refused {info.filename}: symbolic links are not allowed")
                if member.name in WANTED:
                    refused.setdefault(member.name, f"{info.filename} is a symbolic link")
                continue
            if info.is_dir() or member.name not in WANTED or "__MACOSX" in member.parts:
                if not info.is_dir() and info.file_size > MAX_MODULE_BYTES:
                    problems.append(f"ignored {info.filename} ({info.file_size >> 20} MB): only "
                                    f"the problem set's modules are graded; do not upload data or "
                                    f"checkpoints")
                continue
            total += info.file_size
            if info.file_size > MAX_MODULE_BYTES or total > MAX_UPLOAD_BYTES:
                problems.append(f"{member.name} is {info.file_size >> 20} MB, over the 1 MB "
                                f"limit")
                continue
            try:
                data = archive.read(info)
            except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError) as exc:
                problems.append(f"{info.filename} cannot be read from the zip ({exc})")
                refused.setdefault(member.name, "it could not be read from the zip")
                continue
            candidates.setdefault(member.name, []).append((member, data))
    return candidates


def entries(path: Path, depth: int = 3):
    """os.DirEntry objects at most `depth` folders below `path`, never following links and
    without recursion (an upload may nest folders thousands deep)."""
    todo = [(str(path), 1)]
    while todo:
        folder, level = todo.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            yield entry
            if level < depth and entry.is_dir(follow_symlinks=False):
                todo.append((entry.path, level + 1))


def _from_folder(path: Path, problems: list[str], refused: dict) -> dict:
    candidates = {}
    for entry in entries(path):
        if entry.name not in WANTED or "__MACOSX" in entry.path:
            continue
        relative = PurePosixPath(Path(entry.path).relative_to(path).as_posix())
        if entry.is_symlink():
            problems.append(f"refused {relative}: symbolic links are not allowed")
            refused.setdefault(entry.name, f"{relative} is a symbolic link")
        elif not entry.is_file(follow_symlinks=False):
            problems.append(f"ignored {relative}: not a regular file")
        elif entry.stat(follow_symlinks=False).st_size > MAX_MODULE_BYTES:
            size = entry.stat(follow_symlinks=False).st_size >> 20
            problems.append(f"{entry.name} is {size} MB, over the 1 MB limit")
            refused.setdefault(entry.name, f"it is {size} MB, over the 1 MB limit")
        else:
            try:
                candidates.setdefault(entry.name, []).append((relative,
                                                              Path(entry.path).read_bytes()))
            except OSError as exc:
                problems.append(f"{relative} cannot be read ({exc.strerror})")
    return candidates


def stage(upload: Path, destination: Path) -> Intake:
    """Copy the student modules of `upload` (zip or folder) into `destination` (created fresh,
    readable by the caller only: the judge shares it with one sandbox user) and report
    problems."""
    upload, destination = Path(upload), Path(destination)
    if destination.exists():
        shutil.rmtree(destination)  # the caller's own fresh folder: shallow
    destination.mkdir(parents=True)
    destination.chmod(0o700)
    result = Intake(destination)
    if upload.is_dir():
        candidates = _from_folder(upload, result.problems, result.refused)
    elif upload.is_file():
        candidates = _from_zip(upload, result.problems, result.refused)
    else:
        result.problems.append(f"nothing to grade at {upload}")
        candidates = {}
    for name, (source, data) in _choose(candidates, result.problems, result.refused).items():
        if _check_source(name, data, result.problems, result.refused):
            target = destination / name
            target.write_bytes(data)
            target.chmod(0o600)
            result.found.append(str(source))
            result.refused.pop(name, None)
    return result
