"""The small semidefinite complementarity problem (SDCP) of the central flow (Cohen, Damian et al. 2024).

Given a symmetric k×k matrix A and a positive semidefinite linear map B on symmetric k×k matrices,
find X with

    X ⪰ 0,    R = A + B[X] ⪰ 0,    ⟨X, R⟩ = 0.

When B is positive semidefinite this is exactly the KKT system of the convex problem

    min over X ⪰ 0 of  ½⟨X, B[X]⟩ + ⟨A, X⟩

(its gradient is R; optimality over the PSD cone is X ⪰ 0, R ⪰ 0, ⟨X, R⟩ = 0), which is what is
solved here: accelerated projected gradient (FISTA) with step 1/‖B‖, the projection onto the PSD
cone being an eigendecomposition with the negative eigenvalues clipped to 0. k is at most a handful
(measure.central_max_critical), so every iteration is a few µs of numpy; no convex-optimization
package. For k = 1 the problem is scalar and the answer is the closed form X = max(0, −A/B), which
one projected-gradient step with step 1/B gives exactly. Where B is ill-conditioned (FISTA needs
~√cond(B) iterations) and projected gradient stops short of the tolerance, a log-barrier Newton
method on the k(k+1)/2 coordinates of X takes over (B positive definite on symmetric matrices).

In the central flow, A = 2/η·I minus the k×k block UᵀHU of the Hessian on the critical
eigenvectors after one stable substep, and B[X] the change of that block that the oscillation
covariance Σ = U X Uᵀ causes over the substep (eos_tui/engine/central_flow.py).

B is given as a (k, k, k, k) array: B[X]_ij = Σ_kl B[i, j, k, l]·X_kl, with B symmetric under
(i, j) ↔ (k, l) and under i ↔ j, k ↔ l (the Gram matrix of the derivatives of the block's entries).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_TOL = 1e-10  # relative KKT residual at which the iteration stops
DEFAULT_MAX_ITER = 5000


@dataclass
class SDCPResult:
    X: np.ndarray  # (k, k), symmetric positive semidefinite
    R: np.ndarray  # A + B[X]
    iterations: int
    residual: float  # ‖X − Π(X − R)‖ / max(‖A‖, tiny): 0 at an exact solution


def project_psd(M: np.ndarray) -> np.ndarray:
    """The nearest positive semidefinite matrix to symmetric M (Frobenius): eigenvalues clipped at 0."""
    M = 0.5 * (M + M.T)
    w, V = np.linalg.eigh(M)
    return (V * np.maximum(w, 0.0)) @ V.T


def apply(B: np.ndarray, X: np.ndarray) -> np.ndarray:
    """B[X]: the (k, k, k, k) map applied to a (k, k) matrix."""
    return np.einsum("ijkl,kl->ij", B, X)


def kkt_residual(A: np.ndarray, B: np.ndarray, X: np.ndarray) -> float:
    """‖X − Π_PSD(X − (A + B[X]))‖_F relative to ‖A‖_F: the natural residual of the problem, zero
    exactly when X ⪰ 0, R ⪰ 0 and ⟨X, R⟩ = 0."""
    R = A + apply(B, X)
    scale = max(float(np.linalg.norm(A)), 1e-300)
    return float(np.linalg.norm(X - project_psd(X - R))) / scale


def solve(A: np.ndarray, B: np.ndarray, *, tol: float = DEFAULT_TOL, max_iter: int = DEFAULT_MAX_ITER) -> SDCPResult:
    """X ⪰ 0 with A + B[X] ⪰ 0 and ⟨X, A + B[X]⟩ = 0 (see the module's docstring).

    A ⪰ 0 gives X = 0 at once (no direction is pushed past the edge). Where B vanishes on the
    directions A pushes past it (B's norm 0), no oscillation can hold them and X = 0 is returned
    with a nonzero residual: the caller sees it (a quadratic's constant Hessian has no central flow
    above 2/η)."""
    A = 0.5 * (np.asarray(A, dtype=np.float64) + np.asarray(A, dtype=np.float64).T)
    B = np.asarray(B, dtype=np.float64)
    k = A.shape[0]
    zero = np.zeros_like(A)
    if k == 0 or np.linalg.eigvalsh(A)[0] >= 0:
        return SDCPResult(zero, A, 0, 0.0)
    Bm = B.reshape(k * k, k * k)
    Bm = 0.5 * (Bm + Bm.T)
    lip = float(np.linalg.eigvalsh(Bm)[-1])  # ‖B‖ as an operator: the gradient's Lipschitz constant
    if not lip > 0 or not np.isfinite(lip):
        return SDCPResult(zero, A, 0, kkt_residual(A, B, zero))
    step = 1.0 / lip

    def grad(X: np.ndarray) -> np.ndarray:
        return A + (Bm @ X.reshape(-1)).reshape(k, k)

    X = project_psd(-step * A)  # one projected-gradient step from 0 (exact for k = 1)
    Y, t = X, 1.0
    scale = max(float(np.linalg.norm(A)), 1e-300)
    residual = float(np.linalg.norm(X - project_psd(X - grad(X)))) / scale
    it = 1
    while residual > tol and it < max_iter:
        X_new = project_psd(Y - step * grad(Y))
        t_new = 0.5 * (1.0 + (1.0 + 4.0 * t * t) ** 0.5)
        Y = X_new + ((t - 1.0) / t_new) * (X_new - X)
        X, t = X_new, t_new
        it += 1
        residual = float(np.linalg.norm(X - project_psd(X - grad(X)))) / scale
    X = 0.5 * (X + X.T)
    if residual > tol:
        # FISTA needs ~√(cond B) iterations: with an ill-conditioned B (10⁶) it stopped at max_iter far
        # from the solution (a critical eigenvalue left well above the edge, ⟨X, R⟩ ≠ 0). B positive
        # definite: a barrier method solves it to tolerance in a few dozen Newton steps.
        got = _interior_point(A, Bm, k, lip)
        if got is not None:
            X_ip, it_ip = got
            residual_ip = float(np.linalg.norm(X_ip - project_psd(X_ip - grad(X_ip)))) / scale
            if residual_ip < residual:
                X, residual, it = X_ip, residual_ip, it + it_ip
    return SDCPResult(X, grad(X), it, residual)


def _interior_point(A: np.ndarray, Bm: np.ndarray, k: int, lip: float) -> tuple[np.ndarray, int] | None:
    """min ½⟨X, B[X]⟩ + ⟨A, X⟩ − μ log det X by damped Newton, μ → 0 (B positive definite): the
    fallback of `solve` where projected gradient converges too slowly. Returns (X, Newton steps), or
    None where B is singular on the symmetric matrices (the barrier problem may have no minimum)."""
    basis = []  # an orthonormal basis of the symmetric k×k matrices: ⟨E_p, E_q⟩ = δ_pq
    for i in range(k):
        for j in range(i, k):
            E = np.zeros((k, k))
            E[i, j] = E[j, i] = 1.0 if i == j else 2.0**-0.5
            basis.append(E.reshape(-1))
    Ef = np.array(basis)  # (m, k²)
    Q = Ef @ Bm @ Ef.T
    Q = 0.5 * (Q + Q.T)
    q_min = float(np.linalg.eigvalsh(Q)[0])
    if not q_min > 1e-12 * lip:
        return None
    a = Ef @ A.reshape(-1)
    # Start at X = s0·I with s0 = ‖A‖/λ_min(B), the largest X can be, and μ of the objective's size
    # there: the damped Newton phase gains O(μ) a step, so a μ far below it would take millions.
    s0 = float(np.linalg.norm(A)) / q_min
    x = Ef @ (s0 * np.eye(k)).reshape(-1)
    mu = float(np.linalg.norm(A)) * s0
    mu_end = mu * 1e-16

    def phi(x: np.ndarray, mu: float) -> float:
        w = np.linalg.eigvalsh((Ef.T @ x).reshape(k, k))
        return float(0.5 * x @ Q @ x + a @ x - mu * np.sum(np.log(w))) if w[0] > 0 else np.inf

    steps = 0
    while True:
        for _ in range(60):
            X = (Ef.T @ x).reshape(k, k)
            try:
                Xi = np.linalg.inv(X)
                Xi = 0.5 * (Xi + Xi.T)
                g = Q @ x + a - mu * (Ef @ Xi.reshape(-1))
                H = Q + mu * (Ef @ np.kron(Xi, Xi) @ Ef.T)
                dx = -np.linalg.solve(0.5 * (H + H.T), g)
            except np.linalg.LinAlgError:  # X⁻¹ beyond float64 near the boundary: as close as it gets
                mu = 0.0
                break
            steps += 1
            dec = float(-g @ dx)  # the Newton decrement squared
            if dec <= 1e-12 * max(mu, 1e-300) * k:
                break
            t, f0 = 1.0, phi(x, mu)
            while t > 1e-12 and phi(x + t * dx, mu) > f0 - 0.25 * t * dec:
                t *= 0.5
            if t <= 1e-12:  # no measurable decrease left at this μ: centred as well as float64 allows
                break
            x = x + t * dx
        if mu <= mu_end or not np.isfinite(x).all():
            break
        mu *= 0.2
    if not np.isfinite(x).all():
        return None
    X = (Ef.T @ x).reshape(k, k)
    return project_psd(X), steps
