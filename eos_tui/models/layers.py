"""What the families share: activations by name, image shapes, BatchNorm, and the pre-LN
transformer block of the ViT and the sequence transformer.

Every layer here is a pure function of its parameters and its input batch: no dropout, no buffers
that a forward pass changes (see `make_batchnorm`); the normalizations and attention are written as
plain tensor operations, so that reverse-over-reverse HVPs, the dense Hessian (vmap over
forward-over-reverse), torch.func.hessian and the central flow's third derivatives are all right.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

# The activations a scenario may name (schema.py's `Activation`), as modules.
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "softplus": nn.Softplus,
    "gelu": nn.GELU,
    "linear": nn.Identity,
}


def make_activation(name: str) -> nn.Module:
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(f"unknown activation {name!r} (one of {', '.join(ACTIVATIONS)})") from None


def image_shape(input_shape: Sequence[int]) -> tuple[int, int, int]:
    """(channels, height, width) of one example: (C, H, W), or (H, W) with one channel."""
    shape = tuple(int(s) for s in input_shape)
    if len(shape) == 2:
        return 1, shape[0], shape[1]
    if len(shape) == 3:
        return shape[0], shape[1], shape[2]
    raise ValueError(f"needs images, (channels, height, width) or (height, width), not examples of shape {shape}")


class Images(nn.Module):
    """Rows to images: a batch of flat rows (N, C·H·W), or of (N, H, W), as (N, C, H, W). The
    engine keeps a data set's examples as rows; an image network starts with this."""

    def __init__(self, input_shape: Sequence[int]):
        super().__init__()
        self.shape = image_shape(input_shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.shape)


class BatchNorm(nn.BatchNorm2d):
    """BatchNorm in training mode, always: each channel normalized by the mean and (biased) variance
    over the batch and the pixels of the batch it is given, then scaled and shifted; torch.nn's
    BatchNorm2d in training mode computes the same (tests/test_models.py).

    It keeps no running statistics (track_running_stats=False). Under full-batch GD the batch is
    the training set, so the loss is a function of θ and the data alone, which is what the curvature
    is measured of; nothing changes between evaluations, and there is nothing beside θ to checkpoint.

    Written with plain tensor operations rather than F.batch_norm, whose derivatives in torch 2.13
    are right to second order by reverse mode and by forward-over-reverse (the tracker's and the
    dense Hessian's HVPs) but wrong beyond: a third reverse pass, the central flow's ∇(uᵀHu), is off
    by O(100%) against finite differences of uᵀHu, and torch.func.hessian (jacfwd of jacrev) is wrong too.
    (pytorch/pytorch#186256: the fused double backward's saved statistics carry no autograd history.)
    These operations are right every way (tests/test_models.py, test_third_derivatives...)."""

    def __init__(self, channels: int):
        super().__init__(channels, track_running_stats=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dims = [0, *range(2, x.dim())]
        centred = x - x.mean(dim=dims, keepdim=True)  # centred once, rsqrt: half the time of (x−μ)/√(σ²+ε)
        scale = torch.rsqrt(centred.square().mean(dim=dims, keepdim=True) + self.eps)
        shape = [1, -1] + [1] * (x.dim() - 2)
        return centred * scale * self.weight.view(shape) + self.bias.view(shape)


def make_batchnorm(channels: int) -> BatchNorm:
    return BatchNorm(channels)


class LayerNorm(nn.LayerNorm):
    """torch.nn.LayerNorm over the last dimension, written with plain tensor operations for the
    reason BatchNorm is: torch 2.13's F.layer_norm has wrong third derivatives (the central flow's
    ∇(uᵀHu)) and a wrong torch.func.hessian wherever its input and its scale both depend on θ, which
    is every transformer block (pytorch/pytorch#175754). The same values as nn.LayerNorm (tests/test_models.py, the blocks
    against torch.nn.TransformerEncoderLayer) and the same parameters."""

    def __init__(self, dim: int):
        super().__init__(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        centred = x - x.mean(dim=-1, keepdim=True)
        return centred * torch.rsqrt(centred.square().mean(dim=-1, keepdim=True) + self.eps) * self.weight + self.bias


class Attention(nn.Module):
    """Multi-head self-attention, laid out as torch.nn.MultiheadAttention's (one (3d × d) input
    projection, q, k, v in that order, heads taking consecutive d/heads slices; an output
    projection), written as matrix products and a softmax so that every AD mode goes through it."""

    def __init__(self, dim: int, heads: int, causal: bool):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim = {dim} is not a multiple of heads = {heads}")
        self.heads, self.causal = heads, causal
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, length, dim = x.shape
        h = self.heads
        q, k, v = self.qkv(x).view(n, length, 3, h, dim // h).permute(2, 0, 3, 1, 4)  # each (n, h, L, d/h)
        scores = q @ k.transpose(-2, -1) / math.sqrt(dim // h)
        if self.causal:
            future = torch.ones(length, length, dtype=torch.bool, device=x.device).triu(1)
            scores = scores.masked_fill(future, float("-inf"))
        out = scores.softmax(dim=-1) @ v  # (n, h, L, d/h)
        return self.proj(out.transpose(1, 2).reshape(n, length, dim))


class Block(nn.Module):
    """A pre-LN transformer block: x + attention(LN(x)), then x + MLP(LN(x)), the MLP
    Linear(d, mlp·d) → GELU → Linear(mlp·d, d); no dropout. torch.nn.TransformerEncoderLayer with
    norm_first=True, dropout=0 and activation="gelu" computes the same (tests/test_models.py)."""

    def __init__(self, dim: int, heads: int, mlp: int, causal: bool):
        super().__init__()
        self.ln1 = LayerNorm(dim)
        self.attn = Attention(dim, heads, causal)
        self.ln2 = LayerNorm(dim)
        self.fc1 = nn.Linear(dim, mlp * dim)
        self.fc2 = nn.Linear(mlp * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


def scale_head(head: nn.Linear, factor: float) -> None:
    """Multiply the output layer's weights and bias by `factor` (the central-flows code's
    0: the network starts at f ≡ 0 and its sharpness starts low)."""
    with torch.no_grad():
        head.weight.mul_(factor)
        if head.bias is not None:
            head.bias.mul_(factor)
