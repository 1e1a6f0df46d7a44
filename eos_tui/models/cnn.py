"""Cohen et al.'s convnet as a module, with and without BatchNorm (their `cnn-*` and `cnn-bn-*`).

Per entry of `channels`: a 3×3 convolution (padding 1), the activation, BatchNorm (`batchnorm`:
after the activation, as in their code), a 2×2 pooling; then a linear head on the flattened
features. Without BatchNorm this is the engine's functional `model.kind = "cnn"`
(engine/problems.py CNN) parameter for parameter, in the same order, so the two agree on one θ
(tests/test_models.py); `model.kind = "cnn-bn"` is this module with BatchNorm (`make_bn`).
"""

from __future__ import annotations

from typing import Sequence

from torch import nn

from .layers import Images, image_shape, make_activation, make_batchnorm

POOLING: dict[str, type[nn.Module]] = {"max": nn.MaxPool2d, "average": nn.AvgPool2d}


def make(
    *,
    input_shape: Sequence[int],
    outputs: int,
    channels: Sequence[int] = (32, 32),
    activation: str = "tanh",
    pooling: str = "max",
    bias: bool = True,
    batchnorm: bool = False,
) -> nn.Module:
    c, h, w = image_shape(tuple(input_shape))
    if h < 2 ** len(channels) or w < 2 ** len(channels):
        raise ValueError(f"{len(channels)} 2×2 poolings need images of at least {2 ** len(channels)} pixels a side (got {h}×{w})")
    layers: list[nn.Module] = [Images(input_shape)]
    for out in channels:
        layers += [nn.Conv2d(c, out, 3, padding=1, bias=bias), make_activation(activation)]
        if batchnorm:
            layers.append(make_batchnorm(out))
        layers.append(POOLING[pooling](2))
        c, h, w = out, h // 2, w // 2
    layers += [nn.Flatten(), nn.Linear(c * h * w, outputs, bias=bias)]
    return nn.Sequential(*layers)


def make_bn(**args) -> nn.Module:
    """model.kind = "cnn-bn": the convnet with BatchNorm after each activation."""
    return make(**args, batchnorm=True)
