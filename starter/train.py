"""Train MADE or PixelCNN on binarized MNIST (given code, not a problem).

    python -m starter.train --model made --epochs 10
    python -m starter.train --model pixelcnn --steps 2000 --device auto --out runs/pixelcnn

Prints per-epoch validation NLL and the final test NLL in nats per example and bits/dim,
and writes into --out: samples.png (64 samples), loss.png (training/validation curves),
metrics.json and model.pt (the state dict).
Uses only relative imports so it runs both as ``reference.train`` and ``starter.train``.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch

from .data import load_binarized_mnist
from .made import MADE
from .pixelcnn import PixelCNN
from .probability import bits_per_dim, nll
from .sampling import sample_autoregressive, sample_pixels
from .training import evaluate, train

NUM_DIMS = 28 * 28


class CLIError(Exception):
    """A bad input: reported as one line on stderr, exit status 2."""


class _EarlyStop(Exception):
    """Raised from the training callback to end training early."""


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="train", description="Train MADE or PixelCNN on binarized MNIST.")
    p.add_argument("--model", required=True, choices=["made", "pixelcnn"])
    length = p.add_mutually_exclusive_group()
    length.add_argument("--epochs", type=int, help="passes over the training set (default 1)")
    length.add_argument("--steps", type=int, help="total optimizer steps (instead of --epochs)")
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--subset", type=int, default=None, help="use only the first N training images")
    p.add_argument("--eval-limit", type=int, default=None,
                   help="evaluate on the first N validation/test images only (fast checks)")
    p.add_argument("--patience", type=int, default=None,
                   help="stop after this many epochs without a better validation NLL and "
                        "restore the best weights (default: no early stopping)")
    p.add_argument("--time-budget", type=float, default=None, metavar="SECONDS",
                   help="stop training after this many seconds, not counting validation "
                        "(then validate and test)")
    p.add_argument("--data", type=Path, default=None,
                   help="binarized MNIST .npz (default: data/binarized_mnist.npz)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--out", type=Path, default=None, help="output folder (default runs/MODEL)")
    p.add_argument("--hidden", default="500", help="MADE hidden sizes, comma list (default 500)")
    p.add_argument("--degrees", choices=["random", "deterministic"], default="random",
                   help="MADE hidden degrees: drawn at random from --seed as in the MADE paper "
                        "(default), or made_degrees' deterministic, evenly spread degrees")
    p.add_argument("--channels", type=int, default=64, help="PixelCNN channels")
    p.add_argument("--layers", type=int, default=5, help="PixelCNN 3x3 type-B layers after the 7x7 type-A layer")
    p.add_argument("--num-samples", type=int, default=64)
    args = p.parse_args(argv)
    if args.out is None:
        args.out = Path("runs") / args.model
    for name in ("epochs", "steps", "batch_size", "subset", "eval_limit", "patience", "channels", "layers",
                 "num_samples", "time_budget"):
        v = getattr(args, name)
        if v is not None and v < 1:
            p.error(f"--{name.replace('_', '-')} must be positive")
    if args.lr <= 0 or not math.isfinite(args.lr):
        p.error("--lr must be a positive number")
    try:
        args.hidden_sizes = [int(h) for h in args.hidden.split(",")]
        assert all(h > 0 for h in args.hidden_sizes)
    except (ValueError, AssertionError):
        p.error(f"--hidden must be a comma list of positive integers, got {args.hidden!r}")
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


def build_model(args) -> torch.nn.Module:
    if args.model == "made":
        degree_gen = torch.Generator().manual_seed(args.seed) if args.degrees == "random" else None
        return MADE(NUM_DIMS, args.hidden_sizes, generator=degree_gen)
    return PixelCNN(channels=args.channels, num_layers=args.layers)


@torch.no_grad()
def draw_samples(model, args, device, generator) -> torch.Tensor:
    model.eval()
    n = args.num_samples
    if args.model == "made":
        x = sample_autoregressive(model, n, model.ordering, generator=generator, device=device)
        return x.view(n, 1, 28, 28)
    return sample_pixels(model, n, 28, 28, generator=generator, device=device)


def save_plots(out: Path, samples: torch.Tensor, train_losses, valid_points, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from torchvision.utils import save_image

    save_image(samples.float().cpu(), out / "samples.png", nrow=8, padding=2, pad_value=0.5)
    fig, ax = plt.subplots(figsize=(6, 4))
    steps = range(1, len(train_losses) + 1)
    ax.plot(steps, train_losses, lw=0.5, alpha=0.4, label="train (per step)")
    w = max(1, len(train_losses) // 50)
    if len(train_losses) >= w > 1:
        smooth = torch.tensor(train_losses).unfold(0, w, 1).mean(1)
        ax.plot(range(w, len(train_losses) + 1), smooth, label=f"train (mean of {w})")
    if valid_points:
        ax.plot(*zip(*valid_points), "o-", label="validation")
    ax.set(xlabel="step", ylabel="NLL (nats / example)", title=title)
    lo = min(list(train_losses[len(train_losses) // 10:]) + [v for _, v in valid_points] or [0])
    ax.set_ylim(bottom=max(0.0, lo - 10), top=lo + 80)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "loss.png", dpi=100)
    plt.close(fig)


def run(args) -> dict:
    from tqdm.auto import tqdm

    device = pick_device(args.device)
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
    n_params = sum(p.numel() for p in model.parameters())
    steps_per_epoch = math.ceil(len(train_x) / args.batch_size)
    total_steps = args.steps if args.steps is not None else steps_per_epoch * (args.epochs or 1)
    num_epochs = math.ceil(total_steps / steps_per_epoch)
    print(f"{args.model}: {n_params:,} parameters, {len(train_x)} training images, "
          f"{total_steps} steps of batch {args.batch_size} on {device}", flush=True)

    generator = torch.Generator().manual_seed(args.seed)
    valid_points: list[tuple[int, float]] = []
    best = {"nll": math.inf, "state": None, "epoch": 0}
    eval_seconds = [0.0]  # time spent validating, excluded from the time budget
    bar = tqdm(total=total_steps, unit="step", dynamic_ncols=True, file=sys.stderr)
    bar.set_description(f"epoch 1/{num_epochs}")
    losses: list[float] = []

    def callback(step: int, loss: float) -> None:
        # One train() call (one Adam optimizer) for the whole run; validate at epoch ends.
        losses.append(loss)
        bar.update(1)
        bar.set_postfix(nll=f"{loss:.2f}", refresh=False)
        elapsed = time.perf_counter() - start - eval_seconds[0]
        out_of_time = args.time_budget is not None and elapsed > args.time_budget
        if step % steps_per_epoch and step != total_steps and not out_of_time:
            return
        epoch = math.ceil(step / steps_per_epoch)
        t0 = time.perf_counter()
        valid_nll = evaluate(model, valid_x, nll, device=device)  # restores train mode
        eval_seconds[0] += time.perf_counter() - t0
        valid_points.append((step, valid_nll))
        recent = losses[-(step - (epoch - 1) * steps_per_epoch):]
        tqdm.write(f"epoch {epoch}: train NLL {sum(recent) / len(recent):.2f}, "
                   f"valid NLL {valid_nll:.2f} nats", file=sys.stdout)
        sys.stdout.flush()
        bar.set_description(f"epoch {min(epoch + 1, num_epochs)}/{num_epochs}")
        if valid_nll < best["nll"]:
            best.update(nll=valid_nll, epoch=epoch,
                        state={k: v.detach().clone() for k, v in model.state_dict().items()})
        elif args.patience is not None and epoch - best["epoch"] >= args.patience:
            raise _EarlyStop(f"early stop: no better validation NLL for {args.patience} epochs")
        if out_of_time:
            raise _EarlyStop(f"time budget of {args.time_budget:g} s used up after {step} steps")

    torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # first Adam imports torch._dynamo: not training time
    start = time.perf_counter()
    try:
        train(model, train_x, nll, steps=total_steps, batch_size=args.batch_size, lr=args.lr,
              generator=generator, device=device, callback=callback)
    except _EarlyStop as stop:
        bar.close()
        print(stop)
    bar.close()
    train_seconds = time.perf_counter() - start - eval_seconds[0]
    train_losses = losses
    if args.patience is not None and best["state"] is not None:
        model.load_state_dict(best["state"])
        print(f"restored the weights of epoch {best['epoch']} (valid NLL {best['nll']:.2f})")

    test_nll = evaluate(model, test_x, nll, device=device)
    test_bpd = float(bits_per_dim(torch.tensor(test_nll), NUM_DIMS))
    print(f"test NLL: {test_nll:.2f} nats per example, {test_bpd:.4f} bits/dim "
          f"({len(test_x)} test images; {train_seconds:.0f} s of training "
          f"+ {eval_seconds[0]:.0f} s of validation)")

    samples = draw_samples(model, args, device, torch.Generator(device=device).manual_seed(args.seed))
    save_plots(args.out, samples, train_losses, valid_points, f"{args.model} on binarized MNIST")
    torch.save(model.state_dict(), args.out / "model.pt")
    metrics = {"model": args.model, "test_nll_nats": test_nll, "test_bits_per_dim": test_bpd,
               "valid_nll_nats": [v for _, v in valid_points], "steps": len(train_losses), "epochs_run": len(valid_points),
               "train_seconds": train_seconds, "valid_seconds": eval_seconds[0], "parameters": n_params, "device": str(device),
               "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}}
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    print(f"wrote {args.out / 'samples.png'}, {args.out / 'loss.png'}, {args.out / 'metrics.json'}")
    return metrics


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        run(args)
    except CLIError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except NotImplementedError as e:
        print(f"error: not implemented yet: {e}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
