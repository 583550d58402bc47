"""Statically binarized MNIST (given code, not a problem).

The data live in ``data/binarized_mnist.npz`` next to this package: one fixed Bernoulli
draw per pixel (see ``data/README.md``); splits ``train`` (50,000), ``valid`` (10,000)
and ``test`` (10,000), each stored as ``np.packbits`` of an (N, 784) bit matrix.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

DATA_PATH = Path(__file__).resolve().parents[1] / "data" / "binarized_mnist.npz"
SPLITS = ("train", "valid", "test")
REGENERATE = "python data/make_binarized_mnist.py --download  (from the repository root)"


def load_binarized_mnist_numpy(split: str, path: str | Path | None = None) -> np.ndarray:
    """Return one split as a uint8 array (N, 784) of 0s and 1s (numpy only, no torch)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    path = Path(path) if path is not None else DATA_PATH
    if not path.exists():
        raise FileNotFoundError(f"binarized MNIST not found at {path}; regenerate it with: {REGENERATE}")
    with np.load(path) as z:
        n, d = (int(v) for v in z[f"shape_{split}"])
        return np.unpackbits(z[split], axis=1, count=d)[:n]


def load_binarized_mnist(split: str, *, path: str | Path | None = None,
                         image_shape: bool = False, limit: int | None = None):
    """Return one split as a float32 tensor of 0s and 1s.

    Shape (N, 784), or (N, 1, 28, 28) with ``image_shape=True``; ``limit`` keeps the
    first ``limit`` examples.
    """
    import torch

    bits = load_binarized_mnist_numpy(split, path)
    if limit is not None:
        bits = bits[:limit]
    x = torch.from_numpy(bits.astype(np.float32))
    return x.view(-1, 1, 28, 28) if image_shape else x
