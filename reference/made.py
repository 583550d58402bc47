"""Part 2: MADE, the Masked Autoencoder for Distribution Estimation.

Germain, Gregor, Murray & Larochelle, "MADE: Masked Autoencoder for Distribution
Estimation", ICML 2015 (https://arxiv.org/abs/1502.03509).

Every unit gets a *degree*. Input i has degree m(i) = its 1-based position in the ordering;
a hidden unit with degree k may see inputs of degree <= k; the output for variable d may see
only hidden units of degree < m(d). With D = 3, natural ordering and hidden degrees (1, 2, 1, 2):

    inputs   x1 x2 x3          hidden mask (>=)      output mask (>)
    degrees   1  2  3          rows: hidden units    rows: outputs, cols: hidden
                               cols: inputs          degree 1 2 1 2
    hidden    1 2 1 2          k=1:  1 0 0           d=1:   0 0 0 0   (p(x1) is a constant)
                               k=2:  1 1 0           d=2:   1 0 1 0
                               k=1:  1 0 0           d=3:   1 1 1 1
                               k=2:  1 1 0

so output d depends exactly on the inputs that come before it in the ordering.
"""
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F


def made_degrees(ordering: torch.Tensor, hidden_sizes: Sequence[int],
                 generator: torch.Generator | None = None) -> list[torch.Tensor]:
    """Degrees of the input units and of every hidden layer.

    Args:
        ordering: (D,) permutation of 0..D-1; ordering[k] is the variable generated k-th.
        hidden_sizes: number of units of each hidden layer.
        generator: None for deterministic degrees, spread evenly over 1..D-1: a layer of at
            least D-1 units has every degree equally often (+-1); a narrower layer still spans
            the whole range, degrees 1 and D-1 included, so every input reaches some output
            and every output but the first sees some input. A torch.Generator to draw each
            hidden degree uniformly from [min degree of the previous layer, D-1] (MADE paper).

    Returns:
        [input degrees (D,), hidden degrees (H_1,), ..., (H_L,)], int64 tensors. Input degree
        of variable ordering[k] is k + 1 (values 1..D); hidden degrees lie in 1..D-1.
    """
    # BEGIN SOLUTION 2a
    num_inputs = len(ordering)
    degrees = [torch.empty(num_inputs, dtype=torch.long)]
    degrees[0][ordering] = torch.arange(1, num_inputs + 1)
    low = 1
    for size in hidden_sizes:
        if generator is None:  # a unit of degree D-1 reaches every input, one of 1 every output
            span = max(num_inputs - 1, 1)
            hidden = (1 + torch.arange(size) * span // size if size >= span
                      else 1 + torch.arange(size) * (span - 1) // max(size - 1, 1))
        else:
            hidden = torch.randint(low, max(num_inputs, low + 1), (size,), generator=generator)
        degrees.append(hidden)
        low = int(hidden.min()) if size > 0 else low
    return degrees
    # END SOLUTION


def made_masks(degrees: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """One (out_features, in_features) mask of 0s and 1s per weight matrix.

    Args:
        degrees: the output of `made_degrees`: [input degrees, hidden degrees ...].

    Returns:
        L + 1 masks of 0s and 1s (float; bool works too), for L hidden layers: hidden layer l
        connects unit k to unit j of the layer below iff m_l(k) >= m_{l-1}(j); the output
        layer (one output per input, with the input's degree) connects output d to hidden
        unit k iff m(d) > m_L(k).
    """
    # BEGIN SOLUTION 2b
    masks = [(upper[:, None] >= lower[None, :]).float()
             for lower, upper in zip(degrees[:-1], degrees[1:])]
    masks.append((degrees[0][:, None] > degrees[-1][None, :]).float())
    return masks
    # END SOLUTION


class MaskedLinear(nn.Linear):
    """A linear layer whose weight is multiplied by a fixed 0/1 mask on every call."""

    def __init__(self, in_features: int, out_features: int, mask: torch.Tensor):
        super().__init__(in_features, out_features)
        self.register_buffer("mask", mask.float().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_features) -> (B, out_features), using weight * mask (never the raw weight)."""
        # BEGIN SOLUTION 2c
        return F.linear(x, self.weight * self.mask, self.bias)
        # END SOLUTION


class MADE(nn.Module):
    """MADE for D binary variables: logits of p(x_d | x_<d) for every d in one pass.

    Args:
        num_inputs: D.
        hidden_sizes: sizes of the hidden layers (ReLU between layers).
        ordering: (D,) permutation, ordering[k] = variable generated k-th; natural by default.
        generator: passed to `made_degrees` (None: deterministic degrees).
    """

    def __init__(self, num_inputs: int, hidden_sizes: Sequence[int],
                 ordering: torch.Tensor | None = None,
                 generator: torch.Generator | None = None):
        super().__init__()
        if ordering is None:
            ordering = torch.arange(num_inputs)
        self.register_buffer("ordering", torch.as_tensor(ordering, dtype=torch.long).clone())
        masks = made_masks(made_degrees(self.ordering, hidden_sizes, generator))
        sizes = [num_inputs, *hidden_sizes, num_inputs]
        self.layers = nn.ModuleList(
            MaskedLinear(n_in, n_out, mask)
            for n_in, n_out, mask in zip(sizes[:-1], sizes[1:], masks))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, D) binary inputs -> (B, D) logits of p(x_d = 1 | x_<d)."""
        for layer in self.layers[:-1]:
            x = F.relu(layer(x))
        return self.layers[-1](x)
