"""The interface every problem implements: a loss on one flat parameter vector θ (`Problem`),
and the losses the networks share.

Apart from problems.py (the built-in kinds and `build_problem`) so that engine/modules.py (torch.nn
networks, which build_problem dispatches to) can subclass it without importing problems.py back.

Imports torch only.
"""

from __future__ import annotations

from typing import Callable, ClassVar, Sequence

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from ..rundir.format import StepExtras, UserCode


def functorch_active() -> bool:
    """Inside a torch.func transform (the dense Hessian's vmap), which refuses activation
    checkpointing's saved-tensor hooks."""
    active = getattr(torch._C, "_are_functorch_transforms_active", None)
    return bool(active()) if active is not None else True


def data_loss(out: torch.Tensor, Y: torch.Tensor, loss_kind: str, reduction: str = "mean") -> torch.Tensor:
    """Cohen et al. 2021's losses: "mse" the mean (or sum) over examples of ½‖f(x) − y‖²,
    "cross-entropy" on class indices.

    A sequence (a torch.nn network's outputs (n, positions, classes) against labels (n, positions),
    engine/modules.py) is one example whose loss is the mean over its positions, so that "sum"
    over chunks divided by n is "mean"; with sequences of one length, the mean over every token.
    For mse, ‖f(x) − y‖² runs over all of an example's outputs."""
    if loss_kind == "cross-entropy":
        if out.dim() > 2:
            per = F.cross_entropy(out.movedim(-1, 1), Y, reduction="none").flatten(1).mean(dim=1)
            return per.sum() if reduction == "sum" else per.mean()
        return F.cross_entropy(out, Y, reduction=reduction)
    squares = (out - Y) ** 2
    per = 0.5 * (squares.sum(dim=-1) if squares.dim() <= 2 else squares.flatten(1).sum(dim=1))
    return per.sum() if reduction == "sum" else per.mean()


class Problem:
    """A loss on one flat parameter vector θ. One subclass per model kind (`Quadratic`, `UV`,
    `MLP`, `CNN`), each with its own fields; nothing else branches on the kind.

    For the vmapped batch (batched.py) a problem also gives its loss as a pure function of
    (θ, *data) (`stacked_loss`, the very operations of `loss`) with the tensors it reads
    (`batch_data`), so that arms whose data differ (a seeds sweep) can have them stacked, and the
    shapes two problems must share to be stacked (`batch_shape`)."""

    kind: ClassVar[str]
    theta0: torch.Tensor
    loss_kind: str = "mse"
    # Whether arms of this problem may train in one vmapped batch (batched.py): a network of
    # torch.nn modules (engine/modules.py) trains on its own.
    vmappable: ClassVar[bool] = True
    # The Python factories that built it (model.kind / data.kind = "python"), for the manifest.
    code: Sequence[UserCode] = ()

    @property
    def n_examples(self) -> int:
        """Rows of the training set (1 for the models that carry their own objective)."""
        return 1

    def loss(self, theta: torch.Tensor, batch: torch.Tensor | None = None) -> torch.Tensor:
        """The training loss on the full set (or on a mini-batch of example indices)."""
        return self.stacked_loss()(theta, *self.batch_data())

    def outputs(self, theta: torch.Tensor) -> torch.Tensor:
        """The model's outputs on the training set, (examples, outputs)."""
        raise NotImplementedError

    def stacked_loss(self) -> Callable[..., torch.Tensor]:
        raise NotImplementedError

    def test_metrics(self, theta: torch.Tensor) -> StepExtras:
        """Loss (and accuracy) on a held-out split; {} for problems without one."""
        return {}

    def loss_parts(self) -> list[Callable[[torch.Tensor], torch.Tensor]] | None:
        """The full-data loss as a sum of per-chunk losses when the data is chunked (engine.chunk_size),
        for make_hvp to differentiate chunk by chunk; None when it is not."""
        return None

    def batch_data(self) -> tuple[torch.Tensor, ...]:
        return ()

    def batch_shape(self) -> tuple:
        raise NotImplementedError

    @property
    def dim(self) -> int:
        return self.theta0.numel()


class ChunkedData:
    """The full-data loss of a network on (X, Y), in chunks of `chunk_size` examples where set
    (engine.chunk_size): the mean taken as (sum of chunk sums) / n. Shared by the built-in MLP and CNN
    (problems.py) and the torch.nn networks (modules.py); each provides `forward(theta, X)`."""

    X: torch.Tensor
    Y: torch.Tensor
    loss_kind: str
    chunk_size: int | None

    def forward(self, theta: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @property
    def n_examples(self) -> int:
        return self.X.shape[0]

    def _chunks(self, n: int) -> list[slice]:
        size = self.chunk_size or n
        return [slice(i, min(i + size, n)) for i in range(0, n, size)]

    def _chunked(self) -> bool:
        return self.chunk_size is not None and 0 < self.chunk_size < self.n_examples

    def _chunk_loss(self, theta: torch.Tensor, X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
        return data_loss(self.forward(theta, X), Y, self.loss_kind, "sum")

    def loss(self, theta: torch.Tensor, batch: torch.Tensor | None = None) -> torch.Tensor:
        if batch is None and self._chunked():
            n = self.n_examples
            # Each chunk under (non-reentrant) activation checkpointing: its forward keeps only its
            # inputs and is recomputed in the backward pass, chunk by chunk, so a gradient holds one
            # chunk's activations at a time (one extra forward pass). HVPs go chunk by chunk through
            # `loss_parts` (make_hvp). torch.func (the dense Hessian of measure.exact) refuses
            # checkpoint's saved-tensor hooks: plain chunks there.
            if functorch_active():
                parts = [self._chunk_loss(theta, self.X[c], self.Y[c]) for c in self._chunks(n)]
            else:
                parts = [checkpoint(self._chunk_loss, theta, self.X[c], self.Y[c], use_reentrant=False) for c in self._chunks(n)]
            return torch.stack(parts).sum() / n
        X, Y = (self.X, self.Y) if batch is None else (self.X[batch], self.Y[batch])
        return data_loss(self.forward(theta, X), Y, self.loss_kind)

    def loss_parts(self) -> list[Callable[[torch.Tensor], torch.Tensor]] | None:
        """The full-data loss as a sum of per-chunk losses (chunk sum / n), when chunked; else None.
        make_hvp takes HVPs chunk by chunk from these (curvature.hessian.chunked_hvp)."""
        if not self._chunked():
            return None
        n = self.n_examples

        def part(c: slice) -> Callable[[torch.Tensor], torch.Tensor]:
            return lambda th: self._chunk_loss(th, self.X[c], self.Y[c]) / n

        return [part(c) for c in self._chunks(n)]

    def outputs(self, theta: torch.Tensor) -> torch.Tensor:
        if self._chunked():
            return torch.cat([self.forward(theta, self.X[c]) for c in self._chunks(self.n_examples)])
        return self.forward(theta, self.X)
