"""engine/curvature: the Hessian operator against the dense Hessian and exact theory, the two
autodiff routes to H v against each other, one warm-start builder for both Lanczos drivers, RK4
against the exact gradient flow of a quadratic.

float64 on small problems: tolerances are tight (stated per test) and the tests fast.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import torch

from eos_tui.engine.curvature.flow import grad, grad_and_value, rk4_flow
from eos_tui.engine.curvature.hessian import HessianOperator, dense_hessian, forward_over_reverse, make_hvp
from eos_tui.engine.curvature.lanczos import top_eigenpairs, track_step, warm_start

F64 = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _quadratic(n: int = 12, seed: int = 0):
    """L(θ) = ½ θᵀAθ with a known symmetric A (its Hessian, exactly)."""
    B = torch.randn(n, n, generator=_gen(seed), dtype=F64)
    A = (B + B.T) / 2
    return A, (lambda th: 0.5 * th @ (A @ th))


def _tanh_loss(theta: torch.Tensor) -> torch.Tensor:
    W = theta[:30].reshape(6, 5)
    v = theta[30:]
    x = torch.linspace(-1, 1, 30, dtype=theta.dtype).reshape(6, 5).T
    return 0.5 * ((torch.tanh(x @ W) @ v) ** 2).mean()


def test_operator_is_the_hessian_of_a_quadratic_and_counts_its_products():
    A, loss = _quadratic()
    theta = torch.randn(12, generator=_gen(1), dtype=F64)
    H = HessianOperator(loss, theta)
    assert H.shape == (12, 12) and H.dtype == F64 and H.device == theta.device and H.hvps == 0
    v = torch.randn(12, generator=_gen(2), dtype=F64)
    torch.testing.assert_close(H @ v, A @ v, rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(H.matvec(v), A @ v, rtol=1e-13, atol=1e-13)
    assert H.hvps == 2
    torch.testing.assert_close(H.to_dense(), A, rtol=1e-13, atol=1e-13)


def test_preconditioned_operator_is_D_H_D_and_has_the_eigenvalues_of_P_inverse_H():
    A, loss = _quadratic(seed=3)
    theta = torch.randn(12, generator=_gen(4), dtype=F64)
    P = torch.rand(12, generator=_gen(5), dtype=F64) + 0.5  # a diagonal preconditioner, as Adam's
    D = P.rsqrt()
    H = HessianOperator(loss, theta, precond=D)
    DHD = D[:, None] * A * D[None, :]
    v = torch.randn(12, generator=_gen(6), dtype=F64)
    torch.testing.assert_close(H @ v, DHD @ v, rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(H.to_dense(), DHD, rtol=1e-13, atol=1e-13)
    top = float(torch.linalg.eigvals(torch.diag(1 / P) @ A).real.max())
    pairs = top_eigenpairs(H, 12, 1, tol=1e-10, max_iter=12, dtype=F64, generator=_gen(7))
    assert math.isclose(float(pairs.eigenvalues[0]), top, rel_tol=1e-9)
    assert H.hvps == 1 + pairs.hvps  # the product above, and every one the solve made


def test_chunked_operator_equals_the_whole_one():
    theta = torch.randn(35, generator=_gen(8), dtype=F64)
    X = torch.randn(40, 35, generator=_gen(9), dtype=F64)
    whole = lambda th: (torch.tanh(X @ th) ** 2).sum()  # noqa: E731
    parts = [lambda th, i=i: (torch.tanh(X[i : i + 10] @ th) ** 2).sum() for i in range(0, 40, 10)]
    v = torch.randn(35, generator=_gen(10), dtype=F64)
    a = HessianOperator(whole, theta) @ v
    b = HessianOperator(whole, theta, parts=parts) @ v
    torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_forward_over_reverse_and_reverse_over_reverse_agree():
    """The batched engine's HVP (forward-over-reverse, vmapped) and the one-arm path's (reverse over
    reverse, a retained graph) are the same derivative: equal to rounding."""
    theta = torch.randn(35, generator=_gen(11), dtype=F64)
    v = torch.randn(35, generator=_gen(12), dtype=F64)
    fwd = forward_over_reverse(torch.func.grad(_tanh_loss))(theta, v)
    rev = make_hvp(_tanh_loss, theta)(v)
    torch.testing.assert_close(fwd, rev, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(dense_hessian(_tanh_loss, theta) @ v, rev, rtol=1e-12, atol=1e-14)


def test_one_warm_start_for_both_drivers():
    """track_step starts where top_eigenpairs would, given the same generator, vector and noise."""
    n = 20
    start = torch.randn(2, n, generator=_gen(13), dtype=F64)
    a = warm_start(start, n, F64, torch.device("cpu"), _gen(14), 1e-2)
    seen = []

    def hvp(v):
        seen.append(v.clone())
        return 3.0 * v  # H = 3 I: one product, then breakdown

    settings = SimpleNamespace(k=1, generator=_gen(14), noise=1e-2, refresh_tol=1e-3, refresh_max_hvps=4, jump=None)
    track_step(hvp, n, start, 1e-3, 4, F64, torch.device("cpu"), settings)
    assert torch.equal(seen[0], a)
    assert math.isclose(float(torch.linalg.vector_norm(a)), 1.0, rel_tol=1e-14)


def test_rk4_follows_the_exact_gradient_flow_of_a_quadratic():
    """θ(τ) = exp(−Aτ) θ0 for L = ½θᵀAθ; RK4's global error is O(h⁴): ≤ 1e-8 relative at h = 0.01."""
    A, loss = _quadratic(n=6, seed=15)
    A = A @ A.T / 6  # positive semidefinite, a moderate spectrum
    quad = lambda th: 0.5 * th @ (A @ th)  # noqa: E731
    theta0 = torch.randn(6, generator=_gen(16), dtype=F64)
    got = rk4_flow(lambda th: grad(quad, th), theta0, 0.01, 100)
    exact = torch.linalg.matrix_exp(-A * 1.0) @ theta0
    assert float(torch.linalg.vector_norm(got - exact) / torch.linalg.vector_norm(exact)) < 1e-8


def test_summed_gradient_gives_each_rows_gradient_and_every_value():
    theta = torch.randn(3, 35, generator=_gen(17), dtype=F64)
    losses = torch.func.vmap(_tanh_loss)
    G, L = grad_and_value(losses, theta, summed=True)
    for i in range(3):
        g, value = grad_and_value(_tanh_loss, theta[i])
        torch.testing.assert_close(G[i], g, rtol=1e-14, atol=1e-16)
        assert math.isclose(float(L[i]), float(value), rel_tol=1e-14)  # vmapped: bmm, not mm (batched.py)
