"""Probes: trusted code that runs *inside the worker*, next to the student's modules.

A test (in the judge) asks for `submission.run("made_dependencies", **kwargs)`; the worker runs
`PROBES["made_dependencies"](student, **kwargs)` and sends back plain data. The judge then
decides pass or fail: a probe never judges, so a student who tampers with it gains nothing
but wrong data. The same probe run against `reference/` gives the expected values.

Inputs arrive as torch tensors (the judge sends numpy arrays); outputs are tensors, lists,
dicts and Python scalars. Keep probes generic: a new graded part should need a new test,
not a new probe.
"""
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from .wire import ProbeError

PROBES = {}


def probe(fn):
    PROBES[fn.__name__] = fn
    return fn


def known_good_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Per-example NLL in nats, used wherever a test needs an NLL that is not under test."""
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


def _resolve(student, target: str):
    module, _, name = target.partition(".")
    obj = getattr(student, module)
    for attr in name.split("."):
        if not hasattr(obj, attr):
            raise ProbeError(f"{module}.py has no `{name}`: keep the names and signatures "
                             f"of the starter code")
        obj = getattr(obj, attr)
    return obj


def _generator(seed):
    return None if seed is None else torch.Generator().manual_seed(int(seed))


@probe
def call(student, target: str, args=(), kwargs=None, generator_seed=None):
    """Call student function `target` ("module.name") and return what it returns."""
    kwargs = dict(kwargs or {})
    if generator_seed is not None:
        kwargs["generator"] = _generator(generator_seed)
    return _resolve(student, target)(*args, **kwargs)


# ----------------------------------------------------------------------------- layers

def _load(module: nn.Module, state: dict):
    """Copy known values into parameters/buffers by name (masks included when given)."""
    own = dict(module.named_parameters()) | dict(module.named_buffers())
    with torch.no_grad():
        for name, value in state.items():
            if name not in own:
                raise ProbeError(f"{type(module).__name__} has no parameter or buffer "
                                 f"`{name}`: keep the module names of the starter code")
            if own[name].shape != value.shape:
                raise ProbeError(f"`{name}` has shape {tuple(own[name].shape)}, "
                                 f"expected {tuple(value.shape)}")
            own[name].copy_(value)


@probe
def layer_forward(student, target: str, init_args, state, x, new_mask=None):
    """Build a masked layer, load weights *after* construction, run it; then swap in a new
    mask and run again. A layer that masks only at construction, or caches weight * mask,
    gives wrong outputs here."""
    layer = _resolve(student, target)(*init_args)
    _load(layer, state)
    first = layer(x)
    if new_mask is None:
        return {"first": first}
    # Reload the weights with the new mask: masking `weight.data` in place on every call is
    # correct (masks never change in a real model) but loses the entries the old mask zeroed.
    _load(layer, {**state, "mask": new_mask})
    return {"first": first, "second": layer(x)}


# ----------------------------------------------------------------------------- models

def _build(student, model: str, arch: dict) -> nn.Module:
    if model == "made":
        return student.made.MADE(arch["num_inputs"], list(arch["hidden_sizes"]),
                                 arch.get("ordering"))
    if model == "pixelcnn":
        return student.pixelcnn.PixelCNN(**arch)
    raise ProbeError(f"unknown model {model!r}")


def _sgd_step(model: nn.Module, x: torch.Tensor, lr: float = 0.5):
    """One SGD step on a known-good loss (a stale or init-only mask shows up after it).
    By hand: torch.optim's first step() imports torch._dynamo (~2 s, ~70 MB per worker)."""
    model.zero_grad()
    known_good_nll(model(x), x).mean().backward()
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.grad is not None:
                parameter -= lr * parameter.grad


# Any step reveals an init-only mask: masked weights get nonzero gradients.
STEP_LR = 0.01


def _all_paths_alive(net: nn.Module):
    """|w| for every weight, |b| + 0.1 for every bias: with non-negative inputs every ReLU is
    active, so a gradient is nonzero exactly when a path of nonzero weights exists. A
    dependency test then measures the wiring, not which ReLUs a random input left alive;
    zeros stay zeros, so a mask that is not applied (or applied once) still shows."""
    with torch.no_grad():
        for parameter in net.parameters():
            if parameter.is_floating_point():
                parameter.abs_()
                if parameter.ndim == 1:
                    parameter.add_(0.1)


def _prepare(student, model, arch, seed, mode, optimizer_step, example_shape):
    torch.manual_seed(seed)
    net = _build(student, model, arch).double()
    if optimizer_step:
        data = torch.randint(0, 2, (8, *example_shape), dtype=torch.float64)
        _sgd_step(net, data, lr=STEP_LR)
    _all_paths_alive(net)
    net.train(mode == "train")
    return net


@probe
def made_dependencies(student, arch, seed=0, mode="eval", optimizer_step=False, batch=8):
    """(D, D) float64: dep[d, j] = sum over a batch of |d logit_d / d x_j| (0 = independent)."""
    num_inputs = arch["num_inputs"]
    net = _prepare(student, "made", arch, seed, mode, optimizer_step, (num_inputs,))
    x = torch.rand(batch, num_inputs, dtype=torch.float64)  # non-negative: see _all_paths_alive
    jac = torch.autograd.functional.jacobian(lambda inp: net(inp).sum(0), x)
    if jac.shape != (num_inputs, batch, num_inputs):
        raise ProbeError(f"MADE returned logits of the wrong shape for input ({batch}, "
                         f"{num_inputs}): Jacobian shape {tuple(jac.shape)}")
    return jac.abs().sum(1)


@probe
def pixelcnn_dependencies(student, arch, height, width, seed=0, mode="eval",
                          optimizer_step=False, batch=8):
    """(H*W, batch, H, W) float64 for every output pixel (r, c):
    [index, 0] = sum over the batch of |d logit[b, 0, r, c] / d x[b]|, the union of every
    example's own receptive field (one input's dead ReLUs cannot hide a connection, and any
    example that sees the future shows it); [index, b >= 1] = |d logit[0, 0, r, c] / d x[b]|,
    leakage of example 0's output onto the other examples of the batch."""
    net = _prepare(student, "pixelcnn", arch, seed, mode, optimizer_step, (1, height, width))
    # In [0.5, 1.5): PixelCNN's first op, 2x - 1, keeps them non-negative (_all_paths_alive).
    x = (0.5 + torch.rand(batch, 1, height, width, dtype=torch.float64)).requires_grad_()
    logits = net(x)
    if logits.shape != x.shape:
        raise ProbeError(f"PixelCNN returned logits of shape {tuple(logits.shape)} "
                         f"for input {tuple(x.shape)}")
    rows = []
    for r in range(height):
        for c in range(width):
            leak, = torch.autograd.grad(logits[0, 0, r, c], x, retain_graph=True,
                                        allow_unused=True)
            own, = torch.autograd.grad(logits[:, 0, r, c].sum(), x, retain_graph=True,
                                       allow_unused=True)
            row = torch.zeros_like(x[:, 0]) if leak is None else leak[:, 0].abs()
            if own is not None:
                row[0] = own[:, 0].abs().sum(0)
            rows.append(row)
    return torch.stack(rows)


@probe
def made_total_probability(student, arch, seed=0, sharpen=1.0):
    """log sum_x p(x) over all 2^D binary x (0 when the model is normalised), float64."""
    num_inputs = arch["num_inputs"]
    torch.manual_seed(seed)
    net = _build(student, "made", arch).double().eval()
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(sharpen)
        codes = torch.arange(2 ** num_inputs)
        x = ((codes[:, None] >> torch.arange(num_inputs)) & 1).double()
        return torch.logsumexp(-known_good_nll(net(x), x), dim=0)


@probe
def model_logits(student, model, arch, state, x):
    """Logits of the student's model with known weights loaded (double precision)."""
    net = _build(student, model, arch).double().eval()
    _load(net, state)
    with torch.no_grad():
        return net(x.double())


# ----------------------------------------------------------------------------- sampling

def _known_logits_fn(kind: str, ordering: torch.Tensor, weights=None, bias=None):
    """Logit functions whose distribution is known exactly (canvas (n, D) -> logits (n, D)).

    copy: x_first = 1, then each variable copies the previous one in the ordering (all ones).
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
            previous = torch.cat([torch.ones_like(ordered[:, :1]), ordered[:, :-1]], dim=1)
            if kind == "alternate":
                previous[:, 1:] = 1 - previous[:, 1:]
            ordered_logits = big * (2 * previous - 1)
        logits = torch.empty_like(flat)
        logits[:, ordering] = ordered_logits
        return logits.reshape(canvas.shape).to(canvas.dtype)

    return fn


@probe
def sample(student, kind, n, seed=0, ordering=None, height=None, width=None,
           weights=None, bias=None):
    """Samples from a known-answer model: `sample_autoregressive` when `ordering` is given,
    else `sample_pixels` (raster order)."""
    generator = _generator(seed)
    if ordering is not None:
        fn = _known_logits_fn(kind, ordering, weights, bias)
        return student.sampling.sample_autoregressive(fn, n, ordering, generator=generator)
    fn = _known_logits_fn(kind, torch.arange(height * width), weights, bias)
    return student.sampling.sample_pixels(fn, n, height, width, generator=generator)


# ----------------------------------------------------------------------------- training

class KnownGoodMADE(nn.Module):
    """A MADE built from given masks, so that training tests do not depend on parts 2a-2c."""

    def __init__(self, masks):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(m.shape[1], m.shape[0]) for m in masks)
        for i, mask in enumerate(masks):
            self.register_buffer(f"mask{i}", mask.float())

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = F.linear(x, layer.weight * getattr(self, f"mask{i}"), layer.bias)
            x = F.relu(x) if i < len(self.layers) - 1 else x
        return x


class KnownGoodPixelCNN(nn.Module):
    """A PixelCNN built from given (k, k) masks (first 'A', then 'B'), independent of part 3."""

    def __init__(self, masks, channels):
        super().__init__()
        widths = [1] + [channels] * len(masks)
        self.convs = nn.ModuleList(nn.Conv2d(c_in, c_out, m.shape[-1], padding=m.shape[-1] // 2)
                                   for c_in, c_out, m in zip(widths, widths[1:], masks))
        for i, mask in enumerate(masks):
            self.register_buffer(f"mask{i}", mask.float())
        self.output = nn.Conv2d(channels, 1, 1)

    def forward(self, x):
        h = 2 * x - 1
        for i, conv in enumerate(self.convs):
            h = F.relu(F.conv2d(h, conv.weight * getattr(self, f"mask{i}"), conv.bias,
                                padding=conv.padding))
        return self.output(h)


class ModeSensitive(nn.Module):
    """Wraps a model; in train mode it shifts every logit, so `evaluate` must call eval().
    In eval mode it shifts them too (towards 0 pixels): an untrained model gives every image
    about the same NLL, which hides a wrongly weighted mean; this makes the NLL grow with the
    image's number of 1 pixels, so examples differ by hundreds of nats."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x) + (3.0 if self.training else -2.0)


def _known_model(model, masks, channels=None):
    return KnownGoodMADE(masks) if model == "made" else KnownGoodPixelCNN(masks, channels)


def _as_data(model, images):
    data = images.float()
    return data.reshape(len(data), 1, 28, 28) if model == "pixelcnn" else data


@probe
def evaluate(student, model, masks, data, seed=0, batch_size=64, channels=None):
    """The student's `evaluate` on a known model (seeded weights) and a known loss."""
    torch.manual_seed(seed)
    net = ModeSensitive(_known_model(model, masks, channels))
    net.train()
    return student.training.evaluate(net, _as_data(model, data), known_good_nll,
                                     batch_size=batch_size)


@probe
def train_timed(student, model, masks, train, heldout, steps, batch_size, lr, seed=0,
                channels=None, device="auto"):
    """Train a known model with the student's `train` for `steps` steps; report held-out NLL
    (known-good loss, eval mode), the time `train` took, and what `train` returned."""
    device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
    torch.manual_seed(seed)
    net = _known_model(model, masks, channels).to(device)
    before = [p.detach().clone() for p in net.parameters()]
    # CPU time on the CPU (immune to other load on the machine); wall time on a GPU.
    clock = time.process_time if device == "cpu" else time.perf_counter
    start = clock()
    losses = student.training.train(net, _as_data(model, train).to(device), known_good_nll,
                                    steps=steps, batch_size=batch_size, lr=lr,
                                    generator=_generator(seed))
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = clock() - start
    net.eval()
    with torch.no_grad():
        held = _as_data(model, heldout).to(device)
        heldout_nll = known_good_nll(net(held), held).mean().item()
    changed = any(not torch.equal(a, b.cpu()) for a, b in zip(before, net.parameters()))
    return {"heldout_nll": heldout_nll, "seconds": seconds, "losses": losses,
            "parameters_changed": changed, "device": device}
