"""Part 3: PixelCNN for binary images.

van den Oord, Kalchbrenner & Kavukcuoglu, "Pixel Recurrent Neural Networks", ICML 2016
(https://arxiv.org/abs/1601.06759), section 3.4 (masked convolutions).

Pixels are generated in raster order (row by row, left to right), so the logit at (r, c) may
depend only on pixels (r', c') with r' < r, or r' = r and c' < c. A masked convolution zeroes
the kernel taps that would see the present or the future. For a 5x5 kernel (1 = kept):

    type 'A' (first layer)        type 'B' (later layers)
    1 1 1 1 1                     1 1 1 1 1
    1 1 1 1 1                     1 1 1 1 1
    1 1 0 0 0   <- centre row     1 1 1 0 0   <- the centre itself is kept
    0 0 0 0 0                     0 0 0 0 0
    0 0 0 0 0                     0 0 0 0 0

'A' hides the centre pixel from the first layer, so no output ever sees its own input; 'B'
lets later layers use the centre *feature*, which already depends only on the past.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


def causal_conv_mask(kernel_size: int, mask_type: str) -> torch.Tensor:
    """The (kernel_size, kernel_size) 0/1 float mask of a causal convolution.

    Args:
        kernel_size: odd kernel width and height k.
        mask_type: 'A' excludes the centre tap, 'B' includes it. Taps in rows below the
            centre, and right of the centre in its row, are always 0.

    Returns:
        (k, k) float tensor of 0s and 1s.
    """
    raise NotImplementedError("Part 3a: implement causal_conv_mask")


class MaskedConv2d(nn.Conv2d):
    """A 'same'-padded convolution whose kernel is multiplied by a causal mask on every call."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, mask_type: str):
        super().__init__(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        self.register_buffer("mask", causal_conv_mask(kernel_size, mask_type).float().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C_in, H, W) -> (B, C_out, H, W), using weight * mask (broadcast over channels)."""
        raise NotImplementedError("Part 3b: implement MaskedConv2d.forward")


class PixelCNN(nn.Module):
    """PixelCNN for (B, 1, H, W) binary images of any height and width.

    input_conv: 7x7 type 'A' -> hidden: `num_layers` type 'B' convs -> head: 1x1 convs.

    Args:
        channels: feature channels of every hidden layer.
        num_layers: number of type 'B' layers after the first.
        kernel_size: kernel of the first (type 'A') layer.
        hidden_kernel_size: kernel of the type 'B' layers.
    """

    def __init__(self, channels: int = 64, num_layers: int = 5, kernel_size: int = 7,
                 hidden_kernel_size: int = 3):
        super().__init__()
        self.input_conv = MaskedConv2d(1, channels, kernel_size, "A")
        self.hidden = nn.ModuleList(
            MaskedConv2d(channels, channels, hidden_kernel_size, "B") for _ in range(num_layers))
        self.head = nn.Conv2d(channels, channels, 1)
        self.output = nn.Conv2d(channels, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, H, W) binary images -> (B, 1, H, W) logits of p(x_rc = 1 | pixels before)."""
        h = F.relu(self.input_conv(2 * x - 1))
        for layer in self.hidden:
            h = F.relu(layer(h))
        return self.output(F.relu(self.head(h)))
