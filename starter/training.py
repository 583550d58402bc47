"""Part 5: training and evaluating autoregressive models by maximum likelihood.

Minimising the mean NLL over the training set is maximum likelihood, which is the same as
minimising KL(p_data || p_model) up to the (constant) entropy of the data.
"""
from typing import Callable

import torch

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _default_loss() -> LossFn:
    # Imported here, not at the top, so that a broken probability.py costs no training points.
    from .probability import nll
    return nll


def _model_device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def evaluate(model: torch.nn.Module, data: torch.Tensor, loss_fn: LossFn | None = None, *,
             batch_size: int = 256, device: torch.device | str | None = None) -> float:
    """Mean NLL of `data` under `model`, in nats per example.

    Runs the model in eval mode (model.eval()) and, before returning, puts it back in the mode
    the caller left it in (it may be handed over in train mode).

    Args:
        model: maps a batch of data to logits of the same shape.
        data: (N, ...) binary float tensor (e.g. (N, 784) or (N, 1, 28, 28)).
        loss_fn: (logits, x) -> (B,) per-example NLL in nats; default `probability.nll`.
        batch_size: examples per forward pass; N need not be a multiple of it.
        device: where to run (default: the model's device).

    Returns:
        A Python float: the mean over all N examples (in eval mode, without gradients).
    """
    raise NotImplementedError("Part 5a: implement evaluate")


def train(model: torch.nn.Module, data: torch.Tensor, loss_fn: LossFn | None = None, *,
          steps: int, batch_size: int = 64, lr: float = 1e-3,
          generator: torch.Generator | None = None,
          device: torch.device | str | None = None,
          callback: Callable[[int, float], None] | None = None) -> list[float]:
    """Train `model` with Adam for exactly `steps` steps on minibatches of `data`.

    Batches are drawn from shuffled passes over the data (a fresh permutation from
    `generator` every pass); the loss of a batch is the mean per-example NLL.

    Args:
        model: maps a batch of data to logits of the same shape; trained in train mode
            (call model.train(): it may be handed over in eval mode).
        data: (N, ...) binary float tensor.
        loss_fn: (logits, x) -> (B,) per-example NLL in nats; default `probability.nll`.
        steps: number of optimizer steps.
        batch_size, lr: minibatch size and Adam learning rate.
        generator: source of randomness for shuffling (reproducible runs).
        device: where to train (default: the model's device).
        callback: called as callback(step, loss) after every step (progress bars), with
            step = 1, 2, ..., steps (numbered from 1) and that step's loss (a float).

    Returns:
        The list of `steps` training losses (mean NLL of each batch, nats per example).
    """
    raise NotImplementedError("Part 5b/5c: implement train")
