"""Review of the central flow's SDCP solver (engine/sdcp.py): an ill-conditioned B."""

from __future__ import annotations

import numpy as np

from eos_tui.engine import sdcp


def _ill_conditioned(seed: int, c: float, k: int = 4, n: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """A valid SDCP (B the Gram map of the gradients of a symmetric block, as central_flow builds it)
    whose first critical direction's entries barely move: B's condition number ≈ 1/c⁴."""
    rng = np.random.default_rng(seed)
    G = rng.normal(size=(k, k, n))
    G = (G + G.transpose(1, 0, 2)) / 2
    G[0, :] *= c
    G[:, 0] *= c
    B = np.einsum("ijn,kln->ijkl", G, G)
    A = rng.normal(size=(k, k))
    return (A + A.T) / 2, B


def test_ill_conditioned_b_is_solved_to_the_kkt_conditions():
    """Projected gradient (FISTA, step 1/‖B‖) needs ~√cond(B) iterations: with cond(B) ≈ 10⁸ it stopped
    at its 5000 iterations far from the solution: R = A + B[X] with an eigenvalue −0.5‖A‖ (a critical
    eigenvalue left far above 2/η after the substep) and ⟨X, R⟩ ≠ 0, silently (the residual is only
    stored). A barrier-method fallback now solves these to the KKT conditions."""
    for seed in range(6):
        A, B = _ill_conditioned(seed, c=1e-2)
        r = sdcp.solve(A, B)
        scale = np.linalg.norm(A)
        R = A + sdcp.apply(B, r.X)
        assert r.residual < 1e-7, (seed, r.residual)
        assert np.linalg.eigvalsh(r.X)[0] >= -1e-9 * max(1.0, np.linalg.norm(r.X))
        assert np.linalg.eigvalsh(R)[0] >= -1e-6 * scale, (seed, np.linalg.eigvalsh(R))
        assert abs(np.sum(r.X * R)) <= 1e-6 * scale * max(1.0, np.linalg.norm(r.X)), seed


def test_well_conditioned_problems_still_take_the_projected_gradient_path():
    A, B = _ill_conditioned(0, c=1.0)
    r = sdcp.solve(A, B)
    assert r.residual < 1e-10 and r.iterations < 5000
