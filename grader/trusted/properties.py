"""Properties of a student's model, computed by the judge from raw outputs (numpy only).

The judge chooses the weights (positive, so that with non-negative inputs every ReLU is
active), a batch of inputs and, per input, a perturbed copy; the worker returns the model's
outputs for each and its layers' effective parameters (grader/worker/probes.py,
`model_outputs`). Then, here:

- dependence: output d depends on input j exactly when perturbing j changed output d (masked
  weights are exact zeros, so this is exact, not a threshold);
- consistency: the outputs are what the returned layers compute (skeleton.py), and, unless an
  optimizer step changed them, those layers hold the weights the judge chose: so the outputs
  are those of a real model with those weights and the student's masks, not numbers made up
  to show the right pattern;
- feedback: which output sees which input, as text and as an ASCII receptive field.
"""
import numpy as np

from grader.trusted import skeleton
from grader.trusted.checks import Failure
from grader.wire import Tensor

QUERY_BATCH = 4


def _array(value):
    return value.array if isinstance(value, Tensor) else np.asarray(value)


# ----------------------------------------------------------------------------- observing

def read_outputs(got, queries, *, context: str, per: str) -> list:
    """The model's outputs from a model_outputs reply, as float64 arrays of the queries'
    shapes, or a Failure that says what came back (one logit per `per` expected)."""
    if type(got) is not dict or type(got.get("outputs")) is not list \
            or len(got["outputs"]) != len(queries):
        raise Failure(f"{context}: the model's outputs could not be read")
    outputs = []
    for query, output in zip(queries, got["outputs"]):
        if not isinstance(output, Tensor) or output.shape != query.shape:
            shape = output.shape if isinstance(output, Tensor) else type(output).__name__
            raise Failure(f"{context}: the model returned {shape} for an input of shape "
                          f"{query.shape}; it must return one logit per {per}")
        outputs.append(output.array.astype(np.float64))
    return outputs


def observe(submission, model: str, arch: dict, rng, *, queries, state, mode="eval",
            step=False, context: str):
    """Run the student's model, holding `state`, on `queries` (a list of input batches), after
    one SGD step when `step` (then made all-paths-alive again); returns (outputs, layers) as
    numpy arrays, or raises Failure when the worker's reply is malformed."""
    step_data = None
    if step:
        shape = queries[0].shape[1:]
        step_data = (rng.random((8, *shape)) < 0.5).astype(np.float64)
    got = submission.run("model_outputs", model=model, arch=arch, state=state, queries=queries,
                         mode=mode, step_data=step_data)
    outputs = read_outputs(got, queries, context=context, per="input dimension")
    layers = got.get("layers")
    layers = {k: _array(v) for k, v in layers.items() if isinstance(v, Tensor)} \
        if type(layers) is dict else None
    return outputs, layers


def check_consistent(model: str, arch: dict, queries, outputs, layers, *, context: str,
                     state=None):
    """The outputs must be what the model's own layers compute (the given forward pass) and,
    when `state` is given, the layers must hold its weights (each seen through its mask)."""
    problem = skeleton.layer_problems(model, arch, layers) or (
        state is not None and skeleton.state_problems(layers, state))
    if problem:
        raise Failure(f"{context}: {problem}")
    forward = skeleton.FORWARD[model]
    for query, output in zip(queries, outputs):
        want = forward(layers, query, arch)
        if not np.allclose(output, want, rtol=1e-6, atol=1e-8):
            seen = ("; they equal sigmoid of those logits: forward must return logits, not "
                    "probabilities" if np.allclose(output, 0.5 * (1 + np.tanh(want / 2)),
                                                   rtol=1e-6, atol=1e-8) else "")
            raise Failure(f"{context}: the model's outputs are not the logits its own layers "
                          f"compute (each layer with weight * mask, ReLU between layers, as "
                          f"the given forward does){seen}")


# ----------------------------------------------------------------------------- MADE

def made_queries(num_inputs: int, rng) -> list:
    """A batch in [0, 1), then one copy per input j with x_j raised by 1."""
    base = rng.random((QUERY_BATCH, num_inputs))
    queries = [base]
    for j in range(num_inputs):
        bumped = base.copy()
        bumped[:, j] += 1.0
        queries.append(bumped)
    return queries


def made_dependence(outputs) -> np.ndarray:
    """dep[d, j]: output d changed when input j was perturbed (in any row of the batch)."""
    base = outputs[0]
    return np.stack([np.any(out != base, axis=0) for out in outputs[1:]], axis=1)


def made_connectivity(arch: dict) -> str:
    """What made_degrees' contract promises (deterministic degrees): every degree in a layer of
    at least D-1 units, so "full" connectivity (output d sees every input before it); and a
    narrower layer still spans 1..D-1, so "weak" connectivity (every input but the last reaches
    some output, every output but the first sees some input)."""
    wide = min(arch["hidden_sizes"], default=0) >= arch["num_inputs"] - 1
    return "full" if wide else "weak"


def check_made(dep, ordering, *, context: str, connectivity: str = "full"):
    """dep[d, j]: dependence of output d on input j. Output d may see only inputs that come
    before variable d in the ordering; `connectivity` "full": all of them, "weak": see above,
    "none": no requirement."""
    dep, ordering = _array(dep), np.asarray(ordering)
    position = np.argsort(ordering)  # position[i] = step at which variable i is generated
    for d in ordering:
        for j in ordering:
            if position[j] >= position[d] and dep[d, j]:
                which = "itself" if j == d else f"input x{j} (generated at step {position[j]})"
                raise Failure(
                    f"{context}: the output for x{d} (generated at step {position[d]}) depends "
                    f"on {which}, which is not before it in the ordering. Check the mask "
                    f"comparisons (hidden >=, output strictly >) and that forward applies "
                    f"the mask on every call.")
            if connectivity == "full" and position[j] < position[d] and not dep[d, j]:
                raise Failure(
                    f"{context}: the output for x{d} (step {position[d]}) does not depend on "
                    f"x{j} (step {position[j]}), which comes before it. Some connections are "
                    f"missing: hidden masks must use >= and, in layers of at least D-1 units, "
                    f"hidden degrees must cover every value 1..D-1.")
    if connectivity == "weak":
        for step, j in enumerate(ordering[:-1]):
            if not dep[:, j].any():
                raise Failure(f"{context}: input x{j} (step {step}) reaches no output: hidden "
                              f"degrees must span 1..D-1 in every layer (a unit of degree D-1 "
                              f"connects every input) and hidden masks must use >=.")
        for step, d in enumerate(ordering[1:], start=1):
            if not dep[d].any():
                raise Failure(f"{context}: the output for x{d} (step {step}) depends on no "
                              f"input: hidden degrees must span 1..D-1 in every layer (a unit "
                              f"of degree 1 reaches every output after the first).")


def check_made_model(submission, arch: dict, rng, *, mode="eval", step=False, context: str):
    """MADE(arch) with weights the judge chose is autoregressive in arch's ordering (natural
    when absent), as connected as made_degrees' contract promises, and its outputs are what
    its layers compute."""
    queries = made_queries(arch["num_inputs"], rng)
    state = skeleton.random_state("made", arch, rng, positive=True)
    outputs, layers = observe(submission, "made", arch, rng, queries=queries, state=state,
                              mode=mode, step=step, context=context)
    ordering = arch.get("ordering", np.arange(arch["num_inputs"]))
    check_made(made_dependence(outputs), ordering, context=context,
               connectivity=made_connectivity(arch))
    check_consistent("made", arch, queries, outputs, layers, context=context,
                     state=None if step else state)


def mask_reachability(layers: dict, arch: dict) -> np.ndarray:
    """reach[d, j]: a path of unmasked weights joins input j to output d (the returned masks)."""
    reach = np.eye(arch["num_inputs"], dtype=bool)
    for i in range(len(arch["hidden_sizes"]) + 1):
        mask = layers.get(f"layers.{i}.mask")
        step = np.ones(layers[f"layers.{i}.weight"].shape, bool) if mask is None else mask != 0
        reach = (step.astype(np.int64) @ reach.astype(np.int64)) > 0
    return reach


def check_made_normalised(submission, check, arch: dict, rng, *, scale: float, context: str):
    """sum_x p(x) = 1 over all 2^D binary x, with weights the judge chose (times `scale`),
    for a MADE whose masks are autoregressive and as connected as the contract promises."""
    x = all_binary(arch["num_inputs"])
    state = skeleton.random_state("made", arch, rng, scale=scale)
    (logits,), layers = observe(submission, "made", arch, rng, queries=[x], state=state,
                                context=context)
    check_consistent("made", arch, [x], [logits], layers, context=context, state=state)
    ordering = arch.get("ordering", np.arange(arch["num_inputs"]))
    check_made(mask_reachability(layers, arch), ordering, connectivity=made_connectivity(arch),
               context=f"{context}, connections through the masks")
    total = np.exp(log_total_probability(logits, x))
    check.that(abs(total - 1.0) < 1e-9,
               f"{context}: sum of p(x) over all 2^{arch['num_inputs']} binary x is "
               f"{total:.6f}, not 1: the model is not a normalised autoregressive model")


def all_binary(num_inputs: int) -> np.ndarray:
    codes = np.arange(2 ** num_inputs)
    return ((codes[:, None] >> np.arange(num_inputs)) & 1).astype(np.float64)


def log_total_probability(logits: np.ndarray, x: np.ndarray) -> float:
    """log sum_x p(x) from logits of p(x_d = 1 | ...) for every binary x (one per row)."""
    log_p = -np.logaddexp(0.0, np.where(x == 1, -logits, logits)).sum(axis=1)
    top = log_p.max()
    return float(top + np.log(np.exp(log_p - top).sum()))


# ----------------------------------------------------------------------------- PixelCNN

def pixel_queries(height: int, width: int, rng) -> list:
    """A batch in [0.5, 1.5) (PixelCNN's 2x - 1 keeps it non-negative), one copy per pixel p
    with p raised by 1 in every image, and one copy with every image but the first changed."""
    base = 0.5 + rng.random((QUERY_BATCH, 1, height, width))
    queries = [base]
    for p in range(height * width):
        bumped = base.copy()
        bumped[:, 0, p // width, p % width] += 1.0
        queries.append(bumped)
    others = base.copy()
    others[1:] += 1.0
    return queries + [others]


def pixel_dependence(outputs) -> tuple[np.ndarray, np.ndarray]:
    """(dep, leak): dep[r*W + c, i, j] = output (r, c) of some image changed when its pixel
    (i, j) was perturbed; leak[r, c] = image 0's output (r, c) changed with the other images."""
    base, leak_out = outputs[0], outputs[-1]
    height, width = base.shape[-2:]
    changed = np.stack([np.any(out[:, 0] != base[:, 0], axis=0) for out in outputs[1:-1]])
    dep = changed.reshape(height * width, height * width).T.reshape(-1, height, width)
    return dep, leak_out[0, 0] != base[0, 0]


def _ascii(grid: np.ndarray, r: int, c: int, allowed: np.ndarray) -> list[str]:
    rows = []
    for i in range(grid.shape[0]):
        cells = []
        for j in range(grid.shape[1]):
            seen = bool(grid[i, j])
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
    want = _ascii(allowed, r, c, allowed)
    pad = max(len(line) for line in got)
    lines = [f"{'your receptive field':<{pad}}   allowed: the raster-order past"]
    lines += [f"{g:<{pad}}   {w}" for g, w in zip(got, want)]
    lines.append("(# seen, . not seen, ! seen but in the future, o the pixel itself, "
                 "X it sees itself)")
    return "\n".join(lines)


def check_pixelcnn(dep, leak, *, context: str):
    """Causal in raster order, sees (r, c-1) and (r-1, c), no leaks across the batch."""
    _, height, width = dep.shape
    if np.any(leak):
        r, c = np.argwhere(leak)[0]
        raise Failure(f"{context}: output pixel ({r}, {c}) of image 0 depends on other images "
                      f"of the batch (e.g. normalisation with batch statistics): each image's "
                      f"logits may depend only on that image.")
    for index in range(height * width):
        r, c = divmod(index, width)
        own = dep[index]
        problem = None
        if np.any(own.ravel()[index:]):
            problem = "sees the present or the future (mask type or orientation is wrong)"
        elif c > 0 and not own[r, c - 1]:
            problem = f"does not see its left neighbour ({r}, {c - 1})"
        elif r > 0 and not own[r - 1, c]:
            problem = f"does not see the pixel above it ({r - 1}, {c})"
        if problem:
            raise Failure(f"{context}: output pixel ({r}, {c}) {problem}.\n"
                          + receptive_field_map(own, r, c))


def check_pixelcnn_model(submission, arch: dict, height: int, width: int, rng, *,
                         mode="eval", step=False, context: str):
    queries = pixel_queries(height, width, rng)
    state = skeleton.random_state("pixelcnn", arch, rng, positive=True)
    outputs, layers = observe(submission, "pixelcnn", arch, rng, queries=queries, state=state,
                              mode=mode, step=step, context=context)
    check_pixelcnn(*pixel_dependence(outputs), context=context)
    check_consistent("pixelcnn", arch, queries, outputs, layers, context=context,
                     state=None if step else state)
