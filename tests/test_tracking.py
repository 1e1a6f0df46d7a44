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


# A smaller float64 problem driven *through* the edge of stability: λ_max(θ₀) ≈ 2.0, η = 0.78 puts
# 2/η ≈ 2.56 within reach of progressive sharpening, which crosses it at step ≈ 45, overshoots
# (catapult, ηλ/2 up to ≈ 1.4 near step 110) and settles at ηλ/2 ≈ 1 from step ≈ 140 on.
EOS_LR = 0.78


def _run_eos(tracker, steps=200, lr=EOS_LR):
    prob = build_problem(scenario(SMALL).arms[0], torch.device("cpu"))
    grad = torch.func.grad(prob.loss)
    theta = prob.theta0.clone()
    tracked, exact = [], []
    for _ in range(steps):
        H = dense_hessian(prob.loss, theta)
        exact.append(float(torch.linalg.eigvalsh(H)[-1]))
        res = tracker.update(make_hvp(prob.loss, theta), theta.numel(), dtype=theta.dtype)
        tracked.append(float(res.eigenvalues[0]))
        theta = theta - lr * grad(theta)
    return torch.tensor(tracked, dtype=torch.float64), torch.tensor(exact, dtype=torch.float64)


def test_tracks_lambda_max_through_the_edge_of_stability():
    """The issue's goal on a problem small enough for the exact Hessian at every step: ≤ 2 HVPs per
    step on average with the error under 1% at every step of the EoS phase and on average overall.

    Tolerances: 1% is the goal itself (measured: max 0.7% from step 140 on, mean 0.1%); during the
    catapult (steps 45–140) a per-step tracker lags λ_max's jumps, so there only < 5% is asserted
    (measured max 1.2%)."""
    tr = PerStepTracker(k=1, refresh_every=7, tol=1e-2, refresh_residual=0.05, period=2)
    tracked, exact = _run_eos(tr)
    err = (tracked - exact).abs() / exact
    ratio = EOS_LR * exact / 2
    assert 0.9 < float(ratio[140:].median()) < 1.1  # the run really is at the edge of stability
    assert float(ratio.max()) > 1.2  # and went through a catapult
    assert tr.mean_hvps <= 2.0
    assert float(err.mean()) < 0.01
    assert float(err[140:].max()) < 0.01
    assert float(err.max()) < 0.05
    # Every reported value is a Ritz value of the current Hessian, hence a lower bound on λ_max
    # (up to float64 rounding, relative 1e-10 is ~10⁵ ulps of slack).
    assert bool((tracked <= exact * (1 + 1e-10)).all())
