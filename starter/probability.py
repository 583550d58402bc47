"""Part 1: probability basics for autoregressive models.

Every likelihood in this problem set is measured in **nats per example**: the chain rule

    log p(x) = sum_i log p(x_i | x_<i)

sums over the D dimensions of one example, and is never averaged over dimensions or summed
over the batch. Bits per dimension divide by D ln 2 (see `bits_per_dim`).
"""
import math

import torch
import torch.nn.functional as F


def kl_divergence(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """KL(p || q) in nats over the last dimension.

    Args:
        p, q: (..., K) probability vectors (each sums to 1 over the last dim).

    Returns:
        (...) tensor. Terms with p = 0 contribute 0 (0 log 0 = 0); a term with
        p > 0 and q = 0 makes the divergence +inf.
    """
    raise NotImplementedError("Part 1a: implement kl_divergence")


def bernoulli_log_prob(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Elementwise log p(x_i | x_<i) of binary x under Bernoulli(sigmoid(logits)).

    Must be numerically stable: logits of +-100 give finite values (never compute
    sigmoid and then log). Hint: log sigmoid(l) = -softplus(-l).

    Args:
        logits: any shape, real-valued.
        x: same shape, values in {0., 1.}.

    Returns:
        Tensor of the same shape, <= 0.
    """
    raise NotImplementedError("Part 1b: implement bernoulli_log_prob")


def nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Negative log-likelihood per example, in nats: -sum_i log p(x_i | x_<i).

    Args:
        logits: (B, ...) the model's logits for each dimension (e.g. (B, D) or (B, 1, H, W)).
        x: (B, ...) binary data of the same shape.

    Returns:
        (B,) tensor: one NLL per example, summed over all non-batch dimensions.
    """
    raise NotImplementedError("Part 1c: implement nll")


def bits_per_dim(nll_nats, num_dims: int):
    """Convert an NLL in nats per example to bits per dimension: nats / (D ln 2).

    Args:
        nll_nats: a float or a tensor of per-example NLLs in nats.
        num_dims: D, the number of dimensions of one example (784 for MNIST).

    Returns:
        The same type and shape as `nll_nats`.
    """
    raise NotImplementedError("Part 1d: implement bits_per_dim")
