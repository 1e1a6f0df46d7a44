"""λ_max at every training step for about two Hessian-vector products per step.

A converged Lanczos solve at every step would cost several HVPs (≈ 3–10 on the eos scenario at
tol 1e-2–1e-3, see BENCHMARKS.md), and most of it is redundant: between two consecutive GD steps the
Hessian barely moves. `PerStepTracker` runs, at every step, a *short* Lanczos iteration from the
previous step's vector and stops it adaptively:

  1. Start from the tracked vector carried over from the previous step (below), plus a small random
     kick (`noise`, relative): the kick keeps every direction represented, so that an eigenvector
     which overtakes the tracked one (a catapult, a crossing inside a cluster) is picked up by the
     Krylov space within a few steps instead of never.
  2. Lanczos (`curvature.lanczos.track_step`), one HVP at a time, with the Ritz pairs of the small tridiagonal and their residuals
     ‖Hy − θy‖ = |β s_m| after every product, for free. Stop as soon as the top-k relative residuals
     are ≤ `tol` (most steps: 1–2 HVPs), or after `max_hvps`. So the HVPs go where the Hessian moves:
     more during a catapult or a learning-rate change, fewer on a plateau.
  3. Carry over, for the next step, one power step of the top Ritz vectors: Hy is a combination of
     the products already computed (no extra HVP), and it is a better start than y itself.
  4. Every `refresh_every` updates (of each parity, below), the same iteration runs to the tighter
     `refresh_tol` (at most `refresh_max_hvps`): this bounds the drift of the cheap steps, which stop
     on a residual that cannot tell a cluster's second eigenvector from its first.
  5. A step whose top Ritz value has moved by more than `jump` (relative) from the same parity's
     last estimate also continues to `refresh_tol`: the Hessian is moving fast (a catapult, a
     learning-rate change) and the carried-over vector may have lost the top direction.

At the edge of stability the iterates oscillate with period 2 along the top eigenvector and the
Hessian oscillates with them, so the best warm start for step t is the vector from step t − 2, not
t − 1: with `period=2` the tracker keeps one vector per parity of the step.

Every reported value is a Ritz value of the current Hessian, i.e. a lower bound on λ_max: the error is
always an underestimate. Defaults (tol 2.5e-2, max_hvps 8, jump 5%, refresh every 7 updates of each
parity to 3e-3 within 16 HVPs, noise 1e-2, period 2) were picked on float64 tanh MLPs against the
dense Hessian (bench/tracking.py). BENCHMARKS.md ("Per-step tracking") has the HVPs per step, the
error at the edge of stability, the trade-off curve, and the cases where it falls short: eigenvalue
clusters whose top member changes, where it reads low for a few steps.

Engine code: imports torch, never textual.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from .curvature.hessian import HVP
from .curvature.lanczos import align_signs, track_step


@dataclass
class TrackResult:
    eigenvalues: torch.Tensor  # (k,), descending
    eigenvectors: torch.Tensor  # (k, n), unit norm, sign-aligned with the previous step's
    hvps: int  # spent this step
    residual: float  # max_i ‖H y_i − θ_i y_i‖ / |θ_i| over the k pairs
    refreshed: bool  # True when this step ran to the tighter refresh tolerance

    def __iter__(self):  # (eigenvalues, eigenvectors, hvps, residual), like Arm.eigenpairs
        return iter((self.eigenvalues, self.eigenvectors, self.hvps, self.residual))


class PerStepTracker:
    """Top-k eigenpairs of the training Hessian, updated every step by a short, adaptive Lanczos.

    k: pairs tracked. tol: relative residual at which an ordinary step stops; max_hvps: its cap.
    refresh_every: every this many updates of each parity the step runs to refresh_tol instead
    (at most refresh_max_hvps); the first update of each parity is always one (at most max_iter
    HVPs, from a random start). noise: relative size of the random kick added to the warm start.
    period: 1, or 2 to keep one warm start per step parity (see the module docstring).
    jump: a step whose top Ritz value moved by more than this (relative) from its parity's last one
    runs to refresh_tol too; None turns that off.
    """

    def __init__(
        self,
        k: int = 1,
        tol: float = 2.5e-2,
        max_hvps: int = 8,
        refresh_every: int = 7,
        refresh_tol: float = 3e-3,
        refresh_max_hvps: int = 16,
        noise: float = 1e-2,
        period: int = 2,
        jump: float | None = 0.05,
        max_iter: int = 100,
        generator: torch.Generator | None = None,
    ):
        if k < 1 or refresh_every < 1 or period < 1:
            raise ValueError("need k >= 1, refresh_every >= 1 and period >= 1")
        if max_hvps < k or refresh_max_hvps < k or max_iter < k:
            raise ValueError(f"max_hvps, refresh_max_hvps and max_iter must be >= k = {k}")
        self.k, self.tol, self.max_hvps, self.refresh_every = k, tol, max_hvps, refresh_every
        self.refresh_tol, self.refresh_max_hvps, self.noise, self.period = refresh_tol, refresh_max_hvps, noise, period
        self.max_iter, self.jump = max_iter, jump
        self._last_by_phase: dict[int, float] = {}  # each phase's last λ_max estimate
        self.generator = generator if generator is not None else torch.Generator().manual_seed(0)
        # Per phase (step mod period): the (k, n) start for that phase's next step, and the
        # updates since that phase's last refresh.
        self._next_by_phase: dict[int, torch.Tensor] = {}
        self._since: dict[int, int] = {}
        self._vectors: torch.Tensor | None = None  # (k, n) last Ritz vectors (sign alignment)
        self.updates = 0
        self.total_hvps = 0
        self.refreshes = 0

    @property
    def vectors(self) -> torch.Tensor | None:
        return self._vectors

    def state_dict(self) -> dict[str, Any]:
        """Everything `update` carries from one step to the next: the generator's state, the warm
        starts and the counts. Tensors by reference: `update` replaces them, never writes into them."""
        return {
            "rng": self.generator.get_state(),
            "vectors": self._vectors,
            "next_by_phase": dict(self._next_by_phase),
            "last_by_phase": dict(self._last_by_phase),
            "since": dict(self._since),
            "updates": self.updates,
            "total_hvps": self.total_hvps,
            "refreshes": self.refreshes,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Set a `state_dict`; its generator state is tried first, so that a wrong one changes nothing."""
        torch.Generator().set_state(state["rng"])
        self.generator.set_state(state["rng"])
        self._vectors = state["vectors"]
        self._next_by_phase, self._last_by_phase = dict(state["next_by_phase"]), dict(state["last_by_phase"])
        self._since = dict(state["since"])
        self.updates, self.total_hvps, self.refreshes = state["updates"], state["total_hvps"], state["refreshes"]

    @property
    def mean_hvps(self) -> float:
        return self.total_hvps / max(self.updates, 1)

    def reset(self) -> None:
        self._next_by_phase.clear()
        self._since.clear()
        self._last_by_phase.clear()
        self._vectors = None

    def update(self, hvp: HVP, n: int, dtype=None, device=None) -> TrackResult:
        """Eigenpairs at the parameters `hvp` belongs to. Call once per training step."""
        if self._vectors is not None and self._vectors.shape[-1] != n:
            self.reset()
        if self.k > n:
            raise ValueError(f"cannot track k={self.k} eigenpairs of a {n}-parameter model")
        phase = self.updates % self.period
        start = self._next_by_phase.get(phase)
        if start is None:  # first update of this phase: from the other phase's vectors, else cold
            start = self._vectors
            tol, cap, refresh = self.tol, self.max_iter, True
        elif self._since[phase] + 1 >= self.refresh_every:
            tol, cap, refresh = self.refresh_tol, self.refresh_max_hvps, True
        else:
            tol, cap, refresh = self.tol, self.max_hvps, False
        if dtype is None:
            dtype = start.dtype if start is not None else torch.get_default_dtype()
        if device is None:
            device = start.device if start is not None else torch.device("cpu")
        prev = self._last_by_phase.get(phase) if self.jump is not None and not refresh else None
        values, Y, HY, spent, residual = track_step(hvp, n, start, tol, min(cap, n), dtype, device, self, prev)
        self._last_by_phase[phase] = float(values[0])
        Y = align_signs(Y, self._vectors)
        self._vectors = Y
        # The next start of this phase: one power step, span(HY), free from the products made.
        nxt = HY if HY.shape[0] == 1 else torch.linalg.qr(HY.T).Q.T
        norms = torch.linalg.vector_norm(nxt, dim=1, keepdim=True)
        ok = bool(torch.isfinite(norms).all()) and bool((norms > 0).all())
        self._next_by_phase[phase] = nxt / norms if ok else Y
        self._since[phase] = 0 if refresh else self._since[phase] + 1
        self.refreshes += int(refresh)
        self.updates += 1
        self.total_hvps += spent
        return TrackResult(values, Y, spent, residual, refresh)
