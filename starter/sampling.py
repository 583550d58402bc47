"""Part 4: ancestral sampling from autoregressive models.

A model gives p(x_i | x_<i) for every i in one pass, but a sample must be drawn one variable
at a time: x_i can only be drawn once everything before it is fixed. Sampling D variables
therefore takes D passes, each reading the canvas filled so far.
"""
from typing import Callable

import torch

LogitsFn = Callable[[torch.Tensor], torch.Tensor]


@torch.no_grad()
def sample_autoregressive(logits_fn: LogitsFn, n: int, ordering: torch.Tensor,
                          generator: torch.Generator | None = None,
                          device: torch.device | str | None = None) -> torch.Tensor:
    """Draw n samples of D binary variables in the given order.

    Args:
        logits_fn: maps a (n, D) canvas to (n, D) logits; logit i may use only the entries
            that come before i in the ordering (e.g. a MADE's forward).
        n: number of samples.
        ordering: (D,) permutation; ordering[k] is the variable drawn k-th.
        generator: source of randomness for torch.bernoulli (reproducible samples).
        device: where the canvas lives (default: CPU).

    Returns:
        (n, D) float tensor of 0s and 1s, x_i ~ Bernoulli(sigmoid(logit_i)) for i in order.
    """
    raise NotImplementedError("Part 4a: implement sample_autoregressive")


@torch.no_grad()
def sample_pixels(logits_fn: LogitsFn, n: int, height: int, width: int,
                  generator: torch.Generator | None = None,
                  device: torch.device | str | None = None) -> torch.Tensor:
    """Draw n binary images in raster order (row by row, left to right in each row).

    Args:
        logits_fn: maps a (n, 1, H, W) canvas to (n, 1, H, W) logits (e.g. a PixelCNN).
        n, height, width: number and size of the images.
        generator: source of randomness for torch.bernoulli.
        device: where the canvas lives (default: CPU).

    Returns:
        (n, 1, height, width) float tensor of 0s and 1s.
    """
    raise NotImplementedError("Part 4b: implement sample_pixels")
