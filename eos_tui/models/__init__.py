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

# model.kind -> "eos_tui.models.<family>:<function>", filled in as each family lands.
ARCHITECTURES: dict[str, str] = {
    "cnn-bn": "eos_tui.models.cnn:make_bn",
    "resnet": "eos_tui.models.resnet:make",
    "vgg11": "eos_tui.models.vgg:make",
    "vit": "eos_tui.models.vit:make",
    "transformer": "eos_tui.models.transformer:make",
}
