"""Can this network's curvature be measured honestly? Batch-dependent layers and randomness.

Shared by the scenario path (engine/modules.py, `model.kind = "python"` and the built-in
architectures) and the library monitor (eos_tui.Monitor), so that both refuse the same networks
with the same reasons.

- BatchNorm in training mode normalizes by the statistics of the batch it is given. Under full-batch
  GD the batch is the whole training set, so the loss is well defined and so is its Hessian; but a
  forward pass over a *chunk* of it normalizes by the chunk's statistics, a different function. A
  chunked HVP (engine.chunk_size below the data's size) of such a network would measure the wrong
  loss: `batch_dependent_layers` names them so that the caller can refuse the chunking.
- Dropout, or anything else that makes two evaluations at the same θ differ, has no Hessian to
  measure: `check_repeatable` evaluates twice and refuses with a reason, as curvlinops does.

Imports torch only (never textual).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

# Layers whose output on one example depends on the other examples of its batch in training mode.
BATCH_DEPENDENT = (nn.modules.batchnorm._BatchNorm,)
# Layers that draw random numbers in training mode.
RANDOM = (nn.modules.dropout._DropoutNd,)


def batch_dependent_layers(module: nn.Module) -> list[str]:
    """The dotted names of the submodules whose output depends on the batch (BatchNorm in training
    mode, using batch statistics); [] when the network is per-example."""
    # BatchNorm uses the batch's statistics in training mode, and in eval mode too when it keeps no
    # running statistics (track_running_stats=False).
    return [
        name or type(sub).__name__
        for name, sub in module.named_modules()
        if isinstance(sub, BATCH_DEPENDENT) and (sub.training or not sub.track_running_stats)
    ]


def random_layers(module: nn.Module) -> list[str]:
    """The dotted names of the dropout layers that are active (training mode, p > 0)."""
    active = [(name, sub) for name, sub in module.named_modules() if isinstance(sub, RANDOM) and sub.training]
    return [name or type(sub).__name__ for name, sub in active if float(getattr(sub, "p", 0.0)) > 0.0]


def check_repeatable(evaluate: Callable[[], torch.Tensor], what: str = "the loss") -> str | None:
    """None when two evaluations give the same bits; else one line saying why the curvature cannot
    be measured. `evaluate` must not change the parameters (it may touch buffers: callers restore
    them, see engine/modules.py)."""
    with torch.no_grad():
        first = evaluate().detach().clone()
        second = evaluate().detach()
    if first.shape != second.shape or not torch.equal(torch.nan_to_num(first), torch.nan_to_num(second)):
        return (
            f"{what} differs between two evaluations at the same parameters "
            "(dropout or other randomness): it has no Hessian to measure; "
            "put the model in eval mode for the measurement or remove the randomness"
        )
    return None
