"""Models, data and losses, written functionally on one flat parameter vector θ.

Why flat: the Hessian acts on θ as one vector, so Hessian-vector products, eigenvectors, the
projection ⟨∇L, u⟩ and the displacement ⟨θ_{t+1} − θ_t, u⟩ are all plain dot products, and the
optimizer step is one axpy. Each problem exposes

    loss(θ, batch=None) -> scalar   the training loss on the full set (or on a mini-batch of indices)
    outputs(θ) -> Tensor            the network's outputs on the training set (for reparameterization)
    theta0                          the initial parameters

Losses follow Cohen et al. 2021: "mse" is the mean over examples of ½‖f(x) − y‖².
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

import torch
import torch.nn.functional as F

from ..rundir.format import StepExtras, UserCode
from .errors import ScenarioRefused
from .problem_base import ChunkedData, Problem, data_loss

# Cohen et al.'s fully connected networks come in tanh, ReLU, ELU and softplus (torch.nn's defaults:
# ELU's α = 1, softplus's β = 1); schema.py's `Activation` names the same set.
ACTIVATIONS = {
    "tanh": torch.tanh,
    "relu": torch.relu,
    "elu": F.elu,
    "softplus": F.softplus,
    "gelu": F.gelu,
    "linear": lambda h: h,
}


@dataclass
class LayerSlices:
    """Where one linear layer's weight (out × in) and bias live inside θ."""

    weight: slice
    shape: tuple[int, int]
    bias: slice | None


@dataclass
class ConvSlices:
    """Where one 3×3 convolution's weight (out × in × 3 × 3) and bias live inside θ."""

    weight: slice
    shape: tuple[int, int, int, int]
    bias: slice | None


@dataclass
class Quadratic(Problem):
    """L(θ) = ½ θᵀHθ: a Hessian that does not move, so every GD step is known in closed form."""

    kind: ClassVar[str] = "quadratic"
    theta0: torch.Tensor
    H: torch.Tensor

    def outputs(self, theta: torch.Tensor) -> torch.Tensor:
        return theta.reshape(1, -1)

    def stacked_loss(self) -> Callable[..., torch.Tensor]:
        return lambda theta, H: 0.5 * theta @ (H @ theta)

    def batch_data(self) -> tuple[torch.Tensor, ...]:
        return (self.H,)

    def batch_shape(self) -> tuple:
        return (tuple(self.H.shape),)


@dataclass
class UV(Problem):
    """Lewkowycz et al.'s uv model: f = u·v/√n on one example x = 1, target y = 0, loss ½f²."""

    kind: ClassVar[str] = "uv"
    theta0: torch.Tensor
    width: int

    def output(self, theta: torch.Tensor) -> torch.Tensor:
        w = self.width
        return theta[:w] @ theta[w:] / math.sqrt(w)

    def outputs(self, theta: torch.Tensor) -> torch.Tensor:
        return self.output(theta).reshape(1, 1)

    def stacked_loss(self) -> Callable[..., torch.Tensor]:
        def loss(theta: torch.Tensor) -> torch.Tensor:
            f = self.output(theta)
            return 0.5 * f * f

        return loss

    def batch_shape(self) -> tuple:
        return (self.width,)


@dataclass
class MLP(ChunkedData, Problem):
    """A fully connected network on a data set; "mse" or "cross-entropy" (Cohen et al. 2021)."""

    kind: ClassVar[str] = "mlp"
    theta0: torch.Tensor
    layers: list[LayerSlices]
    activation: str
    X: torch.Tensor
    Y: torch.Tensor  # targets: floats for mse, class indices for cross-entropy
    loss_kind: str = "mse"
    # A held-out split (cifar10 data.test_n, an npz's X_test/y_test), prepared like X and Y.
    X_test: torch.Tensor | None = None
    Y_test: torch.Tensor | None = None
    labels_test: torch.Tensor | None = None  # class indices of the test split (classification)
    image_shape: tuple[int, ...] | None = None  # X's rows reshape to this (CIFAR-10: 3, 32, 32)
    # engine.chunk_size: full-data passes (loss, gradient, HVPs, held-out loss) go through the
    # network this many examples at a time, the mean taken as (sum of chunk sums) / n; None: at once.
    chunk_size: int | None = None

    @torch.no_grad()
    def test_metrics(self, theta: torch.Tensor) -> StepExtras:
        """Loss (and accuracy, for classification) on the held-out split; {} without one."""
        if self.X_test is None or self.Y_test is None:
            return {}
        out = torch.cat([self.forward(theta, self.X_test[c]) for c in self._chunks(self.X_test.shape[0])])
        metrics: StepExtras = {"test_loss": float(self._data_loss(out, self.Y_test))}
        if self.labels_test is not None:
            metrics["test_accuracy"] = float((out.argmax(dim=-1) == self.labels_test).double().mean())
        return metrics

    def _data_loss(self, out: torch.Tensor, Y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        return data_loss(out, Y, self.loss_kind, reduction)

    def forward(self, theta: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
        act = ACTIVATIONS[self.activation]
        h = X
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            W = theta[layer.weight].view(layer.shape)
            b = theta[layer.bias] if layer.bias is not None else None
            h = F.linear(h, W, b)
            if i < last:
                h = act(h)
        return h

    def stacked_loss(self) -> Callable[..., torch.Tensor]:
        return lambda theta, X, Y: self._data_loss(self.forward(theta, X), Y)

    def batch_data(self) -> tuple[torch.Tensor, ...]:
        return (self.X, self.Y)

    def batch_shape(self) -> tuple:
        layers = tuple((layer.shape, layer.bias is not None) for layer in self.layers)
        return (layers, self.activation, tuple(self.X.shape), tuple(self.Y.shape), str(self.Y.dtype))


@dataclass
class CNN(MLP):
    """Cohen et al.'s convnet on image data: 3×3 convolutions (padding 1), each followed by the
    activation and a 2×2 pooling ("max" or "average"), then a linear head (`layers`, one layer) on
    the flattened features. Written on slices of θ like the MLP; X's rows are flat images that
    reshape to `image_shape` (channels, height, width)."""

    kind: ClassVar[str] = "cnn"
    convs: list[ConvSlices] = field(default_factory=list)
    pooling: str = "max"

    def forward(self, theta: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
        assert self.image_shape is not None
        act = ACTIVATIONS[self.activation]
        pool = F.max_pool2d if self.pooling == "max" else F.avg_pool2d
        h = X.reshape(X.shape[0], *self.image_shape)
        for conv in self.convs:
            W = theta[conv.weight].view(conv.shape)
            b = theta[conv.bias] if conv.bias is not None else None
            h = pool(act(F.conv2d(h, W, b, padding=1)), 2)
        head = self.layers[-1]
        W = theta[head.weight].view(head.shape)
        b = theta[head.bias] if head.bias is not None else None
        return F.linear(h.flatten(1), W, b)

    def batch_shape(self) -> tuple:
        convs = tuple((c.shape, c.bias is not None) for c in self.convs)
        return (convs, self.pooling, self.image_shape, *super().batch_shape())


def image_channels_hw(image_shape: tuple[int, ...]) -> tuple[int, int, int]:
    """(channels, height, width) of an image row shape: (C, H, W), or (H, W) with one channel."""
    if len(image_shape) == 2:
        return 1, int(image_shape[0]), int(image_shape[1])
    c, h, w = image_shape
    return int(c), int(h), int(w)


def _take(offset: int, weights: int, biases: int, bias: bool) -> tuple[slice, slice | None, int]:
    """One layer's slices of θ from `offset`: its weights, then its biases where it has them; and
    the offset after them."""
    w = slice(offset, offset + weights)
    offset += weights
    if not bias:
        return w, None, offset
    return w, slice(offset, offset + biases), offset + biases


def cnn_layout(image_shape: tuple[int, ...], channels: list[int], outputs: int, bias: bool) -> tuple[list[ConvSlices], LayerSlices, int]:
    """The convolutions, the head and the length of θ for a CNN (schema.py's parameter count is
    the same arithmetic, tested equal)."""
    c, h, w = image_channels_hw(image_shape)
    convs, offset = [], 0
    for out in channels:
        wsl, bsl, offset = _take(offset, out * c * 9, out, bias)
        convs.append(ConvSlices(wsl, (out, c, 3, 3), bsl))
        c, h, w = out, h // 2, w // 2
    fan_in = c * h * w
    wsl, bsl, offset = _take(offset, fan_in * outputs, outputs, bias)
    return convs, LayerSlices(wsl, (outputs, fan_in), bsl), offset


def _cnn_init(convs: list[ConvSlices], head: LayerSlices, n: int, gen: torch.Generator) -> torch.Tensor:
    """PyTorch's nn.Conv2d / nn.Linear defaults: weights and biases uniform in ±1/√fan_in."""
    theta = torch.empty(n, dtype=torch.float64)
    parts = [(c.weight, c.bias, c.shape[1] * 9) for c in convs] + [(head.weight, head.bias, head.shape[1])]
    for wsl, bsl, fan_in in parts:
        bound = 1.0 / math.sqrt(fan_in)
        for sl in (wsl, bsl):
            if sl is not None:
                theta[sl] = (torch.rand(sl.stop - sl.start, generator=gen, dtype=torch.float64) * 2 - 1) * bound
    return theta


def _dtype(name: str) -> torch.dtype:
    return torch.float64 if name == "float64" else torch.float32


def _mlp_layout(sizes: list[int], bias: bool) -> tuple[list[LayerSlices], int]:
    layers, offset = [], 0
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        w, b, offset = _take(offset, fan_in * fan_out, fan_out, bias)
        layers.append(LayerSlices(w, (fan_out, fan_in), b))
    return layers, offset


def _mlp_init(layers: list[LayerSlices], n: int, gen: torch.Generator) -> torch.Tensor:
    """PyTorch's nn.Linear default: weights and biases uniform in ±1/√fan_in."""
    theta = torch.empty(n, dtype=torch.float64)
    for layer in layers:
        bound = 1.0 / math.sqrt(layer.shape[1])
        size = layer.weight.stop - layer.weight.start
        theta[layer.weight] = (torch.rand(size, generator=gen, dtype=torch.float64) * 2 - 1) * bound
        if layer.bias is not None:
            size = layer.bias.stop - layer.bias.start
            theta[layer.bias] = (torch.rand(size, generator=gen, dtype=torch.float64) * 2 - 1) * bound
    return theta


def make_data(spec, loss_kind: str, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Inputs, targets and output width for a [data] section (generated in float64 on the CPU)."""
    d = spec
    X = torch.randn(d.n, d.dim, generator=gen, dtype=torch.float64)
    if d.kind == "random-labels":
        labels = torch.randint(0, d.classes, (d.n,), generator=gen)
        if loss_kind == "cross-entropy":
            return X, labels, d.classes
        return X, F.one_hot(labels, d.classes).to(torch.float64), d.classes
    if d.kind == "teacher":
        # A fixed random tanh teacher of width 32 with unit-scale outputs: a smooth target
        # that a student can fit, so the loss goes well below its starting value.
        hidden = 32
        W1 = torch.randn(hidden, d.dim, generator=gen, dtype=torch.float64) / math.sqrt(d.dim)
        W2 = torch.randn(d.outputs, hidden, generator=gen, dtype=torch.float64) / math.sqrt(hidden)
        Y = torch.tanh(X @ W1.T) @ W2.T
        return X, Y, d.outputs
    raise ValueError(f"data kind {d.kind!r} has no examples")


def load_data(spec, loss_kind: str):
    """A [data] section read from files (LOADED_DATA) as float64 CPU tensors: (X, Y, outputs, X_test,
    Y_test, test labels, image shape). Y as make_data's: one-hot for mse, labels for cross-entropy."""
    from ..data import DataError, cifar10, digits, mnist, npz

    try:
        if spec.kind == "cifar10":
            ds = cifar10.load(spec.path, int(spec.n), int(spec.classes), int(spec.test_n))
        elif spec.kind in mnist.SETS:
            ds = mnist.load(spec.kind, spec.path, int(spec.n), int(spec.classes), int(spec.test_n))
        elif spec.kind == "digits":
            ds = digits.load(int(spec.n), int(spec.classes), int(spec.test_n), bool(spec.standardize))
        else:
            ds = npz.load(spec.path, spec.n, spec.classes)
    except DataError as e:
        raise ScenarioRefused(str(e)) from None

    def targets(y):
        t = torch.from_numpy(y)
        if ds.classes is None:
            return t.to(torch.float64)
        if loss_kind == "cross-entropy":
            return t.to(torch.int64)
        return F.one_hot(t.to(torch.int64), ds.classes).to(torch.float64)

    X = torch.from_numpy(ds.X).to(torch.float64)
    Xt = torch.from_numpy(ds.X_test).to(torch.float64) if ds.X_test is not None else None
    Yt = targets(ds.y_test) if ds.y_test is not None else None
    lt = torch.from_numpy(ds.y_test).to(torch.int64) if ds.y_test is not None and ds.classes is not None else None
    return X, targets(ds.y), ds.outputs, Xt, Yt, lt, ds.image_shape


def sort_data(spec, loss_kind: str, seed: int):
    """data.kind = "sort" (data/sort.py) as CPU tensors (X, Y, outputs, X_test, Y_test, test labels):
    X int64 tokens (n, length); Y their sorted rows, class indices for cross-entropy (one-hot over
    the vocabulary for mse), a target at every position. `seed` is data.seed (else the arm's) as it
    is, so that seed 0 draws the central-flows code's rows."""
    from ..data import DataError, sort

    try:
        ds = sort.load(int(spec.n), int(spec.length), int(spec.vocab), seed=seed, test_n=int(spec.test_n))
    except DataError as e:
        raise ScenarioRefused(str(e)) from None

    def targets(y):
        t = torch.from_numpy(y).to(torch.int64)
        return t if loss_kind == "cross-entropy" else F.one_hot(t, int(spec.vocab)).to(torch.float64)

    X = torch.from_numpy(ds.X).to(torch.int64)
    if ds.X_test is None:
        return X, targets(ds.y), int(spec.vocab), None, None, None
    labels = torch.from_numpy(ds.y_test).to(torch.int64)
    return X, targets(ds.y), int(spec.vocab), torch.from_numpy(ds.X_test).to(torch.int64), targets(ds.y_test), labels


# The data kinds load_data reads (files, or scikit-learn's copy of the digits), not drawn from a seed.
LOADED_DATA = ("cifar10", "mnist", "fashion-mnist", "digits", "npz")


def random_rotation(d: int, gen: torch.Generator) -> torch.Tensor:
    """A seeded Haar-random orthogonal matrix (QR of a Gaussian with the signs fixed)."""
    A = torch.randn(d, d, generator=gen, dtype=torch.float64)
    Q, R = torch.linalg.qr(A)
    return Q * torch.sign(torch.diagonal(R)).unsqueeze(0)


# What of a model's settings makes only the starting point, not the loss function (build_problem).
INIT_ONLY = ("init", "init_scale", "description")


def objective_of(arm) -> dict[str, Any]:
    """The settings that make an arm's loss function, θ aside, as build_problem reads them: two arms
    with equal ones have one loss landscape. The data's seed counts only where the data, or the
    quadratic's rotation, are drawn from it (taken from the arm's seed when data.seed is unset)."""
    model = {f"model.{k}": v for k, v in arm.model.model_dump().items() if k not in INIT_ONLY}
    data = {f"data.{k}": v for k, v in arm.data.model_dump().items() if k != "description"}
    drawn = arm.model.kind == "quadratic" or arm.data.kind in ("random-labels", "teacher", "python")
    data["data.seed"] = (arm.data.seed if arm.data.seed is not None else arm.seed) if drawn else None
    return {"loss": arm.loss, **model, **data}


def build_problem(arm, device: torch.device) -> Problem:
    """The problem of a resolved arm, on `device`, in the arm's dtype. A model or data of Python
    code (kind "python") imports and runs it: callers check --trust-code first (scenario/code.py).

    Everything random is drawn in float64 on the CPU from seeded generators and only then cast
    and moved, so the same seed gives the same problem on every device and dtype.
    """
    dtype = _dtype(arm.dtype)
    model = arm.model
    init_gen = torch.Generator().manual_seed(int(arm.seed))
    data_seed = arm.data.seed if arm.data.seed is not None else arm.seed
    data_gen = torch.Generator().manual_seed(int(data_seed) + 1_000_003)

    def put(t: torch.Tensor) -> torch.Tensor:
        return t.to(device=device, dtype=dtype if t.is_floating_point() else t.dtype)

    if model.kind == "quadratic":
        lam = torch.tensor(list(model.eigenvalues), dtype=torch.float64)
        Q = random_rotation(lam.numel(), data_gen)
        H = (Q * lam) @ Q.T
        H = (H + H.T) / 2
        x0 = torch.tensor(list(model.init), dtype=torch.float64) if model.init else torch.ones(lam.numel(), dtype=torch.float64)
        return Quadratic(put(x0 * model.init_scale), H=put(H))
    if model.kind == "uv":
        w = int(model.width)
        theta = torch.randn(2 * w, generator=init_gen, dtype=torch.float64) * model.init_scale
        return UV(put(theta), width=w)
    chunk = getattr(getattr(arm, "engine", None), "chunk_size", None)
    from ..models import ARCHITECTURES

    if model.kind not in ("cnn", "mlp", "python") and model.kind not in ARCHITECTURES:
        raise ValueError(f"unknown model kind {model.kind!r}")
    Xt = Yt = lt = None
    image = None
    code: list[UserCode] = []
    if arm.data.kind in LOADED_DATA:
        X, Y, out_dim, Xt, Yt, lt, image = load_data(arm.data, arm.loss)
    elif arm.data.kind == "sort":
        X, Y, out_dim, Xt, Yt, lt = sort_data(arm.data, arm.loss, int(data_seed))
    elif arm.data.kind == "python":
        from .modules import python_data

        loaded = python_data(arm.data, arm.loss, int(data_seed) + 1_000_003)
        X, Y, out_dim, Xt, Yt, lt = loaded.X, loaded.Y, loaded.outputs, loaded.X_test, loaded.Y_test, loaded.labels_test
        code.append(loaded.code)
        if model.kind == "mlp":  # an MLP reads flat rows
            if not X.is_floating_point():
                raise ScenarioRefused(f"data.factory {arm.data.factory!r}: X is {X.dtype}; model.kind = 'mlp' needs float inputs")
            X, Xt = X.flatten(1), (Xt.flatten(1) if Xt is not None else None)
    elif model.kind != "cnn":
        X, Y, out_dim = make_data(arm.data, arm.loss, data_gen)
    else:  # validation refuses this first (checks the data kind); here for direct callers
        raise ValueError(f"model.kind = 'cnn' needs image data (data.kind = {arm.data.kind!r})")
    if model.kind == "python" or model.kind in ARCHITECTURES:
        problem = _module_problem(arm, device, dtype, X, Y, out_dim, Xt, Yt, lt, image, code)
        problem.code = code
        return problem
    # What an MLP and a CNN share: the data, its held-out split, the loss and the activation.
    common = dict(
        activation=model.activation,
        X=put(X),
        Y=put(Y),
        loss_kind=arm.loss,
        X_test=put(Xt) if Xt is not None else None,
        Y_test=put(Yt) if Yt is not None else None,
        labels_test=put(lt) if lt is not None else None,
        image_shape=image,
        chunk_size=chunk,
    )
    if model.kind == "cnn":
        if image is None or len(image) not in (2, 3):
            raise ValueError(f"model.kind = 'cnn' needs image data (got rows of shape {image})")
        convs, head, n = cnn_layout(image, list(model.channels), out_dim, model.bias)
        theta = _cnn_init(convs, head, n, init_gen) * model.init_scale
        return CNN(put(theta), layers=[head], convs=convs, pooling=model.pooling, **common)
    sizes = [X.shape[1], *model.hidden, out_dim]
    layers, n = _mlp_layout(sizes, model.bias)
    theta = _mlp_init(layers, n, init_gen) * model.init_scale
    mlp = MLP(put(theta), layers=layers, **common)
    mlp.code = code
    return mlp


# The model section's keys that are not the architecture's arguments (build_problem).
NOT_ARGUMENTS = ("kind", "init_scale", "init", "description")


def _module_problem(arm, device, dtype, X, Y, out_dim, Xt, Yt, lt, image, code: list[UserCode]) -> Problem:
    """A network of torch.nn modules (engine/modules.py): the user's own (model.kind = "python", its
    factory imported: the command line has checked --trust-code) or a built-in architecture
    (eos_tui/models/, ours: no flag). Its factory gets one example's shape and the output width."""
    import importlib

    from ..models import ARCHITECTURES
    from .modules import build_module, load_factory, module_problem

    model = arm.model
    if image is not None:  # flat image rows (cifar10, npz): the network sees the images
        X = X.reshape(X.shape[0], *image)
        Xt = Xt.reshape(Xt.shape[0], *image) if Xt is not None else None
    input_shape = tuple(int(s) for s in X.shape[1:])
    if model.kind == "python":
        fn, info = load_factory(model.factory, "model.factory")
        code.insert(0, info)
        where, args = f"model.factory {model.factory!r}", dict(model.args)
    else:
        module_name, _, function = ARCHITECTURES[model.kind].partition(":")
        fn = getattr(importlib.import_module(module_name), function)
        where = f"model.kind = {model.kind!r}"
        args = {k: v for k, v in model.model_dump().items() if k not in NOT_ARGUMENTS}
    module = build_module(fn, where, int(arm.seed), input_shape=input_shape, outputs=int(out_dim), **args)
    return module_problem(module, where=where, arm=arm, device=device, dtype=dtype, X=X, Y=Y, X_test=Xt, Y_test=Yt, labels_test=lt)
