"""The parameter names of the public functions, classes and methods of the student
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


# The arguments the grader passes BY NAME (grader/worker/probes.py and training_probes.py;
# tests/test_submission_checks.py checks this table against their source). Renaming one of
# these fails every test that passes it; every other argument is passed by position, so
# renaming it costs nothing.
BY_NAME = {
    "*": {"generator"},  # the call probe's generator_seed, and the samplers' generator=
    "training.evaluate": {"loss_fn", "batch_size"},
    "training.train": {"steps", "batch_size", "lr", "generator", "callback"},
    "pixelcnn.PixelCNN.__init__": "all",  # PixelCNN(**arch)
    "attention.PixelTransformer.__init__": "all",  # PixelTransformer(**arch)
}


def _params(node) -> dict:
    args = node.args
    return {"pos": [a.arg for a in args.posonlyargs + args.args],
            "kw": [a.arg for a in args.kwonlyargs], "defaults": len(args.defaults)}


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
    """module -> of_source(module.py) for the student modules in `directory` (attention.py,
    optional, only when it is there)."""
    return {name: of_source((Path(directory) / f"{name}.py").read_text(encoding="utf-8"))
            for name in STUDENT_MODULES if (Path(directory) / f"{name}.py").is_file()}


def load() -> dict:
    if PATH.is_file():
        return json.loads(PATH.read_text())
    source = ROOT / "reference" if (ROOT / "reference").is_dir() else ROOT / "starter"
    return collect(source)


def _render(name: str, params: dict) -> str:
    return f"{name.split('.')[-1]}({', '.join(params['pos'] + ['*'] * bool(params['kw']) + params['kw'])})"


def by_name(module: str, name: str, params: dict) -> set[str]:
    """The expected parameters of `module.name` that the grader passes by name."""
    names = set(params["pos"]) | set(params["kw"])
    chosen = BY_NAME.get(f"{module}.{name}", set())
    if chosen == "all":
        return names - {"self"}
    return (set(chosen) | BY_NAME["*"]) & names


def compare(module: str, expected: dict, text: str) -> tuple[list[str], list[str]]:
    """(costly, harmless): one line per name of `expected` whose definition in the source
    `text` will fail tests (missing; a parameter the grader passes by name renamed or gone;
    fewer positional parameters; a new one without a default), and one per renamed
    parameter the grader passes by position (it costs nothing). Extra trailing parameters
    with defaults are fine."""
    have = of_source(text)
    costly, harmless = [], []
    for name, params in expected.items():
        if name not in have:
            costly.append(f"{module}.py: {name} is missing; restore it from the starter code "
                          f"(the grader calls it by that name)")
            continue
        got = have[name]
        if params is None or got is None:
            continue
        named = by_name(module, name, params)
        positional = []  # passed by position: the parameters before the first passed by name
        for parameter in params["pos"]:
            if parameter in named:
                break
            positional.append(parameter)
        theirs = _render(name, got)
        ours = _render(name, params)
        gone = sorted(named - set(got["pos"]) - set(got["kw"]))
        required = got["pos"][:len(got["pos"]) - got.get("defaults", 0)]
        unfilled = [p for p in required[len(positional):] if p not in named]  # no default
        if gone:
            costly.append(f"{module}.py: {name} has parameters {theirs}: the grader passes "
                          + ", ".join(f"{p}=" for p in gone) + " by name, so every test "
                          f"that does fails; keep the starter's signature {ours}")
        elif len(got["pos"]) < len(positional) or unfilled:
            costly.append(f"{module}.py: {name} has parameters {theirs}: the grader passes "
                          f"{len(positional)} argument(s) by position, as in the starter's "
                          f"{ours}; every test that calls it fails")
        elif got["pos"][:len(positional)] != positional:
            harmless.append(f"{module}.py: {name} has parameters {theirs}, the starter "
                            f"{ours}: the grader passes these by position, so the new names "
                            f"cost nothing (keeping the starter's names is clearer)")
    return costly, harmless
