"""Reading a Gradescope export for `grader batch`: the submissions of a folder (or of the
export zip as downloaded, unpacked safely), and who submitted each, from the export's own
`submission_metadata.yml` or else the folder name: never from an uploaded file (a student
controls those). Their contents are hashed here too, with bounded depth and size."""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

METADATA_YML = "submission_metadata.yml"  # top level of a Gradescope export
MAX_DEPTH = 32                  # folders nested deeper in one upload: an error row
MAX_FILES = 20_000              # files in one upload
MAX_UNPACKED = 8 << 30          # bytes an export zip may unpack to
MAX_MEMBERS = 200_000           # entries of an export zip


class UploadError(Exception):
    """One upload cannot be read: its own error row, never the batch's end."""


@dataclass
class Submission:
    key: str                  # folder or file name inside the export (unique)
    path: Path
    people: list = field(default_factory=list)   # [{"name", "email", "sid"}], export order
    created_at: str = ""      # Gradescope's :created_at:, as written there
    gradescope_score: str = ""  # Gradescope's :score: (what students see now)

    @property
    def fallback_name(self) -> str:
        return re.sub(r"\.zip$", "", self.key, flags=re.I)


# ----------------------------------------------------------------------------- metadata
def parse_export_yml(text: str) -> dict[str, dict]:
    """submission key -> {"submitters": [{name, sid, email}], "created_at", "score"} from
    Gradescope's top-level submission_metadata.yml, without PyYAML: `submission_ID:` at
    column 0, then `:submitters:` with `- :name: ...` items and scalar `:key: value` lines."""
    found: dict[str, dict] = {}
    current, in_submitters, sub_indent = None, False, 0
    for line in text.splitlines():
        if line and not line[0].isspace() and line.rstrip().endswith(":"):
            current = found.setdefault(line.rstrip()[:-1].strip("'\""), {"submitters": []})
            in_submitters = False
            continue
        stripped = line.strip()
        if current is None or not stripped:
            continue
        indent = len(line) - len(line.lstrip())
        if stripped.startswith(":submitters:"):
            in_submitters, sub_indent = True, indent
            continue
        if in_submitters and indent <= sub_indent and not stripped.startswith("-"):
            in_submitters = False
        match = re.match(r"(- )?:?(\w+):\s*(.*)$", stripped)
        if not match:
            continue
        value = match.group(3).strip().strip("'\"")
        if in_submitters:
            if match.group(1):
                current["submitters"].append({})
            if current["submitters"]:
                current["submitters"][-1][match.group(2)] = value
        elif match.group(2) in ("created_at", "score"):
            current[match.group(2)] = value
    return found


def discover(directory: Path) -> list[Submission]:
    """One Submission per sub-folder or zip of `directory` (a Gradescope export wrapped in one
    folder is entered); people, submission time and score from the export's metadata."""
    directory = Path(directory)
    entries = [e for e in directory.iterdir() if not e.name.startswith((".", "__"))]
    folders = [e for e in entries if _is_dir(e)]
    if (len(folders) == 1 and not (directory / METADATA_YML).exists()
            and (folders[0] / METADATA_YML).exists()):
        return discover(folders[0])
    exported = {}
    if (directory / METADATA_YML).is_file():
        exported = parse_export_yml((directory / METADATA_YML).read_text(errors="replace"))
    subs = []
    for entry in sorted(entries, key=lambda e: e.name):
        if not (_is_dir(entry) or entry.suffix.lower() == ".zip"):
            continue
        meta = exported.get(entry.name, {})
        people = [{k: str(p.get(k, "")) for k in ("name", "email", "sid")}
                  for p in meta.get("submitters", [])]
        subs.append(Submission(entry.name, entry, people, meta.get("created_at", ""),
                               meta.get("score", "")))
    return subs


def _is_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(path.lstat().st_mode)  # a link is no submission
    except OSError:
        return False


# ----------------------------------------------------------------------------- contents
def upload_files(path: Path) -> list[Path]:
    """The regular files of an upload folder, walked iteratively: UploadError past MAX_DEPTH
    levels or MAX_FILES files, or when a folder cannot be read."""
    files, stack = [], [(path, 0)]
    while stack:
        folder, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise UploadError(f"its folders nest more than {MAX_DEPTH} levels deep")
        try:
            entries = list(os.scandir(folder))
        except OSError as exc:
            raise UploadError(f"a folder cannot be read: {exc.strerror}") from None
        for entry in entries:
            if entry.name == "__pycache__" or entry.is_symlink():
                continue
            if entry.is_dir(follow_symlinks=False):
                stack.append((Path(entry.path), depth + 1))
            elif entry.is_file(follow_symlinks=False):
                files.append(Path(entry.path))
        if len(files) > MAX_FILES:
            raise UploadError(f"it holds more than {MAX_FILES} files")
    return files


def submission_hash(path: Path) -> str:
    """The upload's bytes (file names and contents): UploadError when they cannot be read."""
    digest = hashlib.sha256()
    try:
        if not _is_dir(path):
            digest.update(path.read_bytes())
            return digest.hexdigest()
        for file in sorted(upload_files(path)):
            digest.update(os.fsencode(file.relative_to(path)) + b"\0")
            digest.update(hashlib.sha256(file.read_bytes()).digest())
    except OSError as exc:
        raise UploadError(f"it cannot be read: {exc.strerror or exc}") from None
    return digest.hexdigest()


# ----------------------------------------------------------------------------- export zip
def unpack_export(archive: Path, into: Path) -> Path:
    """The export zip as downloaded, unpacked into a fresh folder under `into`: refused
    (ValueError) when a name would land outside it, is a link, or the whole would exceed
    MAX_UNPACKED bytes or MAX_MEMBERS entries. Returns the folder."""
    into.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="export-", dir=into))
    try:
        with zipfile.ZipFile(archive) as source:
            members = source.infolist()
            if len(members) > MAX_MEMBERS:
                raise ValueError(f"{archive} has more than {MAX_MEMBERS} entries")
            budget = MAX_UNPACKED
            for member in members:
                budget -= _unpack_member(source, member, folder, budget)
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise ValueError(f"cannot unpack {archive}: {exc}") from None
    return folder


def _unpack_member(source: zipfile.ZipFile, member: zipfile.ZipInfo, folder: Path,
                   budget: int) -> int:
    """Write one entry under `folder`; the bytes written (counted, not as declared)."""
    parts = Path(member.filename.replace("\\", "/")).parts
    if (not parts or member.filename.startswith("/") or ".." in parts
            or any(":" in p for p in parts)):
        raise ValueError(f"the entry {member.filename!r} would land outside the folder")
    if stat.S_ISLNK(member.external_attr >> 16):
        raise ValueError(f"the entry {member.filename!r} is a link")
    target = folder.joinpath(*parts)
    if member.is_dir():
        target.mkdir(parents=True, exist_ok=True)
        return 0
    target.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with source.open(member) as stream, open(target, "xb") as out:
        while chunk := stream.read(1 << 20):
            written += len(chunk)
            if written > budget:
                raise ValueError(f"it unpacks to more than {MAX_UNPACKED >> 30} GiB")
            out.write(chunk)
    return written
