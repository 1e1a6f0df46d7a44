"""Function-preserving reparameterizations of ReLU and linear networks (Dinh et al. 2017).

A ReLU (or linear) layer is positively homogeneous: relu(α z) = α relu(z) for α > 0. So scaling
layer l's weights and bias by α and layer l+1's weights by 1/α leaves the network's function, and
hence the loss, unchanged — while the Hessian becomes H' = D⁻¹ H D⁻¹, where D is the diagonal
scaling applied to θ. λ_max can thus be made as large (or small) as one likes without changing
what the network computes: sharpness alone cannot explain generalization.

The element-wise adaptive sharpness of Kwon et al. 2021, λ_max(diag|θ| H diag|θ|), is invariant
under these maps (|θ'| = D|θ| and H' = D⁻¹HD⁻¹ cancel), so we report it beside λ_max.

`ReparamChecks` runs the checks during training (every `measure.reparam_every` steps), on copies
of θ: each T_α, λ_max before and after, its prediction from H(Dθ) = D⁻¹H(θ)D⁻¹, and the adaptive
sharpness before and after.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch

from ..rundir.format import EventRecord, Record
from ..rundir.records import event_record, reparam_record
from .problems import MLP

HOMOGENEOUS = ("relu", "linear")


class NotHomogeneous(ValueError):
    """The network is not positively homogeneous, so T_α would change its function."""


def check_applicable(problem) -> None:
    if not isinstance(problem, MLP):
        if problem.kind == "module":  # a torch.nn network (engine/modules.py): its layers are not ours to rescale
            raise NotHomogeneous(
                "reparameterization checks are defined for our MLPs and CNNs (ReLU or linear layers whose units T_α rescales); "
                "a torch.nn network built by code has no such layout here, so they are skipped"
            )
        raise NotHomogeneous(f"reparameterization checks need an MLP (this arm's model is {problem.kind!r})")
    if problem.activation not in HOMOGENEOUS:
        raise NotHomogeneous(
            f"activation {problem.activation!r} is not positively homogeneous (tanh(αz) ≠ α·tanh(z)): "
            "scaling layers would change the function, so the check is skipped; use relu or linear"
        )
    if len(_stack(problem)) < 2:
        raise NotHomogeneous("reparameterization needs at least one hidden layer")


def _stack(problem) -> list:
    """The layers T_α acts between, in order: an MLP's linear layers; a CNN's convolutions, then its
    head. A CNN's unit is an output channel: relu (or linear) and max or average pooling are
    positively homogeneous channel by channel, so scaling a channel's filter and bias by α and the
    next layer's weights reading that channel by 1/α leaves the function unchanged."""
    return [*getattr(problem, "convs", []), *problem.layers]


def scaling(problem, theta: torch.Tensor, alpha: float, layer: int = 0, neurons: torch.Tensor | None = None) -> torch.Tensor:
    """The diagonal D of T_α as a vector: θ' = D θ.

    Layer `layer`'s outgoing weights (rows) and bias are multiplied by α, layer `layer+1`'s incoming
    weights (columns) by 1/α. With `neurons` (a boolean mask over layer `layer`'s units), only those
    units are rescaled: the per-neuron version of the same map.
    """
    check_applicable(problem)
    stack = _stack(problem)
    if not 0 <= layer < len(stack) - 1:
        raise ValueError(f"layer must be in [0, {len(stack) - 2}]")
    d = torch.ones_like(theta)
    a, b = stack[layer], stack[layer + 1]
    units = a.shape[0]
    mask = torch.ones(units, dtype=torch.bool, device=theta.device) if neurons is None else neurons.to(theta.device)
    scale_rows = torch.where(
        mask, torch.tensor(alpha, dtype=theta.dtype, device=theta.device), torch.tensor(1.0, dtype=theta.dtype, device=theta.device)
    )
    d[a.weight] = scale_rows.view(-1, *[1] * (len(a.shape) - 1)).expand(a.shape).reshape(-1)
    if a.bias is not None:
        d[a.bias] = scale_rows
    inv = 1.0 / scale_rows
    if len(b.shape) == 4:  # a convolution reads channel c through W[:, c]
        d[b.weight] = inv.view(1, -1, 1, 1).expand(b.shape).reshape(-1)
    else:  # a linear layer; after a convolution its columns are the flattened channels, channel-major
        d[b.weight] = inv.repeat_interleave(b.shape[1] // units).unsqueeze(0).expand(b.shape).reshape(-1)
    return d


# (θ, k=, v0=, transform=) -> curvature.lanczos.Eigenpairs: the arm's eigen-solve (Arm.eigenpairs)
Solve = Callable[..., Any]

# What a check at an extreme α can raise: eigh failing on a nan/inf tridiagonal, a non-finite
# number, a solver refusing its input.
_UNCOMPUTABLE = (torch.linalg.LinAlgError, ArithmeticError, ValueError)


class ReparamChecks:
    """One arm's reparameterization checks, with what it has already said about skipped ones."""

    def __init__(self, name: str, problem, alphas: list[float], dtype: str):
        self.name, self.problem, self.alphas, self.dtype = name, problem, alphas, dtype
        self._warned = False  # "not homogeneous" said once
        self._failed_alphas: set[float | None] = set()  # "cannot be computed" said once per α

    def state_dict(self) -> dict[str, Any]:
        """What it has said already (a checkpoint's "reparam": "_warned", "_failed_alphas")."""
        return {"warned": self._warned, "failed_alphas": set(self._failed_alphas)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._warned, self._failed_alphas = bool(state["warned"]), set(state["failed_alphas"])

    def run(self, t: int, theta: torch.Tensor, eigenpairs: Solve, v0: torch.Tensor | None = None) -> list[Record]:
        """Dinh et al.'s T_α at θ_t for each α: same function, different λ_max, same adaptive sharpness.

        A check that cannot be computed (α = 1e-20 in float32: the scaled parameters under- or
        overflow and the eigen-solve fails or returns nan) is left out, and a "reparam_skipped" event
        says why, once per α; the run goes on (the checks work on a copy of θ)."""
        p = self.problem
        out: list[Record] = []
        try:
            check_applicable(p)
        except NotHomogeneous as e:
            if self._warned:
                return []
            self._warned = True
            return [self._event(t, str(e))]
        try:
            f0 = p.outputs(theta)
            loss0 = float(p.loss(theta))
            before = eigenpairs(theta, k=1, v0=v0).eigenvalues
            adaptive_before = eigenpairs(theta, k=1, transform=theta.abs()).eigenvalues
        except _UNCOMPUTABLE as e:
            return self._failed(t, None, e)
        # The maps: every adjacent layer pair with all its units, and the first pair with only
        # every other unit rescaled (the per-neuron version: still the same function).
        stack = _stack(p)
        units = stack[0].shape[0]
        every_other = torch.arange(units, device=theta.device) % 2 == 0
        maps = [(layer, None) for layer in range(len(stack) - 1)] + [(0, every_other)]
        for alpha in self.alphas:
            records: list[Record] = []
            try:
                for layer, neurons in maps:
                    d = scaling(p, theta, float(alpha), layer, neurons)
                    theta2 = d * theta
                    after = eigenpairs(theta2, k=1).eigenvalues
                    # Theory: H(Dθ) = D⁻¹ H(θ) D⁻¹, so λ_max after is the top eigenvalue of D⁻¹HD⁻¹ at θ.
                    predicted = eigenpairs(theta, k=1, transform=1.0 / d).eigenvalues
                    adaptive_after = eigenpairs(theta2, k=1, transform=theta2.abs()).eigenvalues
                    rec = reparam_record(
                        arm=self.name,
                        step=t,
                        alpha=float(alpha),
                        layer=layer,
                        neurons="all" if neurons is None else "every other",
                        max_output_change=float((p.outputs(theta2) - f0).abs().max()),
                        loss_change=float(p.loss(theta2)) - loss0,
                        sharpness_before=float(before[0]),
                        sharpness_after=float(after[0]),
                        sharpness_predicted=float(predicted[0]),
                        adaptive_before=float(adaptive_before[0]),
                        adaptive_after=float(adaptive_after[0]),
                    )
                    bad = [k for k, v in rec.items() if isinstance(v, float) and not math.isfinite(v)]
                    if bad:
                        raise ArithmeticError(f"{bad[0]} is not finite")
                    records.append(rec)
            except _UNCOMPUTABLE as e:
                out += self._failed(t, float(alpha), e)
                continue
            out += records
        return out

    def _event(self, step: int, message: str) -> EventRecord:
        return event_record(arm=self.name, step=step, kind="reparam_skipped", message=message)

    def _failed(self, t: int, alpha: float | None, exc: BaseException) -> list[Record]:
        """The "reparam_skipped" event for a check that could not be computed (once per α)."""
        if alpha in self._failed_alphas:
            return []
        self._failed_alphas.add(alpha)
        what = "the reparameterization checks" if alpha is None else f"the reparameterization check at α = {alpha:g}"
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        return [
            self._event(
                t, f"{what} cannot be computed in {self.dtype} ({type(exc).__name__.lstrip('_')}: {reason}); skipped, training goes on"
            )
        ]
