"""Each built-in scenario shows the phenomenon its description promises.

These train the real scenarios end to end (a few seconds each on one core), so they are the slow
part of the suite; each one is the only check that what a user runs first actually shows the thing.
Where two built-ins train the very same arm (sgd_vs_gd's "gd" and decay's "constant" are eos's
lr-0.30 and lr-0.50), it trains once, in test_eos, and test_reference_arms_are_eos_arms checks
that they are still the same; measurement settings that change no trajectory (how often λ_max is
solved, how many eigenvalues) are set per test where the claim allows.
"""

from __future__ import annotations

import pytest

from eos_tui.analysis.summary import summarize_arm
from eos_tui.engine.runner import run_scenario
from eos_tui.rundir import read_records
from eos_tui.rundir.prepare import prepare_run
from eos_tui.scenario import load_scenario

pytestmark = pytest.mark.slow


def run_builtin(name: str, tmp_path, *, arms: tuple[str, ...] = (), overrides: tuple[str, ...] = ()):
    """Train the built-in `name` (only `arms` when given) with `--set`-style overrides."""
    sc = load_scenario(name, overrides=overrides)
    if arms:
        sc.arms = [a for a in sc.arms if a.name in arms]
        assert [a.name for a in sc.arms] == list(arms)
    run_dir = prepare_run(sc, out=tmp_path / name)
    status, manifest = run_scenario(sc, run_dir)
    records = read_records(run_dir)
    return status, {a.name: summarize_arm(a.name, records) for a in sc.arms}, records


# What an arm trains on and how; the rest (its name, what is measured, how arms are scheduled)
# does not change the trajectory beyond float rounding.
NOT_TRAINING = {"name", "description", "measure", "engine"}


@pytest.mark.parametrize("name, arm, eos_arm", [("sgd_vs_gd", "gd", "lr-0.30"), ("decay", "constant", "lr-0.50")])
def test_reference_arms_are_eos_arms(name, arm, eos_arm):
    """The reference arm of `name` trains exactly what eos's `eos_arm` trains, so test_eos's checks on
    that arm (λ_max·η/2 within 5% of 1 over the second half) hold for it, and the slow tests need not retrain it."""
    (ref,) = [a for a in load_scenario(name).arms if a.name == arm]
    (same,) = [a for a in load_scenario("eos").arms if a.name == eos_arm]
    assert ref.model_dump(exclude=NOT_TRAINING) == same.model_dump(exclude=NOT_TRAINING)
    assert ref.measure.tolerance == same.measure.tolerance


def sharpness_series(records, arm):
    return [(r["step"], r["eigenvalues"][0]) for r in records if r["type"] == "sharpness" and r["arm"] == arm]


def test_eos(tmp_path):
    """Cohen et al.'s edge of stability: after progressive sharpening, λ_max stays within a few percent
    of 2/η while the loss keeps falling, non-monotonically, and ⟨∇L, u⟩ flips sign every step. Mean
    λη/2 over the second half ≈ 1.02–1.03 in each arm; we allow ±5%: λ_max sits slightly above 2/η at
    the edge (Cohen et al. note the same), the solver's 1e-3 residual adds well under 1%; each single
    measurement of an arm at the edge for the whole second half within ±15% (the period-2 wobble).
    One eigenvalue instead of the scenario's two: the claims are about λ_max, and the second one
    nearly doubles the Hessian-vector products (2447 against 1387 for lr-0.50)."""
    status, arms, records = run_builtin("eos", tmp_path, overrides=("measure.eigenvalues=1",))
    assert status == "completed"
    steps = max(r["step"] for r in records if r["type"] == "step") + 1
    onsets = []
    for name, a in arms.items():
        steps_of_arm = [r for r in records if r["type"] == "step" and r["arm"] == name]
        lr = steps_of_arm[0]["lr"]
        assert a["status"] == "completed", name
        assert a["eos_onset_step"] is not None, name
        assert a["eos_ratio"] == pytest.approx(1.0, abs=0.05), name  # λ_max·η/2 ≈ 1
        # lr-0.15 reaches the edge only at step ~580, so its last half still holds ~80 steps of
        # plain descent (λη/2 from 0.88): the per-measurement band and the flips are looser there.
        at_edge = a["eos_onset_step"] < steps // 2
        if at_edge:
            second_half = [s * lr / 2 for t, s in sharpness_series(records, name) if t >= steps // 2]
            assert all(0.85 < x < 1.15 for x in second_half), (name, min(second_half), max(second_half))
        assert a["flip_fraction"] > (0.9 if at_edge else 0.75), name
        # The loss still falls overall, non-monotonically.
        losses = [r["loss"] for r in steps_of_arm]
        assert a["final_loss"] < 0.1 * a["initial_loss"], name
        assert any(later > now for now, later in zip(losses[steps // 2 :], losses[steps // 2 + 1 :])), name
        onsets.append(a["eos_onset_step"])
    # arms are in increasing η: the larger η, the earlier sharpness meets 2/η
    assert onsets == sorted(onsets, reverse=True)


def test_catapult(tmp_path):
    status, arms, records = run_builtin("catapult", tmp_path)
    assert status == "completed"
    for small in ("uv-small", "mlp-small"):
        assert arms[small]["catapult"] is None
        assert arms[small]["max_loss"] == pytest.approx(arms[small]["initial_loss"])
    for cat in ("uv-catapult", "mlp-catapult"):
        a = arms[cat]
        assert a["catapult"] is not None, cat
        assert a["catapult"]["peak_loss_ratio"] > 10
        # The event fires when the loss first falls back below its start; sharpness is already
        # below 2/η then and keeps falling: by the end it is far below λ0.
        assert a["catapult"]["sharpness_after"] < a["catapult"]["sharpness_before"]
        assert a["final_sharpness"] < 0.5 * a["catapult"]["sharpness_before"]
        assert a["final_loss"] < 0.1 * a["initial_loss"]  # and it converges: below a tenth of its start in the 60 steps
    assert arms["uv-diverge"]["status"] == "diverged"


def test_warmup(tmp_path):
    status, arms, _ = run_builtin("warmup", tmp_path)
    assert arms["no-warmup"]["status"] == "diverged"
    for name in ("warmup-200", "warmup-600"):
        a = arms[name]
        assert a["status"] == "completed", name
        assert a["final_loss"] < 0.01 * a["initial_loss"], name
        # each crossing of the falling 2/η_t line through λ_max: a loss spike, then λ_max below it
        assert a["catapult"]["sharpness_after"] < 0.5 * a["catapult"]["sharpness_before"], name
    assert arms["warmup-200"]["catapults"] == 1 and arms["warmup-600"]["catapults"] == 2
    assert arms["warmup-200"]["eos_ratio"] < 0.6  # thrown far below 2/η ...
    assert 0.95 < arms["warmup-600"]["eos_ratio"] < 1.1  # ... or ending at the edge


def test_decay(tmp_path):
    # "constant" is eos's lr-0.50 (test_reference_arms_are_eos_arms): test_eos holds it at 2/η = 4.
    status, arms, records = run_builtin("decay", tmp_path, arms=("step-decay",))
    assert status == "completed"
    old_threshold = 2 / 0.5
    before = [s for t, s in sharpness_series(records, "step-decay") if 200 <= t < 400]
    after = [s for t, s in sharpness_series(records, "step-decay") if t >= 400]
    mean_before = sum(before) / len(before)
    # pinned at 2/η before the decay. rel 0.15, not 0.1: this float32 trajectory is chaotic at the
    # edge of stability, so a change of rounding alone moves the mean: 4.39-4.42 one arm at a time
    # (as here), 4.48 when the two arms train as one vmapped batch (bmm instead of mm), both
    # hovering ~10% above 2/η = 4 as sharpness measured before the step does.
    assert mean_before == pytest.approx(old_threshold, rel=0.15)
    assert after[-1] > 1.2 * old_threshold  # sharpening resumed, above the old 2/η ...
    assert after[-1] > max(before)  # ... and above anything the wobble reached before
    assert any(e["kind"] == "lr_change" and e["step"] == 400 for e in arms["step-decay"]["events"])


def test_sgd_vs_gd(tmp_path):
    # "gd" is eos's lr-0.30 (test_reference_arms_are_eos_arms): test_eos holds it at λη/2 ≈ 1.
    # λ_max every 20 steps instead of 10 (SGD's batches come from their own generator, so the
    # trajectory is the same): the second-half means move by < 1% (0.84, 0.55, 0.30 either way),
    # and the largest λη/2 of any SGD arm, 0.87, stays far from an onset at 1.
    status, arms, _ = run_builtin("sgd_vs_gd", tmp_path, arms=("sgd-32", "sgd-16", "sgd-8"), overrides=("measure.sharpness_every=20",))
    assert status == "completed"
    sgd32, sgd16, sgd8 = (arms[n]["eos_ratio"] for n in ("sgd-32", "sgd-16", "sgd-8"))
    assert sgd32 < 0.92  # every SGD arm settles below 2/η ...
    assert sgd8 < sgd16 < sgd32  # ... the lower, the smaller the batch (≈ 0.3 < 0.55 < 0.84)
    for name in ("sgd-32", "sgd-16", "sgd-8"):
        assert arms[name]["eos_onset_step"] is None, name


def test_quadratic(tmp_path):
    status, arms, _ = run_builtin("quadratic", tmp_path)
    assert arms["eta-0.19"]["status"] == "completed"
    assert arms["eta-0.21"]["status"] == "diverged"
    assert arms["eta-0.19"]["final_sharpness"] == pytest.approx(10.0, rel=1e-12)


def test_reparam(tmp_path):
    status, arms, records = run_builtin("reparam", tmp_path)
    assert status == "completed"
    rows = [r for r in records if r["type"] == "reparam"]
    # steps 0, 100, 200, 300 × four α × three maps (layer pairs 0-1 and 1-2, every other unit of layer 0)
    assert len(rows) == 4 * 4 * 3
    for r in rows:
        assert r["max_output_change"] < 1e-10
        assert r["adaptive_after"] == pytest.approx(r["adaptive_before"], rel=1e-4)
    big = [r for r in rows if r["alpha"] == 10.0 and r["neurons"] == "all"]
    assert all(r["sharpness_after"] > 5 * r["sharpness_before"] or r["sharpness_after"] < r["sharpness_before"] / 5 for r in big)


def test_transformer(tmp_path):
    """Adam at its own edge (Cohen et al. 2022) in the small transformer on sort: the preconditioned
    sharpness λ_max(P⁻¹H) starts far above 38/η (P is tiny at step 0), falls below, rises to 38/η and
    hovers there. Mean λη/38 over the second half 0.997 and 1.015 for η = 0.003 and 0.01 (float64,
    so the same on every machine up to summation order); we allow ±5%, and each single measurement
    of the last 40% within ±25% (Adam's wobble at the edge is wider than GD's: 0.88–1.07 measured)."""
    status, arms, records = run_builtin("transformer", tmp_path)
    assert status == "completed"
    steps = max(r["step"] for r in records if r["type"] == "step") + 1
    onsets = []
    for name, a in arms.items():
        steps_of_arm = [r for r in records if r["type"] == "step" and r["arm"] == name]
        lr = steps_of_arm[0]["lr"]
        series = [(t, s * lr / 38) for t, s in sharpness_series(records, name)]
        assert series[0][1] > 10, name  # the unstable start
        assert a["status"] == "completed", name
        assert a["eos_onset_step"] is not None and a["eos_onset_step"] < 0.6 * steps, name  # 550 and 430
        second = [x for t, x in series if t >= steps // 2]
        assert sum(second) / len(second) == pytest.approx(1.0, abs=0.05), name
        assert all(0.75 < x < 1.25 for t, x in series if t >= 0.6 * steps), name
        assert a["final_loss"] < 1e-2 * a["initial_loss"], name
        onsets.append((lr, a["eos_onset_step"]))
    # the larger η, the earlier the edge
    assert [t for _, t in sorted(onsets)] == sorted((t for _, t in onsets), reverse=True)
