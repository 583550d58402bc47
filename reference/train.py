"""Train MADE, PixelCNN or the pixel transformer on binarized MNIST (given code, not a problem).

    python -m starter.train --model made --epochs 10
    python -m starter.train --model made --direct --epochs 1000 --patience 10 --lr-decay 0.1
    python -m starter.train --model made --hidden 4000 --direct --num-masks 8 --epochs 1000 --patience 8 --lr-decay 0.1 --decays 1
    python -m starter.train --model pixelcnn --steps 2000 --device auto --out runs/pixelcnn
    python -m starter.train --model transformer --epochs 1 --cpu-budget 1800 --threads 1

The transformer (part 6, extra credit: attention.py) models all 784 pixels in raster order;
its attention over 784 positions makes each step cost about 1 CPU-second at batch 16 (dim 64,
2 heads, 2 blocks). It is imported only when chosen, so the CLI works without attention.py.

MADE recipe: a seeded random ordering of the pixels (``--ordering``), an
optional masked direct input->output connection (``--direct``) and order-agnostic training with
K connectivities (orderings and hidden degrees) cycled during training, whose probabilities are
averaged at test time (``--num-masks K``). The direct connection and the K masks live in the
wrapper ``MADERecipe`` below, around your unchanged MADE.

Shows a progress bar for training, validation, testing and sampling (one line every few seconds
when stderr is not a terminal); validates after every epoch; writes ``checkpoint.pt`` after
every epoch and on Ctrl-C, and ``model.pt`` (the best-validation weights, the ones evaluated on
the test set). At the end prints the test NLL in nats per example and bits/dim and writes
samples.png, loss.png and metrics.json into --out; the last line lists every file written.
Uses only relative imports so it runs both as ``reference.train`` and ``starter.train``.
"""
from __future__ import annotations

import argparse
import ctypes
import json
import math
import os
import re
import signal
import sys
import time
from pathlib import Path

import torch
import torch.nn as nn

from .data import load_binarized_mnist
from .made import MADE, MaskedLinear, made_degrees, made_masks
from .pixelcnn import PixelCNN
from .preflight import LossCheckError, check_losses
from .probability import bits_per_dim, nll
from .sampling import sample_autoregressive, sample_pixels
from .training import evaluate, train

NUM_DIMS = 28 * 28
MASK_CACHE_BYTES = 1 << 30  # keep the K mask sets in memory (as bools) up to this size


ESTIMATE_AFTER = 10  # steps timed before the run's duration is estimated


class CLIError(Exception):
    """A bad input: reported as one line on stderr, exit status 2."""


class _EarlyStop(Exception):
    """Raised from the training callback to end training early."""


class _Plateau(_EarlyStop):
    """Raised from the training callback after --patience epochs without a better validation NLL."""


class CtrlC:
    """SIGINT during training: the first Ctrl-C is noted and acted on between two steps (or
    validation batches), the second one interrupts at once. A KeyboardInterrupt raised at an
    arbitrary point can be lost inside library code (measured here, one SIGINT after epoch 2
    while another training used the second core: training went on in 2 of 3 runs of
    test_ctrl_c_keeps_the_model; with the flag, in 0 of 40); a flag cannot be lost."""

    def __init__(self):
        self.presses = 0

    def __enter__(self):
        self.previous = signal.signal(signal.SIGINT, self.press)
        return self

    def __exit__(self, *exc) -> None:
        signal.signal(signal.SIGINT, self.previous)

    def press(self, signum, frame) -> None:
        self.presses += 1
        if self.presses > 1:
            raise KeyboardInterrupt

    def check(self) -> None:
        if self.presses:
            raise KeyboardInterrupt


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="train", description="Train MADE, PixelCNN or the pixel "
                                "transformer (extra credit) on binarized MNIST.")
    p.add_argument("--model", required=True, choices=["made", "pixelcnn", "transformer"])
    length = p.add_mutually_exclusive_group()
    length.add_argument("--epochs", type=int, help="passes over the training set (default 1)")
    length.add_argument("--steps", type=int, help="total optimizer steps (instead of --epochs)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="minibatch size (100; 16 for the transformer)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--subset", type=int, default=None, help="use only the first N training images")
    p.add_argument("--eval-limit", type=int, default=None,
                   help="evaluate on the first N validation/test images only (fast checks)")
    p.add_argument("--patience", type=int, default=None,
                   help="early stopping: stop after this many epochs without a better validation "
                        "NLL (default: train for the whole --epochs/--steps). Either way the "
                        "best-validation weights are the ones tested and saved as model.pt")
    p.add_argument("--lr-decay", type=float, default=None, metavar="FACTOR",
                   help="with --patience: at a plateau, restore the best weights and go on with "
                        "the learning rate times FACTOR (a fresh Adam), --decays times; stop at "
                        "the plateau after that")
    p.add_argument("--decays", type=int, default=2, help="how many times --lr-decay applies (2)")
    p.add_argument("--time-budget", type=float, default=None, metavar="SECONDS",
                   help="stop training after this many wall-clock seconds, not counting "
                        "validation (then test)")
    p.add_argument("--cpu-budget", type=float, default=None, metavar="SECONDS",
                   help="stop training once this process has used this many CPU seconds since "
                        "training began, validation included (all threads count; then test)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default: torch's choice, or OMP_NUM_THREADS)")
    p.add_argument("--data", type=Path, default=None,
                   help="binarized MNIST .npz (default: data/binarized_mnist.npz)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--out", type=Path, default=None, help="output folder (default runs/MODEL)")
    p.add_argument("--visualize", action="store_true",
                   help="also draw the trained model's receptive field (PixelCNN) or connectivity "
                        "(MADE) as a PNG in the output folder (see visualize.py)")
    made = p.add_argument_group("MADE")
    made.add_argument("--hidden", default="500", help="MADE hidden sizes, comma list (default 500)")
    made.add_argument("--ordering", choices=["random", "natural"], default="random",
                      help="pixel ordering: a random permutation drawn from --seed (default) or "
                           "raster order; with --num-masks K, K random orderings")
    made.add_argument("--degrees", choices=["random", "deterministic"], default="random",
                      help="MADE hidden degrees: drawn at random from --seed as in the MADE paper "
                           "(default), or made_degrees' deterministic, evenly spread degrees")
    made.add_argument("--direct", action="store_true",
                      help="add a masked direct input->output connection (output d sees the "
                           "inputs before d in the ordering through one masked linear map)")
    made.add_argument("--num-masks", type=int, default=1, metavar="K",
                      help="order-agnostic training: K connectivities (orderings and hidden "
                           "degrees), one per step in turn; p(x) is their average at test time")
    made.add_argument("--valid-masks", type=int, default=None, metavar="M",
                      help="validate with the first M of the K masks only (default: all K; the "
                           "test always uses all K)")
    pix = p.add_argument_group("PixelCNN")
    pix.add_argument("--channels", type=int, default=64, help="PixelCNN channels")
    pix.add_argument("--layers", type=int, default=5,
                     help="PixelCNN 3x3 type-B layers after the 7x7 type-A layer")
    pix.add_argument("--memory-format", choices=["channels_last", "contiguous"], default="channels_last",
                     help="PixelCNN memory format for training and sampling (default channels_last: "
                          "faster on CPU)")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto",
                   help="arithmetic of the training steps and of sampling: bf16 = bfloat16 autocast "
                        "(mixed precision; weights, optimizer and loss stay float32). auto = bf16 "
                        "for PixelCNN on a CPU with native bfloat16, else fp32. Validation and test "
                        "NLL are always computed in float32")
    tf = p.add_argument_group("Transformer (attention.py)")
    tf.add_argument("--dim", type=int, default=64, help="transformer width (64)")
    tf.add_argument("--heads", type=int, default=2, help="attention heads per block (2)")
    tf.add_argument("--blocks", type=int, default=2, help="transformer blocks (2)")
    p.add_argument("--num-samples", type=int, default=None,
                   help="samples in the grid (64; 16 for the transformer)")
    args = p.parse_args(argv)
    transformer = args.model == "transformer"
    if args.batch_size is None:
        args.batch_size = 16 if transformer else 100
    if args.num_samples is None:
        args.num_samples = 16 if transformer else 64
    if transformer and (args.dim < 1 or args.heads < 1 or args.blocks < 1 or args.dim % args.heads):
        p.error("--dim, --heads and --blocks must be positive, --dim a multiple of --heads")
    if args.out is None:
        args.out = Path("runs") / args.model
    for name in ("epochs", "steps", "batch_size", "subset", "eval_limit", "patience", "channels", "layers",
                 "num_samples", "time_budget", "cpu_budget", "num_masks", "valid_masks", "threads"):
        v = getattr(args, name)
        if v is not None and not v >= 1:
            p.error(f"--{name.replace('_', '-')} must be positive")
    if args.lr <= 0 or not math.isfinite(args.lr):
        p.error("--lr must be a positive number")
    try:
        args.hidden_sizes = [int(h) for h in args.hidden.split(",")]
        assert all(h > 0 for h in args.hidden_sizes)
    except (ValueError, AssertionError):
        p.error(f"--hidden must be a comma list of positive integers, got {args.hidden!r}")
    if args.model != "made" and (args.direct or args.num_masks > 1):
        p.error("--direct and --num-masks apply to --model made only")
    if args.lr_decay is not None and not (0 < args.lr_decay < 1 and args.patience):
        p.error("--lr-decay needs a factor between 0 and 1 and --patience")
    if args.decays < 0:
        p.error("--decays must be >= 0")
    if args.valid_masks is not None and args.valid_masks > args.num_masks:
        p.error("--valid-masks cannot exceed --num-masks")
    return args


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise CLIError(f"unknown device {name!r} (use auto, cpu or cuda)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise CLIError(f"device {name!r} requested but CUDA is not available (use --device cpu or auto)")
    if device.type not in ("cpu", "cuda"):
        raise CLIError(f"unsupported device {name!r} (use auto, cpu or cuda)")
    return device


# ---------------------------------------------------------------------------------------------
# MADE recipe: direct connection and K connectivities around the student's MADE
# ---------------------------------------------------------------------------------------------

def made_connectivities(num_inputs: int, hidden_sizes, num_masks: int, ordering: str, degrees: str,
                        seed: int) -> list[list[torch.Tensor]]:
    """K sets of MADE degrees [input degrees, hidden degrees ...], reproducible from `seed`.

    Connectivity k uses a random ordering (or the natural one) and random (or deterministic)
    hidden degrees, both from one generator seeded with `seed`, so K = 1 gives exactly the
    ordering and degrees of ``MADE(D, hidden, ordering, generator)`` built the same way.
    """
    gen = torch.Generator().manual_seed(seed)
    sets = []
    for _ in range(num_masks):
        order = torch.randperm(num_inputs, generator=gen) if ordering == "random" else torch.arange(num_inputs)
        sets.append(made_degrees(order, hidden_sizes, gen if degrees == "random" else None))
    return sets


def direct_mask(input_degrees: torch.Tensor) -> torch.Tensor:
    """(D, D) mask of the direct connection: output d sees input j iff m(d) > m(j)."""
    return (input_degrees[:, None] > input_degrees[None, :]).float()


class MADERecipe(nn.Module):
    """Given code: a MADE with an optional masked direct input->output connection and a bank
    of K connectivities (MADE paper, sections 3.3-3.4 and 4).

    The student's MADE is used unchanged (its ``layers[i].mask`` buffers are overwritten when
    switching connectivity); the direct connection is one extra ``MaskedLinear(D, D)`` whose
    mask lets output d see the inputs before d in the current ordering. The degrees of all K
    connectivities are buffers (``degrees_0`` = input degrees, ``degrees_1`` ... hidden), so a
    saved state_dict rebuilds the whole ensemble.

    ``use_mask(k)`` switches to connectivity k; ``ordering`` is the current one's ordering.
    """

    def __init__(self, made: MADE, connectivities: list[list[torch.Tensor]], direct: bool = False):
        super().__init__()
        self.made = made
        self.num_masks = len(connectivities)
        self.num_degree_sets = len(connectivities[0])
        for i in range(self.num_degree_sets):
            self.register_buffer(f"degrees_{i}", torch.stack([c[i] for c in connectivities]).long())
        num_inputs = connectivities[0][0].numel()
        self.direct = MaskedLinear(num_inputs, num_inputs, direct_mask(connectivities[0][0])) if direct else None
        self._cache: dict[int, list[torch.Tensor]] = {}
        self.current = -1
        self.use_mask(0)
        self.register_load_state_dict_post_hook(lambda module, incompatible: module._reset())

    @property
    def ordering(self) -> torch.Tensor:
        return self.made.ordering

    def _masks(self, k: int) -> list[torch.Tensor]:
        if k in self._cache:
            return self._cache[k]
        degrees = [getattr(self, f"degrees_{i}")[k] for i in range(self.num_degree_sets)]
        masks = [m.bool() for m in made_masks(degrees)]
        if self.direct is not None:
            masks.append(direct_mask(degrees[0]).bool())
        if self.num_masks * sum(m.numel() for m in masks) <= MASK_CACHE_BYTES:
            self._cache[k] = masks
        return masks

    @torch.no_grad()
    def use_mask(self, k: int) -> None:
        """Make connectivity k (0 <= k < K) the current one."""
        k %= self.num_masks
        if k == self.current:
            return
        masks = self._masks(k)
        layers = list(self.made.layers) + ([self.direct] if self.direct is not None else [])
        for layer, mask in zip(layers, masks):
            layer.mask.copy_(mask)
        self.made.ordering.copy_(torch.argsort(self.degrees_0[k]))
        self.current = k

    def _apply(self, fn, *args, **kwargs):  # .to(device) etc.: cached masks follow on next use
        self._cache.clear()
        return super()._apply(fn, *args, **kwargs)

    def _reset(self) -> None:
        """After loading a state_dict (weights and the K connectivities): connectivity 0."""
        self._cache.clear()
        self.current = -1
        self.use_mask(0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.made(x)
        if self.direct is not None:
            logits = logits + self.direct(x)
        return logits


class Autocast(nn.Module):
    """Given code: runs `model` under bfloat16 autocast and returns float32 logits (the loss,
    the weights and Adam stay float32). Used for training steps and sampling only."""

    def __init__(self, model: nn.Module, device: torch.device):
        super().__init__()
        self.model = model
        self.device_type = device.type

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(self.device_type, dtype=torch.bfloat16):
            return self.model(x).float()


def native_bf16(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def pick_precision(args, device: torch.device) -> str:
    if args.precision != "auto":
        return args.precision
    return "bf16" if args.model == "pixelcnn" and device.type == "cpu" and native_bf16(device) else "fp32"


def build_model(args) -> nn.Module:
    if args.model == "pixelcnn":
        return PixelCNN(channels=args.channels, num_layers=args.layers)
    if args.model == "transformer":
        try:
            from .attention import PixelTransformer  # optional (extra credit)
        except ImportError as e:
            raise CLIError(f"--model transformer needs attention.py: {e}") from None
        return PixelTransformer(NUM_DIMS, dim=args.dim, num_heads=args.heads,
                                num_layers=args.blocks)
    sets = made_connectivities(NUM_DIMS, args.hidden_sizes, args.num_masks, args.ordering, args.degrees, args.seed)
    ordering = torch.argsort(sets[0][0])
    if args.num_masks == 1 and not args.direct:  # a plain MADE: model.pt loads into MADE(...)
        gen = torch.Generator().manual_seed(args.seed)
        if args.ordering == "random":
            torch.randperm(NUM_DIMS, generator=gen)  # same generator state as made_connectivities
        return MADE(NUM_DIMS, args.hidden_sizes, ordering=ordering,
                    generator=gen if args.degrees == "random" else None)
    return MADERecipe(MADE(NUM_DIMS, args.hidden_sizes, ordering=ordering), sets, direct=args.direct)


def num_masks(model) -> int:
    return getattr(model, "num_masks", 1)


# ---------------------------------------------------------------------------------------------
# Progress bars
# ---------------------------------------------------------------------------------------------

class _LineStream:
    """tqdm's output when stderr is not a terminal (a log file, a pipe, a notebook): every
    refresh becomes one plain line, with no carriage returns or cursor movements."""

    def __init__(self, stream):
        self.stream = stream
        self.encoding = getattr(stream, "encoding", "utf-8")
        self.last = ""

    def write(self, s: str) -> None:
        for part in re.split(r"[\r\n]", s.replace("\x1b[A", "")):
            part = part.rstrip()
            if part and part != self.last:  # closing a bar repeats its last refresh
                self.stream.write(part + "\n")
                self.last = part

    def flush(self) -> None:
        self.stream.flush()


def progress(total: int, desc: str, unit: str, leave: bool = True):
    from tqdm import tqdm

    tty = sys.stderr.isatty()
    return tqdm(total=total, desc=desc, unit=unit, leave=leave or not tty, dynamic_ncols=True,
                file=sys.stderr if tty else _LineStream(sys.stderr), mininterval=0.1 if tty else 5.0)


def say(msg: str) -> None:
    """Print a line on stdout without breaking a progress bar on the terminal."""
    from tqdm import tqdm

    tqdm.write(msg, file=sys.stdout)
    sys.stdout.flush()


# ---------------------------------------------------------------------------------------------
# Evaluation and sampling with progress (and the K-mask average)
# ---------------------------------------------------------------------------------------------

@torch.no_grad()
def per_example_nll(model, data: torch.Tensor, device, masks, desc: str,
                    batch_size: int = 500) -> torch.Tensor:
    """NLL of every example in nats under the average of some connectivities of `model`:
    -log( (1/M) sum_k p_k(x) ), computed with logsumexp (never by averaging logits).

    `masks` is M (the first M connectivities) or a list of connectivity indices; a model with a
    single connectivity is evaluated as it is.
    """
    which = list(range(masks)) if isinstance(masks, int) else list(masks)
    multi = num_masks(model) > 1
    was_training = model.training
    model.eval()
    current = getattr(model, "current", 0)
    log_p = torch.empty(len(which), len(data))
    bar = progress(len(which) * len(data), desc, "img", leave=False)
    try:
        for row, k in enumerate(which):
            if multi:
                model.use_mask(k)
            for start in range(0, len(data), batch_size):
                x = data[start:start + batch_size].to(device)
                log_p[row, start:start + len(x)] = -nll(model(x), x).float().cpu()
                bar.update(len(x))
    finally:
        bar.close()
        if multi:
            model.use_mask(current)
        model.train(was_training)
    return -(torch.logsumexp(log_p, 0) - math.log(len(which)))


def mean_nll(model, data: torch.Tensor, device, masks: int, desc: str) -> float:
    """Mean NLL (nats per example) under the average of the first `masks` connectivities.
    A model with one connectivity goes through the graded `evaluate`, with a progress bar."""
    if num_masks(model) > 1:
        return per_example_nll(model, data, device, masks, desc).mean().item()
    bar = progress(len(data), desc, "img", leave=False)

    def count(module, inputs, output) -> None:  # a hook's return value would replace the output
        bar.update(len(inputs[0]))

    hook = model.register_forward_hook(count)
    # The transformer's (B, heads, 784, 784) attention scores: small batches keep memory low.
    batch = 32 if hasattr(model, "blocks") else 256
    try:
        return evaluate(model, data, nll, batch_size=batch, device=device)
    finally:
        hook.remove()
        bar.close()


@torch.no_grad()
def draw_samples(model, args, device, generator, precision: str = "fp32") -> torch.Tensor:
    """args.num_samples samples; with K masks each sample's connectivity is drawn uniformly
    (a sample of the mixture whose likelihood is the test-time average)."""
    model.eval()
    n = args.num_samples
    net = Autocast(model, device) if precision == "bf16" else model
    if args.model == "pixelcnn":
        bar = progress(28 * 28, "sampling", "pass")

        def logits_fn(x):
            bar.update(1)
            return net(x)

        try:
            return sample_pixels(logits_fn, n, 28, 28, generator=generator, device=device)
        finally:
            bar.close()
    if args.model == "transformer":
        return transformer_samples(net, n, device, generator)
    K = num_masks(model)
    choice = torch.randint(K, (n,), generator=torch.Generator().manual_seed(args.seed))
    groups = [k for k in range(K) if (choice == k).any()]
    bar = progress(len(groups) * NUM_DIMS, "sampling", "pass")
    out = torch.zeros(n, NUM_DIMS, device=device)

    def logits_fn(x):
        bar.update(1)
        return net(x)

    try:
        for k in groups:
            if K > 1:
                model.use_mask(k)
            idx = (choice == k).nonzero().flatten()
            out[idx.to(device)] = sample_autoregressive(logits_fn, len(idx), model.ordering.cpu(),
                                                        generator=generator, device=device)
    finally:
        bar.close()
        if K > 1:
            model.use_mask(0)
    return out.view(n, 1, 28, 28)


def transformer_samples(net, n: int, device, generator) -> torch.Tensor:
    """Samples drawn with your `sample_autoregressive` in raster order. A causal model's logit
    k depends on x_<k only, so the k-th call (the sampler asks once per pixel, in order) runs
    the transformer on the first k + 1 positions only: a third of the cost of whole canvases,
    the same samples."""
    bar = progress(NUM_DIMS, "sampling", "pass")
    calls = [0]

    def logits_fn(x):
        k = calls[0]
        calls[0] += 1
        bar.update(1)
        if k >= NUM_DIMS:  # more calls than pixels: whole canvases
            return net(x)
        logits = torch.zeros_like(x)
        logits[:, :k + 1] = net(x[:, :k + 1])
        return logits

    try:
        out = sample_autoregressive(logits_fn, n, torch.arange(NUM_DIMS), generator=generator,
                                    device=device)
    finally:
        bar.close()
    return out.view(n, 1, 28, 28)


# ---------------------------------------------------------------------------------------------
# Artefacts
# ---------------------------------------------------------------------------------------------

def atomic_save(obj, path: Path) -> None:
    """torch.save to a temporary file, then rename: an interrupt never leaves half a file."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def save_loss_plot(path: Path, train_losses, valid_points, title: str, epoch_steps: int,
                   valid_label: str = "validation"):
    """Two panels: the whole run (every step, log y axis) and the last 90% of it with robust
    limits (where the curves are close). Training NLL per step (raw and smoothed over an
    epoch), validation NLL at every epoch end. Returns the whole-run panel's (x, y) limits."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    losses = torch.tensor(train_losses, dtype=torch.float64)
    steps = torch.arange(1, len(losses) + 1)
    w = max(1, min(epoch_steps, len(losses) // 20))
    smooth = losses.unfold(0, w, 1).mean(1) if w > 1 else losses
    smooth_steps = steps[w - 1:]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax in axes:
        if len(losses):
            ax.plot(steps, losses, lw=0.5, alpha=0.3, color="tab:blue", label="train (per step)")
            if w > 1:
                ax.plot(smooth_steps, smooth, color="tab:blue", label=f"train (mean of {w} steps)")
        if valid_points:
            vs, vn = zip(*valid_points)
            ax.plot(vs, vn, "o-", ms=3, color="tab:orange", label=valid_label)
            ax.plot(*min(valid_points, key=lambda p: p[1]), "*", ms=11, color="tab:red",
                    label="best validation (tested)")
        ax.set(xlabel="step", ylabel="NLL (nats / example)")
        ax.grid(True, which="both", alpha=0.3)
    whole, zoom = axes
    values = [v for v in train_losses if math.isfinite(v)] + [v for _, v in valid_points if math.isfinite(v)]
    if values and min(values) > 0:
        whole.set_yscale("log")
        whole.set_ylim(min(values) / 1.03, max(values) * 1.05)
        whole.yaxis.set_major_locator(LogLocator(base=10, subs=(1, 2, 5)))  # labels that never overlap
        whole.yaxis.set_major_formatter(ScalarFormatter())
        whole.yaxis.set_minor_formatter(NullFormatter())
    if len(losses):
        whole.set_xlim(0, len(losses) + 1)
        first = len(losses) // 10  # zoom: the last 90% of the run
        tail = [v for s, v in valid_points if s > first] + smooth[smooth_steps > first].tolist()
        low = [v for v in losses[first:].tolist() if math.isfinite(v)]
        if tail and low:
            lo = float(torch.tensor(low).quantile(0.01))
            hi = max(tail)
            zoom.set_xlim(first, len(losses) + 1)
            zoom.set_ylim(lo - 0.02 * (hi - lo), hi + 0.05 * (hi - lo) + 1e-6)
    whole.set_title(f"{title}: whole run (log scale)")
    zoom.set_title("last 90% of the steps")
    whole.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    limits = whole.get_xlim(), whole.get_ylim()
    plt.close(fig)
    return limits


def save_samples(path: Path, samples: torch.Tensor, title: str) -> None:
    from .visualize import save_sample_grid
    save_sample_grid(path, samples.float().cpu().reshape(len(samples), 28, 28), title)


# ---------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------

def keep_freed_memory() -> None:
    """Keep freed memory in the C library's heap instead of giving it back to the kernel.

    glibc serves every block over 32 MB with its own mmap and unmaps it when freed; the
    transformer allocates and frees its (B, heads, 784, 784) attention tensors every step, so
    the kernel zero-fills those pages again each time. Measured with the defaults (batch 16,
    dim 64, 2 heads, 2 blocks) and `--steps 12 --threads 1`: 12.2 CPU-s of training without
    this, 5.4 with it. A no-op where the C library is not glibc."""
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return
    M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4
    mallopt(M_MMAP_MAX, 0)
    mallopt(M_TRIM_THRESHOLD, 2**31 - 1)


def run(args, written: list[Path] | None = None) -> dict:
    """Train, validate, test, sample. Appends every file written to `written` (also on error)."""
    written = [] if written is None else written

    def wrote(path: Path) -> None:
        if path not in written:
            written.append(path)

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    if args.model == "transformer":
        keep_freed_memory()
    torch.manual_seed(args.seed)
    image = args.model == "pixelcnn"
    try:
        train_x, valid_x, test_x = (
            load_binarized_mnist(split, path=args.data, image_shape=image, limit=limit)
            for split, limit in (("train", args.subset), ("valid", args.eval_limit),
                                 ("test", args.eval_limit)))
    except FileNotFoundError as e:
        raise CLIError(str(e)) from None
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CLIError(f"cannot create output folder {args.out}: {e.strerror}") from None
    model = build_model(args).to(device)
    channels_last = image and args.memory_format == "channels_last"
    if channels_last:  # the weights decide: (B, 1, H, W) inputs are already channels-last
        model = model.to(memory_format=torch.channels_last)
    try:  # before the first step: a wrong loss would train the model on the wrong quantity
        check_losses(nll, bits_per_dim, evaluate, model, train_x[:8], device)
    except LossCheckError as e:
        raise CLIError(f"checking probability.nll, bits_per_dim and evaluate before training: "
                       f"{e}. Nothing was trained; tests_public/test_probability.py and "
                       f"test_training.py say more") from None
    precision = pick_precision(args, device)
    step_model = Autocast(model, device) if precision == "bf16" else model  # what train() runs
    K = num_masks(model)
    valid_masks = args.valid_masks or K
    valid_label = f"validation (average of {valid_masks} masks)" if valid_masks > 1 else "validation"
    n_params = sum(p.numel() for p in model.parameters())
    steps_per_epoch = math.ceil(len(train_x) / args.batch_size)
    total_steps = args.steps if args.steps is not None else steps_per_epoch * (args.epochs or 1)
    num_epochs = math.ceil(total_steps / steps_per_epoch)
    if args.model == "made":
        recipe = (f" ({args.ordering} ordering, {args.degrees} degrees"
                  f"{', direct connection' if args.direct else ''}{f', {K} masks' if K > 1 else ''})")
    elif args.model == "transformer":
        recipe = f" (dim {args.dim}, {args.heads} heads, {args.blocks} blocks)"
    else:
        recipe = f" ({args.memory_format})"
    recipe += ", bf16 autocast" if precision == "bf16" else ""
    print(f"{args.model}{recipe}: {n_params:,} parameters, {len(train_x)} training images, "
          f"{total_steps} steps of batch {args.batch_size} on {device}"
          f"{f', {torch.get_num_threads()} CPU thread(s)' if device.type == 'cpu' else ''}", flush=True)

    generator = torch.Generator().manual_seed(args.seed)
    valid_points: list[tuple[int, float]] = []
    best = {"nll": math.inf, "state": None, "epoch": 0}
    losses: list[float] = []
    clock = {"eval_wall": 0.0, "eval_cpu": 0.0}
    status = {"step": 0, "epoch": 0, "stopped": None}
    ckpt_path, model_path = args.out / "checkpoint.pt", args.out / "model.pt"
    plain_args = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}

    def write_checkpoint(interrupted: bool = False) -> None:
        atomic_save({"model": model.state_dict(), "step": status["step"], "epoch": status["epoch"],
                     "valid_nll": valid_points, "best_epoch": best["epoch"], "best_valid_nll": best["nll"],
                     "train_losses": losses, "interrupted": interrupted, "args": plain_args}, ckpt_path)
        wrote(ckpt_path)

    bar = progress(total_steps, f"epoch 1/{num_epochs}", "step")

    phase = {"offset": 0, "lr": args.lr, "decays_left": args.decays if args.lr_decay else 0,
             "patience_from": 0, "lrs": [(0, args.lr)]}

    def callback(local_step: int, loss: float) -> None:
        # One train() call (one Adam optimizer) per learning rate; validate at epoch ends.
        ctrl_c.check()
        step = phase["offset"] + local_step
        losses.append(loss)
        status["step"] = step
        bar.update(1)
        bar.set_postfix(nll_per_example=f"{loss:.2f}", refresh=False)  # the test report's unit
        if step == min(ESTIMATE_AFTER, total_steps) and step < total_steps:
            seconds = (time.perf_counter() - start_wall - clock["eval_wall"]) / step * total_steps
            span = f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"
            say(f"time estimate: about {span} for {total_steps} steps, from the first {step} "
                f"(validation, testing and sampling come on top)")
        out_of_time = ((args.time_budget is not None
                        and time.perf_counter() - start_wall - clock["eval_wall"] > args.time_budget)
                       or (args.cpu_budget is not None and time.process_time() - start_cpu > args.cpu_budget))
        if step % steps_per_epoch and step != total_steps and not out_of_time:
            if K > 1:
                model.use_mask(step)  # the next connectivity for the next step
            return
        epoch = math.ceil(step / steps_per_epoch)
        status["epoch"] = epoch
        t_wall, t_cpu = time.perf_counter(), time.process_time()
        valid_nll = mean_nll(model, valid_x, device, valid_masks, f"validating epoch {epoch}")
        ctrl_c.check()
        valid_points.append((step, valid_nll))
        improved = valid_nll < best["nll"]
        if improved:
            best.update(nll=valid_nll, epoch=epoch,
                        state={k: v.detach().clone() for k, v in model.state_dict().items()})
            atomic_save(best["state"], model_path)
            wrote(model_path)
        write_checkpoint()
        clock["eval_wall"] += time.perf_counter() - t_wall
        clock["eval_cpu"] += time.process_time() - t_cpu
        recent = losses[-(step - (epoch - 1) * steps_per_epoch):]
        say(f"epoch {epoch}: train NLL {sum(recent) / len(recent):.2f}, valid NLL {valid_nll:.2f} nats"
            f"{' (best)' if improved else ''}; {time.process_time() - start_cpu:.0f} CPU-s")
        bar.set_description(f"epoch {min(epoch + 1, num_epochs)}/{num_epochs}")
        if K > 1:
            model.use_mask(step)
        if out_of_time:
            raise _EarlyStop(f"time budget used up after {step} steps")
        if args.patience is not None and epoch - max(best["epoch"], phase["patience_from"]) >= args.patience:
            raise _Plateau(f"early stop: no better validation NLL for {args.patience} epochs")

    torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # first Adam imports torch._dynamo: not training time
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    ctrl_c = CtrlC()
    try:
        with ctrl_c:  # the first Ctrl-C stops training between two steps
            while status["step"] < total_steps:
                try:
                    train(step_model, train_x, nll, steps=total_steps - status["step"], batch_size=args.batch_size,
                          lr=phase["lr"], generator=generator, device=device, callback=callback)
                except _Plateau as stop:
                    if not phase["decays_left"]:
                        raise
                    phase["decays_left"] -= 1
                    phase["lr"] *= args.lr_decay
                    phase["offset"] = status["step"]
                    phase["patience_from"] = status["epoch"]
                    phase["lrs"].append((status["step"], phase["lr"]))
                    model.load_state_dict(best["state"])
                    say(f"no better validation NLL for {args.patience} epochs: back to the weights of "
                        f"epoch {best['epoch']}, learning rate now {phase['lr']:.3g}")
    except _EarlyStop as stop:
        status["stopped"] = str(stop)
    except KeyboardInterrupt:
        bar.close()
        write_checkpoint(interrupted=True)
        if best["state"] is None:  # no validation yet: keep the current weights as the model
            atomic_save(model.state_dict(), model_path)
            wrote(model_path)
        save_loss_plot(args.out / "loss.png", losses, valid_points,
                       f"{args.model}: interrupted at step {status['step']}", steps_per_epoch, valid_label)
        wrote(args.out / "loss.png")
        raise
    finally:
        bar.close()
    if status["stopped"]:
        say(status["stopped"])
    train_wall = time.perf_counter() - start_wall - clock["eval_wall"]
    train_cpu = time.process_time() - start_cpu - clock["eval_cpu"]
    if best["state"] is not None:
        model.load_state_dict(best["state"])
        if K > 1:
            model.use_mask(0)
        say(f"testing the weights of epoch {best['epoch']} (best valid NLL {best['nll']:.2f})")

    t_wall, t_cpu = time.perf_counter(), time.process_time()
    test_nll = mean_nll(model, test_x, device, K, "testing" + (f" ({K} masks)" if K > 1 else ""))
    test_cpu = time.process_time() - t_cpu
    test_bpd = float(bits_per_dim(torch.tensor(test_nll), NUM_DIMS))
    say(f"test NLL: {test_nll:.2f} nats per example, {test_bpd:.4f} bits/dim "
        f"({len(test_x)} test images{f', average of {K} masks' if K > 1 else ''}; "
        f"training {train_cpu / 60:.1f} CPU-min ({train_wall:.0f} s wall) "
        f"+ validation {clock['eval_cpu'] / 60:.1f} CPU-min)")

    t_cpu = time.process_time()
    samples = draw_samples(model, args, device, torch.Generator(device=device).manual_seed(args.seed), precision)
    sample_cpu = time.process_time() - t_cpu
    save_samples(args.out / "samples.png", samples,
                 f"{len(samples)} samples of {args.model} after {len(losses)} steps "
                 f"(test NLL {test_nll:.1f} nats)")
    wrote(args.out / "samples.png")
    save_loss_plot(args.out / "loss.png", losses, valid_points,
                   f"{args.model}: test NLL {test_nll:.2f} nats", steps_per_epoch, valid_label)
    wrote(args.out / "loss.png")
    if args.visualize:
        from .visualize import draw
        for path in draw(model, args.model, args.out, f"{args.model} after {len(losses)} steps"):
            wrote(path)
    metrics = {"model": args.model, "test_nll_nats": test_nll, "test_bits_per_dim": test_bpd,
               "valid_nll_nats": [v for _, v in valid_points], "best_epoch": best["epoch"],
               "steps": len(losses), "epochs_run": len(valid_points), "stopped": status["stopped"],
               "num_masks": K, "precision": precision, "learning_rates": phase["lrs"], "train_seconds": train_wall, "valid_seconds": clock["eval_wall"],
               "cpu_seconds": {"train": train_cpu, "valid": clock["eval_cpu"], "test": test_cpu,
                               "sampling": sample_cpu, "process": time.process_time()},
               "parameters": n_params, "device": str(device), "threads": torch.get_num_threads(),
               "args": plain_args}
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    wrote(args.out / "metrics.json")
    return metrics


def main(argv=None) -> int:
    args = parse_args(argv)
    written: list[Path] = []
    try:
        run(args, written)
        status = 0
    except CLIError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except NotImplementedError as e:
        print(f"error: not implemented yet: {e}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("\ninterrupted (Ctrl-C)", file=sys.stderr)
        status = 130
    print(f"wrote {', '.join(str(p) for p in written) or 'nothing'}", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
