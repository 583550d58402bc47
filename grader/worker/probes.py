"""Probes: what a worker does with the student's modules. Raw evaluations only.

A test asks for `submission.run("model_outputs", **kwargs)`; the worker runs
`PROBES["model_outputs"](student, **kwargs)` and returns plain data: return values of student
functions on inputs the judge chose, model outputs, trained parameters, samples. No probe
measures or judges anything (no gradients, sums, timings or NLLs of its own): student code
shares this process and could change any of it, so every property is computed by the judge
(grader/trusted/properties.py) or the trusted measurement worker (grader/trusted/measure.py).
The same probe run against reference/ gives the expected values.

Inputs arrive as torch tensors (the judge sends numpy arrays); outputs are tensors, lists,
dicts and Python scalars. Keep probes generic: a new graded part should need a new test,
not a new probe.
"""
import contextlib

import torch
import torch.nn as nn
from torch.nn.utils import parametrize

from grader import known_good
from grader.known_good import known_good_nll
from grader.wire import ProbeError

PROBES = {}


def probe(fn):
    PROBES[fn.__name__] = fn
    return fn


def _resolve(student, target: str):
    module, _, name = target.partition(".")
    obj = getattr(student, module)
    for attr in name.split("."):
        if not hasattr(obj, attr):
            raise ProbeError(f"{module}.py has no `{name}`: keep the names and signatures "
                             f"of the starter code")
        obj = getattr(obj, attr)
    return obj


def _generator(seed, draws=0):
    """A generator seeded with `seed` that has already made `draws` draws: code that re-seeds
    or re-creates the generator it was given returns what a fresh one gives."""
    if seed is None:
        return None
    generator = torch.Generator().manual_seed(int(seed))
    torch.rand(int(draws), generator=generator)
    return generator


@probe
def call(student, target: str, args=(), kwargs=None, generator_seed=None, generator_draws=0):
    """Call student function `target` ("module.name") and return what it returns."""
    kwargs = dict(kwargs or {})
    if generator_seed is not None:
        kwargs["generator"] = _generator(generator_seed, generator_draws)
    return _resolve(student, target)(*args, **kwargs)


# ----------------------------------------------------------------------------- loading

def _tensor_slot(module: nn.Module, name: str) -> torch.Tensor:
    """The tensor that holds `name` ("layers.0.weight"): a parameter or buffer, or the
    original of a parametrized tensor (torch.nn.utils.parametrize)."""
    owner_name, _, leaf = name.rpartition(".")
    try:
        owner = module.get_submodule(owner_name) if owner_name else module
    except AttributeError:
        owner = None
    if owner is not None and parametrize.is_parametrized(owner, leaf):
        return getattr(owner.parametrizations, leaf).original
    slots = dict(module.named_parameters()) | dict(module.named_buffers())
    if name not in slots:
        raise ProbeError(f"{type(module).__name__} has no parameter or buffer `{name}`: keep "
                         f"the module names of the starter code")
    return slots[name]


def load_state(module: nn.Module, state: dict) -> None:
    """Copy known values into parameters/buffers by name, after construction."""
    with torch.no_grad():
        for name, value in state.items():
            slot = _tensor_slot(module, name)
            if slot.shape != value.shape:
                raise ProbeError(f"`{name}` has shape {tuple(slot.shape)}, expected "
                                 f"{tuple(value.shape)}")
            slot.copy_(value)


def layer_state(module: nn.Module) -> dict:
    """Each layer's weight as the layer exposes it (parametrized or not), bias and mask."""
    out = {}
    for name, sub in module.named_modules():
        for leaf in ("weight", "bias", "mask"):
            value = getattr(sub, leaf, None)
            if isinstance(value, torch.Tensor):
                out[f"{name}.{leaf}" if name else leaf] = value.detach().double()
    return out


@contextlib.contextmanager
def _known(student, known):
    """Put known-good functions (grader/known_good.py) in place of student functions, e.g.
    {"attention.causal_attention_mask": "causal_attention_mask"}, so that one part is graded
    apart from the part it builds on; restored afterwards (in-process, modules persist)."""
    saved = []
    try:
        for target, name in (known or {}).items():
            module, _, attr = target.partition(".")
            owner = getattr(student, module)
            saved.append((owner, attr, getattr(owner, attr, None)))
            setattr(owner, attr, getattr(known_good, name))
        yield
    finally:
        for owner, attr, value in reversed(saved):
            setattr(owner, attr, value)


@probe
def layer_forward(student, target: str, init_args, state, x, new_mask=None, known=None,
                  mode="train"):
    """Build a masked layer, load weights *after* construction, run it in `mode` ("train" or
    "eval"); then swap in a new mask and run again. A layer that masks only at construction,
    or caches weight * mask, gives wrong outputs here. A float64 `x` runs the layer in
    float64; `known`: see _known."""
    with _known(student, known):
        layer = _resolve(student, target)(*init_args)
        layer.train(mode == "train")
        if x.dtype == torch.float64:
            layer = layer.double()
        load_state(layer, state)
        first = layer(x)
    if new_mask is None:
        return {"first": first}
    # Reload the weights with the new mask: masking `weight.data` in place on every call is
    # correct (masks never change in a real model) but loses the entries the old mask zeroed.
    load_state(layer, {**state, "mask": new_mask})
    return {"first": first, "second": layer(x)}


# ----------------------------------------------------------------------------- models

def _build(student, model: str, arch: dict) -> nn.Module:
    if model == "made":  # a generator only when the test gives one (the default: None)
        given = arch["num_inputs"], list(arch["hidden_sizes"]), arch.get("ordering")
        if arch.get("generator_seed") is None:
            return student.made.MADE(*given)
        return student.made.MADE(*given, generator=_generator(arch["generator_seed"]))
    if model == "pixelcnn":
        return student.pixelcnn.PixelCNN(**arch)
    if model == "transformer":
        return student.attention.PixelTransformer(**arch)
    raise ProbeError(f"unknown model {model!r}")


def _sgd_step(model: nn.Module, x: torch.Tensor, lr: float = 0.01):
    """One SGD step on a known-good loss (a mask applied only once shows up after it).
    By hand: torch.optim's first step() imports torch._dynamo (~2 s, ~70 MB per worker)."""
    model.zero_grad()
    known_good_nll(model(x), x).mean().backward()
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.grad is not None:
                parameter -= lr * parameter.grad


def _all_paths_alive(net: nn.Module):
    """|w| for every weight, |b| + 0.1 for every bias: with non-negative inputs every ReLU
    stays active after a step too. Zeros stay zeros, so an unapplied mask still shows."""
    with torch.no_grad():
        for parameter in net.parameters():
            if parameter.is_floating_point():
                parameter.abs_()
                if parameter.ndim == 1:
                    parameter.add_(0.1)


@probe
def model_outputs(student, model, arch, queries, state=None, mode="eval", step_data=None):
    """Build the student's model, load `state`, optionally take one SGD step on `step_data`
    (then make every path alive again), then return its outputs for each batch of `queries`
    (float64) and its layers' effective parameters. (The transformer's outputs after a step
    are compared with the reference's after the same step: no paths to keep alive.)"""
    net = _build(student, model, arch).double()
    if state:
        load_state(net, state)
    if step_data is not None:
        _sgd_step(net, step_data.double())
        if model != "transformer":
            _all_paths_alive(net)
    net.train(mode == "train")
    with torch.no_grad():
        outputs = [net(query.double()) for query in queries]
    return {"outputs": outputs, "layers": layer_state(net)}


# ----------------------------------------------------------------------------- sampling

def _known_logits_fn(kind: str, ordering: torch.Tensor, weights=None, bias=None):
    """Logit functions whose distribution is known exactly (canvas (n, D) -> logits (n, D)).

    copy: x_first = 1, then each variable copies the previous one in the ordering (all ones);
        any other visiting order leaves a 0 behind (a canvas that starts at 0 is read early).
    copy0: the same starting from 0 (all zeros): catches a canvas that starts at 1.
    alternate: x_first = 1, then each variable flips the previous one (1, 0, 1, ...).
    logistic: logit_{o[k]} = bias[k] + sum_{j<k} weights[k, j] x_{o[j]} (weights strictly lower).
    """
    big = 30.0

    def fn(canvas):
        flat = canvas.reshape(len(canvas), -1).double()
        ordered = flat[:, ordering]
        if kind == "logistic":
            ordered_logits = bias + ordered @ torch.tril(weights, -1).T
        else:
            first = torch.zeros_like if kind == "copy0" else torch.ones_like
            previous = torch.cat([first(ordered[:, :1]), ordered[:, :-1]], dim=1)
            if kind == "alternate":
                previous[:, 1:] = 1 - previous[:, 1:]
            ordered_logits = big * (2 * previous - 1)
        logits = torch.empty_like(flat)
        logits[:, ordering] = ordered_logits
        return logits.reshape(canvas.shape).to(canvas.dtype)

    return fn


@probe
def sample(student, kind, n, seed=0, ordering=None, height=None, width=None,
           weights=None, bias=None, draws=0):
    """Samples from a known-answer model: `sample_autoregressive` when `ordering` is given,
    else `sample_pixels` (raster order); the generator has made `draws` draws before."""
    generator = _generator(seed, draws)
    if ordering is not None:
        fn = _known_logits_fn(kind, ordering, weights, bias)
        return student.sampling.sample_autoregressive(fn, n, ordering, generator=generator)
    fn = _known_logits_fn(kind, torch.arange(height * width), weights, bias)
    return student.sampling.sample_pixels(fn, n, height, width, generator=generator)


# evaluate and train: grader/worker/training_probes.py (registered on import).
from grader.worker import training_probes  # noqa: E402,F401
