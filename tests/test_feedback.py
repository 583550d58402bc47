"""Feedback a student can act on (issue 21): 2-D values as grids with the differing entries
marked, tensor values visible in pdb, modes named in evaluate's messages."""
import shutil
import subprocess
import sys

import numpy as np
import pytest

from grader import ROOT
from grader.trusted import grids
from grader.trusted.checks import Check, Failure
from grader.wire import Tensor

OUTPUT_MASK = np.array([[0, 0, 0, 0], [1, 0, 1, 0], [1, 1, 1, 1]], dtype=np.float32)
NON_STRICT = np.array([[1, 0, 1, 0], [1, 1, 1, 1], [1, 1, 1, 1]], dtype=np.float32)


def grid_rows(text: str) -> list[list[str]]:
    """The cells of each numbered row: got's cells, then expected's."""
    return [line.split()[1:] for line in text.splitlines()[2:]]


def test_grid_marks_exactly_the_differing_entries():
    text = grids.side_by_side(NON_STRICT, OUTPUT_MASK, NON_STRICT != OUTPUT_MASK)
    marked = [(i, j) for i, row in enumerate(grid_rows(text)) for j, cell in
              enumerate(row[:4]) if cell.endswith(grids.MARK)]
    assert marked == [tuple(ij) for ij in np.argwhere(NON_STRICT != OUTPUT_MASK)], text
    assert [row[4:] for row in grid_rows(text)] == [[str(int(v)) for v in row]
                                                    for row in OUTPUT_MASK], text


def test_grid_columns_line_up_past_ten():
    got, want = np.tril(np.ones((12, 12), bool)), np.tril(np.ones((12, 12), bool), -1)
    lines = grids.side_by_side(got, want, got != want).splitlines()
    last_digit = lines[1].index("11") + 1  # got's column 11 in the header row
    assert [line[last_digit] for line in lines[2:]] == ["0"] * 11 + ["1"], "\n".join(lines)


def test_a_public_mask_failure_shows_both_grids_and_a_hidden_one_neither():
    got, want = Tensor(NON_STRICT, "float32"), Tensor(OUTPUT_MASK, "float32")
    with pytest.raises(Failure) as public:
        Check(public=True).equal(got, want, what="output mask")
    assert "got (* differs)" in str(public.value) and "expected" in str(public.value)
    assert len(grid_rows(str(public.value).split("\n", 1)[1])) == 3, str(public.value)
    with pytest.raises(Failure) as hidden:
        Check(public=False).equal(got, want, what="output mask")
    assert str(hidden.value) == "output mask: wrong values at 4 of 12 entries"


def test_a_wide_value_falls_back_to_the_flat_preview():
    wide = np.zeros((2, grids.MAX_COLUMNS + 1))
    with pytest.raises(Failure) as failure:
        Check(public=True).equal(Tensor(wide + 1, "float64"), wide, what="wide")
    assert "got (* differs)" not in str(failure.value) and "got:" in str(failure.value)


def test_a_wide_value_is_drawn_when_a_student_runs_the_tests(tmp_path):
    """Locally (pictures given), a grid too large to print is a PNG the message names; the
    flat preview stays. When grading (no pictures), nothing is written."""
    want = np.zeros((3, grids.MAX_COLUMNS + 5))
    got = want.copy()
    got[1, 7] = 1
    with pytest.raises(Failure) as failure:
        Check(public=True, pictures=tmp_path / "test_x").equal(Tensor(got, "float64"), want,
                                                                what="input mask 0")
    png = tmp_path / "test_x" / "input-mask-0.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"picture: {png}" in str(failure.value) and "got:" in str(failure.value)
    with pytest.raises(Failure) as graded:
        Check(public=True).equal(Tensor(got, "float64"), want, what="input mask 0")
    assert "picture" not in str(graded.value)


def test_a_tensors_repr_shows_its_values():
    text = repr(Tensor(np.array([[0.5, 1.25], [3.0, -2.0]]), "float64"))
    assert "shape=(2, 2)" in text and "1.25" in text and "-2." in text, text


@pytest.fixture
def nonstrict_output_mask(tmp_path):
    copy = tmp_path / "mine"
    shutil.copytree(ROOT / "reference", copy, ignore=shutil.ignore_patterns("__pycache__"))
    path = copy / "made.py"
    old = "masks.append((degrees[0][:, None] > degrees[-1][None, :]).float())"
    assert path.read_text().count(old) == 1
    path.write_text(path.read_text().replace(old, old.replace(" > ", " >= ")))
    return copy


def test_pdb_shows_the_numbers_and_the_reference_answer(nonstrict_output_mask):
    """README: `p got` prints what the function returned, `pp locals()` the inputs and the
    reference's answer."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "tests_public", "--submission",
         str(nonstrict_output_mask), "-k", "masks_docstring", "--pdb"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        input="p got[1]\npp sorted(locals())\nq\n")
    out = done.stdout
    assert "values=" in out and "[[1. 0. 1. 0.]" in out, out[-3000:]
    assert "'degrees'" in out and "'want'" in out, out[-3000:]
    assert "got (* differs)" in out, out[-3000:]


def test_students_pytest_warns_once_of_a_module_that_prints_a_lot_at_import(tmp_path):
    copy = tmp_path / "noisy"
    shutil.copytree(ROOT / "reference", copy, ignore=shutil.ignore_patterns("__pycache__"))
    made = copy / "made.py"
    made.write_text('print("x" * 1_100_000)\n' + made.read_text())
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "tests_public", "--submission", str(copy), "-k",
         "kl_divergence or bits_per_dim"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.stdout.count("made.py prints 1.0 MB when it is imported") == 1, \
        done.stdout[-3000:]
