"""The central flow of gradient descent (Cohen, Damian et al. 2024, "Understanding optimization in
deep learning with central flows"), and the stable flow beside it, run in lockstep with a GD arm.

At the edge of stability GD oscillates along its top eigendirections; the central flow is the ODE
that follows GD's time-averaged trajectory. In time units of training steps (one step = time 1),
with η_t the step's learning rate:

    dθ/dt = −η[∇L(θ) + ½ Σ_ij X_ij ∇(u_iᵀ H(θ) u_j)],

u_1 … u_k the *critical* eigenvectors of H (eigenvalue above `critical_factor`/η, 1.95/η by
default; at most `max_critical` of them), and Σ = U X Uᵀ the covariance of GD's oscillation, X ⪰ 0
the solution of the small semidefinite complementarity problem (engine/sdcp.py) that keeps every
critical eigenvalue at the edge 2/η after each substep: with the k×k block M = UᵀHU,

    A = 2/η·I − (M + dt·⟨∇M, −η∇L⟩)          (2/η minus the block after a stable substep),
    B[X]_ij = dt·(η/2)·Σ_kl ⟨∇M_ij, ∇M_kl⟩·X_kl  (how much the oscillation X lowers it),
    X ⪰ 0,  A + B[X] ⪰ 0,  ⟨X, A + B[X]⟩ = 0.

For k = 1 this is σ² = max(0, (S + dt·⟨∇S, −η∇L⟩ − 2/η) / (dt·½η‖∇S‖²)), S = λ_max. With no
critical eigenvalue the central flow is gradient flow, dθ/dt = −η∇L. Integrated with `substeps`
Euler substeps per training step, each with its gradient, its warm-started Lanczos solve (k + 1
pairs, k the last count of critical ones, so that the next one is seen coming) and, for each pair
i ≤ j, the third-derivative product ∇(u_iᵀ H u_j) (one backward pass through an HVP's graph).
∇M_ij is the gradient of the bilinear form with u_i, u_j held fixed: the first-order change of the
block (Hellmann–Feynman for its diagonal).

Predictions at θ_CF(t): GD's time-averaged loss L(θ) + ½⟨M, X⟩ (= L + tr(X)/η with every critical
eigenvalue at 2/η; Σ's ½uᵀHu per unit of variance), and the flow's own λ_max, which the
constraint holds at 2/η.

The stable flow is plain gradient flow dθ/dt = −η∇L by RK4, substeps of size at most α/λ_max as the
"flow" optimizer (arm.py), from the same θ_0: what GD would do without its oscillation, and what it
leaves at the first 2/η crossing.

Engine code: torch (and numpy for the tiny solve), never textual.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import torch

from ..rundir.format import Record
from ..rundir.records import flow_record
from . import sdcp
from .curvature.flow import grad, rk4_flow
from .curvature.hessian import HessianOperator, vjp
from .curvature.lanczos import align_signs, top_eigenpairs
from .curvature.third import block_gradients

Loss = Callable[[torch.Tensor], torch.Tensor]

DEFAULT_SUBSTEPS = 4
DEFAULT_MAX_CRITICAL = 4
DEFAULT_CRITICAL_FACTOR = 1.95
STABLE_ALPHA = 0.5  # the stable flow's RK4 substeps: at most α/λ_max in τ = η·t (the flow arm's default)


def _eig_tol(dtype: torch.dtype, tolerance: float) -> float:
    """The eigen-solves' relative residual: the eigenvectors enter ∇(uᵀHu), so tighter than the
    sharpness records' default where float64 allows it."""
    return min(tolerance, 1e-4) if dtype == torch.float64 else tolerance


class CentralFlow:
    """The central flow's state θ_CF and its warm start; `advance(η)` integrates one training step."""

    def __init__(
        self,
        loss: Loss,
        theta0: torch.Tensor,
        *,
        substeps: int = DEFAULT_SUBSTEPS,
        max_critical: int = DEFAULT_MAX_CRITICAL,
        critical_factor: float = DEFAULT_CRITICAL_FACTOR,
        tolerance: float = 1e-3,
        max_iter: int = 100,
        generator: torch.Generator | None = None,
    ):
        self.loss = loss
        self.theta = theta0.detach().clone()
        self.substeps = int(substeps)
        self.max_critical = int(max_critical)
        self.critical_factor = float(critical_factor)
        self.tol = _eig_tol(theta0.dtype, tolerance)
        self.max_iter = int(max_iter)
        self.generator = generator
        self.vectors: torch.Tensor | None = None  # warm start: the last solve's eigenvectors
        self.k_critical = 0  # critical eigenvalues at the last substep
        self.hvps = 0
        self.third = 0  # third-derivative products ∇(u_iᵀHu_j)
        self.sdcp_iterations = 0
        self.sdcp_residual = 0.0  # the largest KKT residual of the last step's solves

    def substep(self, lr: float, dt: float) -> dict[str, Any]:
        """One Euler substep of length dt (in training steps) at step size lr; returns what was
        measured at the substep's start (loss, eigenvalues, critical count, X, M)."""
        theta = self.theta
        n = theta.numel()
        with torch.enable_grad():
            x = theta.clone().requires_grad_()
            value = self.loss(x)
            if not bool(torch.isfinite(value)):
                raise FloatingPointError(f"the central flow's loss is {float(value.detach())}")
            (g,) = torch.autograd.grad(value, x, create_graph=True)

            def hvp(v: torch.Tensor) -> torch.Tensor:
                (hv,) = vjp(g, x, v.detach().to(theta), retain_graph=True)
                return hv

            want = min(n, max(1, min(self.k_critical + 1, self.max_critical + 1)))
            pairs = top_eigenpairs(
                hvp,
                n,
                want,
                v0=self.vectors,
                tol=self.tol,
                max_iter=max(self.max_iter, want + 1),
                dtype=theta.dtype,
                device=theta.device,
                generator=self.generator,
            )
            self.hvps += pairs.hvps
            self.vectors = align_signs(pairs.eigenvectors, self.vectors)
            eigs = pairs.eigenvalues
            edge = 2.0 / lr
            critical = int((eigs > self.critical_factor / lr).sum())
            k = min(critical, self.max_critical)
            self.k_critical = k
            gd = g.detach()
            if k == 0:
                self.theta = theta - dt * lr * gd
                return {"loss": float(value.detach()), "eigenvalues": eigs, "k": 0, "X": np.zeros((0, 0)), "M": np.zeros((0, 0))}
            M, dM = block_gradients(g, x, self.vectors[:k])  # ∇M_ij for i ≤ j
            self.third += len(dM)
        pairs_ij = list(dM)
        D = torch.stack([dM[p] for p in pairs_ij])  # (k(k+1)/2, n)
        gram = (D @ D.T).cpu().double().numpy()
        drift = (D @ (-lr * gd)).cpu().double().numpy()  # d/dt of M_ij along the stable flow
        index = {p: a for a, p in enumerate(pairs_ij)}

        def at(i: int, j: int) -> int:
            return index[(min(i, j), max(i, j))]

        idx = np.array([[at(i, j) for j in range(k)] for i in range(k)])
        A = edge * np.eye(k) - (M + dt * drift[idx])
        B = dt * (lr / 2.0) * gram[idx[:, :, None, None], idx[None, None, :, :]]
        if not (np.isfinite(A).all() and np.isfinite(B).all()):
            raise FloatingPointError("the central flow's curvature block is not finite")
        result = sdcp.solve(A, B)
        self.sdcp_iterations += result.iterations
        self.sdcp_residual = max(self.sdcp_residual, result.residual)
        X = result.X
        # ½ Σ_ij X_ij ∇M_ij over ordered pairs: diagonal once, off-diagonal twice
        weights = torch.tensor([X[i, j] * (1.0 if i == j else 2.0) for (i, j) in pairs_ij], dtype=D.dtype, device=D.device)
        direction = gd + 0.5 * (weights @ D)
        self.theta = theta - dt * lr * direction
        return {"loss": float(value.detach()), "eigenvalues": eigs, "k": k, "X": X, "M": M}

    def advance(self, lr: float) -> dict[str, Any]:
        """Integrate one training step (time 1) at step size lr; returns the record's fields at the
        step's start: loss, predicted_loss, sharpness, critical, sigma (eigenvalues of X)."""
        self.sdcp_residual = 0.0
        first: dict[str, Any] | None = None
        dt = 1.0 / self.substeps
        for _ in range(self.substeps):
            got = self.substep(lr, dt)
            if first is None:
                first = got
        assert first is not None
        X, M = first["X"], first["M"]
        # X ⪰ 0: an eigenvalue below 0 is rounding (−1e-18 from the PSD projection), recorded as 0
        sigma = sorted((max(0.0, float(v)) for v in np.linalg.eigvalsh(X)), reverse=True) if first["k"] else []
        return {
            "loss": first["loss"],
            "predicted_loss": first["loss"] + 0.5 * float(np.sum(M * X)),
            "sharpness": float(first["eigenvalues"][0]),
            "critical": int(first["k"]),
            "sigma": sigma,
            # the worst relative KKT residual of this step's SDCP solves: ≤ 1e-10 when solved, larger
            # where B is near singular and the oscillation X is then not the one that holds the edge
            "sdcp_residual": float(self.sdcp_residual),
        }


class StableFlow:
    """Gradient flow dθ/dt = −η∇L by RK4 (the "flow" optimizer's integrator) from θ_0."""

    def __init__(self, loss: Loss, theta0: torch.Tensor, *, alpha: float = STABLE_ALPHA, generator: torch.Generator | None = None):
        self.loss = loss
        self.theta = theta0.detach().clone()
        self.alpha = alpha
        self.generator = generator
        self.vector: torch.Tensor | None = None
        self.sharpness: float | None = None
        self.hvps = 0

    def advance(self, lr: float) -> dict[str, Any]:
        """RK4 over τ = η (one GD step's worth); returns {"loss"} at the step's start."""
        theta = self.theta
        with torch.no_grad():
            loss = float(self.loss(theta))
        if not math.isfinite(loss):
            raise FloatingPointError(f"the stable flow's loss is {loss}")
        pairs = top_eigenpairs(
            HessianOperator(self.loss, theta),
            theta.numel(),
            1,
            v0=self.vector,
            tol=1e-3,
            dtype=theta.dtype,
            device=theta.device,
            generator=self.generator,
        )
        self.hvps += pairs.hvps
        self.vector = pairs.eigenvectors
        lam = max(float(pairs.eigenvalues[0]), 1e-12)
        self.sharpness = lam
        n_sub = max(1, math.ceil(lr * lam / self.alpha))
        h = lr / n_sub
        self.theta = rk4_flow(lambda th: grad(self.loss, th), theta, h, n_sub)
        return {"loss": loss}


class Flows:
    """The flows an arm runs beside it (measure.central_flow, measure.stable_flow): `step(t, η, θ_t)`
    gives the step's "flow" records (at θ_t, before the update) and advances each flow by one step."""

    def __init__(self, arm_name: str, loss: Loss, theta0: torch.Tensor, measure: Any, seed: int):
        self.arm = arm_name
        self.central = (
            CentralFlow(
                loss,
                theta0,
                substeps=measure.central_substeps,
                max_critical=measure.central_max_critical,
                critical_factor=measure.central_critical_factor,
                tolerance=measure.tolerance,
                max_iter=measure.max_iter,
                generator=torch.Generator().manual_seed(seed + 53),
            )
            if measure.central_flow
            else None
        )
        self.stable = StableFlow(loss, theta0, generator=torch.Generator().manual_seed(seed + 59)) if measure.stable_flow else None
        self.alive = {"central": self.central is not None, "stable": self.stable is not None}

    @property
    def hvps(self) -> int:
        return (self.central.hvps if self.central else 0) + (self.stable.hvps if self.stable else 0)

    def step(self, t: int, lr: float, theta: torch.Tensor) -> list[Record]:
        out: list[Record] = []
        if lr <= 0:  # η_t = 0: no flow moves, no edge to hold
            return out
        for name, flow in (("central", self.central), ("stable", self.stable)):
            if flow is None or not self.alive[name]:
                continue
            distance = float(torch.linalg.vector_norm(theta - flow.theta))
            try:
                fields = flow.advance(lr)
            except (FloatingPointError, torch.linalg.LinAlgError, np.linalg.LinAlgError):
                # a flow that blows up (a loss, an HVP or its solve not finite) ends here, not the arm:
                # one record with a null loss says so
                fields = {
                    "loss": math.nan,
                    "predicted_loss": math.nan,
                    "sharpness": math.nan,
                    "critical": 0,
                    "sigma": [],
                    "sdcp_residual": math.nan,
                }
            rec = flow_record(arm=self.arm, step=t, flow=name, loss=_finite(fields["loss"]), distance=_finite(distance))
            if name == "central":
                rec["predicted_loss"] = _finite(fields["predicted_loss"])
                rec["sharpness"] = _finite(fields["sharpness"])
                rec["critical"] = fields["critical"]
                rec["sigma"] = [_finite(s) for s in fields["sigma"]]
                rec["sdcp_residual"] = _finite(fields["sdcp_residual"])
            if rec["loss"] is None or not bool(torch.isfinite(flow.theta).all()):
                self.alive[name] = False  # this record says so (null loss or the last one); the arm goes on
            out.append(rec)
        return out


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None
