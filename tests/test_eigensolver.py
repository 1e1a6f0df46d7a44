"""Lanczos top-eigenpair solver: accuracy against dense eigh, HVP accounting, warm starts.

Everything runs in float64 on small problems, so tolerances can be tight and the tests fast.
All randomness comes from seeded generators: the tests are deterministic.
"""

from __future__ import annotations

import pytest
import torch

from eos_tui.engine.curvature.hessian import dense_hessian, exact_top, make_hvp
from eos_tui.engine.curvature.lanczos import Eigenpairs, Lanczos, align_signs, top_eigenpairs

F64 = torch.float64


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def with_spectrum(lams, seed: int = 0) -> torch.Tensor:
    """Q diag(λ) Qᵀ with a random orthogonal Q: a symmetric matrix with a known spectrum."""
    n = len(lams)
    Q, _ = torch.linalg.qr(torch.randn(n, n, generator=gen(seed), dtype=F64))
    return Q @ torch.diag(torch.as_tensor(lams, dtype=F64)) @ Q.T


class Counter:
    """Wraps a matrix as an hvp and counts calls, to check the solver's own count."""

    def __init__(self, H: torch.Tensor):
        self.H = H
        self.calls = 0

    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.H @ v


def solve(H, k=1, *, seed=1, **kw) -> tuple[Eigenpairs, Counter]:
    hvp = Counter(H)
    res = top_eigenpairs(hvp, H.shape[0], k, dtype=F64, generator=gen(seed), **kw)
    return res, hvp


def assert_vectors_match(got: torch.Tensor, want: torch.Tensor, atol: float) -> None:
    """Rows equal up to sign (an eigenvector's sign is arbitrary)."""
    for g, w in zip(got, want):
        sign = torch.sign(torch.dot(g, w))
        torch.testing.assert_close(g * sign, w, atol=atol, rtol=0)


# A spectrum with a clear top, a spread bulk and negative values: typical of a training Hessian.
def bulk_spectrum(n: int) -> list[float]:
    return [10.0, 8.0, 7.0] + torch.linspace(-3.0, 5.0, n - 3, dtype=F64).tolist()


# ---- accuracy on known spectra ----------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 3, 5])
def test_top_k_matches_eigh(k):
    H = with_spectrum(bulk_spectrum(120))
    res, hvp = solve(H, k, tol=1e-10)
    want_vals, want_vecs = exact_top(H, k)
    assert res.converged
    assert res.eigenvalues.shape == (k,) and res.eigenvectors.shape == (k, 120)
    # tol 1e-10 on the residual gives eigenvalue errors ~ residual²/gap ≪ 1e-8; 1e-8 relative
    # leaves room for rounding in both solvers.
    torch.testing.assert_close(res.eigenvalues, want_vals, rtol=1e-8, atol=0)
    # Eigenvector error ~ residual/gap ≈ 1e-10/1; 1e-7 is a safe bound.
    assert_vectors_match(res.eigenvectors, want_vecs, atol=1e-7)
    torch.testing.assert_close(torch.linalg.vector_norm(res.eigenvectors, dim=1), torch.ones(k, dtype=F64))
    assert torch.all(res.eigenvalues[:-1] >= res.eigenvalues[1:])  # descending


def test_largest_algebraic_not_largest_magnitude():
    # -10 dominates in magnitude: power iteration (PyHessian's bug) would return it.
    lams = [-10.0, 3.0, 2.9, 1.0] + torch.linspace(-2.0, 0.9, 46, dtype=F64).tolist()
    H = with_spectrum(lams, seed=2)
    res, _ = solve(H, 1, tol=1e-10)
    assert res.converged
    assert res.eigenvalues.item() == pytest.approx(3.0, rel=1e-8)
    res2, _ = solve(H, 2, tol=1e-10)
    torch.testing.assert_close(res2.eigenvalues, torch.tensor([3.0, 2.9], dtype=F64), rtol=1e-8, atol=0)


@pytest.mark.parametrize("k", [1, 2])
def test_a_huge_negative_eigenvalue_does_not_loosen_the_stopping_test(k):
    # λ_min = −10⁴ and λ_max = 3: a residual measured against the spectral radius would stop
    # with λ_max off by ~10 (it did: 1.57 after 2 HVPs, "converged"). tol 1e-3 on the residual
    # relative to each θ_i puts each θ_i within tol·θ_i of an eigenvalue (Bauer–Fike); the gaps
    # below 3 and 2.5 (≫ tol) make it the right one.
    lams = [-1e4, 3.0, 2.5] + torch.linspace(0.0, 2.0, 197, dtype=F64).tolist()
    H = with_spectrum(lams, seed=5)
    res, _ = solve(H, k, tol=1e-3, max_iter=200)
    assert res.converged
    want = exact_top(H, k)[0]
    torch.testing.assert_close(res.eigenvalues, want, rtol=1e-3, atol=0)


# ---- accounting -------------------------------------------------------------------------------


@pytest.mark.parametrize("tol", [1e-3, 1e-6, 1e-10])
def test_residual_and_hvp_accounting(tol):
    n = 80
    H = with_spectrum(bulk_spectrum(n), seed=3)
    res, hvp = solve(H, 2, tol=tol)
    assert res.converged
    assert res.hvps == hvp.calls  # counted exactly
    assert res.hvps <= n
    assert res.residual <= tol
    # The reported residual is the true one, measured here directly (relative to the largest
    # |Ritz value|, which at convergence is within tol of the spectral radius 10).
    true_res = torch.linalg.vector_norm(H @ res.eigenvectors.T - res.eigenvectors.T * res.eigenvalues, dim=0).max() / 10.0
    # 1.01·tol + 1e-13: the Ritz-value scale differs from 10 by O(tol²), plus rounding.
    assert true_res <= 1.01 * tol + 1e-13


def test_stops_at_max_iter_unconverged():
    H = with_spectrum(bulk_spectrum(80), seed=3)
    res, hvp = solve(H, 1, tol=1e-12, max_iter=4)
    assert hvp.calls == res.hvps == 4
    assert not res.converged
    assert res.residual > 1e-12


def test_small_n_exhausts_space():
    # n = 6 < max_iter: the Krylov basis spans R^6 after 6 HVPs, so the answer is exact.
    H = with_spectrum([4.0, -7.0, 1.0, 2.0, 0.5, 3.0], seed=4)
    res, hvp = solve(H, 2, tol=1e-14)
    assert res.hvps <= 6
    assert res.converged
    torch.testing.assert_close(res.eigenvalues, torch.tensor([4.0, 3.0], dtype=F64), rtol=1e-10, atol=0)


# ---- warm starts ------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 3])
def test_warm_start_saves_hvps(k):
    n, tol = 200, 1e-6
    H = with_spectrum(bulk_spectrum(n), seed=5)
    first, _ = solve(H, k, tol=tol)
    E = torch.randn(n, n, generator=gen(6), dtype=F64)
    E = (E + E.T) / (2 * n**0.5)  # spectral norm ≈ √2: H moves by ~1e-3 relative to λ_max=10
    H2 = H + 1e-3 * E
    cold, _ = solve(H2, k, tol=tol, seed=7)
    warm, _ = solve(H2, k, tol=tol, seed=7, v0=first.eigenvectors)
    assert cold.converged and warm.converged
    # Measured: k=1 cold 16 / warm 6, k=3 cold 22 / warm 11. "At most half" is the claim.
    assert warm.hvps <= cold.hvps // 2, (cold.hvps, warm.hvps)
    torch.testing.assert_close(warm.eigenvalues, exact_top(H2, k)[0], rtol=1e-9, atol=0)


def test_warm_start_from_single_vector_and_exact_eigenvector():
    # v0 exactly an eigenvector that is NOT the top one: without the random kick Lanczos would
    # break down after one step and report 8. The kick (and breakdown probing) must find 10.
    H = with_spectrum(bulk_spectrum(60), seed=8)
    _, vecs = torch.linalg.eigh(H)
    res, _ = solve(H, 1, tol=1e-10, v0=vecs[:, -2])
    assert res.eigenvalues.item() == pytest.approx(10.0, rel=1e-8)


def test_warm_starts_along_a_trajectory_are_cheap_and_sign_aligned():
    """What the engine does between measurements (Arm.measured): warm-start each solve from the
    previous eigenvectors, then align their signs with them."""
    n = 150
    H = with_spectrum(bulk_spectrum(n), seed=9)
    E = torch.randn(n, n, generator=gen(10), dtype=F64)
    E = (E + E.T) / (2 * n**0.5)
    g = gen(11)
    prev = None
    results = []
    for step in range(5):
        Ht = H + 1e-3 * step * E  # a Hessian drifting slowly, as along a training trajectory
        res = top_eigenpairs(lambda v: Ht @ v, n, 2, v0=prev, tol=1e-6, dtype=F64, generator=g)
        vectors = align_signs(res.eigenvectors, prev)
        results.append(res)
        torch.testing.assert_close(res.eigenvalues, exact_top(Ht, 2)[0], rtol=1e-9, atol=0)
        if prev is not None:  # same sign as the previous solve, row by row
            assert torch.all((vectors * prev).sum(dim=1) > 0)
        prev = vectors
    assert all(r.hvps <= results[0].hvps // 2 for r in results[1:]), [r.hvps for r in results]


def test_lanczos_keeps_ritz_values_not_parameters():
    """Lanczos.ritz (formerly .theta: θ means parameters everywhere else) holds T's Ritz values."""
    H = torch.diag(torch.tensor([3.0, 2.0, 1.0], dtype=F64))
    s = Lanczos(3, 1, tol=1e-12, dtype=F64, generator=gen(1))
    while not s.done:
        s.absorb(H @ s.query())
    assert not hasattr(s, "theta")
    torch.testing.assert_close(s.ritz.max(), torch.tensor(3.0, dtype=F64))
    assert isinstance(s.result(), Eigenpairs)


# ---- real small networks ----------------------------------------------------------------------


def mlp_loss(act, d_in=5, width=8, d_out=3, m=20, seed=12):
    """A 5→8→3 MLP written functionally on a flat θ, MSE (½‖f − y‖² averaged) on random data."""
    g = gen(seed)
    X = torch.randn(m, d_in, generator=g, dtype=F64)
    Y = torch.randn(m, d_out, generator=g, dtype=F64)
    shapes = [(width, d_in), (width,), (d_out, width), (d_out,)]
    sizes = [torch.Size(s).numel() for s in shapes]

    def loss(theta):
        W1, b1, W2, b2 = (p.view(s) for p, s in zip(torch.split(theta, sizes), shapes))
        out = act(X @ W1.T + b1) @ W2.T + b2
        return 0.5 * ((out - Y) ** 2).sum(dim=1).mean()

    theta = torch.randn(sum(sizes), generator=g, dtype=F64) * 0.7
    return loss, theta


@pytest.mark.parametrize("act", [torch.tanh, torch.relu], ids=["tanh", "relu"])
def test_mlp_hessian(act):
    loss, theta = mlp_loss(act)
    n = theta.numel()  # 75
    H = dense_hessian(loss, theta)
    assert H.shape == (n, n)
    assert torch.equal(H, H.T)
    hvp = make_hvp(loss, theta)
    v = torch.randn(n, generator=gen(13), dtype=F64)
    # Forward-over-reverse and the dense Hessian are the same derivative; rounding only.
    torch.testing.assert_close(hvp(v), H @ v, rtol=1e-10, atol=1e-12)

    k = 3
    res = top_eigenpairs(hvp, n, k, tol=1e-8, dtype=F64, generator=gen(14))
    want_vals, want_vecs = exact_top(H, k)
    assert res.converged
    # tol 1e-8 on the residual → eigenvalue error ≲ residual²/gap, far below 1e-6 relative.
    torch.testing.assert_close(res.eigenvalues, want_vals, rtol=1e-6, atol=0)
    # Eigenvectors only to ~residual/gap; the MLP's top gaps are O(0.1) relative, so 1e-5.
    assert_vectors_match(res.eigenvectors, want_vecs, atol=1e-5)


# ---- helpers ----------------------------------------------------------------------------------


def test_align_signs():
    old = torch.eye(3, 5, dtype=F64)
    new = old.clone()
    new[1] *= -1
    new[2] = -0.6 * old[2] + 0.8 * torch.eye(5, dtype=F64)[4]  # negative overlap, not parallel
    aligned = align_signs(new, old)
    torch.testing.assert_close(aligned[0], new[0])  # positively aligned: untouched
    torch.testing.assert_close(aligned[1], -new[1])
    torch.testing.assert_close(aligned[2], -new[2])
    assert align_signs(new, None) is new
    assert align_signs(new, old[:2]) is new  # shape mismatch (k changed): leave as is


def test_exact_top_order():
    H = with_spectrum([1.0, -5.0, 4.0, 2.0], seed=15)
    vals, vecs = exact_top(H, 2)
    torch.testing.assert_close(vals, torch.tensor([4.0, 2.0], dtype=F64))
    torch.testing.assert_close(H @ vecs.T, vecs.T * vals)


# ---- hard cases -------------------------------------------------------------------------------


def test_cluster():
    # Three eigenvalues 1e-3 apart: Lanczos must resolve them individually, and full
    # reorthogonalization must stop duplicates ("ghost" copies of 5.0) from appearing.
    lams = [5.0, 4.999, 4.998] + torch.linspace(-1.0, 4.0, 77, dtype=F64).tolist()
    H = with_spectrum(lams, seed=16)
    res, _ = solve(H, 3, tol=1e-10)
    assert res.converged
    torch.testing.assert_close(res.eigenvalues, torch.tensor([5.0, 4.999, 4.998], dtype=F64), rtol=1e-9, atol=0)
    # Within a cluster eigenvectors are ill-determined (error ~ residual/gap = 1e-10/1e-3).
    assert_vectors_match(res.eigenvectors, exact_top(H, 3)[1], atol=1e-5)


@pytest.mark.parametrize("k", [1, 2, 4])
def test_breakdown_low_rank(k):
    # Rank 2, n = 10, one positive and one negative eigenvalue: the Krylov space is at most
    # 3-dimensional (range(H) plus the start's null-space component), so β hits 0 at step 3.
    A = torch.randn(10, 2, generator=gen(17), dtype=F64)
    H = A @ torch.diag(torch.tensor([3.0, -1.0], dtype=F64)) @ A.T
    res, hvp = solve(H, k, tol=1e-10)
    assert res.converged
    assert res.hvps == hvp.calls <= 10
    want = exact_top(H, k)[0]  # k ≥ 2 includes the eigenvalue 0 (multiplicity 8)
    # The zeros come out as ~1e-15; an absolute 1e-12 against ‖H‖ ~ 10 is rounding level.
    torch.testing.assert_close(res.eigenvalues, want, rtol=1e-10, atol=1e-12)
    assert torch.all(torch.isfinite(res.eigenvectors))
    torch.testing.assert_close(H @ res.eigenvectors.T, res.eigenvectors.T * res.eigenvalues, rtol=0, atol=1e-12)


def test_repeated_top_eigenvalue():
    # diag(2, 2, 1, ...): single-vector Lanczos sees one copy of 2 before breaking down; the
    # complement probe after breakdown must find the second.
    H = torch.diag(torch.tensor([2.0, 2.0, 1.0, 1.0, 0.5, 0.0, -3.0], dtype=F64))
    res, _ = solve(H, 2, tol=1e-10)
    assert res.converged
    torch.testing.assert_close(res.eigenvalues, torch.tensor([2.0, 2.0], dtype=F64))


def test_zero_operator():
    res, _ = solve(torch.zeros(6, 6, dtype=F64), 1)
    assert res.converged and res.eigenvalues.item() == 0.0 and res.residual == 0.0


def test_bad_arguments():
    H = torch.eye(4, dtype=F64)
    with pytest.raises(ValueError):
        solve(H, 5)
    with pytest.raises(ValueError):
        solve(H, 1, v0=torch.ones(3, dtype=F64))
