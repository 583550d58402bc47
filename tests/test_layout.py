"""The trust boundary is visible in the folders (issue 9): nothing in grader/trusted/ imports
code that runs beside student code at module level, and the judge's process ends a sandboxed
grading without torch or any grader.worker module (judge.check_untouched, run by every grade)."""
import ast
import sys

import pytest

from grader import ROOT


def _module_level_imports(path):
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


@pytest.mark.parametrize("path", sorted((ROOT / "grader" / "trusted").glob("*.py")),
                         ids=lambda p: p.name)
def test_trusted_modules_import_no_worker_code(path):
    imported = set(_module_level_imports(path))
    assert not {m for m in imported if m.startswith("grader.worker")}, imported
    if path.name not in ("measure.py",):  # the measurement worker's probes (torch, no students)
        assert "torch" not in imported, path.name


def test_the_judge_refuses_to_hold_worker_code(monkeypatch):
    from grader.trusted import judge
    monkeypatch.setitem(sys.modules, "grader.worker.probes", object())
    with pytest.raises(RuntimeError, match="grader.worker.probes"):
        judge.check_untouched()
