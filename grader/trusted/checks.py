"""Judge-side checks: numpy only, messages a student can act on.

Public tests show got/expected; hidden tests say what is wrong without the expected value.
A `Failure` is the only exception whose message reaches a student verbatim.
"""
import re
from pathlib import Path

import numpy as np

from grader.trusted import grids
from grader.wire import Tensor, Unsupported

KINDS = {"float": "f", "int": "iu", "bool": "b"}


class Failure(AssertionError):
    """A check failed; str(self) is shown to the student."""


def _preview(array: np.ndarray, limit: int = 8) -> str:
    flat = np.asarray(array).ravel()
    text = np.array2string(flat[:limit], precision=4, separator=", ")
    return text[:-1] + ", ...]" if flat.size > limit else text


class Check:
    """Assertions bound to one test's visibility (public tests may reveal expected values)."""

    def __init__(self, public: bool, pictures: Path | None = None):
        """`pictures`: where a public test run locally draws a 2-D value too large to print
        (None when grading: nothing is written beside the judge)."""
        self.public, self.pictures = public, pictures

    def that(self, condition, message: str):
        if not condition:
            raise Failure(message)

    def tensor(self, got, *, what: str, shape=None, kind: str | None = None) -> np.ndarray:
        """`got` must be a torch.Tensor of the given shape and dtype kind; returns its array."""
        if isinstance(got, Unsupported):
            raise Failure(f"{what}: returned an object of type {got.type_name}, "
                          f"expected a torch.Tensor")
        if not isinstance(got, Tensor):
            raise Failure(f"{what}: returned {type(got).__name__}, expected a torch.Tensor")
        if got.device != "cpu":
            raise Failure(f"{what}: returned a tensor on {got.device} for inputs on the CPU; "
                          f"create new tensors on the device of the inputs")
        if shape is not None and tuple(got.shape) != tuple(shape):
            raise Failure(f"{what}: returned shape {tuple(got.shape)}, expected {tuple(shape)}")
        if kind is not None and got.array.dtype.kind not in KINDS[kind]:
            raise Failure(f"{what}: returned dtype {got.dtype}, expected a {kind} tensor")
        return got.array

    def close(self, got, want, *, what: str, atol: float = 1e-6, rtol: float = 1e-5,
              hints: dict | None = None):
        """Values agree within tolerance (inf must match inf); `hints` names known mistakes."""
        got_array = self.tensor(got, what=what, shape=np.shape(_array(want)))
        want = _array(want)
        if np.allclose(got_array, want, atol=atol, rtol=rtol, equal_nan=False):
            return
        message = f"{what}: wrong values"
        if not np.all(np.isfinite(got_array) | np.isinf(want)):
            message = f"{what}: returned nan/inf where a finite value was expected"
        for mistake, candidate in {**(hints or {}), **_observations(want)}.items():
            if np.shape(candidate) == want.shape and np.allclose(got_array, candidate,
                                                                  atol=atol, rtol=rtol):
                message += f" (looks like {mistake})"
                break
        else:
            if np.all((got_array >= 0) & (got_array <= 1)) and np.any((want < 0) | (want > 1)):
                message += " (all your values lie in [0, 1]: are these probabilities?)"
        wrong = ~np.isclose(got_array, want, atol=atol, rtol=rtol)
        message += f"; {int(wrong.sum())} of {want.size} entries differ"
        raise Failure(message + self._shown(got_array, want, wrong, 8, what))

    def equal(self, got, want, *, what: str, kind: str | None = None):
        got_array = self.tensor(got, what=what, shape=np.shape(_array(want)), kind=kind)
        want = _array(want)
        if np.array_equal(got_array, want):
            return
        message = f"{what}: wrong values at {int((got_array != want).sum())} of {want.size} entries"
        raise Failure(message + self._shown(got_array, want, got_array != want, 16, what))

    def _shown(self, got: np.ndarray, want: np.ndarray, differs: np.ndarray, limit: int,
               what: str) -> str:
        """Public tests show got and expected: 2-D values as grids side by side, the rest as
        flat previews. Hidden tests show neither."""
        if not self.public:
            return ""
        if grids.fits(got, want):
            return "\n" + grids.side_by_side(got, want, differs)
        shown = f"\n  got:      {_preview(got, limit)}\n  expected: {_preview(want, limit)}"
        if self.pictures is not None and got.ndim == 2 and got.shape == want.shape:
            name = re.sub(r"[^A-Za-z0-9]+", "-", what).strip("-")[:60] or "value"
            path = grids.picture(got, want, differs, self.pictures / f"{name}.png")
            shown += f"\n  picture: {path} (got, expected, and the entries that differ)"
        return shown


def _observations(want: np.ndarray) -> dict:
    """Transformations of the expected values that a got value may be, in words."""
    if want.dtype.kind != "f":
        return {}
    return {"sigmoid of the expected values: probabilities, not logits":
            0.5 * (1 + np.tanh(want / 2))}


def _array(value) -> np.ndarray:
    return value.array if isinstance(value, Tensor) else np.asarray(value)
