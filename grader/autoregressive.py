"""Judge-side checks of the autoregressive property, with feedback a student can act on.

Both take dependency matrices measured by the probes (|gradient| of an output with respect to
an input, summed over a batch; exactly 0 means "cannot see").
"""
import numpy as np

from .checks import Failure
from .wire import Tensor


def _array(value):
    return value.array if isinstance(value, Tensor) else np.asarray(value)


def check_made(dep, ordering, *, context: str, connectivity: bool = True):
    """dep[d, j]: dependence of output d on input j. Output d may see exactly the inputs that
    come before variable d in the ordering; with `connectivity` it must see all of them."""
    dep, ordering = _array(dep), np.asarray(ordering)
    position = np.argsort(ordering)  # position[i] = step at which variable i is generated
    for d in ordering:
        for j in ordering:
            if position[j] >= position[d] and dep[d, j] != 0:
                which = "itself" if j == d else f"input x{j} (generated at step {position[j]})"
                raise Failure(
                    f"{context}: the output for x{d} (generated at step {position[d]}) depends "
                    f"on {which}, which is not before it in the ordering. Check the mask "
                    f"comparisons (hidden >=, output strictly >) and that forward applies "
                    f"the mask on every call.")
            if connectivity and position[j] < position[d] and dep[d, j] == 0:
                raise Failure(
                    f"{context}: the output for x{d} (step {position[d]}) does not depend on "
                    f"x{j} (step {position[j]}), which comes before it. Some connections are "
                    f"missing: hidden masks must use >= and hidden degrees must cover 1..D-1.")


def _ascii(grid: np.ndarray, r: int, c: int, allowed: np.ndarray) -> list[str]:
    rows = []
    for i in range(grid.shape[0]):
        cells = []
        for j in range(grid.shape[1]):
            seen = grid[i, j] != 0
            if (i, j) == (r, c):
                cells.append("X" if seen else "o")
            else:
                cells.append(("!" if not allowed[i, j] else "#") if seen else ".")
        rows.append(" ".join(cells))
    return rows


def receptive_field_map(dep_pixel: np.ndarray, r: int, c: int) -> str:
    """Side-by-side ASCII map: the measured receptive field of output pixel (r, c) and the
    region it may see (# seen and allowed, ! seen but forbidden, o/X the pixel itself)."""
    height, width = dep_pixel.shape
    allowed = (np.arange(height)[:, None] * width + np.arange(width)) < r * width + c
    got = _ascii(dep_pixel, r, c, allowed)
    want = _ascii(allowed.astype(float), r, c, allowed)
    pad = max(len(line) for line in got)
    lines = [f"{'your receptive field':<{pad}}   allowed: the raster-order past"]
    lines += [f"{g:<{pad}}   {w}" for g, w in zip(got, want)]
    lines.append("(# seen, . not seen, ! seen but in the future, o the pixel itself, "
                 "X it sees itself)")
    return "\n".join(lines)


def check_pixelcnn(dep, *, context: str):
    """dep[(r*W + c), 0, i, j]: dependence of output pixel (r, c) on input pixel (i, j) of the
    same image, summed over the images of the batch; dep[(r*W + c), b, i, j] for b >= 1: of
    image 0's output (r, c) on image b. Causal in raster order, sees (r, c-1) and (r-1, c),
    no batch leaks (see probes.pixelcnn_dependencies)."""
    dep = _array(dep)
    _, batch, height, width = dep.shape
    for index in range(height * width):
        r, c = divmod(index, width)
        own = dep[index, 0]
        if batch > 1 and np.any(dep[index, 1:] != 0):
            raise Failure(f"{context}: output pixel ({r}, {c}) of image 0 depends on other "
                          f"images of the batch (e.g. normalisation with batch statistics): "
                          f"each image's logits may depend only on that image.")
        problem = None
        if np.any(own.ravel()[index:] != 0):
            problem = "sees the present or the future (mask type or orientation is wrong)"
        elif c > 0 and own[r, c - 1] == 0:
            problem = f"does not see its left neighbour ({r}, {c - 1})"
        elif r > 0 and own[r - 1, c] == 0:
            problem = f"does not see the pixel above it ({r - 1}, {c})"
        if problem:
            raise Failure(f"{context}: output pixel ({r}, {c}) {problem}.\n"
                          + receptive_field_map(own, r, c))
