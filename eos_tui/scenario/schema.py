"""The scenario schema: one pydantic model per TOML section, unknown keys rejected.

A resolved arm (`ArmSpec`) is a whole scenario without arms: the base with the arm's overrides
merged in. Cross-field rules (lr xor lr_relative, batch_size ≤ n, which data goes with which
model) are checked on resolved arms, since the base alone may leave e.g. `lr` to each arm.
Sections with a `kind` ([data], [model], [optimizer], [schedule]) are pydantic discriminated
unions of one class per kind, so each kind has exactly its own keys; a key of another kind (a
`width` on an MLP) is rejected by name, so a typo'd or misplaced key never silently does nothing.
"""

from __future__ import annotations

import math
import os
import re
from typing import Annotated, Any, ClassVar, Dict, List, Literal, Optional, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..rundir.format import is_safe_name
from .code import absolute_factory, parse_factory

_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")

# Strict: a hand-written file with steps = "100" or seed = true is a mistake, not something to coerce.
# No NaN/inf: TOML allows `inf`, and an infinite lr or init_scale is never what was meant.
_CONFIG = ConfigDict(extra="forbid", validate_default=True, strict=True, allow_inf_nan=False)


class KeyProblem(ValueError):
    """A rule broken by one key. `path` is dotted and relative to the model being validated, so the
    loader can append it to pydantic's `loc` and name the exact key ("optimizer.batch_size"), which a
    plain ValueError from a model validator cannot (its `loc` stops at the section)."""

    def __init__(self, path: str, message: str):
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


class Section(BaseModel):
    model_config = _CONFIG

    # Sections with a `kind` are pydantic discriminated unions of one class per kind (DataConfig,
    # ModelConfig, OptimizerConfig, ScheduleConfig). SHARED: the keys every kind of the section
    # has; ALL_KEYS (set by `_siblings`): every key of
    # every kind, so that a key of another kind is named as such rather than "unknown".
    SHARED: ClassVar[frozenset[str]] = frozenset()
    ALL_KEYS: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="before")
    @classmethod
    def _keys_fit_the_kind(cls, data: Any) -> Any:
        if isinstance(data, dict) and "kind" in cls.model_fields:
            own = set(cls.model_fields)
            stray = sorted(k for k in data if k not in own and k in cls.ALL_KEYS)
            if stray:
                mine = sorted(own - cls.SHARED - {"kind"}) or ["none"]
                raise KeyProblem(
                    stray[0], f"does not apply to kind {cls.model_fields['kind'].default!r} (keys of that kind: {', '.join(mine)})"
                )
        return data


def _siblings(*kinds: type[Section], shared: set[str]) -> None:
    """Tell the classes of one section's kinds about each other (for the "does not apply" message)."""
    all_keys = frozenset(k for c in kinds for k in c.model_fields)
    for c in kinds:
        c.SHARED, c.ALL_KEYS = frozenset(shared), all_keys


# torch generators take 64-bit seeds and the engine offsets them (seed + 41, + 1_000_003): keep a margin.
SEED_LIMIT = 2**62


# ---- [data] -------------------------------------------------------------------------------------


class _Data(Section):
    seed: Optional[int] = Field(None, ge=-SEED_LIMIT, lt=SEED_LIMIT)


class RandomLabelsData(_Data):
    kind: Literal["random-labels"] = "random-labels"
    n: int = Field(128, gt=0)
    dim: int = Field(16, gt=0)
    classes: int = Field(4, ge=2)


class TeacherData(_Data):
    kind: Literal["teacher"] = "teacher"
    n: int = Field(128, gt=0)
    dim: int = Field(16, gt=0)
    outputs: int = Field(1, gt=0)


class NoData(_Data):
    kind: Literal["none"] = "none"


def _absolute(v: Optional[str]) -> Optional[str]:
    """A data path as an absolute path (~ expanded, relative to the current directory), so that the
    resolved scenario a run keeps, and the engine that reads it, mean the same file."""
    if v is None:
        return None
    if not v.strip() or "\x00" in v:
        raise ValueError("must be a non-empty path")
    return os.path.abspath(os.path.expanduser(v))


# A data file's or folder's path, made absolute as it is read (_absolute): every data kind's `path`.
DataPath = Annotated[Optional[str], AfterValidator(_absolute)]


class Cifar10Data(_Data):
    """CIFAR-10, the official "python version" files (eos_tui/data/cifar10.py): the first n training
    images among the first `classes` classes, test_n test images for a held-out loss."""

    kind: Literal["cifar10"] = "cifar10"
    path: DataPath = None  # None: $EOS_TUI_DATA/cifar10, else ~/.cache/eos-tui/cifar10
    n: int = Field(5000, gt=0, le=50_000)
    classes: int = Field(10, ge=2, le=10)
    test_n: int = Field(0, ge=0, le=10_000)

    DIM: ClassVar[int] = 3 * 32 * 32
    IMAGE_SHAPE: ClassVar[tuple[int, int, int]] = (3, 32, 32)


class NpzData(_Data):
    """The user's own arrays (eos_tui/data/npz.py): X, y, optionally X_test, y_test."""

    kind: Literal["npz"] = "npz"
    path: Annotated[str, AfterValidator(_absolute)]
    n: Optional[int] = Field(None, gt=0)  # None: every row
    classes: Optional[int] = Field(None, ge=2)  # integer y only; None: max(y) + 1

    def info(self) -> Any:
        """What the file's headers say (shapes, dtypes; no data read). Raises KeyProblem."""
        from ..data import DataError
        from ..data.npz import inspect

        try:
            return inspect(self.path, n=self.n, classes=self.classes)
        except DataError as e:
            raise KeyProblem("data.path", str(e)) from None


def _factory(v: str) -> str:
    """A factory reference with its file made absolute (the loader already joined a relative one to
    the scenario file's folder; a --set one is relative to the current directory), which must exist.
    Nothing is imported here: that waits for --trust-code (scenario/code.py)."""
    text = absolute_factory(v)
    ref = parse_factory(text)
    if ref.path is not None and not os.path.isfile(ref.path):
        raise ValueError(f"{ref.path}: no such file")
    return text


class PythonData(_Data):
    """The user's own data: `factory` ("FILE.py:function" or "package.module:function") called with
    `args`, returning (X, y) or (X, y, X_test, y_test) tensors (engine/modules.py checks them).
    Needs --trust-code (scenario/code.py)."""

    kind: Literal["python"] = "python"
    factory: str
    args: Dict[str, Any] = Field(default_factory=dict)

    @field_validator("factory")
    @classmethod
    def _factory(cls, v: str) -> str:
        return _factory(v)


class MnistData(_Data):
    """MNIST from the four official gzipped IDX files (eos_tui/data/mnist.py), fetched with
    `eos-tui data fetch mnist`: the first n training images among the first `classes` classes,
    test_n test images for a held-out loss; preprocessed as cifar10."""

    kind: Literal["mnist"] = "mnist"
    path: DataPath = None  # None: $EOS_TUI_DATA/mnist, else ~/.cache/eos-tui/mnist
    n: int = Field(5000, gt=0, le=60_000)
    classes: int = Field(10, ge=2, le=10)
    test_n: int = Field(0, ge=0, le=10_000)

    DIM: ClassVar[int] = 28 * 28
    IMAGE_SHAPE: ClassVar[tuple[int, int, int]] = (1, 28, 28)


class FashionMnistData(MnistData):
    """Fashion-MNIST: MNIST's format and sizes, Zalando's clothing images (`eos-tui data fetch fashion-mnist`)."""

    kind: Literal["fashion-mnist"] = "fashion-mnist"  # type: ignore[assignment]
    path: DataPath = None  # None: $EOS_TUI_DATA/fashion-mnist, else ~/.cache/eos-tui/fashion-mnist


class DigitsData(_Data):
    """The UCI handwritten digits scikit-learn bundles (eos_tui/data/digits.py; the `digits` extra):
    1,797 images of 8×8, offline. The first n among the first `classes` classes, the next test_n held out."""

    kind: Literal["digits"] = "digits"
    n: int = Field(1000, gt=0, le=1797)
    classes: int = Field(10, ge=2, le=10)
    test_n: int = Field(0, ge=0, le=1797)
    standardize: bool = True  # center and scale each pixel by the training images' statistics; false: [0, 1]

    DIM: ClassVar[int] = 64
    IMAGE_SHAPE: ClassVar[tuple[int, int, int]] = (1, 8, 8)

    @model_validator(mode="after")
    def _enough(self):
        from ..data.digits import available

        have = available(self.classes)
        if self.n + self.test_n > have:
            raise KeyProblem(
                "n", f"data.n + data.test_n = {self.n + self.test_n}, but the digits hold {have} images of classes < {self.classes}"
            )
        return self


class SortData(_Data):
    """The central-flows code's sorting task (eos_tui/data/sort.py): n sequences of `length` tokens
    drawn uniformly from 0..vocab-1; the target at each position is the sorted sequence's token there.
    Integer tokens, so it is for a sequence model (model.kind = 'transformer'), never an MLP on floats."""

    kind: Literal["sort"] = "sort"
    n: int = Field(1000, gt=0, le=1_000_000)
    length: int = Field(8, ge=2, le=4096)
    vocab: int = Field(4, ge=2, le=65_536)
    test_n: int = Field(0, ge=0, le=1_000_000)


# The data kinds whose examples are images of a fixed shape (a CNN takes them; an MLP sees them flat).
IMAGE_DATA = ("cifar10", "mnist", "fashion-mnist", "digits")

DataConfig = Annotated[
    Union[RandomLabelsData, TeacherData, Cifar10Data, MnistData, FashionMnistData, DigitsData, SortData, NpzData, PythonData, NoData],
    Field(discriminator="kind"),
]
_DATA_KINDS = (RandomLabelsData, TeacherData, Cifar10Data, MnistData, FashionMnistData, DigitsData, SortData, NpzData, PythonData, NoData)
_siblings(*_DATA_KINDS, shared={"seed"})


# ---- [model] ------------------------------------------------------------------------------------


class _Model(Section):
    init_scale: float = Field(1.0, gt=0)


# The activations of the fully connected and convolutional networks (engine/problems.py ACTIVATIONS,
# eos_tui/models/layers.py ACTIVATIONS): Cohen et al.'s tanh, ReLU, ELU and softplus, and more.
Activation = Literal["tanh", "relu", "elu", "softplus", "gelu", "linear"]


class MLPModel(_Model):
    kind: Literal["mlp"] = "mlp"
    hidden: List[int] = Field(default_factory=lambda: [64, 64])
    activation: Activation = "tanh"
    bias: bool = True

    @field_validator("hidden")
    @classmethod
    def _widths(cls, v: list[int]) -> list[int]:
        if any(w <= 0 for w in v):
            raise ValueError("hidden widths must be positive")
        return v


class _ConvStack(Section):
    """Cohen et al.'s convolutions, shared by `cnn` and `cnn-bn`: per entry of `channels` a 3×3
    convolution (padding 1), the activation and a 2×2 pooling."""

    channels: List[int] = Field(default_factory=lambda: [32, 32])
    activation: Activation = "tanh"
    pooling: Literal["max", "average"] = "max"
    bias: bool = True

    @field_validator("channels")
    @classmethod
    def _channels(cls, v: list[int]) -> list[int]:
        if not v or any(c <= 0 for c in v):
            raise ValueError("channels must be a non-empty list of positive widths")
        return v


class CNNModel(_Model, _ConvStack):
    """Cohen et al.'s convnet (engine/problems.py CNN): per entry of `channels` a 3×3 convolution
    (padding 1), the activation and a 2×2 pooling; then a linear head. Needs image data."""

    kind: Literal["cnn"] = "cnn"


class UVModel(_Model):
    kind: Literal["uv"] = "uv"
    width: int = Field(100, gt=0)


class QuadraticModel(_Model):
    kind: Literal["quadratic"] = "quadratic"
    eigenvalues: List[float]
    init: Optional[List[float]] = None

    @field_validator("eigenvalues")
    @classmethod
    def _some(cls, v: list[float]) -> list[float]:
        if not v:
            raise ValueError("required for kind 'quadratic': a non-empty list of numbers")
        return v

    @model_validator(mode="after")
    def _init_fits(self):
        if self.init is not None and len(self.init) != len(self.eigenvalues):
            raise KeyProblem("init", f"has {len(self.init)} entries but model.eigenvalues has {len(self.eigenvalues)}")
        return self


class PythonModel(_Model):
    """The user's own torch.nn.Module: `factory` ("FILE.py:function" or "package.module:function")
    called with `input_shape`, `outputs` and `args` (engine/modules.py). Its parameters are counted
    only once it is built. Needs --trust-code (scenario/code.py)."""

    kind: Literal["python"] = "python"
    factory: str
    args: Dict[str, Any] = Field(default_factory=dict)

    @field_validator("factory")
    @classmethod
    def _factory(cls, v: str) -> str:
        return _factory(v)

    @field_validator("args")
    @classmethod
    def _args(cls, v: Dict[str, Any]) -> Dict[str, Any]:
        taken = [k for k in ("input_shape", "outputs") if k in v]
        if taken:  # the engine passes these from the data: a second value would be a TypeError in the call
            raise ValueError(f"{taken[0]} is given to the factory from the data; remove it from model.args")
        return v


class ArchitectureModel(_Model):
    """A built-in architecture (eos_tui/models/, an nn.Module that the engine flattens into θ): its
    fields are its factory's arguments. What it needs of the data (`NEEDS`), its parameter count
    and its size per example are computed here without torch, from one example's shape and the
    output width (tests/test_models.py holds them equal to the modules')."""

    NEEDS: ClassVar[str] = "images"  # or "sequences" (integer tokens: data.kind = "sort")

    def fits(self, shape: tuple[int, ...]) -> None:
        """Raise KeyProblem where the network cannot take examples of this shape."""

    def parameters(self, shape: tuple[int, ...], outputs: int) -> int:
        raise NotImplementedError

    def per_example(self, shape: tuple[int, ...], outputs: int) -> tuple[int, int]:
        """(multiply-adds of the largest matrix product, values a forward pass leaves) for one
        example: estimates for the thread choice and the memory check (engine/threads.py,
        scenario/resources.py)."""
        raise NotImplementedError


def _chw(shape: tuple[int, ...]) -> tuple[int, int, int]:
    return (1, shape[0], shape[1]) if len(shape) == 2 else (shape[0], shape[1], shape[2])


def _conv(c: int, out: int, bias: bool, bn: bool) -> int:
    """A 3×3 convolution's parameters, with its bias and its BatchNorm's scale and shift."""
    return 9 * c * out + (out if bias else 0) + (2 * out if bn else 0)


class CNNBNModel(ArchitectureModel, _ConvStack):
    """Cohen et al.'s convnet with BatchNorm (eos_tui/models/cnn.py): per entry of `channels` a 3×3
    convolution, the activation, BatchNorm and a 2×2 pooling; then a linear head."""

    kind: Literal["cnn-bn"] = "cnn-bn"

    def fits(self, shape: tuple[int, ...]) -> None:
        side = min(shape[-2:])
        if side < 2 ** len(self.channels):
            raise KeyProblem(
                "model.channels",
                f"{len(self.channels)} convolutions pool the {shape[-2]}×{shape[-1]} images 2×2 that many times: "
                f"at most {side.bit_length() - 1}",
            )

    def parameters(self, shape: tuple[int, ...], outputs: int) -> int:
        c, h, w = _chw(shape)
        count = 0
        for out in self.channels:
            count += _conv(c, out, self.bias, True)
            c, h, w = out, h // 2, w // 2
        return count + c * h * w * outputs + (outputs if self.bias else 0)

    def per_example(self, shape: tuple[int, ...], outputs: int) -> tuple[int, int]:
        c, h, w = _chw(shape)
        work, values = 0, c * h * w
        for out in self.channels:
            work = max(work, h * w * 9 * c * out)
            values += 3 * h * w * out + (h // 2) * (w // 2) * out  # convolution, activation, BatchNorm; pooled
            c, h, w = out, h // 2, w // 2
        return max(work, c * h * w * outputs), values + 2 * outputs


class ResNetModel(ArchitectureModel):
    """The CIFAR ResNet (He et al. 2016; Cohen et al.'s ResNet-32; eos_tui/models/resnet.py):
    depth 6k+2, three stages of k blocks at widths width, 2·width, 4·width."""

    kind: Literal["resnet"] = "resnet"
    depth: int = 20
    width: int = Field(16, gt=0)
    batchnorm: bool = True
    activation: Activation = "relu"

    @field_validator("depth")
    @classmethod
    def _depth(cls, v: int) -> int:
        if v < 8 or (v - 2) % 6:
            raise ValueError("a CIFAR ResNet's depth is 6k+2 with k ≥ 1 (20, 32, 44, 56, 110)")
        return v

    def _convs(self, shape: tuple[int, ...]) -> list[tuple[int, int, int]]:
        """(in channels, out channels, output pixels) of every convolution, in order."""
        c, h, w = _chw(shape)
        k, wd = (self.depth - 2) // 6, self.width
        convs = [(c, wd, h * w)]
        c = wd
        for stage, out in enumerate((wd, 2 * wd, 4 * wd)):
            for i in range(k):
                if stage > 0 and i == 0:
                    h, w = (h + 1) // 2, (w + 1) // 2
                convs += [(c, out, h * w), (out, out, h * w)]
                c = out
        return convs

    def parameters(self, shape: tuple[int, ...], outputs: int) -> int:
        convs = sum(_conv(a, b, not self.batchnorm, self.batchnorm) for a, b, _ in self._convs(shape))
        return convs + 4 * self.width * outputs + outputs

    def per_example(self, shape: tuple[int, ...], outputs: int) -> tuple[int, int]:
        convs = self._convs(shape)
        work = max(px * 9 * a * b for a, b, px in convs)
        values = sum(3 * px * b for _, b, px in convs)  # convolution, BatchNorm, activation
        return max(work, 4 * self.width * outputs), int(math.prod(shape)) + values + 2 * outputs


# VGG-11's configuration A in multiples of the width ("M": a 2×2 max-pooling; eos_tui/models/vgg.py).
_VGG11 = (1, "M", 2, "M", 4, 4, "M", 8, 8, "M", 8, 8, "M")


class VGG11Model(ArchitectureModel):
    """VGG-11 without dropout (Cohen et al.'s `vgg11`, `vgg11-bn`; eos_tui/models/vgg.py): eight
    3×3 convolutions at 1, 2, 4, 4, 8, 8, 8, 8 × width, five 2×2 max-poolings, two hidden layers of
    8·width. Needs images of at least 32×32."""

    kind: Literal["vgg11"] = "vgg11"
    width: int = Field(64, gt=0)
    batchnorm: bool = False
    activation: Activation = "relu"

    def fits(self, shape: tuple[int, ...]) -> None:
        if min(shape[-2:]) < 32:
            raise KeyProblem("model.kind", f"'vgg11' pools 2×2 five times: it needs images of at least 32×32 (got {shape[-2]}×{shape[-1]})")

    def _layers(self, shape: tuple[int, ...]) -> tuple[list[tuple[int, int, int]], int]:
        """(in channels, out channels, pixels) of every convolution; the flattened features."""
        c, h, w = _chw(shape)
        convs = []
        for v in _VGG11:
            if v == "M":
                h, w = h // 2, w // 2
            else:
                out = int(v) * self.width
                convs.append((c, out, h * w))
                c = out
        return convs, c * h * w

    def parameters(self, shape: tuple[int, ...], outputs: int) -> int:
        convs, flat = self._layers(shape)
        hidden = 8 * self.width
        count = sum(_conv(a, b, True, self.batchnorm) for a, b, _ in convs)
        return count + flat * hidden + hidden + hidden * hidden + hidden + hidden * outputs + outputs

    def per_example(self, shape: tuple[int, ...], outputs: int) -> tuple[int, int]:
        convs, flat = self._layers(shape)
        hidden = 8 * self.width
        work = max(max(px * 9 * a * b for a, b, px in convs), flat * hidden, hidden * hidden)
        per_conv = 3 if self.batchnorm else 2
        values = sum(per_conv * px * b for _, b, px in convs) + 4 * hidden + 2 * outputs
        return work, int(math.prod(shape)) + values


def _block(dim: int, mlp: int) -> int:
    """A pre-LN transformer block's parameters: two LayerNorms, attention's projections, the MLP."""
    return 2 * 2 * dim + (3 * dim * dim + 3 * dim) + (dim * dim + dim) + (dim * mlp * dim + mlp * dim) + (mlp * dim * dim + dim)


def _blocks_per_example(tokens: int, dim: int, heads: int, mlp: int, layers: int) -> tuple[int, int]:
    work = max(tokens * dim * 3 * dim, tokens * dim * mlp * dim, heads * tokens * tokens * (dim // heads))
    values = layers * tokens * (10 * dim + 2 * mlp * dim + 2 * heads * tokens)
    return work, values


class _Attention(ArchitectureModel):
    dim: int = Field(gt=0)
    heads: int = Field(gt=0)
    layers: int = Field(gt=0)
    mlp: int = Field(4, gt=0)  # the blocks' MLP width, in multiples of dim
    # The head's initial weights and bias × this: the central-flows code's 0 starts at f ≡ 0.
    head_scale: float = Field(0.0, ge=0)

    @model_validator(mode="after")
    def _heads_divide(self):
        if self.dim % self.heads:
            raise KeyProblem("heads", f"must divide model.dim = {self.dim} (got {self.heads})")
        return self


class ViTModel(_Attention):
    """A small vision transformer (eos_tui/models/vit.py): patch × patch patches embedded, pre-LN
    blocks, mean pooling, a linear head."""

    kind: Literal["vit"] = "vit"
    patch: int = Field(4, gt=0)
    dim: int = Field(64, gt=0)
    heads: int = Field(8, gt=0)
    layers: int = Field(4, gt=0)

    def fits(self, shape: tuple[int, ...]) -> None:
        h, w = shape[-2:]
        if h % self.patch or w % self.patch:
            raise KeyProblem("model.patch", f"must divide the images' sides: {self.patch} does not divide {h}×{w}")

    def parameters(self, shape: tuple[int, ...], outputs: int) -> int:
        c, h, w = _chw(shape)
        d, p = self.dim, self.patch
        patches = (h // p) * (w // p)
        embed = c * p * p * d + d + patches * d
        return embed + self.layers * _block(d, self.mlp) + 2 * d + d * outputs + outputs

    def per_example(self, shape: tuple[int, ...], outputs: int) -> tuple[int, int]:
        c, h, w = _chw(shape)
        patches = (h // self.patch) * (w // self.patch)
        work, values = _blocks_per_example(patches, self.dim, self.heads, self.mlp, self.layers)
        return max(work, patches * c * self.patch**2 * self.dim), c * h * w + values + 2 * outputs


class TransformerModel(_Attention):
    """A small transformer on token sequences (eos_tui/models/transformer.py): token and position
    embeddings, pre-LN blocks, a head to the vocabulary at every position. Not causal by default:
    data.kind = 'sort' asks each position for a token of the sorted row, which needs the whole row."""

    NEEDS: ClassVar[str] = "sequences"
    kind: Literal["transformer"] = "transformer"
    dim: int = Field(32, gt=0)
    heads: int = Field(4, gt=0)
    layers: int = Field(4, gt=0)
    causal: bool = False

    def parameters(self, shape: tuple[int, ...], outputs: int) -> int:
        d = self.dim
        return outputs * d + shape[0] * d + self.layers * _block(d, self.mlp) + 2 * d + d * outputs + outputs

    def per_example(self, shape: tuple[int, ...], outputs: int) -> tuple[int, int]:
        length = shape[0]
        work, values = _blocks_per_example(length, self.dim, self.heads, self.mlp, self.layers)
        return max(work, length * self.dim * outputs), values + 2 * length * (self.dim + outputs)


# The built-in architectures' configs (their factories: eos_tui/models/__init__.py ARCHITECTURES).
ARCHITECTURE_MODELS = (CNNBNModel, ResNetModel, VGG11Model, ViTModel, TransformerModel)

ModelConfig = Annotated[
    Union[MLPModel, CNNModel, UVModel, QuadraticModel, PythonModel, CNNBNModel, ResNetModel, VGG11Model, ViTModel, TransformerModel],
    Field(discriminator="kind"),
]
_siblings(MLPModel, CNNModel, UVModel, QuadraticModel, PythonModel, *ARCHITECTURE_MODELS, shared={"init_scale"})


# ---- [optimizer] --------------------------------------------------------------------------------


class _Optimizer(Section):
    lr: Optional[float] = Field(None, gt=0)
    lr_relative: Optional[float] = Field(None, gt=0)

    @model_validator(mode="after")
    def _one_lr(self):
        if (self.lr is None) == (self.lr_relative is None):
            both = self.lr is not None
            raise KeyProblem(
                "lr_relative" if both else "lr",
                "set exactly one of optimizer.lr (η) and optimizer.lr_relative (η·λ0); " + ("both given" if both else "neither given"),
            )
        return self


class _WithMomentum(_Optimizer):
    momentum: float = Field(0.0, ge=0, lt=1)


class _SGDLike(_WithMomentum):
    # Nesterov's momentum as torch.optim.SGD(nesterov=True) computes it (needs momentum > 0):
    # threshold 2(1+β)/((1+2β)η) instead of heavy ball's 2(1+β)/η.
    nesterov: bool = False

    @model_validator(mode="after")
    def _nesterov_needs_momentum(self):
        if self.nesterov and not self.momentum:
            raise KeyProblem("nesterov", "needs optimizer.momentum > 0 (Nesterov's form of momentum β)")
        return self


class GDOptimizer(_SGDLike):
    kind: Literal["gd"] = "gd"


class SGDOptimizer(_SGDLike):
    kind: Literal["sgd"] = "sgd"
    batch_size: int = Field(gt=0)


class FlowOptimizer(_WithMomentum):
    kind: Literal["flow"] = "flow"
    flow_alpha: float = Field(0.5, gt=0, le=2)


class AdamOptimizer(_Optimizer):
    """Full-batch Adam as torch.optim.Adam computes it (defaults as torch's; no weight decay)."""

    kind: Literal["adam"] = "adam"
    beta1: float = Field(0.9, ge=0, lt=1)
    beta2: float = Field(0.999, ge=0, lt=1)
    eps: float = Field(1e-8, gt=0)


class RMSpropOptimizer(_WithMomentum):
    """Full-batch RMSprop as torch.optim.RMSprop computes it (not centered, no weight decay). `alpha`
    is torch's name for the decay of the squared-gradient average (Adam's β2)."""

    kind: Literal["rmsprop"] = "rmsprop"
    alpha: float = Field(0.99, ge=0, lt=1)
    eps: float = Field(1e-8, gt=0)


OptimizerConfig = Annotated[Union[GDOptimizer, SGDOptimizer, FlowOptimizer, AdamOptimizer, RMSpropOptimizer], Field(discriminator="kind")]
_siblings(GDOptimizer, SGDOptimizer, FlowOptimizer, AdamOptimizer, RMSpropOptimizer, shared={"lr", "lr_relative"})


# ---- [schedule] ---------------------------------------------------------------------------------


class ConstantSchedule(Section):
    kind: Literal["constant"] = "constant"


class WarmupSchedule(Section):
    kind: Literal["warmup"] = "warmup"
    warmup_steps: int = Field(ge=1)


class StepSchedule(Section):
    kind: Literal["step"] = "step"
    milestones: List[int]
    factors: List[float] = Field(default_factory=list)

    @model_validator(mode="after")
    def _rules(self):
        if not self.milestones:
            raise KeyProblem("milestones", "kind 'step' needs a non-empty list of milestones")
        if len(self.milestones) != len(self.factors):
            raise KeyProblem(
                "factors", f"needs one factor per milestone: {len(self.factors)} factors for {len(self.milestones)} milestones"
            )
        if any(m < 0 for m in self.milestones) or any(b <= a for a, b in zip(self.milestones, self.milestones[1:])):
            raise KeyProblem("milestones", f"must be non-negative and strictly increasing (got {self.milestones})")
        if any(f <= 0 for f in self.factors):
            raise KeyProblem("factors", f"must be positive (got {self.factors})")
        return self


class CosineSchedule(Section):
    kind: Literal["cosine"] = "cosine"
    warmup_steps: int = Field(0, ge=0)
    final_factor: float = Field(0.0, ge=0, le=1)


ScheduleConfig = Annotated[Union[ConstantSchedule, WarmupSchedule, StepSchedule, CosineSchedule], Field(discriminator="kind")]
_siblings(ConstantSchedule, WarmupSchedule, StepSchedule, CosineSchedule, shared=set())

# Each section with kinds: its union's members by kind, and the kind an omitted `kind` means.
KINDS: dict[str, dict[str, type[Section]]] = {
    "data": {
        "random-labels": RandomLabelsData,
        "teacher": TeacherData,
        "cifar10": Cifar10Data,
        "mnist": MnistData,
        "fashion-mnist": FashionMnistData,
        "digits": DigitsData,
        "sort": SortData,
        "npz": NpzData,
        "python": PythonData,
        "none": NoData,
    },
    "model": {
        "mlp": MLPModel,
        "cnn": CNNModel,
        "uv": UVModel,
        "quadratic": QuadraticModel,
        "python": PythonModel,
        **{c.model_fields["kind"].default: c for c in ARCHITECTURE_MODELS},
    },
    "optimizer": {"gd": GDOptimizer, "sgd": SGDOptimizer, "flow": FlowOptimizer, "adam": AdamOptimizer, "rmsprop": RMSpropOptimizer},
    "schedule": {"constant": ConstantSchedule, "warmup": WarmupSchedule, "step": StepSchedule, "cosine": CosineSchedule},
}


def _one_of(words: list[str]) -> str:
    quoted = [repr(w) for w in words]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


class MeasureConfig(Section):
    sharpness_every: int = Field(10, ge=0)
    eigenvalues: int = Field(1, ge=1)
    tolerance: float = Field(1e-3, gt=0, lt=1)
    exact: bool = False
    max_iter: int = Field(100, ge=2)
    reparam_every: int = Field(0, ge=0)
    reparam_alphas: List[float] = Field(default_factory=lambda: [0.5, 2.0])
    # "full": the Hessian of the full training loss (the edge-of-stability quantity, also under
    # SGD); "batch": of the loss on the step's own mini-batch (SGD only), what SGD actually feels.
    on: Literal["full", "batch"] = "full"
    # λ_max at every step too, at θ_t before the update, by PerStepTracker (eos_tui/engine/tracking.py):
    # ~2 HVPs a step, each value a Ritz value of that step's Hessian (of the data `on` picks), hence
    # a lower bound on λ_max, close below it (how close: see BENCHMARKS.md, 'Per-step tracking').
    # Adds sharpness_tracked and tracked_hvps to every step record. Such an arm trains on its own,
    # never in a vmapped batch.
    track_every_step: bool = False
    # Divergence: the arm ends "diverged" when its loss or parameters are not finite, or its loss
    # exceeds this bound (absolute). None: 1e6 × max(1, the initial loss).
    diverge_above: Optional[float] = Field(None, gt=0)
    # Held-out loss (and accuracy, for classification) in the step records, where the data has a
    # held-out split (cifar10 data.test_n > 0, an npz with X_test and y_test): every test_every
    # steps; None: at every sharpness measurement (every sharpness_every steps); 0: never.
    test_every: Optional[int] = Field(None, ge=0)
    # Checkpoints (engine/checkpoint.py): every arm writes its final state to
    # checkpoints/ARM/STEP.safetensors, and also every checkpoint_every steps (0: the final one only).
    checkpoint_every: int = Field(0, ge=0)
    # The central flow of GD (Cohen, Damian et al. 2024; eos_tui/engine/central_flow.py), run in
    # lockstep with this full-batch GD arm from the same θ_0: "flow" records every step. Euler
    # substeps per training step; at most this many critical eigenvalues, those above
    # central_critical_factor/η. stable_flow: plain gradient flow (RK4) beside it.
    central_flow: bool = False
    stable_flow: bool = False
    central_substeps: int = Field(4, ge=1, le=64)
    central_max_critical: int = Field(4, ge=1, le=16)
    central_critical_factor: float = Field(1.95, gt=0, lt=2)
    # Self-stabilization (Damian, Nichani & Lee 2022; eos_tui/engine/selfstab.py, docs/selfstab.md):
    # from the first crossing of 2/η, GD's displacement (x, y) from the constrained trajectory θ†
    # and the paper's predicted map, a "selfstab" record every step. Full-batch GD only.
    self_stabilization: bool = False

    @field_validator("reparam_alphas")
    @classmethod
    def _positive(cls, v: list[float]) -> list[float]:
        if not v or any(a <= 0 for a in v):
            raise ValueError("reparam_alphas must be a non-empty list of positive numbers")
        return v


class EngineConfig(Section):
    # How the engine schedules this arm. "auto": train it in one vmapped batch with every other arm
    # it is compatible with (same shapes, dtype, device and loss, full-batch GD with or without
    # momentum, iterative sharpness, no measure.track_every_step; see eos_tui/engine/batched.py),
    # which gives the same numbers as training it alone, faster; "off": always train it on its
    # own, one step at a time.
    batch_arms: Literal["auto", "off"] = "auto"
    # Full-data passes (loss, gradient, every HVP, the held-out loss) through the network this many
    # examples at a time (Cohen et al. use 1000); the loss is (sum of chunk sums) / n, equal to the
    # unchunked one to rounding. None: all examples at once. A vmapped batch of arms does not chunk.
    chunk_size: Optional[int] = Field(None, gt=0)
    # Intra-op threads of the engine process (torch's pool); one value for the whole run. None: the
    # engine chooses from the work (engine/threads.py): one thread on small networks. --threads wins.
    threads: Optional[int] = Field(None, gt=0)


class DisplayConfig(Section):
    """[display]: how the app opens on this scenario's runs (the whole scenario, not one arm; the
    engine ignores it). sharpness: "raw" draws λ_max against each arm's threshold line; "normalized"
    draws λ_max divided by that arm's threshold (λ_max·η_t/2 for plain GD), so that every arm's edge
    is the line at 1 whatever its η (`n` toggles it in the app). steps: the charts' step axis, "linear"
    or "log" (log10(1 + step): for a story told in the first steps, as the catapult's; `x` in the app).
    panel: what the right-hand panel shows first, the top eigendirection or the self-stabilization
    (x, y) portrait (`p` toggles it)."""

    sharpness: Literal["raw", "normalized"] = "raw"
    steps: Literal["linear", "log"] = "linear"
    panel: Literal["eigendirection", "portrait"] = "eigendirection"


class ArmSpec(BaseModel):
    """A fully resolved arm: everything the engine needs to train it."""

    model_config = _CONFIG

    name: str
    description: str = ""
    seed: int = Field(0, ge=-SEED_LIMIT, lt=SEED_LIMIT)
    steps: int = Field(1000, gt=0)
    dtype: Literal["float32", "float64"] = "float32"
    device: str = "auto"
    loss: Literal["mse", "cross-entropy"] = "mse"
    data: DataConfig = Field(default_factory=lambda: RandomLabelsData.model_validate({}))
    model: ModelConfig = Field(default_factory=lambda: MLPModel.model_validate({}))
    optimizer: OptimizerConfig
    schedule: ScheduleConfig = Field(default_factory=lambda: ConstantSchedule.model_validate({}))
    measure: MeasureConfig = Field(default_factory=lambda: MeasureConfig.model_validate({}))
    engine: EngineConfig = Field(default_factory=lambda: EngineConfig.model_validate({}))

    @field_validator("data", "model", "optimizer", "schedule", mode="wrap")
    @classmethod
    def _by_kind(cls, value: Any, handler: Any, info: Any) -> Any:
        """Validate a section against the class of its kind (its default kind when `kind` is
        omitted), with errors located at the key as written: pydantic puts the union's tag into
        each error's location (model.mlp.hidden), which the file does not have (model.hidden)."""
        section = info.field_name
        kinds = KINDS[section]
        if isinstance(value, dict):
            kind = value.get("kind", next(iter(kinds)))
            if not isinstance(kind, str) or kind not in kinds:
                raise KeyProblem("kind", f"must be one of {_one_of(list(kinds))} (got {kind!r})")
            value = {**value, "kind": kind}
        try:
            return handler(value)
        except ValidationError as e:
            errors: list[Any] = []
            for err in e.errors(include_url=False):
                loc = tuple(err["loc"])
                if loc and loc[0] in kinds:
                    loc = loc[1:]
                fixed = {"type": err["type"], "loc": loc, "input": err["input"]}
                if "ctx" in err:
                    fixed["ctx"] = err["ctx"]
                errors.append(fixed)
            raise ValidationError.from_exception_data(e.title, errors) from None

    @field_validator("name")
    @classmethod
    def _safe(cls, v: str) -> str:
        if not is_safe_name(v):
            raise ValueError(f"{v!r} is not a safe name (letters, digits, '.', '_', '-'; no '/' or '..')")
        return v

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        if not _DEVICE.fullmatch(v):
            raise ValueError(f"{v!r} is not a device: use auto, cpu, cuda, cuda:N or mps")
        return v

    @model_validator(mode="after")
    def _fit(self):
        m, d, o = self.model, self.data, self.optimizer
        takes_data = m.kind not in ("uv", "quadratic")  # an MLP, a CNN, a network of torch.nn (python, built-ins)
        if takes_data and d.kind == "none":
            raise KeyProblem(
                "data.kind",
                f"model.kind = {m.kind!r} needs data: set data.kind to 'random-labels', 'teacher', 'cifar10', 'mnist', "
                "'fashion-mnist', 'digits', 'sort', 'npz' or 'python' (got 'none')",
            )
        if isinstance(d, SortData) and m.kind in ("mlp", "cnn"):
            raise KeyProblem(
                "data.kind",
                f"'sort' is sequences of integer tokens, for a sequence model (a transformer), not model.kind = {m.kind!r}",
            )
        if m.kind in ("uv", "quadratic") and d.kind != "none":
            raise KeyProblem(
                "data.kind", f"model.kind = {m.kind!r} carries its own objective and takes no data: set data.kind = 'none' (got {d.kind!r})"
            )
        networks = m.kind in ("mlp", "cnn") or isinstance(m, ArchitectureModel)
        info = d.info() if isinstance(d, NpzData) and networks else None
        if isinstance(m, CNNModel):
            self._fits_cnn(m, info)
        if isinstance(m, ArchitectureModel):
            self._fits_architecture(m)
        if self.loss == "cross-entropy" and (not takes_data or d.kind not in ("random-labels", "npz", "sort", "python", *IMAGE_DATA)):
            raise KeyProblem(
                "loss",
                "'cross-entropy' needs a network on data and class labels (data.kind = 'random-labels', "
                f"{', '.join(repr(k) for k in IMAGE_DATA)}, 'sort', or 'npz' or 'python' with integer y) (got {m.kind!r} and {d.kind!r})",
            )
        if self.loss == "cross-entropy" and isinstance(d, NpzData) and info is not None and info.classes is None:
            raise KeyProblem(
                "loss", f"'cross-entropy' needs integer class labels, but y in {d.path} is {info.y_dtype} (regression): use loss = 'mse'"
            )
        if o.kind == "sgd" and not takes_data:
            raise KeyProblem("optimizer.kind", "'sgd' needs a data set (model.kind = 'mlp')")
        n_rows = info.n if info is not None else getattr(d, "n", None)
        if isinstance(o, SGDOptimizer) and n_rows is not None and o.batch_size > n_rows:
            raise KeyProblem("optimizer.batch_size", f"must be ≤ data.n = {n_rows} (got {o.batch_size})")
        if self.measure.on == "batch" and o.kind != "sgd":
            raise KeyProblem("measure.on", "'batch' needs optimizer.kind = 'sgd' (GD's batch is the full set)")
        if o.kind == "flow" and not self.measure.sharpness_every:
            raise KeyProblem(
                "measure.sharpness_every", "optimizer.kind = 'flow' sizes its RK4 steps by λ_max: set measure.sharpness_every ≥ 1"
            )
        if o.lr_relative is not None and isinstance(m, QuadraticModel) and max(m.eigenvalues) <= 0:
            top = max(m.eigenvalues)
            raise KeyProblem(
                "optimizer.lr_relative",
                f"sets η = lr_relative / λ_max, but every model.eigenvalues is ≤ 0 (λ_max = {top:g}): set optimizer.lr instead",
            )
        self._fits_flows()
        self._fits_selfstab()
        if self.device == "mps" and self.dtype == "float64":
            raise KeyProblem(
                "device",
                "'mps' has no float64: set dtype = 'float32', or device = 'cpu' (device = 'auto' runs float64 on the CPU by itself)",
            )
        count = self.parameter_count()  # 0 where only the built model knows it (engine/modules.py checks it then)
        if count and self.measure.eigenvalues > count:
            raise KeyProblem("measure.eigenvalues", f"{self.measure.eigenvalues} exceeds the {count} parameters")
        self._fits_lanczos()
        return self

    def _fits_lanczos(self) -> None:
        """The engine's own limit, on any machine: Lanczos finds k eigenpairs in at most max_iter HVPs
        and refuses k > max_iter (curvature.lanczos.Lanczos); the dense Hessian (exact) has no such limit.
        Only measured arms ask. Checked last, so that a rule above names the problem first."""
        m = self.measure
        if not m.exact and m.sharpness_every and m.eigenvalues > m.max_iter:
            raise KeyProblem(
                "measure.eigenvalues",
                f"{m.eigenvalues} exceeds measure.max_iter = {m.max_iter}, the most the Lanczos solver can resolve; "
                f"raise measure.max_iter to at least {m.eigenvalues}, or set measure.exact = true",
            )

    def _fits_flows(self) -> None:
        """measure.central_flow / stable_flow: the central flow of full-batch GD only."""
        me, o = self.measure, self.optimizer
        for key in ("central_flow", "stable_flow"):
            if not getattr(me, key):
                continue
            if o.kind != "gd":
                why = {
                    "sgd": "SGD's central flow differs (its noise adds a covariance of its own)",
                    "flow": "the flow arm is already a gradient flow",
                }.get(o.kind, f"{o.kind!r} has a central flow of its own (its preconditioner and its state move with the oscillation)")
                raise KeyProblem(f"measure.{key}", f"is the central flow of full-batch gradient descent (optimizer.kind = 'gd'): {why}")
            if getattr(o, "momentum", 0.0):
                raise KeyProblem(
                    f"measure.{key}", "needs plain GD (optimizer.momentum = 0): momentum's central flow differs (its edge is 2(1+β)/η)"
                )
            if key == "central_flow" and self.model.kind == "quadratic":
                raise KeyProblem(
                    f"measure.{key}",
                    "needs a model whose Hessian moves: a quadratic's is constant, so nothing holds λ_max at 2/η (GD above it diverges)",
                )
            if self.engine.chunk_size is not None:
                raise KeyProblem(
                    f"measure.{key}",
                    "differentiates the whole data in one graph (the central flow: to third order): drop engine.chunk_size",
                )

    def _fits_selfstab(self) -> None:
        """measure.self_stabilization: the paper's analysis is of full-batch GD's 2/η."""
        if not self.measure.self_stabilization:
            return
        key, o = "measure.self_stabilization", self.optimizer
        if o.kind != "gd":
            why = {
                "sgd": "SGD's mini-batch noise moves θ off the constrained trajectory by itself",
                "flow": "the flow arm never crosses 2/η: it has no oscillation to stabilize",
            }.get(o.kind, f"{o.kind!r}'s preconditioner moves with the oscillation, and its edge is not 2/η")
            raise KeyProblem(key, f"is measured on full-batch gradient descent (optimizer.kind = 'gd'): {why}")
        if getattr(o, "momentum", 0.0):
            raise KeyProblem(key, "needs plain GD (optimizer.momentum = 0): momentum's edge is 2(1+β)/η, and its map differs")
        if self.model.kind == "quadratic":
            raise KeyProblem(key, "needs a model whose sharpness moves: a quadratic's ∇S is 0, so nothing stabilizes it")
        if self.engine.chunk_size is not None:
            raise KeyProblem(key, "differentiates the whole data in one graph (∇S: to third order): drop engine.chunk_size")

    def image_shape(self) -> Optional[tuple[int, ...]]:
        """The shape of one input row when the data are images (CIFAR-10's (3, 32, 32), an npz
        file's X row shape), else None."""
        d = self.data
        if isinstance(d, (Cifar10Data, MnistData, DigitsData)):
            return d.IMAGE_SHAPE
        if isinstance(d, NpzData):
            shape = d.info().image_shape
            return tuple(shape) if shape is not None else None
        return None

    def example_shape(self) -> Optional[tuple[int, ...]]:
        """One example's shape as a network takes it: an image's (C, H, W) or (H, W), a token
        sequence's (length,) (data.kind = "sort"), a flat row's (dim,); None without data."""
        d = self.data
        if isinstance(d, SortData):
            return (d.length,)
        image = self.image_shape()
        if image is not None:
            return image
        dim = self.data_shape()[0]
        return (dim,) if dim else None

    def network_outputs(self) -> int:
        """The network's output width: the classes or targets, a sequence task's vocabulary."""
        d = self.data
        return d.vocab if isinstance(d, SortData) else self.data_shape()[1]

    def _fits_architecture(self, m: ArchitectureModel) -> None:
        d, kind = self.data, self.model.kind
        if m.NEEDS == "sequences":
            if d.kind != "sort":
                raise KeyProblem("model.kind", f"{kind!r} needs token sequences: data.kind = 'sort' (got {d.kind!r})")
            return
        if not isinstance(d, (Cifar10Data, MnistData, DigitsData, NpzData)) and self.image_shape() is None:
            raise KeyProblem(
                "model.kind",
                f"{kind!r} needs image data: data.kind = {_one_of(list(IMAGE_DATA))}, or 'npz' whose X rows are images (got {d.kind!r})",
            )
        shape = self.image_shape()
        if shape is None or len(shape) not in (2, 3):
            raise KeyProblem(
                "model.kind",
                f"{kind!r} needs image data, but X in {getattr(d, 'path', d.kind)} has flat rows: "
                "save X as (n, channels, height, width) or (n, height, width)",
            )
        m.fits(shape)

    def _fits_cnn(self, m: CNNModel, info: Any) -> None:
        d = self.data
        if not isinstance(d, (Cifar10Data, MnistData, DigitsData, NpzData)):
            raise KeyProblem(
                "model.kind",
                f"'cnn' needs image data: data.kind = {_one_of(list(IMAGE_DATA))}, or 'npz' whose X rows are images (got {d.kind!r})",
            )
        shape = self.image_shape()
        if shape is None or len(shape) not in (2, 3):
            where = d.path if isinstance(d, NpzData) else d.kind  # only an npz file's rows can be flat
            raise KeyProblem(
                "model.kind",
                f"'cnn' needs image data, but X in {where} has flat rows: save X as (n, channels, height, width) or (n, height, width)",
            )
        side = min(shape[-2:])
        if side < 2 ** len(m.channels):
            raise KeyProblem(
                "model.channels",
                f"{len(m.channels)} convolutions pool the {shape[-2]}×{shape[-1]} images 2×2 that many times: "
                f"at most {side.bit_length() - 1}",
            )

    def parameter_count(self) -> int:
        """The length of the engine's θ, computed without torch; 0 where it is known only once the
        model is built (a Python factory's network or data, whose shapes come from running it)."""
        m, d = self.model, self.data
        if isinstance(m, PythonModel) or isinstance(d, PythonData):
            return 0
        if isinstance(m, ArchitectureModel):
            shape = self.example_shape()
            return 0 if shape is None else m.parameters(shape, self.network_outputs())  # None: refused by _fit
        if isinstance(m, CNNModel):
            shape = self.image_shape()
            if shape is None or len(shape) not in (2, 3):
                return 0  # refused by _fit anyway: a CNN needs images
            c, h, w = (1, *shape) if len(shape) == 2 else shape
            count = 0
            for out in m.channels:
                count += out * c * 9 + (out if m.bias else 0)
                c, h, w = out, h // 2, w // 2
            outputs = self.data_shape()[1]
            return count + c * h * w * outputs + (outputs if m.bias else 0)
        if isinstance(m, QuadraticModel):
            return len(m.eigenvalues)
        if isinstance(m, UVModel):
            return 2 * m.width
        if isinstance(d, NoData):
            return 0  # refused by _fit anyway: an MLP needs data
        dim, out = self.data_shape()
        sizes = [dim, *m.hidden, out]
        return sum(a * b + (b if m.bias else 0) for a, b in zip(sizes[:-1], sizes[1:]))

    def data_shape(self) -> tuple[int, int]:
        """(input features, outputs) of the data an MLP sees; an npz file's from its headers."""
        d = self.data
        if isinstance(d, RandomLabelsData):
            return d.dim, d.classes
        if isinstance(d, TeacherData):
            return d.dim, d.outputs
        if isinstance(d, (Cifar10Data, MnistData, DigitsData)):
            return d.DIM, d.classes
        if isinstance(d, SortData):
            return d.length, d.vocab  # tokens per sequence, and the classes each position predicts
        if isinstance(d, NpzData):
            info = d.info()
            return info.dim, info.outputs
        return 0, 0

    def data_rows(self) -> int:
        """Training examples (an npz file's from its header)."""
        d = self.data
        if isinstance(d, NpzData):
            return int(d.info().n)
        return int(getattr(d, "n", 1))
