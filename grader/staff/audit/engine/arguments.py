"""The mutations cosmic-ray does not make, as text edits located by Python's `ast`: drop one
argument of a call, change a string constant, replace a statement by `pass`.

Each operator's `positions(source)` yields (start, end, mutate): the (line, column) span it
changes (1-based lines) and a function returning the mutated source.
"""
from __future__ import annotations

import ast


def _offsets(source: str):
    """(line, column) -> index into `source` (columns as `ast` counts them: UTF-8 bytes)."""
    lines = source.splitlines(True)
    starts, total = [], 0
    for line in lines:
        starts.append(total)
        total += len(line)

    def index(line: int, column: int) -> int:
        text = lines[line - 1]
        return starts[line - 1] + len(text.encode()[:column].decode(errors="ignore"))
    return index


def _start(node):
    return node.lineno, node.col_offset


def _end(node):
    return node.end_lineno, node.end_col_offset


def _edit(source, index, start, end, new):
    a, b = index(*start), index(*end)
    return lambda: source[:a] + new + source[b:]


class RemoveArgument:
    """f(a, b, k=c) -> f(b, k=c), f(a, k=c), f(a, b): a forgotten or dropped argument."""
    name = "RemoveArgument"

    @staticmethod
    def positions(source: str):
        index = _offsets(source)
        for call in ast.walk(ast.parse(source)):
            if not isinstance(call, ast.Call):
                continue
            arguments = sorted(call.args + call.keywords, key=_start)
            for i, argument in enumerate(arguments):
                if i + 1 < len(arguments):  # up to the next argument, comma included
                    span = _start(argument), _start(arguments[i + 1])
                elif i > 0:  # the last one: from the end of the one before
                    span = _end(arguments[i - 1]), _end(argument)
                else:
                    span = _start(argument), _end(argument)
                yield _start(argument), _end(argument), _edit(source, index, *span, "")


class ReplaceString:
    """'A' -> 'XXAXX': a misspelt mode, key or reduction."""
    name = "ReplaceString"

    @staticmethod
    def positions(source: str):
        index = _offsets(source)
        tree = ast.parse(source)
        formatted = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr)
                     for v in ast.walk(n)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and id(node) not in formatted:
                yield _start(node), _end(node), _edit(source, index, _start(node), _end(node),
                                                      repr(f"XX{node.value}XX"))


class DeleteStatement:
    """A statement of a function body replaced by `pass` (a forgotten line)."""
    name = "DeleteStatement"

    @staticmethod
    def positions(source: str):
        index = _offsets(source)
        for function in ast.walk(ast.parse(source)):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for statement in _statements(function.body):
                yield _start(statement), _end(statement), _edit(
                    source, index, _start(statement), _end(statement), "pass")


def _statements(body):
    """Statements of a body and of the blocks nested in it, not of nested functions, not
    `pass` (nothing to remove), not a docstring (not behaviour)."""
    for statement in body:
        if isinstance(statement, (ast.Pass, ast.FunctionDef, ast.AsyncFunctionDef,
                                  ast.ClassDef)):
            continue
        yield statement
        for field in ("body", "orelse", "finalbody"):
            yield from _statements(getattr(statement, field, []) or [])
        for handler in getattr(statement, "handlers", []):
            yield from _statements(handler.body)


EXTRA_OPERATORS = (RemoveArgument, ReplaceString, DeleteStatement)
