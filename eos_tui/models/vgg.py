"""VGG-11 (Simonyan & Zisserman's configuration A) for 32×32 images, as Cohen et al. 2021 train it
(`vgg11`, `vgg11-bn`): eight 3×3 convolutions at widths w, 2w, 4w, 4w, 8w, 8w, 8w, 8w with five
2×2 max-poolings, then a classifier of two hidden layers of 8w and the output layer, without the
original's dropout. At the published width w = 64: 9,750,922 parameters for 10 classes (9,756,426
with BatchNorm).

`batchnorm`: BatchNorm (batch statistics, no running statistics) between each convolution and its
activation, as in the reference; the convolutions keep their bias either way, as there. Weights
initialized as the reference code does: convolutions normal with variance 2/(9·out), zero bias;
linear layers PyTorch's default.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from .layers import Images, image_shape, make_activation, make_batchnorm

# Configuration A in multiples of the width; "M" a 2×2 max-pooling.
CONFIG_A: tuple[int | str, ...] = (1, "M", 2, "M", 4, 4, "M", 8, 8, "M", 8, 8, "M")
POOLINGS = CONFIG_A.count("M")


def make(*, input_shape: Sequence[int], outputs: int, width: int = 64, batchnorm: bool = False, activation: str = "relu") -> nn.Module:
    c, h, w = image_shape(tuple(input_shape))
    side = 2**POOLINGS
    if h < side or w < side:
        raise ValueError(f"VGG-11 pools 2×2 {POOLINGS} times: it needs images of at least {side}×{side} (got {h}×{w})")
    layers: list[nn.Module] = [Images(input_shape)]
    for v in CONFIG_A:
        if v == "M":
            layers.append(nn.MaxPool2d(2))
            h, w = h // 2, w // 2
            continue
        out = int(v) * width
        conv = nn.Conv2d(c, out, 3, padding=1)
        with torch.no_grad():
            conv.weight.normal_(0.0, math.sqrt(2.0 / (9 * out)))
            assert conv.bias is not None
            conv.bias.zero_()
        layers += [conv, make_batchnorm(out)] if batchnorm else [conv]
        layers.append(make_activation(activation))
        c = out
    hidden = 8 * width
    layers += [
        nn.Flatten(),
        nn.Linear(c * h * w, hidden),
        make_activation(activation),
        nn.Linear(hidden, hidden),
        make_activation(activation),
        nn.Linear(hidden, outputs),
    ]
    return nn.Sequential(*layers)
