"""Turn what a student uploaded (a zip, a folder, loose files) into a staged folder holding
only the five modules, and list the problems found, each as one line a student can act on.

Nothing here imports or runs student code. Zip members are read as bytes: no symlinks, no
absolute or `..` paths, size caps before anything is written.
"""
import ast
import shutil
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from grader import STUDENT_MODULES

MAX_MODULE_BYTES = 1 << 20       # a module over 1 MB is not a solution
MAX_UPLOAD_BYTES = 300 << 20     # total uncompressed size we are willing to look at
WANTED = {f"{name}.py" for name in STUDENT_MODULES}


@dataclass
class Intake:
    directory: Path
    problems: list[str] = field(default_factory=list)
    found: list[str] = field(default_factory=list)


def _depth_key(path: PurePosixPath):
    return (len(path.parts), str(path))


def _choose(candidates: dict[str, list], problems: list[str]) -> dict:
    """Pick one file per module name: the shallowest (a wrapping folder is fine)."""
    chosen = {}
    for name in sorted(WANTED):
        options = sorted(candidates.get(name, []), key=lambda c: _depth_key(c[0]))
        if not options:
            problems.append(f"{name} is missing: submit all five files ("
                            + ", ".join(sorted(WANTED)) + ")")
            continue
        if len(options) > 1:
            problems.append(f"{name} appears {len(options)} times; graded {options[0][0]}")
        chosen[name] = options[0]
    return chosen


def _check_source(name: str, data: bytes, problems: list[str]) -> bool:
    if len(data) > MAX_MODULE_BYTES:
        problems.append(f"{name} is {len(data) >> 20} MB, over the 1 MB limit: remove data or "
                        f"generated code from it")
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
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


def _from_zip(path: Path, problems: list[str]) -> dict:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        problems.append(f"the upload is not a readable zip file ({exc})")
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
                continue
            if info.is_dir() or member.name not in WANTED or "__MACOSX" in member.parts:
                if not info.is_dir() and info.file_size > MAX_MODULE_BYTES:
                    problems.append(f"ignored {info.filename} ({info.file_size >> 20} MB): only "
                                    f"the five modules are graded; do not upload data or "
                                    f"checkpoints")
                continue
            total += info.file_size
            if info.file_size > MAX_MODULE_BYTES or total > MAX_UPLOAD_BYTES:
                problems.append(f"{member.name} is {info.file_size >> 20} MB, over the 1 MB "
                                f"limit")
                continue
            candidates.setdefault(member.name, []).append((member, archive.read(info)))
    return candidates


def _from_folder(path: Path, problems: list[str]) -> dict:
    candidates = {}
    for file in sorted(path.rglob("*.py")):
        relative = PurePosixPath(file.relative_to(path).as_posix())
        if file.name not in WANTED or len(relative.parts) > 3:
            continue
        if file.is_symlink():
            problems.append(f"refused {relative}: symbolic links are not allowed")
            continue
        if file.stat().st_size > MAX_MODULE_BYTES:
            problems.append(f"{file.name} is {file.stat().st_size >> 20} MB, over the 1 MB limit")
            continue
        candidates.setdefault(file.name, []).append((relative, file.read_bytes()))
    return candidates


def stage(upload: Path, destination: Path) -> Intake:
    """Copy the five modules of `upload` (zip or folder) into `destination` (created fresh,
    world-readable, owned by the caller) and report problems."""
    upload, destination = Path(upload), Path(destination)
    if destination.exists():
        shutil.rmtree(destination)
    destination.mkdir(parents=True)
    destination.chmod(0o755)
    result = Intake(destination)
    if upload.is_dir():
        candidates = _from_folder(upload, result.problems)
    elif upload.is_file():
        candidates = _from_zip(upload, result.problems)
    else:
        result.problems.append(f"nothing to grade at {upload}")
        candidates = {}
    for name, (source, data) in _choose(candidates, result.problems).items():
        if _check_source(name, data, result.problems):
            target = destination / name
            target.write_bytes(data)
            target.chmod(0o644)
            result.found.append(str(source))
    return result
