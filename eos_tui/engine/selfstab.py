"""Self-stabilization (Damian, Nichani & Lee 2022), measured beside a full-batch GD arm
(measure.self_stabilization): GD's displacement from the constrained trajectory θ†, at every step
from the first crossing of 2/η, with the paper's two-dimensional map beside it.

At GD's iterate θ_t: the top two eigenvalues (warm-started Lanczos), for S(θ_t) − 2/η and the relative
eigengap (λ1 − λ2)/λ1. Until S(θ_t) first reaches 2/η (the first crossing) nothing else is done and
nothing is written. A later crossing, which restarts the predicted map, is S(θ_t) ≥ 2/η after two
steps below.

θ† is projected gradient descent on the stable set M = {θ : S(θ) ≤ 2/η, ⟨∇L(θ), u(θ)⟩ = 0}, started
from GD's iterate at the first crossing and run in lockstep with GD:

    θ†_t = proj_M(θ†_{t−1} − η_{t−1}∇L(θ†_{t−1})),     θ†_{t_c} = proj_M(θ_{t_c}),

projected onto M at η_t, the step's own. At θ†_t: the top eigenpair (S, u) (u's sign aligned with the
last step's), the sharpness gradient ∇S = ∇³L[u, u] (curvature/third.py, the central flow's third-
derivative product), α = −⟨∇L, ∇S⟩ and β = ‖∇S‖²; then x_t = ⟨u, θ_t − θ†_t⟩, y_t = ⟨∇S, θ_t − θ†_t⟩.

The projection (`project`) is Newton's method on the two constraints c₁ = ⟨∇L, u⟩ = 0 and, when it is
active, c₂ = S − 2/η = 0, each step the least-norm δ in span(u, ∇S) that zeroes their linearizations
with the Jacobian rows ∇c₂ = ∇S (exact for an isolated eigenvalue) and ∇c₁ ≈ Hu = S·u (the term of u's
own derivative, ∇u ᵀ∇L, is left out: it needs a solve with H − S, and costs only the speed of
convergence, by the factor ‖∇uᵀ∇L‖/S a step). It stops when |c₁| and c₂ are within TOLERANCES (float64:
|c₁| ≤ 1e-6·‖∇L‖, c₂ ≤ 1e-10·2/η), or after MAX_NEWTON steps; the first projection, from GD's iterate,
is polished on towards rounding. What it missed by is recorded at every step (constrained_gap,
constrained_proj). See docs/selfstab.md.

Engine code: torch (and numpy for the 2×2 solve), never textual.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from ..analysis.selfstab import predicted_step, stage_of
from ..rundir.format import SelfStabRecord
from ..rundir.records import selfstab_record
from .curvature.hessian import HessianOperator, vjp
from .curvature.lanczos import align_signs, top_eigenpairs
from .curvature.third import block_gradients

Loss = Callable[[torch.Tensor], torch.Tensor]

# Tolerances by dtype: (Lanczos relative residual, |S(θ†) − 2/η| relative to 2/η, |⟨∇L, u⟩| relative
# to ‖∇L‖). float64: the eigenvalue's error is ~(residual·S)²/gap, far below SHARP_TOL even at the
# 0.4% gaps of small MLPs; u's is ~residual·S/gap, which bounds how well ⟨∇L, u⟩ can be zeroed.
TOLERANCES = {torch.float64: (1e-9, 1e-10, 1e-6), torch.float32: (1e-4, 1e-5, 1e-3)}
# At GD's iterate only S(θ_t) − 2/η and the eigengap are read: an eigenvalue's error is ~residual²,
# so a looser residual gives them to ~1e-10 for a fraction of the products.
GD_TOLERANCES = {torch.float64: 1e-6, torch.float32: 1e-4}
MAX_NEWTON = 20
POLISH = 10.0  # see `project`
MIN_LANCZOS = 300  # the tight solves need more than measure.max_iter's default from a cold start
# What one step carries to the next (`state_dict`: a checkpoint's "selfstab.*"), besides the generator.
STATE_TENSORS = ("pending", "gd_vectors", "vectors")
STATE_SCALARS = ("below", "seen", "pred", "last_xy", "alive", "hvps", "third", "newton")


@dataclass
class Point:
    """What the measurement needs at one θ: the loss's gradient and the top eigenpairs (two at GD's
    iterate, one at θ†), with ∇S = ∇³L[u, u] at θ† (None at GD's iterate, where it is not used)."""

    theta: torch.Tensor
    grad: torch.Tensor | None
    eigenvalues: list[float]
    vectors: torch.Tensor  # (k, n)
    dS: torch.Tensor | None
    hvps: int

    @property
    def sharpness(self) -> float:
        return self.eigenvalues[0]

    @property
    def u(self) -> torch.Tensor:
        return self.vectors[0]

    @property
    def eigengap(self) -> float | None:
        if len(self.eigenvalues) < 2 or self.eigenvalues[0] == 0:
            return None
        return (self.eigenvalues[0] - self.eigenvalues[1]) / abs(self.eigenvalues[0])


class SelfStabilization:
    """The measurement's state: θ† (before its next projection), the warm starts, the predicted map's
    (x, y), and whether 2/η has been crossed. `step(t, η_t, θ_t)` gives step t's record (or none)."""

    def __init__(
        self, arm_name: str, loss: Loss, theta0: torch.Tensor, *, max_iter: int = 100, seed: int = 0, eig_tol: float | None = None
    ):
        self.arm = arm_name
        self.loss = loss
        self.theta0 = theta0.detach().clone()
        self.n = theta0.numel()
        self.eig_tol, self.sharp_tol, self.proj_tol = TOLERANCES.get(theta0.dtype, TOLERANCES[torch.float32])
        # u's error, ~eig_tol·S/gap, bounds x's and y's (tests/test_selfstab.py tightens it on the toy)
        if eig_tol is not None:
            self.eig_tol = eig_tol
        self.gd_tol = GD_TOLERANCES.get(theta0.dtype, GD_TOLERANCES[torch.float32])
        self.max_iter = max(int(max_iter), MIN_LANCZOS)
        self.generator = torch.Generator().manual_seed(seed + 61)
        self.gd_vectors: torch.Tensor | None = None  # warm start at GD's iterate
        self.vectors: torch.Tensor | None = None  # warm start at θ†, u's sign reference
        self.pending: torch.Tensor | None = None  # θ†_t before its projection; None before the crossing
        self.below = 0  # consecutive steps, up to the last, with S(θ) < 2/η
        self.seen = 0  # steps measured
        self.dagger: Point | None = None  # θ†_t, projected, with ∇L, u, ∇S there
        self.pred: tuple[float, float] | None = None  # the map's (x, y) for this step
        self.last_xy: tuple[float, float] | None = None  # the last step's measured (x, y)
        self.alive = True
        self.hvps = 0
        self.third = 0
        self.newton = 0  # Newton steps of the last projection

    # ---- state, for checkpoints and undoing a step ------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything one step carries to the next: θ† before its projection, the warm starts (u's
        sign reference among them), the generator the solves draw from, the map's (x, y) and the
        counters. Tensors by reference (a step replaces them, never writes into them)."""
        return {
            "rng": self.generator.get_state(),
            **{k: getattr(self, k) for k in STATE_TENSORS},
            "scalars": {k: getattr(self, k) for k in STATE_SCALARS},
        }

    def check_state(self, state: dict[str, Any]) -> dict[str, Any]:
        """`state`'s scalars as this measurement holds them (pairs as tuples), changing nothing;
        ValueError for a state that is not this measurement's (a damaged or hand-made checkpoint)."""
        sc = state.get("scalars")
        if not isinstance(sc, dict) or set(sc) != set(STATE_SCALARS):
            raise ValueError("the self-stabilization state does not name its values")
        counts = {k: sc[k] for k in ("below", "seen", "hvps", "third", "newton")}
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in counts.values()):
            raise ValueError("the self-stabilization state's counters are not counts")
        if not isinstance(sc["alive"], bool):
            raise ValueError("the self-stabilization state's 'alive' is not true or false")
        for k in STATE_TENSORS:
            v = state.get(k)
            dims = 1 if k == "pending" else 2
            fits = isinstance(v, torch.Tensor) and v.dtype == self.theta0.dtype and v.dim() == dims and v.shape[-1] == self.n
            if v is not None and not fits:
                raise ValueError(f"the self-stabilization state's {k} does not fit θ")
        try:  # tried on a generator of its own: set_state refuses a wrong size only when it sets it
            torch.Generator().set_state(state["rng"])
        except (RuntimeError, TypeError, KeyError) as e:
            raise ValueError("the self-stabilization state's generator state is not one") from e
        return {**counts, "pred": _pair(sc["pred"]), "last_xy": _pair(sc["last_xy"]), "alive": sc["alive"]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Put the measurement where `state` (a `state_dict`, or a checkpoint's, decoded) says.
        ValueError, with nothing changed, for a state that is not this measurement's."""
        scalars = self.check_state(state)
        self.generator.set_state(state["rng"])
        for k in STATE_TENSORS:
            setattr(self, k, state.get(k))
        for k, v in scalars.items():
            setattr(self, k, v)
        self.dagger = None

    # ---- curvature at one point ------------------------------------------------------------
    def solve(self, hvp, v0: torch.Tensor | None, theta: torch.Tensor, k: int, tol: float):
        pairs = top_eigenpairs(
            hvp,
            self.n,
            min(k, self.n),
            v0=v0,
            tol=tol,
            max_iter=self.max_iter,
            dtype=theta.dtype,
            device=theta.device,
            generator=self.generator,
        )
        self.hvps += pairs.hvps
        if not bool(torch.isfinite(pairs.eigenvalues).all()):
            raise FloatingPointError("the Hessian's top eigenvalues are not finite")
        return pairs

    def at_gd(self, theta: torch.Tensor) -> Point:
        # k = 2: λ2 for the eigengap
        pairs = self.solve(HessianOperator(self.loss, theta), self.gd_vectors, theta, 2, self.gd_tol)
        self.gd_vectors = align_signs(pairs.eigenvectors, self.gd_vectors)
        return Point(theta, None, pairs.eigenvalues.tolist(), self.gd_vectors, None, pairs.hvps)

    def at(self, theta: torch.Tensor) -> Point:
        """∇L, the top eigenpairs and ∇S at a candidate θ†, on one gradient graph."""
        with torch.enable_grad():
            x = theta.detach().clone().requires_grad_()
            value = self.loss(x)
            if not bool(torch.isfinite(value)):
                raise FloatingPointError(f"the loss at θ† is {float(value.detach())}")
            (g,) = torch.autograd.grad(value, x, create_graph=True)

            def hvp(v: torch.Tensor) -> torch.Tensor:
                (hv,) = vjp(g, x, v.detach().to(theta), retain_graph=True)
                return hv

            # k = 1: Lanczos resolves λ1 from a close λ2 without converging λ2 itself
            pairs = self.solve(hvp, self.vectors, theta, 1, self.eig_tol)
            vectors = align_signs(pairs.eigenvectors, self.vectors)
            _, dM = block_gradients(g, x, vectors[:1])
            self.third += 1
        grad_ = g.detach()
        dS = dM[(0, 0)]
        if not (bool(torch.isfinite(grad_).all()) and bool(torch.isfinite(dS).all())):
            raise FloatingPointError("the gradient or the sharpness gradient at θ† is not finite")
        self.vectors = vectors
        return Point(theta.detach(), grad_, pairs.eigenvalues.tolist(), vectors, dS, pairs.hvps)

    # ---- the projection onto M -------------------------------------------------------------
    def project(self, theta: torch.Tensor, lr: float, polish: bool = False) -> Point:
        """θ projected onto M = {S ≤ 2/η, ⟨∇L, u⟩ = 0} by Newton's method (module docstring); the
        point where it stopped, converged or after MAX_NEWTON steps. `polish`: on past the tolerance."""
        edge = 2.0 / lr
        tol2 = self.sharp_tol * edge
        here = self.at(theta)
        last = math.inf
        for i in range(MAX_NEWTON + 1):
            assert here.grad is not None and here.dS is not None
            self.newton = i
            u, dS, S = here.u, here.dS, here.sharpness
            c1 = float(here.grad @ u)
            c2 = S - edge
            # the residual in units of the tolerance: ≤ 1 is on M
            miss = max(abs(c1) / (self.proj_tol * float(torch.linalg.vector_norm(here.grad)) or 1.0), max(c2, 0.0) / tol2)
            # Polishing (the first projection, from GD's iterate at the crossing), Newton goes on
            # within tolerance while it still gains a factor POLISH a step: where u is accurate (an
            # isolated eigenvalue) that takes θ† from the tolerance to rounding, which GD's growing
            # oscillation would otherwise amplify into x (the toy's exactness: tests/test_selfstab.py).
            # The lockstep projections start within ~η‖∇L‖ of M and stop at the tolerance: polishing
            # them too cost 2.5× the solves on a tanh MLP (docs/selfstab.md).
            if i == MAX_NEWTON or miss == 0.0 or (miss <= 1.0 and (not polish or miss * POLISH > last)):
                break
            last = miss
            rows = [S * u]
            rhs = [c1]
            if c2 > -tol2:  # the sharpness constraint is active (or about to be): hold it at 2/η
                rows.append(dS)
                rhs.append(c2)
            J = torch.stack(rows)
            gram = (J @ J.T).cpu().double().numpy()
            # least squares: u and ∇S (nearly) parallel make the 2×2 singular, where the least-norm
            # step still holds what it can (np.linalg.solve would end the measurement)
            z = np.linalg.lstsq(gram, np.array(rhs), rcond=None)[0]
            step = torch.from_numpy(z).to(J) @ J
            here = self.at(here.theta - step)
        return here

    # ---- one step --------------------------------------------------------------------------
    def step(self, t: int, lr: float, theta: torch.Tensor) -> list[SelfStabRecord]:
        """The record of step t (at θ_t and θ†_t), and θ† one projected GD step further; [] before
        the first crossing of 2/η, at η_t = 0, and after a failure (whose record has null values)."""
        if not self.alive or lr <= 0:
            return []
        try:
            return self._step(t, lr, theta)
        except (FloatingPointError, torch.linalg.LinAlgError, np.linalg.LinAlgError):
            # θ† (or GD's iterate) where the loss, an HVP or the 2×2 solve is not finite: the
            # measurement ends here with a record that says so; the arm goes on.
            self.alive = False
            if self.pending is None:
                return []
            nulls = dict.fromkeys(("x", "y", "sharpness_gap", "alpha", "beta", "x_pred", "y_pred", "distance"))
            return [selfstab_record(arm=self.arm, step=t, **nulls)]  # type: ignore[arg-type]

    def _step(self, t: int, lr: float, theta: torch.Tensor) -> list[SelfStabRecord]:
        edge = 2.0 / lr
        gd = self.at_gd(theta)
        gap = gd.sharpness - edge
        # A crossing: S(θ_t) ≥ 2/η after two steps below (or at the first steps measured). Once the
        # oscillation is large, S(θ_t) flickers across 2/η from step to step on the way down (a
        # tanh MLP: up at 115 and 117 in one return to stability), which is no new cycle.
        crossing = gap >= 0 and self.below >= min(2, self.seen)
        self.below = self.below + 1 if gap < 0 else 0
        self.seen += 1
        if self.pending is None:
            if not crossing:
                return []
            self.pending = theta.detach().clone()
        here = self.dagger = self.project(self.pending, lr, polish=crossing and self.pred is None)
        assert here.grad is not None and here.dS is not None
        dagger, g, dS, u = here.theta, here.grad, here.dS, here.u
        v = theta - dagger
        x, y = float(u @ v), float(dS @ v)
        alpha, beta = -float(g @ dS), float(dS @ dS)
        if crossing or self.pred is None:
            self.pred = (x, y)  # the map restarts from the measured point at each crossing
        x_pred, y_pred = self.pred
        rec = selfstab_record(
            arm=self.arm,
            step=t,
            x=_finite(x),
            y=_finite(y),
            sharpness_gap=_finite(gap),
            alpha=_finite(alpha),
            beta=_finite(beta),
            x_pred=_finite(x_pred),
            y_pred=_finite(y_pred),
            distance=_finite(float(torch.linalg.vector_norm(v))),
            crossing=crossing,
            eigengap=gd.eigengap,
            init_distance=_finite(float(torch.linalg.vector_norm(theta - self.theta0))),
            constrained_gap=_finite(here.sharpness - edge),
            constrained_proj=_finite(float(g @ u)),
        )
        # over GD's period of two steps: its oscillation about θ† shows in y too (⟨∇S, u⟩x) and, about
        # an offset, in x², and would flip the stage every step (10 flips in 8 steps on a tanh MLP)
        x2, y2 = (x * x, y) if self.last_xy is None else ((x * x + self.last_xy[0] ** 2) / 2, (y + self.last_xy[1]) / 2)
        self.last_xy = (x, y)
        stage = stage_of(math.sqrt(x2), y2, alpha, beta)
        if stage is not None:
            rec["stage"] = stage
        self.pred = predicted_step(x_pred, y_pred, lr, alpha, beta)
        self.pending = dagger - lr * g
        return [rec]


def _pair(v: Any) -> tuple[float, float] | None:
    """(x, y) from a state's value (a checkpoint writes a tuple as a list); ValueError if not one."""
    if v is None:
        return None
    if isinstance(v, (list, tuple)) and len(v) == 2 and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
        return float(v[0]), float(v[1])
    raise ValueError(f"the self-stabilization state's (x, y) is {str(v)[:40]}")


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None
