"""The parameter names of the public functions, classes and methods of the five student
modules, read with `ast` (nothing is imported), so make_submission.py can tell a student who
renamed or dropped a parameter before the grader does.

`python -m grader build` writes them, taken from reference/, to grader/trusted/signatures.json in the
student release; without that file they are read from reference/ (staff) or starter/.
"""
import ast
import json
from pathlib import Path

from grader import ROOT, STUDENT_MODULES

PATH = ROOT / "grader" / "trusted" / "signatures.json"


def _params(node) -> dict:
    args = node.args
    return {"pos": [a.arg for a in args.posonlyargs + args.args],
            "kw": [a.arg for a in args.kwonlyargs]}


def of_source(text: str) -> dict:
    """name (or Class.method) -> {"pos": [...], "kw": [...]} for one module's source."""
    found = {}
    for node in ast.parse(text).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("_"):
            found[node.name] = _params(node)
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            found[node.name] = None  # the class itself must exist
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and (
                        item.name == "__init__" or not item.name.startswith("_")):
                    found[f"{node.name}.{item.name}"] = _params(item)
    return found


def collect(directory: Path) -> dict:
    """module -> of_source(module.py) for the five student modules in `directory`."""
    return {name: of_source((Path(directory) / f"{name}.py").read_text(encoding="utf-8"))
            for name in STUDENT_MODULES}


def load() -> dict:
    if PATH.is_file():
        return json.loads(PATH.read_text())
    source = ROOT / "reference" if (ROOT / "reference").is_dir() else ROOT / "starter"
    return collect(source)


def _render(name: str, params: dict) -> str:
    return f"{name.split('.')[-1]}({', '.join(params['pos'] + ['*'] * bool(params['kw']) + params['kw'])})"


def compare(module: str, expected: dict, text: str) -> list[str]:
    """One line per name of `expected` that the source `text` lacks or whose parameters
    differ (extra trailing parameters are allowed)."""
    have = of_source(text)
    problems = []
    for name, params in expected.items():
        if name not in have:
            problems.append(f"{module}.py: {name} is missing; restore it from the starter code "
                            f"(the grader calls it by that name)")
        elif params is not None and have[name] is not None:
            got = have[name]
            if got["pos"][:len(params["pos"])] != params["pos"] or not set(params["kw"]) <= set(
                    got["kw"]):
                problems.append(f"{module}.py: {name} has parameters {_render(name, got)}; keep "
                                f"the starter's signature {_render(name, params)}")
    return problems
