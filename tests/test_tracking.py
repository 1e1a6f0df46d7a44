"""PerStepTracker: λ_max at every step of a small float64 GD run, against the exact Hessian.

HVP counts are deterministic (seeded generators), so asserting them is fine; no wall-time asserts.
"""

import torch

from eos_tui.engine.eigensolver import dense_hessian, exact_top, make_hvp
from eos_tui.engine.problems import build_problem
from eos_tui.engine.tracking import PerStepTracker

from .helpers import scenario

SMALL = """
name = "track"
seed = 0
steps = 80
dtype = "float64"
loss = "mse"
[data]
kind = "random-labels"
n = 24
dim = 6
classes = 3
[model]
kind = "mlp"
hidden = [10]
activation = "tanh"
[optimizer]
kind = "gd"
lr = 0.2
"""


def _run(tracker, steps=80, lr=0.2):
    prob = build_problem(scenario(SMALL).arms[0], torch.device("cpu"))
    grad = torch.func.grad(prob.loss)
    theta = prob.theta0.clone()
    errs, hvps = [], []
    for _ in range(steps):
        exact = float(exact_top(dense_hessian(prob.loss, theta), 1)[0][0])
        res = tracker.update(make_hvp(prob.loss, theta), theta.numel(), dtype=theta.dtype)
        errs.append(abs(float(res.eigenvalues[0]) - exact) / abs(exact))
        hvps.append(res.hvps)
        theta = theta - lr * grad(theta)
    return errs, hvps


def test_per_step_error_under_one_percent_at_under_two_hvps():
    tr = PerStepTracker(k=1, refresh_every=20, tol=1e-3, refresh_residual=0.05, period=1)
    errs, hvps = _run(tr)
    assert max(errs) < 0.01
    assert tr.mean_hvps <= 2.0
    assert sum(hvps) == tr.total_hvps and tr.updates == 80
    assert tr.refreshes >= 80 // 20  # the drift check ran


def test_ordinary_steps_cost_k_hvps_and_vectors_stay_unit_and_aligned():
    tr = PerStepTracker(k=2, refresh_every=10, tol=1e-3, period=1)
    prob = build_problem(scenario(SMALL).arms[0], torch.device("cpu"))
    theta = prob.theta0
    first = tr.update(make_hvp(prob.loss, theta), theta.numel(), dtype=theta.dtype)
    assert first.refreshed
    second = tr.update(make_hvp(prob.loss, theta), theta.numel(), dtype=theta.dtype)
    assert not second.refreshed and second.hvps == 2
    assert torch.allclose(torch.linalg.vector_norm(second.eigenvectors, dim=1), torch.ones(2, dtype=theta.dtype))
    assert ((second.eigenvectors * first.eigenvectors).sum(dim=1) > 0).all()
    assert second.eigenvalues[0] >= second.eigenvalues[1]
    vals, vecs, hvps, residual = second  # unpacks like Arm.eigenpairs
    assert hvps == 2


def test_large_residual_triggers_a_converged_solve():
    # A tiny threshold forces a refresh after every cheap step: it must then equal the exact value.
    tr = PerStepTracker(k=1, refresh_every=1000, tol=1e-8, refresh_residual=1e-12, period=1)
    errs, hvps = _run(tr, steps=10)
    assert max(errs) < 1e-6
    assert tr.refreshes == 10
