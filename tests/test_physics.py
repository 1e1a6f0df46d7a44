"""The engine's measurements against theory.

Each test compares a measured quantity with an exact answer; tolerances are stated with the reason.
"""

from __future__ import annotations

import math

import pytest
import torch

from eos_tui.engine.curvature.hessian import dense_hessian, exact_top

from .helpers import arm_of, of, train

QUADRATIC = """
    name = "q"
    steps = {steps}
    dtype = "float64"
    [data]
    kind = "none"
    [model]
    kind = "quadratic"
    eigenvalues = {eigs}
    [optimizer]
    lr = {lr}
    [measure]
    sharpness_every = {every}
    eigenvalues = {k}
    tolerance = 1e-10
"""


def quadratic(lr, eigs=(10.0, 4.0, 1.0, 0.25), steps=60, every=0, k=1):
    return arm_of(QUADRATIC.format(lr=lr, eigs=list(eigs), steps=steps, every=every, k=k))


def test_quadratic_per_step_factor_is_one_minus_eta_lambda():
    """Along each eigenvector q_i of H, GD multiplies the coordinate by exactly 1 − ηλ_i per step."""
    eigs = torch.tensor([10.0, 4.0, 1.0, 0.25], dtype=torch.float64)
    lr = 0.15
    arm = quadratic(lr, eigs.tolist())
    H = arm.problem.H
    vals, Q = torch.linalg.eigh(H)  # ascending
    order = torch.argsort(vals, descending=True)
    vals, Q = vals[order], Q[:, order]
    assert torch.allclose(vals, eigs, rtol=1e-12)
    coords = [Q.T @ arm.theta]
    arm.begin()
    for _ in range(10):
        arm.step()
        coords.append(Q.T @ arm.theta)
    expected = 1 - lr * eigs
    for before, after in zip(coords, coords[1:]):
        # float64 round-off, ~1e-16·‖θ‖, relative to the smallest coordinate (0.4¹⁰ ≈ 1e-4 of its
        # start after 10 steps): at most ~1e-12, so 1e-9 relative leaves room and still pins the factor.
        assert torch.allclose(after / before, expected, rtol=1e-9, atol=0)


@pytest.mark.parametrize("margin, status", [(0.99, "completed"), (1.01, "diverged")])
def test_quadratic_diverges_exactly_above_two_over_lambda_max(margin, status):
    """η = 0.99·2/λ_max converges (|1 − ηλ| = 0.98), η = 1.01·2/λ_max diverges (|1 − ηλ| = 1.02)."""
    arm = quadratic(margin * 2 / 10.0, steps=2000)
    records = train(arm)
    assert arm.status == status
    if status == "diverged":
        assert any(e["kind"] == "diverged" for e in of(records, "event"))
        # The loss grows by 1.02² per step once the top direction dominates: divergence (1e6 ×)
        # after about ln(1e6)/ln(1.0404) ≈ 350 steps, not at once.
        assert 300 < arm.t < 400
    else:
        assert arm.final_loss < 1e-10


@pytest.mark.parametrize("margin, status", [(0.99, "completed"), (1.01, "diverged")])
def test_heavy_ball_threshold_is_two_plus_two_beta_over_eta(margin, status):
    """Heavy ball on a quadratic: along λ the iterate follows z² − (1 + β − ηλ)z + β = 0, stable iff
    ηλ < 2(1 + β). With β = 0.5 and λ_max = 10, η = 0.99·0.3 converges (root moduli 0.936, 0.534)
    and η = 1.01·0.3 diverges (a root at −1.057), though both are far above GD's 2/λ = 0.2. The
    records carry that threshold, and the summary's λ/threshold ratio uses it."""
    from eos_tui.analysis.summary import summarize_arm

    beta, lam = 0.5, 10.0
    lr = margin * 2 * (1 + beta) / lam
    text = QUADRATIC.format(lr=lr, eigs=[lam, 4.0, 1.0], steps=400, every=5, k=1)
    arm = arm_of(text.replace(f"lr = {lr}", f"lr = {lr}\n    momentum = {beta}"))
    records = train(arm)
    assert arm.status == status
    steps = of(records, "step")
    assert all(r["threshold"] == pytest.approx(2 * (1 + beta) / lr, rel=1e-12) for r in steps)
    kinds = [e["kind"] for e in of(records, "event")]
    # Below the threshold from the start: no event; above it: "unstable_start", never "eos_onset".
    assert "eos_onset" not in kinds and ("unstable_start" in kinds) == (margin > 1)
    summary = summarize_arm(arm.name, records)
    assert summary["eos_ratio"] == pytest.approx(margin, rel=1e-9)
    if status == "completed":
        assert arm.final_loss < 1e-8  # 0.936^400 of the start


def test_eos_onset_means_reaching_the_threshold_from_below():
    """An arm that starts above 2/η gets "unstable_start", and its EoS onset only once λ_max has
    been below the threshold and climbed back (a catapult, then sharpening); one onset per arm."""
    arm = quadratic(0.1)  # 2/η = 20
    seen = []
    for t, lam in enumerate([25.0, 24.0, 15.0, 18.0, 21.0, 19.0, 22.0]):
        arm.sharpness = lam
        seen += [(e["kind"], e["step"]) for e in arm.onset_check(t, 0.1)]
    assert seen == [("unstable_start", 0), ("eos_onset", 4)]
    arm = quadratic(0.1)
    seen = []
    for t, lam in enumerate([5.0, 19.9, 20.0, 30.0]):
        arm.sharpness = lam
        seen += [(e["kind"], e["step"]) for e in arm.onset_check(t, 0.1)]
    assert seen == [("eos_onset", 2)]  # λ_max = 2/η counts as reached


def test_quadratic_sharpness_is_largest_algebraic_not_largest_magnitude():
    """A Hessian whose most negative eigenvalue (−10) is the largest in magnitude: λ_max is 3.

    Returning −10 (largest magnitude) is the PyHessian bug the brief warns about."""
    arm = quadratic(0.01, eigs=(-10.0, 3.0, 2.9, 1.0, 0.5), steps=3, every=1, k=2)
    records = train(arm)
    sharp = of(records, "sharpness")[0]
    assert sharp["eigenvalues"][0] == pytest.approx(3.0, rel=1e-8)
    assert sharp["eigenvalues"][1] == pytest.approx(2.9, rel=1e-8)


def test_a_saddle_runs_to_the_end_with_a_negative_loss():
    """Along the −50 direction the loss falls without bound, through zero: a result, not a crash
    (the catapult detector once divided by a negative start). The negative coordinate grows by
    exactly |1 − ηλ| = 1.5 per step."""
    arm = quadratic(0.01, eigs=(-50.0, 3.0, 1.0), steps=30, every=5)
    records = train(arm)
    end = of(records, "end")[0]
    assert end["status"] == "completed" and end["final_loss"] < 0
    assert not [e for e in of(records, "event") if e["kind"] == "catapult"]
    assert all(r["eigenvalues"][0] == pytest.approx(3.0, rel=1e-8) for r in of(records, "sharpness"))
    losses = [r["loss"] for r in of(records, "step")]
    # late on the loss is ½·(−50)·c²·1.5^(2t) plus a decaying rest: the ratio tends to 2.25.
    assert losses[-1] / losses[-2] == pytest.approx(1.5**2, rel=1e-6)


def test_flip_on_quadratic_above_one_over_lambda():
    """With ηλ_max ∈ (1, 2), 1 − ηλ_max < 0: the top coordinate, and so ⟨∇L, u⟩, flips sign every step.
    At ηλ = 1.5, far below the edge, that flip halves each step: not the edge's period-2 oscillation
    (tests/test_period2_near_edge.py), so no period2_onset."""
    arm = quadratic(0.15, eigs=(10.0, 1.0), steps=40, every=1)  # ηλ = 1.5 on top, 0.15 below
    records = train(arm)
    projs = [s["proj"] for s in of(records, "step")][5:]
    assert all(a * b < 0 for a, b in zip(projs, projs[1:]))
    assert not any(e["kind"] == "period2_onset" for e in of(records, "event"))


MLP = """
    name = "m"
    steps = 1
    dtype = "float64"
    seed = 3
    [data]
    kind = "random-labels"
    n = 24
    dim = 5
    classes = 3
    [model]
    kind = "mlp"
    hidden = [8, 6]
    activation = "{act}"
    [optimizer]
    lr = 0.1
    [measure]
    sharpness_every = 1
    eigenvalues = 3
    tolerance = 1e-9
"""


@pytest.mark.parametrize("act", ["tanh", "relu"])
def test_iterative_sharpness_matches_dense_eigvalsh(act):
    """The warm-started Lanczos top-3 against dense eigvalsh of the full Hessian (autograd), to 1e-7.

    tolerance 1e-9 on the relative residual bounds the eigenvalue error by about its square times
    the spectral spread, far below 1e-7; float64 makes the dense reference exact to ~1e-13."""
    arm = arm_of(MLP.format(act=act))
    measured = arm.measure(arm.theta, 0)
    H = dense_hessian(arm.problem.loss, arm.theta)
    exact, _ = exact_top(H, 3)
    assert measured["eigenvalues"] == pytest.approx(exact.tolist(), rel=1e-7)
    assert measured["residual"] <= 1e-9
    assert 0 < measured["hvps"] <= arm.theta.numel()


EOS = """
    name = "e"
    steps = {steps}
    seed = 0
    [data]
    kind = "random-labels"
    n = 256
    dim = 20
    classes = 4
    [model]
    kind = "mlp"
    hidden = [64, 64]
    activation = "tanh"
    [optimizer]
    lr = {lr}
    [measure]
    sharpness_every = 10
    tolerance = 1e-3
"""


UV = """
    name = "uv"
    steps = 200
    dtype = "float64"
    seed = {seed}
    [data]
    kind = "none"
    [model]
    kind = "uv"
    width = 100
    [optimizer]
    lr_relative = {rel}
    [measure]
    sharpness_every = {every}
    tolerance = 1e-8
"""


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("rel, regime", [(1.0, "lazy"), (1.5, "lazy"), (3.0, "catapult"), (3.5, "catapult"), (4.5, "diverged")])
def test_uv_catapult_band(rel, regime, seed):
    """Lewkowycz et al.: ηλ0 < 2 descends without a spike and keeps λ ≈ λ0; 2 < ηλ0 < 4 catapults
    (loss spikes, then converges with λ_final < 2/η); ηλ0 > 4 diverges (for this width). λ_max every
    5 steps: the catapult detector then sees the drop a few steps later, and the checks read only the
    last λ_max and the events (every step cost 5× the solves for the same verdicts)."""
    arm = arm_of(UV.format(rel=rel, seed=seed, every=5))
    records = train(arm)
    steps = of(records, "step")
    losses = [s["loss"] for s in steps]
    final_sharp = of(records, "sharpness")[-1]["eigenvalues"][0]
    lr = arm.base_lr
    assert arm.base_lr * arm.lambda0 == pytest.approx(rel, rel=1e-9)
    events = {e["kind"] for e in of(records, "event")}
    if regime == "lazy":
        assert arm.status == "completed"
        assert max(losses) == pytest.approx(losses[0])  # never above the start
        assert final_sharp == pytest.approx(arm.lambda0, rel=0.05)  # λ barely moves at width 100
        assert "catapult" not in events
    elif regime == "catapult":
        assert arm.status == "completed"
        assert max(losses) > 10 * losses[0]
        assert losses[-1] < 1e-8
        assert final_sharp < 2 / lr
        assert "catapult" in events
    else:
        assert arm.status == "diverged"


def test_reparameterized_relu_net_computes_the_same_function():
    """Dinh et al.'s T_α: outputs and loss unchanged to float64 round-off (1e-12), λ_max after equals
    the prediction λ_max(D⁻¹HD⁻¹) (1e-6, the solver tolerance), adaptive sharpness unchanged (1e-6)."""
    text = MLP.format(act="relu").replace("eigenvalues = 3", "eigenvalues = 1\n    reparam_every = 1\n    reparam_alphas = [0.2, 5.0]")
    arm = arm_of(text)
    records = train(arm)
    rows = of(records, "reparam")
    # two α × three maps: layer pairs (0,1) and (1,2), and every other unit of layer 0
    assert [(r["alpha"], r["layer"], r["neurons"]) for r in rows] == [
        (a, layer, n) for a in (0.2, 5.0) for layer, n in ((0, "all"), (1, "all"), (0, "every other"))
    ]
    for r in rows:
        assert r["max_output_change"] < 1e-12
        assert abs(r["loss_change"]) < 1e-12
        assert r["sharpness_after"] == pytest.approx(r["sharpness_predicted"], rel=1e-6)
        assert r["adaptive_after"] == pytest.approx(r["adaptive_before"], rel=1e-6)
        assert not math.isclose(r["sharpness_after"], r["sharpness_before"], rel_tol=0.1)


def test_reparam_refused_for_tanh():
    text = MLP.format(act="tanh").replace("eigenvalues = 3", "eigenvalues = 1\n    reparam_every = 1")
    records = train(arm_of(text))
    assert not of(records, "reparam")
    skipped = [e for e in of(records, "event") if e["kind"] == "reparam_skipped"]
    assert len(skipped) == 1 and "not positively homogeneous" in skipped[0]["message"]


def test_flow_arm_loss_decreases_monotonically():
    """Gradient flow never increases the loss; RK4 with substeps ≤ α/λ_max keeps that exactly here."""
    text = EOS.format(steps=60, lr=0.5).replace("[optimizer]", '[optimizer]\n    kind = "flow"')
    records = train(arm_of(text))
    losses = [s["loss"] for s in of(records, "step")]
    assert all(b <= a for a, b in zip(losses, losses[1:]))


def test_same_seed_same_numbers():
    """Deterministic on the CPU: two runs of the same arm give identical records."""
    a = train(arm_of(EOS.format(steps=30, lr=0.5)))
    b = train(arm_of(EOS.format(steps=30, lr=0.5)))
    assert a == b


def test_quadratic_theory_overlay_matches_measured_loss():
    """The closed-form loss ½Σλ_i c_i²(t) drawn beside the measured loss: equal to float64 round-off."""
    records = train(quadratic(0.19, steps=50))
    for s in of(records, "step"):
        assert s["loss_theory"] == pytest.approx(s["loss"], rel=1e-9, abs=1e-300)


def test_uv_one_step_map_is_exact():
    """Lewkowycz et al.'s map (f, λ) → (f(1 − ηλ + η²f²/n), λ + ηf²(ηλ − 4)/n) predicts every step of
    the measured uv run, through the catapult: relative 1e-9, or 1e-12 absolute for f once it is tiny
    (f = u·v/√n is then a cancellation of O(1) terms, accurate to ~eps·‖u‖‖v‖/√n ≈ 1e-15)."""
    # No λ_max solves: f and the NTK λ (`ntk`) are in every step record.
    steps = of(train(arm_of(UV.format(rel=3.0, seed=0, every=0))), "step")
    for now, nxt in zip(steps, steps[1:]):
        assert now["f_next_theory"] == pytest.approx(nxt["f"], rel=1e-9, abs=1e-12)
        assert now["ntk_next_theory"] == pytest.approx(nxt["ntk"], rel=1e-9)
    # the catapult in (f, λ): |f| grows first, then λ ends below 2/η
    assert max(abs(s["f"]) for s in steps) > 10 * abs(steps[0]["f"])
    assert steps[-1]["ntk"] < 2 / steps[-1]["lr"]


def test_sgd_batch_sharpness_is_the_minibatch_hessian():
    """measure.on = "batch": the eigenvalue is the top eigenvalue of the Hessian of the loss on the
    step's own mini-batch (dense check, 1e-7), and differs from the full-batch sharpness."""
    text = (
        MLP.format(act="tanh")
        .replace("[optimizer]", '[optimizer]\n    kind = "sgd"\n    batch_size = 6')
        .replace("eigenvalues = 3", 'eigenvalues = 1\n    on = "batch"')
    )
    arm = arm_of(text)
    gen_state = arm.sgd_gen.get_state()
    records = train(arm)
    arm.sgd_gen.set_state(gen_state)
    batch = torch.randperm(arm.problem.n_examples, generator=arm.sgd_gen)[:6]
    theta0 = arm.problem.theta0
    H = dense_hessian(lambda th: arm.problem.loss(th, batch), theta0)
    full = dense_hessian(arm.problem.loss, theta0)
    measured = of(records, "sharpness")[0]["eigenvalues"][0]
    assert measured == pytest.approx(float(exact_top(H, 1)[0][0]), rel=1e-7)
    assert measured != pytest.approx(float(exact_top(full, 1)[0][0]), rel=1e-2)
