"""2-D values (masks, attention patterns) shown as small grids: got and expected side by side,
the entries that differ marked, so a student sees which rows and columns are wrong at a glance
(a flat list of 16 numbers hides a transposed or shifted mask)."""
from pathlib import Path

import numpy as np

MAX_COLUMNS = 16  # wider grids wrap in a terminal and in Gradescope's output box
MAX_ROWS = 32
MARK = "*"


def _cell(value) -> str:
    if isinstance(value, (bool, np.bool_)):
        return str(int(value))
    if float(value).is_integer():
        return str(int(value))
    return f"{float(value):.3g}"


def _rows(array: np.ndarray, marks: np.ndarray, width: int) -> list[str]:
    return [" ".join(f"{_cell(v):>{width}}{MARK if m else ' '}" for v, m in zip(row, mark))
            for row, mark in zip(array, marks)]


def fits(got: np.ndarray, want: np.ndarray) -> bool:
    return (got.ndim == 2 and got.shape == want.shape and got.shape[0] <= MAX_ROWS
            and got.shape[1] <= MAX_COLUMNS)


def side_by_side(got: np.ndarray, want: np.ndarray, differs: np.ndarray) -> str:
    """Two grids, row i of `got` beside row i of `want`; `*` follows each entry of `got` that
    differs from `want`. Rows and columns are numbered as the array indexes them."""
    width = max([len(str(got.shape[1] - 1))]
                + [len(_cell(v)) for v in np.concatenate([got.ravel(), want.ravel()])])
    columns = " ".join(f"{j:>{width}} " for j in range(got.shape[1]))
    left = _rows(got, differs, width)
    right = _rows(want, np.zeros_like(differs), width)
    pad = max(len(columns), len(f"got ({MARK} differs)"))
    label = len(str(got.shape[0] - 1))
    lines = [f"{'':>{label}}  {'got (' + MARK + ' differs)':<{pad}}   expected",
             f"{'':>{label}}  {columns:<{pad}}   {columns}"]
    lines += [f"{i:>{label}}  {g:<{pad}}   {w}" for i, (g, w) in enumerate(zip(left, right))]
    return "\n".join(line.rstrip() for line in lines)


def picture(got: np.ndarray, want: np.ndarray, differs: np.ndarray, path: Path) -> Path:
    """Got, expected and the entries that differ as one PNG, for a grid too large to print
    (a 784-input MADE mask). Only where a student runs the tests locally: matplotlib's
    Figure, no pyplot, so nothing changes the student's own plotting backend."""
    from matplotlib.figure import Figure
    figure = Figure(figsize=(13, 4.8))
    panels = (("got", got), ("expected", want), ("differs (black)", differs))
    for axes, (title, values) in zip(figure.subplots(1, 3), panels):
        axes.imshow(np.asarray(values, dtype=float), cmap="gray_r" if values is differs
                    else "viridis", interpolation="nearest", aspect="auto")
        axes.set_title(f"{title}: {values.shape[0]} rows x {values.shape[1]} columns")
        axes.set_xlabel("column")
        axes.set_ylabel("row")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=80)
    return path
