"""Part 6 (extra credit, optional): masked self-attention, the chain rule in a transformer.

Vaswani et al., "Attention Is All You Need", NeurIPS 2017 (https://arxiv.org/abs/1706.03762),
section 3.2 (scaled dot-product and multi-head attention; the decoder's mask, 3.2.3);
Parmar et al., "Image Transformer", ICML 2018 (https://arxiv.org/abs/1802.05751) and Chen et
al., "Generative Pretraining from Pixels" (iGPT), ICML 2020, for transformers over pixels.

MADE masks weights and PixelCNN masks convolution kernels; a transformer masks *attention*:
position i may attend only to positions j <= i. For T = 5 (1 = may attend):

                key j ->  0 1 2 3 4
    query i = 0           1 0 0 0 0      row i: what position i may look at
              1           1 1 0 0 0
              2           1 1 1 0 0      the diagonal is kept: position i sees its own
              3           1 1 1 1 0      *input token*, which is x_{i-1} (see below)
              4           1 1 1 1 1

PixelTransformer turns that into p(x_i | x_<i): the input is shifted right by one, with a
start token in front, so the token at position i is x_{i-1} (position 0 holds the start token)
and output i sees tokens 0..i, that is x_0..x_{i-1}, and never x_i itself:

    tokens    [start] x_0  x_1  ...  x_{D-2}        (x_{D-1} is never an input)
    outputs   p(x_0)  p(x_1 | x_0) ...  p(x_{D-1} | x_<D-1)
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

START = 2  # the start token's id; pixels are tokens 0 and 1


def causal_attention_mask(T: int, device=None) -> torch.Tensor:
    """Which key each query may attend to, for a sequence of T positions.

    Args:
        T: sequence length.
        device: where to create the mask (None: the default device).

    Returns:
        (T, T) bool tensor, True where query i may attend to key j, i.e. j <= i (the diagonal
        included, everything above it False): the lower triangle drawn at the top of this file.
    """
    # BEGIN SOLUTION 6a
    rows = torch.arange(T, device=device)
    return rows[None, :] <= rows[:, None]
    # END SOLUTION


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention (Vaswani et al. 2017, 3.2.2), with fixed parameter
    names so the grader can load known weights.

    qkv:  nn.Linear(dim, 3 * dim); qkv(x) holds q, k and v, in that order, along the last
          dimension (each (B, T, dim)). Head h uses features h*head_dim:(h+1)*head_dim of each.
    proj: nn.Linear(dim, dim), applied to the heads' outputs concatenated in head order.

    Args:
        dim: model width; num_heads: number of heads (dim must be a multiple of it).
    """

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not a multiple of num_heads {num_heads}")
        self.dim, self.num_heads, self.head_dim = dim, num_heads, dim // num_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, dim) -> (B, T, dim).

        Per head: scores = q k^T / sqrt(head_dim), (B, num_heads, T, T); scores where
        causal_attention_mask(T) is False are set to -inf *before* the softmax over the keys
        (the last dimension), so a query gives exactly zero weight to later keys, whatever
        the scale of the scores (a large finite number such as -1e4 leaks when the scores are
        that large too); out = softmax(scores) v. The heads' outputs are concatenated back to
        (B, T, dim) (head h in features h*head_dim:(h+1)*head_dim) and go through proj.
        """
        # BEGIN SOLUTION 6b
        batch, length, _ = x.shape
        q, k, v = self.qkv(x).split(self.dim, dim=-1)
        q, k, v = (t.reshape(batch, length, self.num_heads, self.head_dim).transpose(1, 2)
                   for t in (q, k, v))  # (B, H, T, head_dim)
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.head_dim)  # (B, H, T, T)
        mask = causal_attention_mask(length, device=x.device)  # (T, T): broadcast over B, H
        scores = torch.where(mask, scores, torch.tensor(float("-inf"), dtype=scores.dtype,
                                                        device=scores.device))
        weights = scores.softmax(dim=-1)  # over the keys
        out = (weights @ v).transpose(1, 2).reshape(batch, length, self.dim)
        return self.proj(out)
        # END SOLUTION


class Block(nn.Module):
    """A pre-LayerNorm transformer block: h + attn(LN(h)), then h + MLP(LN(h)), ReLU MLP."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: int = 4):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = CausalSelfAttention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_ratio * dim), nn.ReLU(),
                                 nn.Linear(mlp_ratio * dim, dim))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """(B, T, dim) -> (B, T, dim)."""
        h = h + self.attn(self.norm1(h))
        return h + self.mlp(self.norm2(h))


class PixelTransformer(nn.Module):
    """An autoregressive transformer over D binary variables in their natural order.

    token (nn.Embedding(3, dim): pixel values 0 and 1 and the start token) + position
    (nn.Embedding(num_inputs, dim)) -> `num_layers` Blocks -> norm (LayerNorm) -> head
    (nn.Linear(dim, 1)): one logit per position.

    Args:
        num_inputs: D, the sequence length (784 for MNIST in raster order).
        dim, num_heads, num_layers, mlp_ratio: width, heads per block, blocks, MLP width / dim.
    """

    def __init__(self, num_inputs: int, dim: int = 64, num_heads: int = 4, num_layers: int = 2,
                 mlp_ratio: int = 4):
        super().__init__()
        self.num_inputs = num_inputs
        self.token = nn.Embedding(3, dim)
        self.position = nn.Embedding(num_inputs, dim)
        self.blocks = nn.ModuleList(Block(dim, num_heads, mlp_ratio) for _ in range(num_layers))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, 1)

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """(B, D) binary -> (B, D) token ids: the start token, then x_0 .. x_{D-2}."""
        start = torch.full_like(x[:, :1], START, dtype=torch.long)
        return torch.cat([start, x[:, :-1].long()], dim=1)  # shifted right by one

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, D) binary inputs (any shape (B, ...) is flattened) -> (B, D) logits of
        p(x_i = 1 | x_<i)."""
        x = x.reshape(len(x), -1)
        positions = torch.arange(x.shape[1], device=x.device)
        h = self.token(self.tokens(x)) + self.position(positions)  # (B, D, dim)
        for block in self.blocks:
            h = block(h)
        return self.head(self.norm(h)).squeeze(-1)
