"""What "diverged" means: a non-finite loss or parameter, or a loss past `measure.diverge_above`
(default 1e6 × max(1, initial loss)), at every θ_t and at the final parameters.

Regressions: (1) the old rule, loss > 1e6 × the initial loss, ended a legitimate catapult of the
uv model started from a tiny output (f0 ≈ 0.01, loss 5e-5, peak ≈ 54) as "diverged"; (2) the
parameters after the last step were never checked, so a 1-step run whose loss grew 10¹²-fold
ended "completed".
"""

from __future__ import annotations

import json

import pytest

from eos_tui.engine.runner import run_scenario

from .helpers import arm_of, of, scenario, train

# Seed 219 at width 300 draws u, v with f0 = u·v/√n ≈ 0.0098 (initial loss 4.8e-5) and λ0 ≈ 2.
UV = """
name = "uv"
seed = 219
steps = {steps}
dtype = "float64"
[data]
kind = "none"
[model]
kind = "uv"
width = 300
[optimizer]
lr_relative = {rel}
[measure]
sharpness_every = 1
{extra}
"""


def uv(rel, steps=150, extra=""):
    return train(arm_of(UV.format(rel=rel, steps=steps, extra=extra)))


@pytest.mark.parametrize("rel", [3.0, 3.5])
def test_a_catapult_from_a_tiny_loss_completes(rel):
    """2/λ0 < η < 4/λ0: the loss spikes ~10⁶× its start, the catapult lowers λ, training converges."""
    recs = uv(rel)
    steps = of(recs, "step")
    initial, peak = steps[0]["loss"], max(r["loss"] for r in steps)
    assert initial < 1e-4 and peak > 1e6 * initial  # what the old rule called divergence
    assert of(recs, "end")[0]["status"] == "completed"
    assert [e for e in of(recs, "event") if e["kind"] == "catapult"]
    assert of(recs, "end")[0]["final_loss"] < initial


def test_above_four_over_lambda0_still_diverges():
    recs = uv(4.5)
    end = of(recs, "end")[0]
    assert end["status"] == "diverged" and end["steps_done"] < 30
    (ev,) = [e for e in of(recs, "event") if e["kind"] == "diverged"]
    assert "> 1e+06" in ev["message"] or "not finite" in ev["message"]


def test_diverge_above_is_configurable():
    """An absolute bound below the catapult's peak ends the same run as diverged, at the peak's rise."""
    recs = uv(3.0, extra="diverge_above = 10.0")
    end = of(recs, "end")[0]
    assert end["status"] == "diverged"
    assert max(r["loss"] for r in of(recs, "step") if r["grad_norm"] is not None) <= 10.0


def test_a_large_initial_loss_is_not_divergence():
    arm = arm_of(QUAD.format(steps=3, lr=0.01, scale=1e4, extra=""))
    recs = train(arm)
    assert of(recs, "step")[0]["loss"] > 1e6  # 1e6 × max(1, L0) scales with a large start
    assert of(recs, "end")[0]["status"] == "completed"


def test_non_finite_parameters_are_divergence():
    arm = arm_of(QUAD.format(steps=3, lr=0.01, scale=1.0, extra=""))
    arm.initial_loss = 1.0
    assert arm.divergence(1.0, params_finite=False) is not None
    assert arm.divergence(float("nan")) is not None
    assert arm.divergence(2e6) is not None and arm.divergence(5e5) is None


QUAD = """
name = "q"
steps = {steps}
dtype = "float64"
[data]
kind = "none"
[model]
kind = "quadratic"
eigenvalues = [1.0]
init_scale = {scale}
[optimizer]
lr = {lr}
{extra}
"""


def test_divergence_on_the_last_step_is_reported():
    """One step at η = 10⁶ + 1 on λ = 1 multiplies the loss by (1 − ηλ)² = 10¹²."""
    recs = train(arm_of(QUAD.format(steps=1, lr=1e6 + 1, scale=1.0, extra="")))
    (end,) = of(recs, "end")
    assert end["status"] == "diverged"
    assert end["steps_done"] == 1
    assert end["final_loss"] == pytest.approx(0.5e12)
    (ev,) = [e for e in of(recs, "event") if e["kind"] == "diverged"]
    assert "after the last step" in ev["message"]


def test_divergence_on_the_last_step_is_reported_in_a_batch(tmp_path):
    text = QUAD.format(
        steps=1,
        lr=1.0,
        scale=1.0,
        extra="""
[[arm]]
name = "fine"
optimizer.lr = 0.5
[[arm]]
name = "blows"
optimizer.lr = 1000001.0
""",
    )
    sc = scenario(text)
    status, manifest = run_scenario(sc, tmp_path)
    assert status == "completed"
    assert manifest["batches"] == [["fine", "blows"]]
    ends = {r["arm"]: r for r in map(json.loads, (tmp_path / "metrics.jsonl").read_text().splitlines()) if r["type"] == "end"}
    assert ends["fine"]["status"] == "completed"
    assert ends["blows"]["status"] == "diverged"
    assert manifest["arms"]["blows"]["status"] == "diverged"


def test_the_per_step_finiteness_test_is_exact():
    """losses_and_finite tests Σθ for speed; a sum that overflows on finite entries must still read
    finite, and one NaN or inf anywhere must not, row by row for a batch of arms."""
    import torch

    from eos_tui.engine.arm import losses_and_finite

    big = torch.full((4,), 3e38, dtype=torch.float32)  # finite entries whose sum overflows
    assert losses_and_finite(torch.tensor(1.0), big) == ([1.0], [True])
    for bad in (float("nan"), float("inf"), -float("inf")):
        theta = torch.zeros(3, 5, dtype=torch.float64)
        theta[1, 2] = bad
        values, finite = losses_and_finite(torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64), theta)
        assert values == [1.0, 2.0, 3.0] and finite == [True, False, True]
