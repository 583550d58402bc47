"""The submissions the audit grades, as {file name: source text}: reference/ patched by a
mutant or variant, or with an attack injected (malicious/)."""
from __future__ import annotations

import zipfile
from pathlib import Path

from grader import ROOT, STUDENT_MODULES
from .mutants import apply

FILES = [f"{name}.py" for name in STUDENT_MODULES]


def reference_files() -> dict:
    return {name: (ROOT / "reference" / name).read_text() for name in FILES}


def starter_files() -> dict:
    return {name: (ROOT / "starter" / name).read_text() for name in FILES}


def write_tree(files: dict, directory: Path) -> Path:
    """Write the files; a name ending in "/" is an (empty) folder."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        path = directory / name
        if name.endswith("/"):
            path.mkdir(parents=True, exist_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return directory


def _indent_after(text: str, anchor: str, code: str) -> str:
    """Insert `code` right after the line holding `anchor`, at that line's indentation."""
    if text.count(anchor) != 1:
        raise AssertionError(f"anchor {anchor!r} must occur exactly once")
    start = text.index(anchor)
    line_start = text.rfind("\n", 0, start) + 1
    indent = text[line_start:start]
    end = text.index("\n", start) + 1
    block = "".join(indent + line + "\n" if line.strip() else "\n" for line in code.splitlines())
    return text[:end] + block + text[end:]


def malicious_files(case, substitutions: dict) -> dict:
    """reference/ (or starter/) with the case's mistake, attack and extra files. Attack code
    names the audit's paths by placeholders (DROP_DIR, VICTIM_PATH, MARKER)."""
    if "__starter__" in case.replace:
        return starter_files()
    files = reference_files()
    for module, where, code in case.inject:
        for placeholder, value in substitutions.items():
            code = code.replace(placeholder, repr(value))
        if where == "import":
            files[module] += "\n\n" + code
        else:
            files[module] = _indent_after(files[module], f"# BEGIN SOLUTION {where}", code)
    files.update(case.extra)
    return apply(files, case.wrong)


def zip_upload(directory: Path, out: Path) -> Path:
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(directory).as_posix())
    return out
