"""The context table (grader/staff/contexts.py): no empty or unknown cell, every test and
mutant it names exists, docs/COVERAGE.md holds the table as generated, and the audit's
evidence check fails a cell whose mutant failed none of its tests."""
import dataclasses

from grader.staff import contexts


def test_every_context_has_a_test_and_a_mutant():
    assert contexts.problems() == []


def test_committed_table_is_current():
    assert contexts.current_section() == contexts.render(), \
        "docs/COVERAGE.md: run `python -m grader.staff.contexts --write`"


def test_signatures_come_from_the_solution_regions():
    signatures = contexts.graded_signatures()
    assert signatures["training.train"] == ["model", "data", "loss_fn", "steps", "batch_size",
                                            "lr", "generator", "device", "callback"]
    assert signatures["made.MaskedLinear.forward"] == ["x"]
    assert "made.MADE.__init__" not in signatures  # given code


def test_an_empty_missing_or_unknown_cell_is_reported(monkeypatch):
    cells = list(contexts.CELLS)
    emptied = dataclasses.replace(cells[0], mutants=())
    unknown = dataclasses.replace(cells[0], context="no_such_parameter")
    monkeypatch.setattr(contexts, "CELLS", [emptied, unknown, *cells[2:]])
    found = "\n".join(contexts.problems())
    assert f"{cells[0].target} `{cells[0].context}`: empty cell" in found
    assert f"{cells[1].target} `{cells[1].context}`: no cell" in found
    assert "`no_such_parameter`: a cell for a context the stub does not have" in found
    assert contexts.render() != contexts.current_section()  # the committed table is stale


def test_evidence_needs_the_cells_mutant_to_fail_one_of_its_tests():
    cell = next(c for c in contexts.CELLS if c.mutants == ("evaluate_ignores_loss_fn",))
    wrong = [{"name": "evaluate_ignores_loss_fn",
              "failed_tests": ["tests_public/test_training.py::test_evaluate_mean_nll"]}]
    right = [{"name": "evaluate_ignores_loss_fn",
              "failed_tests": ["tests_hidden/test_training.py::test_evaluate_uneven_batches"]}]
    assert any(cell.context in line for line in contexts.evidence(wrong))
    assert contexts.evidence(right) == []
    assert contexts.evidence([]) == []  # mutants the run did not grade are not judged
