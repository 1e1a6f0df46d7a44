"""A `torch.nn.Module` as a loss on one flat parameter vector θ, and the Python factories behind it.

The user's own network (`model.kind = "python"`) and the built-in architectures (eos_tui/models/)
take this one path: the module's trainable parameters are laid end to end in θ (float64 or float32
as the arm's dtype, on its device), and the loss is computed with
`torch.func.functional_call(module, {name: view of θ}, X)`. θ is then a plain tensor like any other
problem's, so every instrument works on it unchanged: Hessian-vector products (make_hvp, chunked
through `loss_parts`), Lanczos and the per-step tracker, the dense Hessian, the central flow,
checkpoints, resume and the landscape.

What is measured (docs/own-code.md says it for users):
- the module in the mode its factory returned it in (train or eval);
- BatchNorm in training mode normalizes by the statistics of the batch it is given, here the whole
  training set: under full-batch GD a well-defined loss. Its running statistics are neither used nor
  updated (`track_running_stats` off in training mode), and every evaluation gets copies of the
  buffers, so no measurement changes them. Chunking the data (engine.chunk_size below the data's
  size) would normalize each chunk by its own statistics, another function: refused
  (engine/determinism.py names the layers);
- dropout, or anything else that makes two evaluations at θ0 differ, has no Hessian: refused.

Loading code: `load_factory` imports a factory ("FILE.py:function" or "package.module:function",
scenario/code.py) once the command line has checked --trust-code; a file's bytes are hashed and
those very bytes executed, so the SHA-256 the manifest records is that of the code that ran.
Everything the code raises becomes one ScenarioRefused line naming the factory.

Imports torch (never textual).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import os
import random
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterator

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from ..rundir.format import StepExtras, UserCode
from ..scenario.code import parse_factory
from .determinism import batch_dependent_layers, check_repeatable, random_layers
from .errors import ScenarioRefused
from .problem_base import ChunkedData, Problem, data_loss

# An exception's message in a refusal: one line, bounded (a factory can raise anything).
MESSAGE_CHARS = 300


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if len(text) > MESSAGE_CHARS:
        text = text[: MESSAGE_CHARS - 1] + "…"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# ---- loading and calling factories -----------------------------------------------------------------


@contextlib.contextmanager
def _on_path(folder: str) -> Iterator[None]:
    """`folder` first on sys.path while a factory file runs, so that it imports its neighbours."""
    sys.path.insert(0, folder)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(folder)


def _module_name(path: str, digest: str) -> str:
    stem = "".join(c if c.isalnum() else "_" for c in Path(path).stem)
    return f"eos_tui_user.{stem}_{digest[:16]}"


def load_factory(text: str, key: str) -> tuple[Callable[..., Any], UserCode]:
    """The function `text` names and what the manifest records of it. Imports (runs) user code: the
    caller has checked --trust-code. ScenarioRefused, naming `key` and `text`, for anything wrong."""
    where = f"{key} = {text!r}"
    try:
        ref = parse_factory(text)
    except ValueError as e:
        raise ScenarioRefused(f"{where}: {e}") from None
    if ref.path is not None:
        path = ref.path
        try:
            source = Path(path).read_bytes()
        except OSError as e:
            raise ScenarioRefused(f"{where}: cannot read {path}: {e.strerror or e}") from None
        digest = hashlib.sha256(source).hexdigest()
        name = _module_name(path, digest)
        module = sys.modules.get(name)
        if module is None:
            # The bytes hashed are the bytes run; the module is registered before it runs (as
            # importlib does), so that dataclasses and pickling inside it find it.
            module = types.ModuleType(name)
            module.__file__ = path
            sys.modules[name] = module
            try:
                code = compile(source, path, "exec")
                with _on_path(os.path.dirname(path)):
                    exec(code, module.__dict__)  # noqa: S102 - the user's own code, trusted with --trust-code
            except Exception as e:  # noqa: BLE001 - anything the code raises is a refusal, one line
                del sys.modules[name]
                raise ScenarioRefused(f"{where}: importing {path} raised {one_line(e)}") from None
        file: str | None = path
    else:
        try:
            module = importlib.import_module(str(ref.module))
        except Exception as e:  # noqa: BLE001
            raise ScenarioRefused(f"{where}: cannot import {ref.module}: {one_line(e)}") from None
        file = getattr(module, "__file__", None)
        digest = None
        if file is not None:
            with contextlib.suppress(OSError):
                digest = hashlib.sha256(Path(file).read_bytes()).hexdigest()
    fn = getattr(module, ref.function, None)
    if fn is None:
        raise ScenarioRefused(f"{where}: {file or ref.module} defines no {ref.function!r}")
    if not callable(fn):
        raise ScenarioRefused(f"{where}: {ref.function!r} is a {type(fn).__name__}, not a function")
    return fn, UserCode(key=key, factory=text, file=file, sha256=digest)


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """torch's, numpy's and Python's global generators seeded with `seed`, and given back as they
    were afterwards (torch.random.fork_rng for torch's): a factory that draws from them draws the
    same numbers for the same seed, and the caller's streams do not move."""
    np_state, py_state = np.random.get_state(), random.getstate()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        np.random.seed(seed % 2**32)
        random.seed(seed)
        try:
            yield
        finally:
            np.random.set_state(np_state)
            random.setstate(py_state)


@contextlib.contextmanager
def float64_on_cpu() -> Iterator[None]:
    """torch's default dtype float64 while a network is built (its initialization drawn in float64,
    then cast: the same θ0 in float32 as float64's, rounded, on every device)."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        torch.set_default_dtype(before)


def call_factory(fn: Callable[..., Any], where: str, /, **kwargs: Any) -> Any:
    """fn(**kwargs); what it raises becomes one ScenarioRefused line naming the factory."""
    try:
        return fn(**kwargs)
    except Exception as e:  # noqa: BLE001 - the user's code: anything is a refusal with its reason
        raise ScenarioRefused(f"{where} raised {one_line(e)}") from None


# ---- the user's data -------------------------------------------------------------------------------


@dataclass
class LoadedData:
    """A data factory's tensors as the engine keeps them (float64 or int64, on the CPU)."""

    X: torch.Tensor
    Y: torch.Tensor  # float targets (mse: regression, or one-hot classes), or class indices (cross-entropy)
    outputs: int  # the network's output width
    X_test: torch.Tensor | None
    Y_test: torch.Tensor | None
    labels_test: torch.Tensor | None  # class indices of the held-out split (classification)
    code: UserCode


def _tensor(value: Any, what: str, where: str) -> torch.Tensor:
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(value)
    if not isinstance(value, torch.Tensor):
        raise ScenarioRefused(f"{where}: {what} is a {type(value).__name__}, not a tensor")
    if value.is_complex() or value.dtype == torch.bool:
        raise ScenarioRefused(f"{where}: {what} is {str(value.dtype).replace('torch.', '')}; use floats or integers")
    value = value.detach().cpu()
    if value.is_floating_point() and not bool(torch.isfinite(value).all()):
        raise ScenarioRefused(f"{where}: {what} has values that are not finite (nan or inf)")
    return value


def check_data(result: Any, where: str, loss_kind: str, code: UserCode) -> LoadedData:
    """A data factory's result, checked and converted; one ScenarioRefused line for anything wrong."""
    if not isinstance(result, (tuple, list)) or len(result) not in (2, 4):
        got = f"a {type(result).__name__}" + (f" of {len(result)}" if isinstance(result, (tuple, list)) else "")
        raise ScenarioRefused(f"{where}: returned {got}; expected (X, y) or (X, y, X_test, y_test)")
    names = ("X", "y", "X_test", "y_test")
    X, y, *test = (_tensor(v, n, where) for v, n in zip(result, names))
    if X.dim() < 2 or X.shape[0] == 0:
        raise ScenarioRefused(f"{where}: X has shape {tuple(X.shape)}; expected one row per example, (n, features…) with n ≥ 1")
    n = X.shape[0]

    def rows(t: torch.Tensor, name: str, like: torch.Tensor, count: int | None) -> None:
        if count is not None and t.shape[0] != count:
            raise ScenarioRefused(f"{where}: {name} has {t.shape[0]} rows, X {count}")
        if t.shape[1:] != like.shape[1:] or t.is_floating_point() != like.is_floating_point():
            raise ScenarioRefused(
                f"{where}: {name} is {tuple(t.shape)} {t.dtype}, unlike the training split's {tuple(like.shape)} {like.dtype}"
            )

    if y.dim() == 0 or y.shape[0] != n:
        raise ScenarioRefused(f"{where}: y has shape {tuple(y.shape)}; expected {n} rows, one per row of X")
    Xt, yt = (test[0], test[1]) if test else (None, None)
    if Xt is not None and yt is not None:
        rows(Xt, "X_test", X, None)
        rows(yt, "y_test", y, Xt.shape[0])
    if y.is_floating_point():
        if loss_kind == "cross-entropy":
            raise ScenarioRefused(
                f"{where}: loss 'cross-entropy' needs integer class labels, but y is {y.dtype} (regression): use loss = 'mse'"
            )
        if y.dim() > 2:
            raise ScenarioRefused(f"{where}: y has shape {tuple(y.shape)}; regression targets are (n,) or (n, outputs)")
        targets = y.to(torch.float64).reshape(n, -1)
        outputs, labels_test = targets.shape[1], None
        Yt = yt.to(torch.float64).reshape(yt.shape[0], -1) if yt is not None else None
    else:
        if y.dim() not in (1, 2):
            raise ScenarioRefused(
                f"{where}: integer y (class labels) must be one per example, shape ({n},), or one per position of a sequence, "
                f"({n}, positions); not {tuple(y.shape)}"
            )
        labels = [y] + ([yt] if yt is not None else [])
        low = min(int(t.min()) for t in labels if t.numel())
        if low < 0:
            raise ScenarioRefused(f"{where}: class labels must be ≥ 0 (found {low})")
        outputs = max(int(t.max()) for t in labels if t.numel()) + 1
        if outputs < 2:
            raise ScenarioRefused(f"{where}: y holds one class only; classification needs at least 2")

        def target(t: torch.Tensor) -> torch.Tensor:
            t = t.to(torch.int64)
            return t if loss_kind == "cross-entropy" else torch.nn.functional.one_hot(t, outputs).to(torch.float64)

        targets, Yt = target(y), (target(yt) if yt is not None else None)
        labels_test = yt.to(torch.int64) if yt is not None else None

    def inputs(t: torch.Tensor) -> torch.Tensor:
        return t.to(torch.float64) if t.is_floating_point() else t.to(torch.int64)

    return LoadedData(inputs(X), targets, int(outputs), inputs(Xt) if Xt is not None else None, Yt, labels_test, code)


def python_data(spec: Any, loss_kind: str, seed: int) -> LoadedData:
    """A `data.kind = "python"` section's tensors: its factory called with its args under `seed`."""
    fn, code = load_factory(spec.factory, "data.factory")
    where = f"data.factory {spec.factory!r}"
    with seeded(seed):
        result = call_factory(fn, where, **dict(spec.args))
    return check_data(result, where, loss_kind, code)


# ---- the network -----------------------------------------------------------------------------------


def build_module(fn: Callable[..., nn.Module], where: str, seed: int, /, **kwargs: Any) -> nn.Module:
    """The factory's network, built on the CPU in float64 under generators seeded with `seed` (the
    same θ0 for the same seed on every device and dtype)."""
    with seeded(seed), float64_on_cpu():
        module = call_factory(fn, where, **kwargs)
    if not isinstance(module, nn.Module):
        raise ScenarioRefused(f"{where} returned a {type(module).__name__}, not a torch.nn.Module")
    if not any(p.requires_grad for p in module.parameters()):
        raise ScenarioRefused(f"{where} returned a network with no trainable parameters")
    return module


@dataclass
class ModuleProblem(ChunkedData, Problem):
    """A network of torch.nn modules on a data set, its trainable parameters flattened into θ.

    Same loss conventions as MLP ("mse" the mean of ½‖f − y‖², "cross-entropy"), the same held-out
    metrics and engine.chunk_size chunking (refused with batch-dependent layers: see the module
    docstring). Never trained in a vmapped batch (`vmappable`)."""

    kind: ClassVar[str] = "module"
    vmappable: ClassVar[bool] = False
    theta0: torch.Tensor
    module: nn.Module
    names: list[str]  # the trainable parameters, in θ's order
    shapes: list[torch.Size]
    fixed: dict[str, torch.Tensor]  # buffers and frozen parameters (copied into every evaluation)
    X: torch.Tensor
    Y: torch.Tensor
    loss_kind: str = "mse"
    X_test: torch.Tensor | None = None
    Y_test: torch.Tensor | None = None
    labels_test: torch.Tensor | None = None
    chunk_size: int | None = None
    batch_dependent: list[str] = field(default_factory=list)  # BatchNorm layers using batch statistics
    where: str = "the model"  # the factory, for messages

    @property
    def n_examples(self) -> int:
        return self.X.shape[0]

    @property
    def sizes(self) -> list[int]:
        return [s.numel() for s in self.shapes]

    def parameters_of(self, theta: torch.Tensor) -> dict[str, torch.Tensor]:
        """The module's parameters as views of θ, with copies of its buffers (a layer that writes
        into a buffer in its forward pass writes into a copy: no evaluation changes the next)."""
        params = {n: t.view(s) for n, t, s in zip(self.names, theta.split(self.sizes), self.shapes)}
        return {**params, **{n: b.clone() for n, b in self.fixed.items()}}

    def forward(self, theta: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
        out = functional_call(self.module, self.parameters_of(theta), (X,), strict=False)
        if not isinstance(out, torch.Tensor):
            raise ScenarioRefused(f"{self.where}: the network returns a {type(out).__name__}, not a tensor")
        if self.loss_kind == "mse" and out.dim() == 1:
            out = out.unsqueeze(-1)  # one output per example, against (n, 1) targets
        return out

    @torch.no_grad()
    def test_metrics(self, theta: torch.Tensor) -> StepExtras:
        if self.X_test is None or self.Y_test is None:
            return {}
        n = self.X_test.shape[0]
        # With batch statistics the held-out split is one batch (chunks would each be normalized apart).
        chunks = [slice(0, n)] if self.batch_dependent else self._chunks(n)
        out = torch.cat([self.forward(theta, self.X_test[c]) for c in chunks])
        metrics: StepExtras = {"test_loss": float(data_loss(out, self.Y_test, self.loss_kind))}
        if self.labels_test is not None:
            metrics["test_accuracy"] = float((out.argmax(dim=-1) == self.labels_test).double().mean())
        return metrics

    def stacked_loss(self) -> Callable[..., torch.Tensor]:
        raise NotImplementedError("a torch.nn network trains on its own, never in a vmapped batch")

    def batch_shape(self) -> tuple:
        raise NotImplementedError("a torch.nn network trains on its own, never in a vmapped batch")


def _targets_fit(out: torch.Tensor, Y: torch.Tensor, loss_kind: str, where: str) -> None:
    """The network's outputs on a few examples against their targets: one line when they cannot meet."""
    if out.dim() == 0 or out.shape[0] != Y.shape[0]:
        raise ScenarioRefused(
            f"{where}: the network maps {Y.shape[0]} examples to outputs of shape {tuple(out.shape)}; expected one row each"
        )
    if loss_kind == "cross-entropy":
        classes = int(Y.max()) + 1
        if out.dim() != Y.dim() + 1 or out.shape[:-1] != Y.shape or out.shape[-1] < classes:
            want = "(n, classes" if Y.dim() == 1 else f"(n, {Y.shape[1]} positions, classes"
            raise ScenarioRefused(
                f"{where}: loss 'cross-entropy' needs outputs of shape {want} ≥ {classes}), got {tuple(out.shape[1:])} per example"
            )
    elif out.shape != Y.shape:
        raise ScenarioRefused(f"{where}: the network's outputs are {tuple(out.shape[1:])} per example, the targets {tuple(Y.shape[1:])}")


def _labels(module: nn.Module, names: list[str]) -> str:
    """Submodules by name and type: "1 (BatchNorm1d), 4 (BatchNorm1d)"."""
    subs = dict(module.named_modules())
    return ", ".join(f"{n} ({type(subs[n]).__name__})" if n in subs else n for n in names)


def module_problem(
    module: nn.Module,
    *,
    where: str,
    arm: Any,
    device: torch.device,
    dtype: torch.dtype,
    X: torch.Tensor,
    Y: torch.Tensor,
    X_test: torch.Tensor | None = None,
    Y_test: torch.Tensor | None = None,
    labels_test: torch.Tensor | None = None,
) -> ModuleProblem:
    """A built network (float64, CPU) as the arm's problem on `device` in `dtype`, with the honesty
    checks: chunking with batch statistics refused, a loss that differs between two evaluations at
    θ0 refused, too many eigenvalues for θ refused. Tensors are moved here."""
    chunk = getattr(getattr(arm, "engine", None), "chunk_size", None)
    n = X.shape[0]
    batch_dependent = batch_dependent_layers(module)
    if batch_dependent and chunk is not None and chunk < n:
        raise ScenarioRefused(
            f"arm {arm.name!r}: engine.chunk_size = {chunk} is below the data's {n} examples, but {where}'s layers "
            f"{_labels(module, batch_dependent)} normalize by the statistics of the batch they see (BatchNorm in training mode): "
            "each chunk would be normalized by its own, which is another loss than the full batch's; "
            "drop engine.chunk_size, or put those layers in eval mode"
        )
    # Training-mode BatchNorm: batch statistics, running statistics neither read nor written.
    for sub in module.modules():
        if isinstance(sub, nn.modules.batchnorm._BatchNorm) and sub.training:
            sub.track_running_stats = False
    module = module.to(device=device, dtype=dtype)
    trainable = [(name, p) for name, p in module.named_parameters() if p.requires_grad]
    names = [name for name, _ in trainable]
    theta0 = torch.cat([p.detach().reshape(-1) for _, p in trainable]) * float(arm.model.init_scale)
    fixed = {name: p.detach() for name, p in module.named_parameters() if not p.requires_grad}
    fixed.update({name: b.detach() for name, b in module.named_buffers()})

    def put(t: torch.Tensor | None) -> torch.Tensor | None:
        if t is None:
            return None
        return t.to(device=device, dtype=dtype if t.is_floating_point() else t.dtype)

    problem = ModuleProblem(
        theta0=theta0,
        module=module,
        names=names,
        shapes=[p.shape for _, p in trainable],
        fixed=fixed,
        X=put(X),  # type: ignore[arg-type]
        Y=put(Y),  # type: ignore[arg-type]
        loss_kind=arm.loss,
        X_test=put(X_test),
        Y_test=put(Y_test),
        labels_test=put(labels_test),
        chunk_size=chunk,
        batch_dependent=batch_dependent,
        where=where,
    )
    k = int(arm.measure.eigenvalues)
    if k > problem.dim:
        raise ScenarioRefused(f"arm {arm.name!r}: measure.eigenvalues = {k} exceeds the {problem.dim} parameters of {where}'s network")
    with torch.no_grad():
        sample = slice(0, min(n, 2)) if not batch_dependent else slice(0, n)
        try:
            out = problem.forward(problem.theta0, problem.X[sample])
        except ScenarioRefused:
            raise
        except Exception as e:  # noqa: BLE001 - the user's forward pass on the data: its reason, one line
            raise ScenarioRefused(
                f"arm {arm.name!r}: {where}: the network's forward pass on X{list(X.shape[1:])} raised {one_line(e)}"
            ) from None
        _targets_fit(out, problem.Y[sample], arm.loss, where)
    why = check_repeatable(lambda: problem.loss(problem.theta0), "the loss")
    if why is not None:
        active = random_layers(module)
        layers = f" (active dropout: layers {_labels(module, active)})" if active else ""
        raise ScenarioRefused(f"arm {arm.name!r}: {where}: {why}{layers}")
    return problem
