"""The field's architectures as `torch.nn.Module`s, one file per family (nanoGPT style).

Each family's module exposes a factory `make(*, input_shape, outputs, **args) -> nn.Module`:
`input_shape` is one example's shape (a flat row's (d,), an image's (C, H, W), a sequence's
(length,)), `outputs` the network's output width. The engine turns the module into a loss on one
flat θ with `torch.func.functional_call` (engine/modules.py), the same path a user's own
`model.kind = "python"` factory takes, so every instrument works on them unchanged.

`ARCHITECTURES` maps a scenario's `model.kind` to "module:function" inside this package; these are
ours, so they need no `--trust-code`. Importing this package imports nothing heavy: the families
import torch only when their factory is called through `factory_of`.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable

# model.kind -> "eos_tui.models.<family>:<function>"; each kind's config is in scenario/schema.py
# (ARCHITECTURE_MODELS), its keys are the function's keyword arguments.
ARCHITECTURES: dict[str, str] = {
    "cnn-bn": "eos_tui.models.cnn:make_bn",
    "resnet": "eos_tui.models.resnet:make",
    "vgg11": "eos_tui.models.vgg:make",
    "vit": "eos_tui.models.vit:make",
    "transformer": "eos_tui.models.transformer:make",
}


def factory_of(kind: str) -> Callable[..., Any]:
    """The factory of a built-in `model.kind`: `make(*, input_shape, outputs, **keys) -> nn.Module`.
    Imports its family (and torch) now. KeyError for a kind that is not a built-in architecture."""
    module, function = ARCHITECTURES[kind].split(":")
    return getattr(importlib.import_module(module), function)
