"""Generate `starter/` from `reference/` by replacing each marked solution region with a stub.

A region is

    # BEGIN SOLUTION 2b
    ...
    # END SOLUTION

inside a function; it becomes `raise NotImplementedError("Part 2b: implement made_masks")`
at the same indentation. Files without regions are copied verbatim.

    python -m grader.staff.stubs            # rewrite starter/
    python -m grader.staff.stubs --check    # exit 1 if starter/ differs (CI)
"""
import argparse
import re
import sys
from pathlib import Path

from grader import ROOT

BEGIN = re.compile(r"^(\s*)# BEGIN SOLUTION (\S+)\s*$")
END = re.compile(r"^\s*# END SOLUTION\s*$")
DEF = re.compile(r"^(\s*)def (\w+)\(")
CLASS = re.compile(r"^(\s*)class (\w+)\b")
STARTER_INIT = '"""Your solutions to PS1. Implement every function that raises NotImplementedError."""\n'


def _qualified_name(lines: list[str], index: int) -> str:
    """Name of the function enclosing line `index`, as Class.method for methods."""
    names, indent = [], len(lines[index]) - len(lines[index].lstrip())
    for line in reversed(lines[:index]):
        match = DEF.match(line) or CLASS.match(line)
        if match and len(match.group(1)) < indent:
            names.insert(0, match.group(2))
            indent = len(match.group(1))
    return ".".join(names)


def render(source: str) -> str:
    """The starter version of one reference file."""
    lines, out, region = source.splitlines(keepends=True), [], None
    for i, line in enumerate(lines):
        if region is None and (begin := BEGIN.match(line)):
            indent, part = begin.groups()
            name = _qualified_name(lines, i)
            out.append(f'{indent}raise NotImplementedError("Part {part}: implement {name}")\n')
            region = part
        elif region is not None and END.match(line):
            region = None
        elif region is None:
            out.append(line)
    if region is not None:
        raise ValueError(f"solution region {region} is never closed")
    return "".join(out)


def expected_starter(reference: Path = ROOT / "reference") -> dict[str, str]:
    """File name -> the text starter/ must hold."""
    files = {path.name: render(path.read_text()) for path in sorted(reference.glob("*.py"))
             if path.name != "__init__.py"}
    files["__init__.py"] = STARTER_INIT
    return files


def drift(starter: Path = ROOT / "starter") -> list[str]:
    """Names of starter files that are missing, extra or differ from the generated text."""
    want = expected_starter()
    have = {path.name for path in starter.glob("*.py")}
    return sorted(name for name in want.keys() | have
                  if name not in have or name not in want
                  or (starter / name).read_text() != want[name])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report drift; exit 1 if any")
    args = parser.parse_args(argv)
    starter = ROOT / "starter"
    if args.check:
        stale = drift(starter)
        for name in stale:
            print(f"starter/{name} differs from what reference/ generates; "
                  f"run: python -m grader.staff.stubs", file=sys.stderr)
        return 1 if stale else 0
    starter.mkdir(exist_ok=True)
    for name, text in expected_starter().items():
        (starter / name).write_text(text)
    for path in starter.glob("*.py"):
        if path.name not in expected_starter():
            path.unlink()
    print(f"wrote starter/ ({len(expected_starter())} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
