"""Which lines of a graded module the engine mutates, and which part owns each line.

Solution regions (`# BEGIN SOLUTION 2a` ... `# END SOLUTION`) belong to their part, plus the
"as a whole" parts graded on top of it (a wrong mask costs 2d too). The rest of the module is
given code the students' functions run inside (constructors, forward passes, decorators,
signature defaults): it belongs to all of the module's parts. Docstrings, imports and type
annotations are not mutated: they change no behaviour a test could observe.
train.py and data.py are not mutated: no graded function runs inside them (the graded
modules import neither).
"""
from __future__ import annotations

import ast
import re

MODULE_PARTS = {
    "probability": ("1a", "1b", "1c", "1d"),
    "made": ("2a", "2b", "2c", "2d"),
    "pixelcnn": ("3a", "3b", "3c"),
    "sampling": ("4a", "4b"),
    "training": ("5a", "5b", "5c"),
    "attention": ("6a", "6b", "6c"),
}
WHOLE = {"1b": ("1c",), "2a": ("2d",), "2b": ("2d",), "2c": ("2d",), "3a": ("3c",),
         "3b": ("3c",), "6a": ("6c",), "6b": ("6c",)}
BEGIN = re.compile(r"#\s*BEGIN SOLUTION\s*(\S+)")


def owners(region: str, module: str) -> tuple:
    """The parts that must lose points when a line of `region` is wrong."""
    if region.startswith("given"):
        return MODULE_PARTS[module]
    parts = tuple(region.split("/"))
    return tuple(sorted({*parts, *(w for p in parts for w in WHOLE.get(p, ()))}))


def _qualnames(tree: ast.Module) -> dict:
    """line -> qualified name of the innermost def/class holding it."""
    found = {}

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                first = min([child.lineno] + [d.lineno for d in child.decorator_list])
                for line in range(first, child.end_lineno + 1):
                    found[line] = name
                visit(child, name + ".")
            else:
                visit(child, prefix)
    visit(tree, "")
    return found


def _silent_spans(tree: ast.Module) -> list:
    """(start, end) positions, (line, column) with 1-based lines, that hold no behaviour:
    docstrings, imports, annotations."""
    spans = []

    def span(node):
        spans.append(((node.lineno, node.col_offset), (node.end_lineno, node.end_col_offset)))
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                span(body[0])
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            span(node)
        if isinstance(node, ast.arg) and node.annotation is not None:
            span(node.annotation)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.returns:
            span(node.returns)
        if isinstance(node, ast.AnnAssign):
            span(node.annotation)
        if isinstance(node, ast.Assign) and any(  # type aliases: LossFn = Callable[...]
                isinstance(t, ast.Name) and t.id[:1].isupper() for t in node.targets):
            span(node)
    return spans


class Regions:
    """The mutable lines of one module's source and the region each belongs to."""

    def __init__(self, module: str, source: str):
        self.module, self.lines = module, source.splitlines()
        tree = ast.parse(source)
        self.qualnames, self.silent = _qualnames(tree), _silent_spans(tree)
        self.solution = {}  # line -> part label ("2a", "5b/5c")
        label = None
        for number, text in enumerate(self.lines, 1):
            match = BEGIN.search(text)
            if match:
                label = match.group(1)
            elif "# END SOLUTION" in text:
                label = None
            elif label:
                self.solution[number] = label

    def region(self, line: int) -> str:
        if line in self.solution:
            return self.solution[line]
        return "given:" + self.qualnames.get(line, "<module>")

    def mutable(self, start: tuple, end: tuple) -> bool:
        """A change spanning start..end ((line, column), 1-based lines) is worth a mutant."""
        return not any(a <= start and end <= b for a, b in self.silent)

    def text(self, line: int) -> str:
        """The line as ids quote it: stripped, without its inline comment ("  # ...")."""
        return self.lines[line - 1].split("  # ")[0].strip()
