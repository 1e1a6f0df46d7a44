"""Several arms trained as one: torch.func.vmap over their stacked parameters, sharpness included.

Why: an η sweep, a seeds sweep or GD against momentum trains arms of identical shapes. One after
another, each step pays every arm's forward/backward (and, every `sharpness_every` steps, each
Lanczos iteration's HVP) separately: on small models that is mostly per-call overhead, on a GPU
mostly idle device. Stacked, one vmapped call does the work of all the arms: one gradient call per
step, one HVP call per Lanczos iteration.

The numbers are those of the one-arm-at-a-time path (`Arm.step`), to float rounding:
  * the loss function is the problem's own (`Problem.stacked_loss`: the very operations of
    `Problem.loss`, on (θ, *data) arguments instead of attributes), only vmapped; what differs is the kernel a batched matmul runs
    (bmm instead of mm), i.e. the summation order, so rounding differs in the last bits;
  * each arm keeps its own `Lanczos` state machine (curvature/lanczos.py), its own generator, warm start,
    k, tolerance and max_iter, so each stops on its own residual exactly as it would alone; arms
    that have converged drop out of the batch (masked) and the others go on;
  * every record and event is built by the arm's own code (`Arm.check_loss`, `measured`,
    `onset_check`, `scheduled_checks`, `finish`), in the same order; reparameterization checks run
    per arm, between the solve and the update, as they do alone (they draw from the same
    generator, so the order matters).
An arm that diverges ends with its "diverged" records and leaves the batch; the others go on.

Compatibility (the rule `batch_key` implements; anything else trains alone, as before): arms batch
together when they have
  * the same problem shapes: model kind, layer shapes, bias, activation, data rows and target
    shape/dtype (MLP), width (uv), dimension (quadratic); the same loss, dtype and device;
  * full-batch GD ("gd"), with any momentum (momentum and plain GD mix: one update rule,
    heavy-ball with a β per arm, β = 0 for plain GD; engine/optimizers.py); Nesterov arms batch
    with Nesterov arms only; Adam and RMSprop (optimizer.kind "adam", "rmsprop") train alone;
  * nothing else in `measure`: cadence, k, tolerance, max_iter, exact and reparameterization
    checks may differ per arm (an arm not due for a measurement sits the solve out; `exact` arms
    take their dense Hessian one by one, those are small models anyway), except
    `track_every_step`: such an arm trains alone;
  * `engine.batch_arms = "auto"` (the default; "off" keeps an arm on its own);
  * not a network of torch.nn modules (engine/modules.py): those train on their own.
Steps, schedules, learning rates (lr or lr_relative), seeds and data values may all differ: data
that is the same for every arm (an η sweep) is passed once, unbatched; data that differs (a seeds
sweep) is stacked. SGD (per-arm mini-batches) and gradient flow (per-arm RK4 substeps) stay alone.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.func import grad, vmap

from ..rundir.format import Record
from . import optimizers
from .arm import Arm, losses_and_finite
from .curvature.flow import grad_and_value
from .curvature.hessian import forward_over_reverse
from .curvature.lanczos import Eigenpairs, Lanczos


def batch_key(arm: Arm) -> tuple | None:
    """Arms with equal keys can be trained as one batch; None: this arm trains alone."""
    spec, p = arm.spec, arm.problem
    if spec.engine.batch_arms == "off" or spec.optimizer.kind != "gd":
        return None
    # A network of torch.nn modules (engine/modules.py: model.kind = "python", the built-in
    # architectures) trains on its own: its forward pass is the user's code, which vmap may not
    # support (in-place ops, data-dependent control flow, randomness), and arms of different seeds
    # would stack θ of the same shape but of modules that may differ in structure.
    if not p.vmappable:
        return None
    # λ_max at every step (PerStepTracker) runs through Arm.step only: batching it would need each
    # arm's tracker (its cheap steps and its converged refreshes) driven by the vmapped HVP, as
    # `_solve` drives Lanczos. Not worth it yet; such an arm trains on its own.
    if spec.measure.track_every_step:
        return None
    # the flows and the self-stabilization measurement step beside Arm.step only
    if spec.measure.central_flow or spec.measure.stable_flow or spec.measure.self_stabilization:
        return None
    # Nesterov arms batch with Nesterov arms only (one update rule per batch, β per arm).
    return (p.kind, str(arm.dtype), str(arm.device), p.loss_kind, arm.nesterov) + p.batch_shape()


def plan(arms: list[Arm]) -> list[list[Arm]]:
    """The arms split into groups of compatible arms at the same step, in the order of their first
    arm; a group of one trains alone (nothing to share)."""
    groups: dict[Any, list[Arm]] = {}
    order: list[list[Arm]] = []
    for arm in arms:
        key = batch_key(arm)
        if key is None:
            order.append([arm])
            continue
        # A batch takes one step of all its arms at once: arms at different steps (resumed from
        # checkpoints of different steps, engine/resume.py) train apart, never with shifted steps.
        key = (key, arm.t)
        if key not in groups:
            groups[key] = []
            order.append(groups[key])
        groups[key].append(arm)
    return order


class ArmBatch:
    """Compatible arms (see `batch_key`) stepped together. `step()` returns the records of one
    step of every running arm, arm by arm, each arm's exactly as `Arm.step` would produce them."""

    def __init__(self, arms: list[Arm]):
        if len({batch_key(a) for a in arms}) != 1 or batch_key(arms[0]) is None:
            raise ValueError("ArmBatch needs arms with one and the same batch key")
        if len({a.t for a in arms}) != 1:  # `step` takes the first arm's t for all of them
            raise ValueError(f"ArmBatch needs arms at one and the same step, not {sorted({a.t for a in arms})}")
        self.arms = list(arms)  # the running ones, in scenario order
        p = arms[0].problem
        self.n = p.dim
        self.dtype, self.device = arms[0].dtype, arms[0].device
        self.theta = torch.stack([a.theta for a in arms])  # (B, n)
        self._rule_of_arms()
        self.rule_state = self.rule.init(self.theta)
        if any(isinstance(a.rule_state, torch.Tensor) for a in arms):  # arms resumed from checkpoints
            # An arm without a buffer (plain GD that trained alone, or one not yet stepped) gets a row
            # of zeros: heavy-ball's β·0 + g is g, its first direction, exactly.
            self.rule_state = torch.stack([a.rule_state if a.rule_state is not None else torch.zeros_like(a.theta) for a in arms])
        # Data (the problems' batch_data, e.g. X and Y, or H): passed once (in_dim None) when every
        # arm has the same tensor, else stacked (in_dim 0).
        self.data: list[torch.Tensor] = []
        self.data_dims: list[int | None] = []
        for values in zip(*(a.problem.batch_data() for a in arms)):
            if all(torch.equal(v, values[0]) for v in values[1:]):
                self.data.append(values[0])
                self.data_dims.append(None)
            else:
                self.data.append(torch.stack(values))
                self.data_dims.append(0)
        loss = p.stacked_loss()  # (θ, *data) -> loss: the same operations as Problem.loss
        dims = tuple(self.data_dims)
        self._losses = vmap(loss, in_dims=(0, *dims))  # (B, n) -> (B,)
        # Forward-over-reverse, as the dense Hessian's columns (curvature.hessian.dense_hessian); the
        # one-arm path's make_hvp is reverse-over-reverse, whose retained graph does not vmap.
        self._hvp = vmap(forward_over_reverse(grad(loss)), in_dims=(0, 0, *dims))

    def _rule_of_arms(self) -> None:
        """The arms' update rule, stacked: heavy-ball momentum with one β per arm (engine/optimizers.py,
        the same pair the one-arm path uses); plain GD arms in the batch have β = 0."""
        moms = [a.momentum for a in self.arms]
        betas = torch.tensor(moms, dtype=self.dtype, device=self.device).unsqueeze(1)
        self.rule = optimizers.from_momentum(betas, bool(self.arms) and self.arms[0].nesterov)

    def _grad_and_value(self, theta: torch.Tensor, *data) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-arm gradients (B, n) and losses (B,): a vmapped forward, then plain autograd on the
        sum of the losses (arm i's loss depends on row i only, so row i of the gradient of the sum
        is arm i's gradient, exactly). Cheaper than vmap(grad_and_value): functorch's grad
        transform has a fixed cost per call as large as a small model's whole step (see
        curvature/flow.py and BENCHMARKS.md, "Engine overhead")."""
        return grad_and_value(self._losses, theta, *data, summed=True)

    @property
    def running(self) -> bool:
        return bool(self.arms)

    def _data_rows(self, rows: torch.Tensor | None) -> list[torch.Tensor]:
        """The data for a subset of the arms (stacked data indexed, shared data as is)."""
        if rows is None:
            return self.data
        return [d if dim is None else d.index_select(0, rows) for d, dim in zip(self.data, self.data_dims)]

    # ---- sharpness: one vmapped HVP per Lanczos iteration, for every arm still iterating -------
    def _solve(self, who: list[int]) -> dict[int, Eigenpairs]:
        """The eigenpairs of each arm index in `who`."""
        out: dict[int, Eigenpairs] = {}
        solvers: dict[int, Lanczos] = {}
        for i in who:
            arm = self.arms[i]
            m = arm.spec.measure
            if m.exact:  # dense Hessian + eigvalsh, as Arm.eigenpairs does it
                out[i] = arm.eigenpairs(arm.theta, v0=arm.vectors)
                continue
            solvers[i] = Lanczos(self.n, min(m.eigenvalues, self.n), **arm.lanczos_options(arm.vectors))
        while True:
            active = [i for i in solvers if not solvers[i].done]
            if not active:
                break
            if len(active) == len(self.arms):
                theta, data = self.theta, self.data
            else:  # converged (and not-measuring) arms are masked out of the batch
                rows = torch.tensor(active, device=self.device)
                theta, data = self.theta.index_select(0, rows), self._data_rows(rows)
            Q = torch.stack([solvers[i].query() for i in active])
            W = self._hvp(theta, Q, *data)
            for r, i in enumerate(active):
                solvers[i].absorb(W[r])
        for i, s in solvers.items():
            out[i] = s.result()
        return out

    # ---- one step -----------------------------------------------------------------------------
    def step(self) -> list[Record]:
        arms = self.arms
        t = arms[0].t  # every arm of a batch is at the same step (checked in __init__) and steps together
        lrs = [a.lr_at(t) for a in arms]
        G, L = self._grad_and_value(self.theta, *self.data)
        # Losses and whether each arm's θ_t is finite: one transfer for all arms.
        losses, finite = losses_and_finite(L, self.theta)
        recs: list[list[Record]] = [a.check_loss(t, lr, loss, params_finite=ok) for a, lr, loss, ok in zip(arms, lrs, losses, finite)]
        alive = [i for i, a in enumerate(arms) if a.status is None]

        measuring = [i for i in alive if arms[i].measures_at(t)]
        if measuring:
            solved = self._solve(measuring)
            for i in measuring:
                arm = arms[i]
                recs[i].append(arm.measured(t, solved[i]))
                recs[i] += arm.onset_check(t, lrs[i])
        for i in alive:
            recs[i] += arms[i].scheduled_checks(t, lrs[i])

        # The update, θ_{t+1} = θ_t − η·d with d the rule's direction, for all arms at once (a
        # diverged arm's row is computed too and thrown away below).
        D, self.rule_state = self.rule.update(G, self.rule_state)
        lr = torch.tensor(lrs, dtype=self.dtype, device=self.device).unsqueeze(1)
        new_theta = self.theta - lr * D

        # grad_norm, ⟨∇L, u⟩ and ⟨θ_{t+1} − θ_t, u⟩ for all arms, then one transfer.
        has_u = [a.vectors is not None for a in arms]
        if any(has_u):
            U = torch.stack([a.vectors[0] if a.vectors is not None else torch.zeros_like(self.theta[0]) for a in arms])
            stats = torch.stack([torch.linalg.vector_norm(G, dim=1), (G * U).sum(1), ((new_theta - self.theta) * U).sum(1)]).tolist()
        else:
            stats = [torch.linalg.vector_norm(G, dim=1).tolist(), [None] * len(arms), [None] * len(arms)]
        for i in alive:
            proj, disp = (stats[1][i], stats[2][i]) if has_u[i] else (None, None)
            recs[i] += arms[i].finish(t, lrs[i], losses[i], stats[0][i], proj, disp, new_theta[i])

        self.theta = new_theta
        keep = [i for i, a in enumerate(arms) if a.status is None]
        if len(keep) < len(arms):  # arms that ended (completed or diverged) leave the batch
            for i, a in enumerate(arms):  # each with its own optimizer state (its final checkpoint's)
                if a.status is not None:
                    a.rule_state = None if self.rule_state is None else self.rule_state[i]
            rows = torch.tensor(keep, device=self.device, dtype=torch.long)
            self.theta = self.theta.index_select(0, rows)
            self.rule_state = optimizers.select_rows(self.rule_state, rows)
            self.data = self._data_rows(rows)
            self.arms = [arms[i] for i in keep]
            self._rule_of_arms()
        return [r for rs in recs for r in rs]

    def stop(self, status: str) -> list[Record]:
        out: list[Record] = []
        for arm in self.arms:
            out += arm.stop(status)
        self.arms = []
        return out
