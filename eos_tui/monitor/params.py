"""The model's trainable parameters as one flat vector θ, and the loss as a function of it.

The Hessian acts on θ as one vector (its products, its eigenvectors, ⟨∇L, u⟩ are plain dot
products), so the parameters are flattened in `named_parameters()` order and the loss is evaluated
at a flat θ with torch.func.functional_call: the model's own modules, with each parameter a view
of θ. The model's parameters themselves are never written.

`Preserved` is the promise that a measurement does not change the model: it puts back every buffer
(BatchNorm's running statistics move at each forward pass in training mode), torch's random
number generators, and every parameter's .grad.

Imports torch only.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
from torch import nn

from .data import Chunk
from .errors import MonitorError

LossFn = Callable[[Any, Any], torch.Tensor]


class FlatParams:
    """The trainable parameters of `model` (requires_grad), in order, as one vector."""

    def __init__(self, model: nn.Module):
        named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
        if not named:
            raise MonitorError("the model has no trainable parameters (none with requires_grad)")
        dtypes = {p.dtype for _, p in named}
        devices = {p.device for _, p in named}
        if len(dtypes) > 1:
            raise MonitorError(f"the model's parameters have several dtypes ({', '.join(sorted(map(str, dtypes)))}): one θ needs one")
        if len(devices) > 1:
            raise MonitorError(f"the model's parameters lie on several devices ({', '.join(sorted(map(str, devices)))}): one θ needs one")
        if not next(iter(dtypes)).is_floating_point:
            raise MonitorError("the model's parameters are not floating point")
        self.model = model
        self.names = [name for name, _ in named]
        self.params = [p for _, p in named]
        self.shapes = [p.shape for p in self.params]
        self.sizes = [p.numel() for p in self.params]
        self.numel = sum(self.sizes)
        self.dtype = self.params[0].dtype
        self.device = self.params[0].device
        self._ptrs: list[int] = []
        self._views: list[torch.Tensor] = []
        self._buffer: torch.Tensor | None = None

    def flat(self) -> torch.Tensor:
        """θ now: a new (n,) tensor (the parameters' values, detached)."""
        return torch.cat([p.detach().reshape(-1) for p in self.params])

    def snapshot(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(θ, the parameters' .grad) as flat vectors, the gradient None when some parameter has
        none. Views of one buffer of this object's, overwritten by the next call: use them before.

        Once per training step, so it is kept lean (BENCHMARKS.md, "eos_tui.Monitor"): one torch.cat
        into a buffer allocated once, through detached flat views of the parameters made once and
        reused while each parameter keeps its storage (torch.optim updates in place)."""
        ptrs = [p.data_ptr() for p in self.params]
        if ptrs != self._ptrs:  # first call, or a parameter's tensor was replaced (p.data = ...)
            self._ptrs, self._views = ptrs, [p.detach().reshape(-1) for p in self.params]
            if any(v.data_ptr() != ptr for v, ptr in zip(self._views, ptrs)):  # not contiguous: copies
                self._ptrs = []
        grads = [p.grad for p in self.params]
        n = self.numel
        if self._buffer is None:
            self._buffer = torch.empty(2 * n, dtype=self.dtype, device=self.device)
        buf = self._buffer
        with torch.no_grad():
            if any(g is None for g in grads):
                torch.cat(self._views, out=buf[:n])
                return buf[:n], None
            torch.cat([*self._views, *(g.reshape(-1) for g in grads if g is not None)], out=buf)
        return buf[:n], buf[n:]

    def flat_state(self, tensors: list[torch.Tensor | None]) -> torch.Tensor | None:
        """Per-parameter tensors (an optimizer's state, in parameter order) as one vector; None if one is missing."""
        if any(t is None or t.numel() != n for t, n in zip(tensors, self.sizes)):
            return None
        return torch.cat([t.detach().reshape(-1).to(self.dtype) for t in tensors if t is not None])

    def views(self, theta: torch.Tensor) -> dict[str, torch.Tensor]:
        """{name: the parameter as a view of θ}, for functional_call."""
        out, offset = {}, 0
        for name, shape, size in zip(self.names, self.shapes, self.sizes):
            out[name] = theta[offset : offset + size].view(shape)
            offset += size
        return out

    def chunk_loss(self, loss_fn: LossFn, chunk: Chunk) -> Callable[[torch.Tensor], torch.Tensor]:
        """θ ↦ chunk.weight · loss_fn(model_θ(inputs), targets)."""
        model, weight = self.model, chunk.weight

        def loss(theta: torch.Tensor) -> torch.Tensor:
            out = torch.func.functional_call(model, self.views(theta), (chunk.inputs,))
            value = loss_fn(out, chunk.targets)
            return value if weight == 1.0 else value * weight

        return loss


class Preserved:
    """A context in which forward passes may run without changing the model: on exit, every buffer
    (BatchNorm's running statistics and counters), every parameter's .grad and torch's random
    number generators (the CPU's, and the CUDA device's where the model is) are as they were."""

    def __init__(self, model: nn.Module, params: Sequence[torch.Tensor], device: torch.device):
        self.model, self.params, self.device = model, params, device

    def __enter__(self) -> Preserved:
        with torch.no_grad():
            self.buffers = [(b, b.clone()) for b in self.model.buffers()]
        self.grads = [p.grad for p in self.params]
        self.cpu_rng = torch.get_rng_state()
        self.cuda_rng = torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None
        return self

    def __exit__(self, *exc: object) -> None:
        with torch.no_grad():
            for b, saved in self.buffers:
                b.copy_(saved)
        for p, g in zip(self.params, self.grads):
            p.grad = g
        torch.set_rng_state(self.cpu_rng)
        if self.cuda_rng is not None:
            torch.cuda.set_rng_state(self.cuda_rng, self.device)
