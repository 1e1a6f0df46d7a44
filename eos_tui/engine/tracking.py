"""λ_max at every training step for about one Hessian-vector product per step.

A converged Lanczos solve, even warm-started, costs several HVPs (≈ 5-10 on the eos scenario, see
BENCHMARKS.md), because it must build a Krylov space big enough to *certify* its answer. Between two
consecutive GD steps, though, the Hessian barely moves, so most of that certification is redundant.
`PerStepTracker` therefore spends, on an ordinary step, exactly k HVPs (k = tracked eigenpairs):

  1. W = H U for the k tracked vectors U (the previous step's "next" vectors);
  2. Rayleigh–Ritz on span(U): the k×k matrix UᵀHU = U Wᵀ gives Ritz values θ and vectors Y = SᵀU,
     with HY = SᵀW for free, hence the residuals R = HY − θY with no extra HVP. Ritz values on a
     subspace are lower bounds of the true top ones, and their error is *quadratic* in the
     subspace's angle to the true eigenvectors: a vector 10% off gives a value ~1% off at most;
  3. U ← orth(HY): one step of power (subspace) iteration, carried over to the next training step.
     Power iteration's weakness, slow separation of a cluster λ₁ ≈ λ₂, costs little here: a
     vector mixing clustered eigenvectors has a Rayleigh quotient inside the cluster, i.e. within
     the cluster's width of λ₁.

At the edge of stability the iterates oscillate with period 2 along the top eigenvector, and the
Hessian oscillates with them, so the best warm start for step t is the vector from step t − 2, not
t − 1: with `period=2` the tracker keeps one subspace per parity of the step and warm-starts each
from its own previous value (measured on the eos trajectory: ~20% lower mean error at equal cost).

Every `refresh_every` steps — and at once when the relative residual exceeds `refresh_residual`
(the Hessian moved fast: a catapult, a learning-rate change) — it runs the full warm-started
`top_eigenpairs` to `tol`, which also brings in directions that power iteration cannot see (a new
eigenvector overtaking the tracked ones: Lanczos's warm start carries a random kick). That bounds
the drift; the average cost is k + (refresh cost)/refresh_every HVPs per step.

Defaults (refresh_every=7, tol=1e-2, refresh_residual=0.05, period=2) are the cheapest measured
setting under 2 HVPs/step on the eos scenario's lr-0.50 trajectory (bench/tracking.py): 1.99
HVPs/step, mean error 0.5%, but up to 9% during the catapult and 1.4% in the late EoS phase, where
the top ~6 eigenvalues sit within 3.5% and the top eigenvector changes within that cluster from
one step to the next. Every reported value is a Ritz value of the current Hessian, i.e. a lower
bound on λ_max. Tried and not kept (see BENCHMARKS.md): Rayleigh–Ritz with gradient secants
(g_{t+1} − g_t is H at the segment's *midpoint* times the step, 3–20% off H(θ_t)·step at EoS),
with the displacement direction (exact HVP), and with a memory of earlier steps' products
(stale by two steps: fine at EoS, 1–2%/step off during progressive sharpening and the catapult).

Engine code: imports torch, never textual.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .eigensolver import HVP, align_signs, top_eigenpairs


@dataclass
class TrackResult:
    eigenvalues: torch.Tensor  # (k,), descending
    eigenvectors: torch.Tensor  # (k, n), unit norm, sign-aligned with the previous step's
    hvps: int  # spent this step
    residual: float  # max_i ‖H y_i − θ_i y_i‖ / max_j |θ_j|
    refreshed: bool  # True when this step ran a full converged solve

    def __iter__(self):  # (eigenvalues, eigenvectors, hvps, residual), like Arm.eigenpairs
        return iter((self.eigenvalues, self.eigenvectors, self.hvps, self.residual))


class PerStepTracker:
    """Top-k eigenpairs of the training Hessian, updated every step for ≈ k HVPs.

    k: pairs tracked (k HVPs per ordinary step). refresh_every: a converged warm solve every this
    many updates of each phase (the first update of each phase is always one). period: 1, or 2 to
    keep one subspace per step parity (see the module docstring). tol: that solve's tolerance. refresh_residual:
    an ordinary step whose relative residual exceeds this triggers a converged solve at once.
    """

    def __init__(self, k: int = 1, refresh_every: int = 7, tol: float = 1e-2, refresh_residual: float = 0.05,
                 period: int = 2, max_iter: int = 100, generator: torch.Generator | None = None):
        if k < 1 or refresh_every < 1 or period < 1:
            raise ValueError("need k >= 1, refresh_every >= 1 and period >= 1")
        self.k, self.refresh_every, self.tol, self.period = k, refresh_every, tol, period
        self.refresh_residual, self.max_iter = refresh_residual, max_iter
        self.generator = generator if generator is not None else torch.Generator().manual_seed(0)
        # Per phase (step mod period): the (k, n) subspace to evaluate at that phase's next step,
        # and the updates since that phase's last converged solve.
        self._next_by_phase: dict[int, torch.Tensor] = {}
        self._since: dict[int, int] = {}
        self._vectors: torch.Tensor | None = None  # (k, n) last Ritz vectors (for sign alignment)
        self.updates = 0
        self.total_hvps = 0
        self.refreshes = 0

    @property
    def vectors(self) -> torch.Tensor | None:
        return self._vectors

    def reset(self) -> None:
        self._next_by_phase.clear()
        self._since.clear()
        self._vectors = None

    def update(self, hvp: HVP, n: int, dtype=None, device=None) -> TrackResult:
        """Eigenpairs at the parameters `hvp` belongs to. Call once per training step."""
        if self._vectors is not None and self._vectors.shape[-1] != n:
            self.reset()
        phase = self.updates % self.period
        U = self._next_by_phase.get(phase)
        if U is None or self._since[phase] + 1 >= self.refresh_every:
            result = self._refresh(hvp, n, dtype, device, phase, spent=0)
        else:
            result = self._cheap(hvp, n, U, phase)
            if result.residual > self.refresh_residual:
                result = self._refresh(hvp, n, dtype, device, phase, spent=result.hvps)
        self.updates += 1
        self.total_hvps += result.hvps
        return result

    @property
    def mean_hvps(self) -> float:
        return self.total_hvps / max(self.updates, 1)

    # ---- the two kinds of step ------------------------------------------------------------
    def _cheap(self, hvp: HVP, n: int, U: torch.Tensor, phase: int) -> TrackResult:
        W = torch.stack([hvp(u).reshape(n).to(U) for u in U])  # (k, n): k HVPs
        G = U @ W.T
        G = (G + G.T) / 2
        theta, S = torch.linalg.eigh(G.to(torch.float64))  # ascending; tiny, so float64 on the CPU
        S = S.flip(1).to(U)
        theta = theta.flip(0)
        Y = S.T @ U
        HY = S.T @ W
        R = HY - theta.to(U).unsqueeze(1) * Y
        # Each pair's residual relative to its own |θ_i| (floored at √eps·radius), as in
        # top_eigenpairs: a large negative eigenvalue must not loosen the test on λ_max.
        eps = torch.finfo(U.dtype).eps
        floor = max(eps**0.5 * theta.abs().max().item(), 1e-300)
        denom = theta.abs().clamp_min(floor).to(U)
        residual = (torch.linalg.vector_norm(R, dim=1) / denom).max().item()
        Y = align_signs(Y, self._vectors)
        self._vectors = Y
        # Power step for the next training step: span(HY) = span(Yθ + R). QR keeps the block
        # orthonormal; for k = 1 it is just Hy/‖Hy‖.
        nxt = HY if HY.shape[0] == 1 else torch.linalg.qr(HY.T).Q.T
        norms = torch.linalg.vector_norm(nxt, dim=1, keepdim=True)
        self._next_by_phase[phase] = Y if not torch.isfinite(norms).all() or (norms == 0).any() else nxt / norms
        self._since[phase] += 1
        return TrackResult(theta.to(U), Y, len(U), residual, False)

    def _refresh(self, hvp: HVP, n: int, dtype, device, phase: int, spent: int) -> TrackResult:
        # Warm start: this phase's subspace if there is one, else the latest vectors.
        v0 = self._next_by_phase.get(phase, self._vectors)
        res = top_eigenpairs(hvp, n, self.k, v0=v0, tol=self.tol, max_iter=self.max_iter, dtype=dtype,
                             device=device, generator=self.generator)
        Y = align_signs(res.eigenvectors, self._vectors)
        self._vectors = self._next_by_phase[phase] = Y
        self._since[phase] = 0
        self.refreshes += 1
        return TrackResult(res.eigenvalues, Y, res.hvps + spent, res.residual, True)
