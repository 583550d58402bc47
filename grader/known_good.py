"""Known-good models and loss, shared by both sides (definitions only).

Training and evaluation tests grade `train` and `evaluate` alone, on models built from given
masks with a known-good loss, whatever the state of the student's parts 1-3. A sandboxed
worker builds them next to the student's code (which may tamper with its copy); the trusted
measurement worker (grader/trusted/measure.py) builds its own, untouched copy to score the
parameters the student's `train` returned.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


def known_good_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Per-example NLL in nats, wherever a test needs an NLL that is not under test."""
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


def tempered_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The NLL of the model with its logits halved: a `loss_fn` whose numbers differ from the
    default loss's, so code that ignores the loss_fn it was given cannot pass."""
    return known_good_nll(logits / 2, x)


LOSSES = {"nll": known_good_nll, "tempered": tempered_nll}


class KnownGoodMADE(nn.Module):
    """A MADE built from given (out, in) masks, ReLU between layers."""

    def __init__(self, masks):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(m.shape[1], m.shape[0]) for m in masks)
        for i, mask in enumerate(masks):
            self.register_buffer(f"mask{i}", torch.as_tensor(mask).float())

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = F.linear(x, layer.weight * getattr(self, f"mask{i}"), layer.bias)
            x = F.relu(x) if i < len(self.layers) - 1 else x
        return x


class KnownGoodPixelCNN(nn.Module):
    """A PixelCNN built from given (k, k) masks (first 'A', then 'B'), then a 1x1 output."""

    def __init__(self, masks, channels):
        super().__init__()
        widths = [1] + [channels] * len(masks)
        self.convs = nn.ModuleList(nn.Conv2d(c_in, c_out, m.shape[-1], padding=m.shape[-1] // 2)
                                   for c_in, c_out, m in zip(widths, widths[1:], masks))
        for i, mask in enumerate(masks):
            self.register_buffer(f"mask{i}", torch.as_tensor(mask).float())
        self.output = nn.Conv2d(channels, 1, 1)

    def forward(self, x):
        h = 2 * x - 1
        for i, conv in enumerate(self.convs):
            h = F.relu(F.conv2d(h, conv.weight * getattr(self, f"mask{i}"), conv.bias,
                                padding=conv.padding))
        return self.output(h)


def causal_attention_mask(T: int, device=None) -> torch.Tensor:
    """(T, T) bool, True where query i may attend to key j <= i (part 6a's contract): put in
    place of the student's own while part 6b is graded, so 6b does not depend on 6a."""
    return torch.ones(T, T, dtype=torch.bool, device=device).tril()


def known_model(model: str, masks, channels=None) -> nn.Module:
    return KnownGoodMADE(masks) if model == "made" else KnownGoodPixelCNN(masks, channels)


def as_data(model: str, images) -> torch.Tensor:
    """(N, 784) bits -> float (N, 784) for MADE, (N, 1, 28, 28) for PixelCNN."""
    data = torch.as_tensor(images).float()
    return data.reshape(len(data), 1, 28, 28) if model == "pixelcnn" else data
