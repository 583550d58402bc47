"""What the student's `train` and `evaluate` did, read from the worker's recordings (numpy).

The worker wraps the known model and loss (grader/worker/probes.py, `Recorded`): every
forward pass leaves its batch size, train/eval mode, gradient mode and one key per example
(x . projection, a projection the judge chose); every loss call leaves the batch's mean and
sum of NLLs; every callback its (step, loss). Here the judge maps keys back to example
indices and checks `train`'s contract sentence by sentence. Messages say what was observed;
they name a cause only when the observation matches it.
"""
from __future__ import annotations

import numpy as np

from grader.trusted.checks import Failure
from grader.wire import Tensor

_TOLERANCE = 1e-6


def projection(rng, dims: int = 784) -> np.ndarray:
    return rng.normal(size=dims)


def keys_of(images: np.ndarray, proj: np.ndarray) -> np.ndarray:
    return images.reshape(len(images), -1).astype(np.float64) @ proj


def _number(value):
    if isinstance(value, Tensor) and value.array.size == 1:
        return float(value.array.reshape(()))
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def calls_of(result: dict, what: str) -> list[dict]:
    calls = result.get("calls") if type(result) is dict else None
    if type(calls) is not list or not all(
            type(c) is dict and isinstance(c.get("keys"), Tensor) for c in calls):
        raise Failure(f"{what}: the model's forward passes could not be read")
    return calls


def indices(keys: Tensor, data_keys: np.ndarray, what: str) -> np.ndarray:
    """Which examples of the data a batch held (by their keys)."""
    order = np.argsort(data_keys)
    sorted_keys = data_keys[order]
    got = keys.array.astype(np.float64)
    at = np.clip(np.searchsorted(sorted_keys, got), 1, len(sorted_keys) - 1)
    nearest = np.where(np.abs(sorted_keys[at - 1] - got) <= np.abs(sorted_keys[at] - got),
                       at - 1, at)
    if np.any(np.abs(sorted_keys[nearest] - got) > _TOLERANCE * np.maximum(1, np.abs(got))):
        raise Failure(f"{what}: the model was given inputs that are not examples of the data")
    return order[nearest]


def check_losses(check, result, steps: int, dims: int, what: str) -> list[float]:
    """`train` returns `steps` Python floats, each the mean NLL per example of its batch,
    i.e. what the loss function computed for that batch, averaged over the batch."""
    losses = result.get("losses") if type(result) is dict else None
    check.that(isinstance(losses, list) and len(losses) == steps,
               f"{what}: train(steps={steps}) must return a list of {steps} losses, got "
               f"{type(losses).__name__} of length "
               f"{len(losses) if isinstance(losses, list) else '?'}")
    check.that(all(type(v) is float and np.isfinite(v) for v in losses),
               f"{what}: train must return finite Python floats (loss.item()); got "
               f"{sorted({type(v).__name__ for v in losses})}")
    seen = result.get("seen")
    check.that(type(seen) is list and all(type(s) is dict for s in seen),
               f"{what}: the loss function's calls could not be read")
    position = 0
    for step, loss in enumerate(losses):
        while position < len(seen) and not _close(loss, seen[position].get("mean")):
            position += 1
        if position == len(seen):
            raise Failure(_unit_message(loss, seen, step, dims, what))
        position += 1
    return losses


def _close(a, b) -> bool:
    return isinstance(b, float) and abs(a - b) <= 1e-5 * max(1.0, abs(b))


def _unit_message(loss, seen, step, dims, what) -> str:
    """What losses[step] is, when it is none of the batch means the loss function saw."""
    message = (f"{what}: losses[{step}] = {loss:.4g} is not the mean NLL per example of any "
               f"batch the loss function saw (nats per example, e.g. "
               f"{seen[min(step, len(seen) - 1)]['mean']:.4g} for batch {step})"
               if seen else f"{what}: the loss function was never called")
    for record in seen:
        mean, total = record.get("mean"), record.get("sum")
        for name, value in (("the batch's sum, not its mean", total),
                            ("the mean over dimensions (divided by D)", mean / dims),
                            ("in bits (divided by ln 2)", mean / np.log(2)),
                            ("log p instead of -log p", -mean)):
            if isinstance(value, float) and _close(loss, value):
                return message + f"; it equals {name}"
    return message


def check_training_passes(check, calls, steps, batch_size, what) -> list[dict]:
    """The forward passes with gradients are the training steps: `steps` of them (at least),
    each on `batch_size` examples, in train mode."""
    training = [c for c in calls if c.get("grad") is True]
    check.that(len(training) >= steps,
               f"{what}: {len(training)} forward passes with gradients for {steps} steps")
    sizes = sorted({c.get("size") for c in training})
    check.that(sizes == [batch_size],
               f"{what}: batch_size={batch_size}, but the training batches held "
               f"{sizes} examples")
    check.that(all(c.get("training") is True for c in training),
               f"{what}: the model was in eval mode during training steps (the tests hand "
               f"the model over in eval mode: call model.train() at the start of train)")
    return training[:steps]


def check_callbacks(check, result, losses, what) -> None:
    got = result.get("callbacks")
    want = [[step + 1, loss] for step, loss in enumerate(losses)]
    ok = type(got) is list and len(got) == len(want) and all(
        type(g) is list and len(g) == 2 and _number(g[0]) == w[0]
        and _number(g[1]) is not None and _close(_number(g[1]), w[1])
        for g, w in zip(got, want))
    check.that(ok, f"{what}: callback must be called after every step as callback(step, loss) "
                   f"with step = 1, 2, ..., {len(losses)} and that step's loss; got "
                   f"{(got or [])[:3]}{' ...' if got and len(got) > 3 else ''}")


def check_shuffled_passes(check, batches: list[np.ndarray], count: int, what: str) -> None:
    """`batches` (example indices, one array per step) cover whole passes over `count`
    examples: each pass holds every example once, in a fresh order. (Batches of the wrong
    size fail check_training_passes; they cannot be cut into passes.)"""
    if not batches or not 0 < len(batches[0]) <= count:
        return
    per_pass = count // len(batches[0])
    passes = [np.concatenate(batches[i:i + per_pass])
              for i in range(0, len(batches) - per_pass + 1, per_pass)]
    for number, order in enumerate(passes, start=1):
        repeats = len(order) - len(np.unique(order))
        check.that(repeats == 0,
                   f"{what}: pass {number} over the {count} examples drew {repeats} of them "
                   f"more than once: each pass must visit every example once (a permutation)")
    if len(passes) > 1:
        check.that(not np.array_equal(passes[0], passes[1]),
                   f"{what}: the second pass visited the examples in exactly the order of the "
                   f"first: draw a fresh permutation for every pass")


# Float rounding only: the replay runs the same float32 operations, bit-identical on the CPU;
# another device or kernel (CUDA, foreach/fused Adam) moves parameters by ~1e-7. One Adam
# step moves each parameter by about lr (1e-3 to 3e-3 here): 1e-5 is at most 1% of a step.
REPLAY_TOLERANCE = 1e-5


def check_replay(check, replay: dict, parameters: dict, losses: list, what: str) -> None:
    """The parameters and losses `train` produced are those of Adam(lr) replayed trusted-side
    (grader/trusted/measure.py `replay_train`) on the batches it drew, step for step."""
    error = _distance(parameters, replay["after"][-1])
    if error > REPLAY_TOLERANCE:
        raise Failure(_replay_message(replay, parameters, error, what))
    for step, (got, want) in enumerate(zip(losses, replay["losses"]), start=1):
        check.that(abs(got - want) <= REPLAY_TOLERANCE * max(1.0, abs(want)),
                   f"{what}: the loss of step {step} is {got:.6g}; Adam(lr) from the given "
                   f"weights on the batches train drew gives {want:.6g}")


def _distance(parameters: dict, reference: dict) -> float:
    return max(float(np.abs(parameters[n].array - reference[n].array).max()) for n in reference)


def _replay_message(replay, parameters, error, what) -> str:
    """Names a step count only when the parameters are the replay's after that many steps."""
    steps = len(replay["after"])
    matches = [k + 1 for k, after in enumerate(replay["after"])
               if _distance(parameters, after) <= REPLAY_TOLERANCE]
    seen = f"; they equal the replay after {matches[0]} step(s)" if matches else ""
    return (f"{what}: after train, the parameters differ by up to {error:.3g} from {steps} "
            f"steps of Adam(lr) with PyTorch's defaults on the mean NLL of the batches train "
            f"drew, replayed from the same weights{seen}")
