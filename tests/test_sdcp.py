"""The central flow's semidefinite complementarity solver (eos_tui/engine/sdcp.py) against the KKT
conditions and the k = 1 closed form."""

import numpy as np
import pytest

from eos_tui.engine import sdcp


def random_problem(k: int, rng: np.random.Generator, rank: int | None = None):
    """A problem with a known solution. B: the Gram map of k(k+1)/2 random gradient-like vectors,
    B[i,j,k,l] = ⟨d_ij, d_kl⟩ (symmetric in i↔j, k↔l and (ij)↔(kl), PSD; of rank `rank` if given).
    A = R* − B[X*] with X*, R* ⪰ 0 on complementary eigenspaces, so X* solves it."""
    n = 40
    pairs = [(i, j) for j in range(k) for i in range(j + 1)]
    r = n if rank is None else rank
    D = rng.standard_normal((len(pairs), r)) @ rng.standard_normal((r, n))
    idx = np.zeros((k, k), dtype=int)
    for a, (i, j) in enumerate(pairs):
        idx[i, j] = idx[j, i] = a
    gram = D @ D.T
    B = gram[idx[:, :, None, None], idx[None, None, :, :]]
    Q = np.linalg.qr(rng.standard_normal((k, k)))[0]
    active = max(1, k // 2)  # X* lives on the first eigenvectors, R* on the others
    X_star = (Q[:, :active] * rng.uniform(0.5, 2, size=active)) @ Q[:, :active].T
    R_star = (Q[:, active:] * rng.uniform(0.5, 2, size=k - active)) @ Q[:, active:].T
    A = R_star - sdcp.apply(B, X_star)
    return A, B


@pytest.mark.parametrize("k", [2, 3, 4])
@pytest.mark.parametrize("seed", range(5))
def test_solution_satisfies_kkt(k, seed):
    rng = np.random.default_rng(seed)
    A, B = random_problem(k, rng)
    res = sdcp.solve(A, B)
    X, R = res.X, A + sdcp.apply(B, res.X)
    scale = np.linalg.norm(A)
    assert np.allclose(X, X.T)
    assert np.linalg.eigvalsh(X)[0] >= -1e-9 * scale  # X ⪰ 0
    assert np.linalg.eigvalsh(R)[0] >= -1e-8 * scale  # R = A + B[X] ⪰ 0
    assert abs(np.sum(X * R)) <= 1e-8 * scale * max(1.0, np.linalg.norm(X))  # ⟨X, R⟩ = 0
    assert res.residual <= 1e-9
    assert np.allclose(res.R, R)


@pytest.mark.parametrize("seed", range(5))
def test_solution_minimizes_the_convex_problem(seed):
    """No PSD perturbation of X lowers ½⟨X, B[X]⟩ + ⟨A, X⟩."""
    rng = np.random.default_rng(100 + seed)
    A, B = random_problem(3, rng)
    X = sdcp.solve(A, B).X

    def objective(Y):
        return 0.5 * np.sum(Y * sdcp.apply(B, Y)) + np.sum(A * Y)

    best = objective(X)
    for _ in range(50):
        E = rng.standard_normal((3, 3)) * 1e-3
        Y = sdcp.project_psd(X + E + E.T)
        assert objective(Y) >= best - 1e-12


@pytest.mark.parametrize("a,b", [(-0.3, 2.0), (0.5, 2.0), (-1e-6, 1e-3), (-4.0, 0.25), (0.0, 1.0)])
def test_k1_closed_form(a, b):
    """k = 1: σ² = max(0, −A/B), A = 2/η − (S + dt·⟨∇S, −η∇L⟩), B = dt·½η‖∇S‖² (exact in one step)."""
    res = sdcp.solve(np.array([[a]]), np.array([[[[b]]]]))
    assert res.X[0, 0] == pytest.approx(max(0.0, -a / b), rel=1e-12, abs=1e-300)
    assert res.iterations <= 1


def test_psd_a_needs_no_oscillation():
    A = np.diag([0.1, 0.0, 2.0])
    rng = np.random.default_rng(0)
    _, B = random_problem(3, rng)
    res = sdcp.solve(A, B)
    assert np.array_equal(res.X, np.zeros((3, 3))) and res.iterations == 0


def test_degenerate_b_returns_zero_with_residual():
    """B = 0 with A pushing past the edge: no X can hold it (a constant Hessian); X = 0, residual > 0."""
    res = sdcp.solve(np.diag([-1.0, 0.5]), np.zeros((2, 2, 2, 2)))
    assert np.array_equal(res.X, np.zeros((2, 2))) and res.residual > 0


def test_rank_deficient_b_still_satisfies_kkt():
    """B of rank 2 on 3×3 symmetric matrices (6 dimensions): X is not unique, KKT still holds."""
    rng = np.random.default_rng(7)
    A, B = random_problem(3, rng, rank=2)
    res = sdcp.solve(A, B)
    R = A + sdcp.apply(B, res.X)
    scale = np.linalg.norm(A)
    assert np.linalg.eigvalsh(res.X)[0] >= -1e-9 * scale
    assert np.linalg.eigvalsh(R)[0] >= -1e-6 * scale
    assert abs(np.sum(res.X * R)) <= 1e-6 * scale
