"""Given code (not graded): see causality for yourself.

- PixelCNN: the receptive field of one output pixel, measured from gradients: which input
  pixels change that pixel's logit. It must lie in the raster-order past (the rows above, and
  the pixels to the left in the same row), never on the pixel itself or after it.
- MADE: input -> output connectivity, the product of the masks (a path from input j to output
  i through the hidden layers), rows and columns in the model's ordering, so that a correct
  MADE is strictly lower-triangular: output number k sees exactly inputs 1..k-1 of the order.

Run alone, on an untrained model or a checkpoint written by the training CLI (same
architecture flags as `train`):
    python -m starter.visualize --model pixelcnn --pixel 14,14
    python -m starter.visualize --model made --checkpoint runs/made/model.pt
or after training: `python -m starter.train ... --visualize`.
Uses only relative imports so it runs both as ``reference.visualize`` and ``starter.visualize``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

NOT_SEEN, PAST, SEEN, LEAK, ITSELF = range(5)  # colour codes of the receptive-field picture
COLOURS = ["white", "#d9d9d9", "#1f77b4", "#d62728", "#ffbf00"]


def receptive_field(model, row: int, col: int, height: int = 28, width: int = 28,
                    images: int = 4) -> torch.Tensor:
    """(height, width) bool: the input pixels whose value changes output pixel (row, col)'s
    logit, for any of `images` random binary images (a gradient can vanish by chance)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    x = (torch.rand(images, 1, height, width) < 0.5).float().to(device).requires_grad_(True)
    model(x)[:, 0, row, col].sum().backward()
    model.train(was_training)
    return (x.grad.abs().sum(dim=(0, 1)) > 0).cpu()


def receptive_field_codes(seen: torch.Tensor, row: int, col: int) -> torch.Tensor:
    """Colour codes: seen pixels in the past, seen pixels that leak (the pixel itself or its
    future), the unseen past, the unseen future."""
    height, width = seen.shape
    index = torch.arange(height * width).reshape(height, width)
    past = index < row * width + col
    codes = torch.where(past, torch.where(seen, SEEN, PAST), torch.where(seen, LEAK, NOT_SEEN))
    if not seen[row, col]:
        codes[row, col] = ITSELF
    return codes


def made_connectivity(model) -> torch.Tensor:
    """(D, D) bool: entry [k, m] is True where output number k of the ordering depends on input
    number m of the ordering (a path through the masks, or the direct connection)."""
    made = getattr(model, "made", model)  # the training CLI's MADE recipe wraps a MADE
    path = None
    for layer in made.layers:
        mask = (layer.mask != 0).float().cpu()
        path = mask if path is None else mask @ path
    reach = path > 0
    direct = getattr(model, "direct", None)
    if direct is not None:
        reach |= direct.mask.cpu() != 0
    order = made.ordering.cpu()
    return reach[order][:, order]


def _figure(size=(6, 6)):
    import matplotlib
    matplotlib.use("Agg")  # files only, no window
    import matplotlib.pyplot as plt
    return plt, plt.figure(figsize=size, dpi=120)


def save_receptive_field(path: Path, seen: torch.Tensor, row: int, col: int, title: str) -> None:
    from matplotlib.colors import ListedColormap
    plt, fig = _figure()
    codes = receptive_field_codes(seen, row, col)
    ax = fig.add_subplot()
    ax.imshow(codes, cmap=ListedColormap(COLOURS), vmin=0, vmax=len(COLOURS) - 1)
    ax.add_patch(plt.Rectangle((col - 0.5, row - 0.5), 1, 1, fill=False, edgecolor="black", lw=2))
    leaks = int((codes == LEAK).sum())
    ax.set_title(f"{title}\nreceptive field of output pixel ({row}, {col}): "
                 f"{int(seen.sum())} pixels seen, {leaks} in the future", fontsize=9)
    ax.set_xlabel("blue: seen (past)   red: seen but NOT allowed   grey: past, unseen\n"
                  "yellow / black box: the pixel itself", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def save_connectivity(path: Path, reach: torch.Tensor, title: str) -> None:
    plt, fig = _figure()
    ax = fig.add_subplot()
    size = len(reach)
    ax.imshow(reach.float(), cmap="Blues", vmin=0, vmax=1, interpolation="nearest")
    ax.plot([-0.5, size - 0.5], [-0.5, size - 0.5], color="#d62728", lw=1)
    upper = int(torch.triu(reach).sum())
    missing = int((~reach & torch.tril(torch.ones_like(reach), -1)).sum())
    ax.set_title(f"{title}\nMADE connectivity, inputs and outputs in the ordering's order\n"
                 f"{upper} connections on or above the diagonal (must be 0); {missing} pairs "
                 f"below it unconnected", fontsize=9)
    ax.set_xlabel("input number in the ordering")
    ax.set_ylabel("output number in the ordering")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def save_sample_grid(path: Path, images: torch.Tensor, title: str, columns: int = 8) -> None:
    """(n, 28, 28) binary images as a titled grid, large enough to see single pixels."""
    from torchvision.utils import make_grid
    plt, fig = _figure((7, 7.4))
    grid = make_grid(images[:, None], nrow=columns, padding=2, pad_value=0.5)[0]
    ax = fig.add_subplot()
    ax.imshow(grid, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_title(title, fontsize=10)
    ax.axis("off")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def draw(model, kind: str, out: Path, title: str, pixel=(14, 14)) -> list[Path]:
    """The picture(s) for `model` (kind "pixelcnn" or "made") in folder `out`."""
    out.mkdir(parents=True, exist_ok=True)
    if kind == "pixelcnn":
        path = out / "receptive_field.png"
        save_receptive_field(path, receptive_field(model, *pixel), *pixel, title)
        return [path]
    if kind == "made":
        path = out / "connectivity.png"
        save_connectivity(path, made_connectivity(model), title)
        return [path]
    return []


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description="Draw a PixelCNN's receptive field or a MADE's connectivity as a PNG; "
                    "every other flag is the training CLI's (the architecture).")
    parser.add_argument("--checkpoint", type=Path, help="model.pt or checkpoint.pt written by "
                        "train (default: an untrained model)")
    parser.add_argument("--pixel", default="14,14", help="ROW,COL of the output pixel (PixelCNN)")
    own, rest = parser.parse_known_args(argv)
    from .train import build_model, parse_args
    args = parse_args(rest)
    if args.model not in ("made", "pixelcnn"):
        parser.error("--model must be made or pixelcnn")
    torch.manual_seed(args.seed)
    model = build_model(args)
    title = "untrained model"
    if own.checkpoint is not None:
        state = torch.load(own.checkpoint, map_location="cpu", weights_only=True)
        model.load_state_dict(state.get("model", state))
        title = f"weights of {own.checkpoint}"
    row, col = (int(v) for v in own.pixel.split(","))
    for path in draw(model, args.model, args.out, title, (row, col)):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
