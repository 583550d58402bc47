"""Given code (not graded): checks the training CLI runs before the first step, so a broken
loss stops the run with a message instead of training for an hour on the wrong quantity.

Only facts any correct implementation satisfies are checked (no answer is given away):
with every logit 0, each binary pixel has probability 1/2, so the NLL of one example is
D ln 2 nats (543.43 for 784 pixels) and bits_per_dim of that is exactly 1 bit; `nll` returns
one value per example, shape (B,); `evaluate` is the mean of `nll` over the examples.
"""
from __future__ import annotations

import math

import torch


class LossCheckError(Exception):
    """The loss functions disagree with their contract; str() says what was seen."""


def _per_example(value, batch: int, shape: tuple) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise LossCheckError(f"probability.nll returned {type(value).__name__}, expected a "
                             f"tensor of shape ({batch},)")
    if tuple(value.shape) != (batch,):
        raise LossCheckError(
            f"probability.nll on a batch of {batch} examples of shape {shape} returned shape "
            f"{tuple(value.shape)}: it must return one NLL per example, shape ({batch},), "
            f"summed over every dimension but the first")
    return value.detach().double().cpu()


def check_nll(nll, x: torch.Tensor) -> None:
    """nll(logits = 0, x) is D ln 2 nats for every example."""
    batch, dims = len(x), x[0].numel()
    got = _per_example(nll(torch.zeros_like(x), x), batch, tuple(x.shape[1:]))
    want = dims * math.log(2)
    if torch.allclose(got, torch.full_like(got, want), rtol=1e-4):
        return
    seen = got.mean().item()
    cause = ("the mean over dimensions, not the sum" if math.isclose(seen, math.log(2), rel_tol=1e-3)
             else "summed over the batch" if math.isclose(seen, batch * want, rel_tol=1e-3)
             else "log p instead of -log p" if math.isclose(seen, -want, rel_tol=1e-3)
             else "in bits, not nats" if math.isclose(seen, dims, rel_tol=1e-3)
             else None)
    raise LossCheckError(
        f"with every logit 0 (p = 1/2 per pixel) probability.nll must give {dims} ln 2 = "
        f"{want:.2f} nats per example; it gave {seen:.4g}"
        + (f" (looks like {cause})" if cause else ""))


def check_bits_per_dim(bits_per_dim, dims: int) -> None:
    got = bits_per_dim(dims * math.log(2), dims)
    if not (isinstance(got, (float, torch.Tensor)) and math.isclose(float(got), 1.0, rel_tol=1e-6)):
        raise LossCheckError(f"bits_per_dim({dims} ln 2 nats, {dims}) must be 1 bit per "
                             f"dimension; it gave {got!r}")


def check_evaluate(evaluate, nll, model, x: torch.Tensor, device) -> None:
    """evaluate(model, x) is the mean of nll(model(x), x) in eval mode; the mode is restored."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        direct = _per_example(nll(model(x.to(device)), x.to(device)), len(x),
                              tuple(x.shape[1:])).mean().item()
    model.train(was_training)
    got = evaluate(model, x, nll, batch_size=max(1, len(x) // 2), device=device)
    if not (isinstance(got, float) and math.isclose(got, direct, rel_tol=1e-4, abs_tol=1e-4)):
        raise LossCheckError(f"evaluate on {len(x)} examples gave {got!r}; the mean of "
                             f"probability.nll over them (in eval mode) is {direct:.4f}")
    if model.training != was_training:
        raise LossCheckError("evaluate did not put the model back in the mode it was given")


def check_losses(nll, bits_per_dim, evaluate, model, x: torch.Tensor, device) -> None:
    """Every check above on the first examples of `x`; raises LossCheckError."""
    check_nll(nll, x)
    check_bits_per_dim(bits_per_dim, x[0].numel())
    check_evaluate(evaluate, nll, model, x, device)
