"""The full data a measurement runs over: a tensor pair, or a DataLoader read in order.

The sharpness the edge of stability is about is that of the full training loss, whatever batches
the loop itself trains on. A DataLoader is read as it is, batch after batch, and the batches'
losses are weighted by their sizes, L = Σ_b (n_b/N)·loss_fn(model(X_b), y_b): the full-data mean
when `loss_fn` is a mean over its batch (torch's default reduction). A shuffling loader would give
other batches at each pass; that makes no difference to the sum, but it makes the batches of a
BatchNorm network differ between two products of one solve, so it is refused outright: pass the
same dataset in a loader with shuffle=False.

The batches are read once per measurement and kept (as the loader gives them, on its device) for
the products of that measurement only: random augmentations in the loader are then the same for
every product of one solve, and nothing is kept between measurements.

Imports torch only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Iterator

import torch

from .errors import MonitorError


@dataclass(frozen=True)
class Chunk:
    """One batch of the full data, its weight n_b/N in the full loss."""

    inputs: Any
    targets: Any
    weight: float


def _rows(value: Any) -> int:
    if isinstance(value, torch.Tensor):
        return int(value.shape[0]) if value.dim() > 0 else 1
    if isinstance(value, (list, tuple)) and value:
        return _rows(value[0])
    if isinstance(value, dict) and value:
        return _rows(next(iter(value.values())))
    raise MonitorError(f"cannot tell the batch size of {type(value).__name__} targets: give tensors")


def to_device(value: Any, device: torch.device) -> Any:
    """Tensors (also inside tuples, lists and dicts) moved to `device`; anything else as it is."""
    if isinstance(value, torch.Tensor):
        return value.to(device, non_blocking=True)
    if isinstance(value, (list, tuple)):
        return type(value)(to_device(v, device) for v in value)
    if isinstance(value, dict):
        return {k: to_device(v, device) for k, v in value.items()}
    return value


# Samplers that draw in a random order, or a random sample (with replacement, or a weighted one).
_RANDOM_SAMPLERS = (
    torch.utils.data.RandomSampler,
    torch.utils.data.SubsetRandomSampler,
    torch.utils.data.WeightedRandomSampler,
)


def _shuffles(loader: Any) -> bool:
    """Whether the loader's order (or sample) is random: a random sampler, or one that says it
    shuffles (DistributedSampler(shuffle=True))."""
    batch_sampler = getattr(loader, "batch_sampler", None)
    samplers = (getattr(loader, "sampler", None), getattr(batch_sampler, "sampler", None))
    return any(isinstance(s, _RANDOM_SAMPLERS) or getattr(s, "shuffle", False) is True for s in samplers)


class FullData:
    """The data given to the Monitor: `chunks()` gives it as weighted batches on `device`."""

    def __init__(self, data: Any):
        if isinstance(data, torch.utils.data.DataLoader):
            if _shuffles(data):
                raise MonitorError(
                    "the DataLoader shuffles or samples at random (shuffle=True, or a random sampler): the measurement "
                    "reads the full data in order; give a DataLoader of the same dataset with shuffle=False"
                )
            replicas = max((getattr(s, "num_replicas", 1) for s in (data.sampler, getattr(data.batch_sampler, "sampler", None))), default=1)
            if isinstance(replicas, int) and replicas > 1:
                raise MonitorError(
                    f"the DataLoader's sampler reads one shard of {replicas} (DistributedSampler): the measurement needs "
                    "every example; give a DataLoader of the whole dataset"
                )
            if getattr(data, "drop_last", False):
                raise MonitorError(
                    "the DataLoader drops its last batch (drop_last=True): the measurement needs every example; "
                    "give a DataLoader of the same dataset with drop_last=False"
                )
            self.loader: Any = data
            self.pair: tuple[Any, Any] | None = None
        elif isinstance(data, (tuple, list)) and len(data) == 2:
            self.loader, self.pair = None, (data[0], data[1])
            if _rows(data[1]) == 0:
                raise MonitorError("the data (X, y) has no examples")
        else:
            raise MonitorError(f"data must be a pair (X, y) of tensors or a DataLoader, not {type(data).__name__}")

    @property
    def description(self) -> str:
        if self.pair is not None:
            return f"tensors, {_rows(self.pair[1])} examples"
        return f"DataLoader, {len(self.loader)} batches" if hasattr(self.loader, "__len__") else "DataLoader"

    def chunks(self, device: torch.device) -> list[Chunk]:
        """The full data as batches on `device`, each weighted by its share of the examples."""
        if self.pair is not None:
            return [Chunk(to_device(self.pair[0], device), to_device(self.pair[1], device), 1.0)]
        batches = list(_pairs(self.loader))
        total = sum(n for _, _, n in batches)
        if total == 0:
            raise MonitorError("the DataLoader gave no examples")
        return [Chunk(to_device(x, device), to_device(y, device), n / total) for x, y, n in batches]


def _pairs(loader: Iterable[Any]) -> Iterator[tuple[Any, Any, int]]:
    for batch in loader:
        if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
            raise MonitorError(f"the DataLoader must give (inputs, targets) pairs, not {type(batch).__name__}")
        x, y = batch
        yield x, y, _rows(y)
