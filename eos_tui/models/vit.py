"""A small vision transformer (Dosovitskiy et al. 2021), the size the central-flows code trains:
the image cut into patch × patch squares, each embedded linearly (a convolution with stride
`patch`), plus a learned position embedding; `layers` pre-LN blocks (layers.Block: `heads`-head
self-attention, an MLP of `mlp`·dim); a final LayerNorm, the mean over patches, and a linear head.
No dropout, no class token.

`head_scale` multiplies the head's initial weights and bias: the central-flows code's 0 (the
default) starts the network at f ≡ 0, whose sharpness starts low and rises; 1 is PyTorch's init.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .layers import Block, Images, LayerNorm, image_shape, scale_head


class ViT(nn.Module):
    def __init__(
        self, input_shape: Sequence[int], outputs: int, patch: int, dim: int, heads: int, layers: int, mlp: int, head_scale: float
    ):
        super().__init__()
        c, h, w = image_shape(tuple(input_shape))
        if h % patch or w % patch:
            raise ValueError(f"patch = {patch} does not divide the {h}×{w} images")
        self.images = Images(input_shape)
        self.embed = nn.Conv2d(c, dim, patch, stride=patch)
        self.position = nn.Parameter(torch.randn((h // patch) * (w // patch), dim) * 0.02)
        self.blocks = nn.Sequential(*(Block(dim, heads, mlp, causal=False) for _ in range(layers)))
        self.norm = LayerNorm(dim)
        self.head = nn.Linear(dim, outputs)
        scale_head(self.head, head_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.embed(self.images(x)).flatten(2).transpose(1, 2)  # (n, patches, dim)
        h = self.blocks(tokens + self.position)
        return self.head(self.norm(h).mean(dim=1))


def make(
    *,
    input_shape: Sequence[int],
    outputs: int,
    patch: int = 4,
    dim: int = 64,
    heads: int = 8,
    layers: int = 4,
    mlp: int = 4,
    head_scale: float = 0.0,
) -> nn.Module:
    return ViT(input_shape, outputs, patch, dim, heads, layers, mlp, head_scale)
