"""The stability thresholds of Adam, RMSprop and Nesterov momentum against linear theory, through
the engine (Arm on a quadratic), as test_physics does for heavy ball: just under the threshold the
iteration converges, just over it diverges; the records carry that threshold and the summary's
λ/threshold is the margin.

Adam and RMSprop with the preconditioner frozen: the arm's state is preloaded with a second-moment
estimate v* (and, for Adam, a step count T = 1e13, so that both bias corrections are constant) and
β2 = α = 1 − 1e-12, so that P = sqrt(v̂) + ε stays at the chosen diag(0.5, 2, 1) to ~1e-6 over the
run, while the gradient stays small: "diverged" is declared at a loss of 1e3 (100× the start), before
the growing gradient could move v (left to run, the adaptive rule raises P by 1% and stabilizes
itself: its own edge of stability). Along an eigenvector of P^{-1/2}HP^{-1/2} (eigenvalue λ, a = ηλ):
  Adam      z² − (1 + β1 − a(1−β1))z + β1 = 0: a root at −1 when λ = (2+2β1)/((1−β1)η), 38/η at β1 = 0.9;
  RMSprop   GD in the coordinates P^{1/2}θ: 2/η; with momentum β, heavy ball's 2(1+β)/η;
  Nesterov  (no preconditioner) z² − (1 + β − a(1+β))z + β(1 − a) = 0: a root at −1 when
            a = 2(1+β)/(1+2β), 1.5 at β = 0.5 (root moduli 0.976 at 0.99×, 1.024 at 1.01×).
"""

from __future__ import annotations

import pytest
import torch

from eos_tui.analysis.summary import summarize_arm
from eos_tui.engine import optimizers

from .helpers import arm_of, of, train

QUADRATIC = """
    name = "q"
    steps = {steps}
    dtype = "float64"
    seed = 5
    [data]
    kind = "none"
    [model]
    kind = "quadratic"
    eigenvalues = [10.0, 4.0, 1.0]
    init = [1.0, 1.0, 1.0]
    [optimizer]
    lr = {lr}
    {optimizer}
    [measure]
    sharpness_every = 5
    eigenvalues = 1
    tolerance = 1e-10
    diverge_above = 1000.0
"""
FROZEN = 1 - 1e-12  # β2 (Adam), α (RMSprop): v moves by a relative 1e-12 a step
T = 1e13  # Adam's step count at the start: 1 − β1^T = 1, 1 − β2^T = 1 − e⁻¹⁰, constant to 1e-16 a step
P_TARGET = torch.tensor([0.5, 2.0, 1.0], dtype=torch.float64)


def freeze(arm, kind: str) -> torch.Tensor:
    """Preload the arm's optimizer state so that its preconditioner is P_TARGET; returns that P."""
    if kind == "adam":
        scale = 1 - torch.tensor(FROZEN, dtype=torch.float64) ** T
        arm.rule_state = (torch.zeros(3, dtype=torch.float64), P_TARGET**2 * scale, torch.tensor(T, dtype=torch.float64))
    else:
        arm.rule_state = (P_TARGET**2, torch.zeros(3, dtype=torch.float64))
    P = arm.rule.preconditioner(arm.rule_state)
    assert torch.allclose(P, P_TARGET, rtol=1e-6)
    return P


CASES = {
    "adam": (f"kind = 'adam'\n    beta2 = {FROZEN!r}", 38.0),
    "rmsprop": (f"kind = 'rmsprop'\n    alpha = {FROZEN!r}", 2.0),
    "rmsprop-momentum": (f"kind = 'rmsprop'\n    alpha = {FROZEN!r}\n    momentum = 0.5", 3.0),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("margin, status", [(0.99, "completed"), (1.01, "diverged")])
def test_adaptive_threshold_with_the_preconditioner_frozen(case, margin, status):
    keys, factor = CASES[case]
    kind = "adam" if case == "adam" else "rmsprop"
    probe = arm_of(QUADRATIC.format(steps=1, lr=0.1, optimizer=keys))
    D = freeze(probe, kind).rsqrt()
    lam = float(torch.linalg.eigvalsh(D[:, None] * probe.problem.H * D[None, :])[-1])  # λ_max(P⁻¹H)
    lr = margin * factor / lam
    arm = arm_of(QUADRATIC.format(steps=1500, lr=lr, optimizer=keys))
    freeze(arm, kind)
    records = train(arm)
    assert arm.status == status, (case, margin, arm.t)
    assert all(r["threshold"] == pytest.approx(factor / lr, rel=1e-12) for r in of(records, "step"))
    sharp = of(records, "sharpness")
    assert sharp and all(r["operator"] == "preconditioned" for r in sharp)
    assert sharp[0]["eigenvalues"][0] == pytest.approx(lam, rel=1e-5)  # the solver sees the frozen P⁻¹H
    assert sharp[0]["raw_eigenvalues"][0] == pytest.approx(10.0, rel=1e-8)
    assert summarize_arm(arm.name, records)["eos_ratio"] == pytest.approx(margin, rel=1e-5)
    if status == "completed":
        assert arm.final_loss < 1e-12 * records[0 if records[0]["type"] == "step" else 1]["loss"]
    else:
        assert arm.t < 300  # the root past −1 takes over within a few hundred steps


@pytest.mark.parametrize("margin, status", [(0.99, "completed"), (1.01, "diverged")])
def test_nesterov_threshold_is_two_plus_two_beta_over_one_plus_two_beta(margin, status):
    """Nesterov β = 0.5 on λ_max = 10: η = margin·1.5/10; far below heavy ball's 2(1+β)/λ = 0.3."""
    beta, lam = 0.5, 10.0
    assert optimizers.threshold_factor("gd", beta, True) == pytest.approx(1.5)
    lr = margin * 2 * (1 + beta) / (1 + 2 * beta) / lam
    arm = arm_of(QUADRATIC.format(steps=1500, lr=lr, optimizer=f"momentum = {beta}\n    nesterov = true"))
    records = train(arm)
    assert arm.status == status, arm.t
    assert all(r["threshold"] == pytest.approx(1.5 / lr, rel=1e-12) for r in of(records, "step"))
    assert summarize_arm(arm.name, records)["eos_ratio"] == pytest.approx(margin, rel=1e-8)
    kinds = [e["kind"] for e in of(records, "event")]
    assert ("unstable_start" in kinds) == (margin > 1)
    if status == "completed":
        assert arm.final_loss < 1e-12  # 0.976^1500 of the start
    else:
        assert 50 < arm.t < 300  # |z| = 1.024: loss ×1.049 a step, 100× after ~100 steps
