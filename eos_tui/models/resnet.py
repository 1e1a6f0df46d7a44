"""The CIFAR ResNet of He et al. 2016 (§4.2), which Cohen et al. 2021 train as ResNet-32: depth
6k+2, three stages of k basic blocks at widths w, 2w, 4w (the second and third starting with a
stride-2 block), global average pooling and a linear head. The shortcut of a block that halves the
resolution and doubles the width is the paper's option A, parameter-free (every other pixel, the
new channels zero), so that ResNet-20 at width 16 has the published 0.27M parameters (269,722 for
10 classes) and ResNet-32 0.46M (464,154).

`batchnorm`: each convolution followed by BatchNorm (batch statistics, no running statistics:
layers.make_batchnorm), as published; without it the convolutions get a bias instead, BatchNorm's
shift being the only one they had. Weights initialized as the reference code does (Kaiming normal,
fan-in, on every convolution and the head).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .layers import Images, image_shape, make_activation, make_batchnorm


def blocks_per_stage(depth: int) -> int:
    """k of a depth-(6k+2) CIFAR ResNet: 3 for ResNet-20, 5 for ResNet-32."""
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"a CIFAR ResNet's depth is 6k+2 (20, 32, 44, 56, 110), not {depth}")
    return (depth - 2) // 6


def _conv_bn(c_in: int, c_out: int, stride: int, batchnorm: bool) -> list[nn.Module]:
    conv = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=not batchnorm)
    return [conv, make_batchnorm(c_out)] if batchnorm else [conv]


class Shortcut(nn.Module):
    """Option A: the identity, or, where a block changes resolution or width, every `stride`-th
    pixel with the new channels zero (half of them before the old ones, the rest after)."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.stride = stride
        self.before = (c_out - c_in) // 2
        self.after = c_out - c_in - self.before

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride != 1:
            x = x[:, :, :: self.stride, :: self.stride]
        if self.before or self.after:
            x = F.pad(x, (0, 0, 0, 0, self.before, self.after))
        return x


class BasicBlock(nn.Module):
    """act(branch(x) + shortcut(x)), branch = conv-BN-act-conv-BN."""

    def __init__(self, c_in: int, c_out: int, stride: int, batchnorm: bool, activation: str):
        super().__init__()
        self.branch = nn.Sequential(
            *_conv_bn(c_in, c_out, stride, batchnorm), make_activation(activation), *_conv_bn(c_out, c_out, 1, batchnorm)
        )
        self.shortcut = Shortcut(c_in, c_out, stride)
        self.act = make_activation(activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.branch(x) + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self, input_shape: Sequence[int], outputs: int, depth: int, width: int, batchnorm: bool, activation: str):
        super().__init__()
        k = blocks_per_stage(depth)
        c = image_shape(tuple(input_shape))[0]
        self.images = Images(input_shape)
        self.stem = nn.Sequential(*_conv_bn(c, width, 1, batchnorm), make_activation(activation))
        blocks: list[nn.Module] = []
        c = width
        for stage, w in enumerate((width, 2 * width, 4 * width)):
            for i in range(k):
                stride = 2 if stage > 0 and i == 0 else 1
                blocks.append(BasicBlock(c, w, stride, batchnorm, activation))
                c = w
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(c, outputs)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.blocks(self.stem(self.images(x)))
        return self.head(h.mean(dim=(2, 3)))


def make(
    *, input_shape: Sequence[int], outputs: int, depth: int = 20, width: int = 16, batchnorm: bool = True, activation: str = "relu"
) -> nn.Module:
    return ResNet(input_shape, outputs, depth, width, batchnorm, activation)
