"""Self-stabilization (Damian, Nichani & Lee 2022) measured beside full-batch GD
(measure.self_stabilization; eos_tui/engine/selfstab.py, docs/selfstab.md), against exact theory.

The paper's toy, L(x, y) = ½(2/η + y)x² − αy (α = 0.5, η = 0.01), is its two-dimensional map itself:
GD's update is x ← −(1 + ηy)x, y ← y + η(α − x²/2), its stable set M is the half-line x = 0, y ≤ 0,
where u = e_x, ∇S = ∇³L[u, u] = e_y, α = −⟨∇L, ∇S⟩ = 0.5 and β = ‖∇S‖² = 1, and the constrained
trajectory θ† rests at the origin once GD crosses 2/η. So the records' (x, y) are GD's own coordinates
and the predicted map is GD itself: both are checked to rounding (1e-12 on values up to ~4), with
Lanczos held to 1e-13 (at the default 1e-9, u's error of ~1e-9 shows in x and y as ~1e-9·|y|, ·|x|).
Averaged over whole cycles (crossing to crossing), x² = 0.99985 against 2α/β = 1 (tested: 1e-3), and
exactly 2α/β − 2Δy/(ηβN) over N steps (y's increments telescope), so it tends to 2α/β as 1/N.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from eos_tui.analysis.selfstab import BLOW_UP, RETURNING, SHARPENING, STABILIZING, predicted_step, stage_of
from eos_tui.analysis.summary import summarize_arm
from eos_tui.engine.selfstab import SelfStabilization
from eos_tui.scenario import ScenarioError, load_scenario_text

ETA, ALPHA = 0.01, 0.5
TOY_STEPS = 2200  # crossings at 61, 1114 and 2199: two whole cycles


def toy_loss(theta: torch.Tensor) -> torch.Tensor:
    x, y = theta[0], theta[1]
    return 0.5 * (2 / ETA + y) * x**2 - ALPHA * y


@pytest.fixture(scope="module")
def toy():
    """GD on the toy from (0.01, −0.3), below 2/η, with the measurement beside it: (records, GD's iterates)."""
    theta = torch.tensor([0.01, -0.3], dtype=torch.float64)
    ss = SelfStabilization("toy", toy_loss, theta, eig_tol=1e-13)
    records, iterates = [], []
    for t in range(TOY_STEPS):
        records += ss.step(t, ETA, theta)
        iterates.append(theta.tolist())
        g = torch.func.grad(toy_loss)(theta)
        theta = theta - ETA * g
    return records, np.array(iterates)


def test_toy_records_are_gds_own_coordinates(toy):
    records, theta = toy
    first = records[0]["step"]
    assert first == 61 and records[0]["crossing"]
    # no record before S(θ_t) first reaches 2/η, one every step after
    assert [r["step"] for r in records] == list(range(first, TOY_STEPS))
    for r in records:
        x, y = theta[r["step"]]
        hess = np.array([[2 / ETA + y, x], [x, 0.0]])
        assert abs(r["x"] - x) <= 1e-12 and abs(r["y"] - y) <= 1e-12, r
        assert abs(r["distance"] - math.hypot(x, y)) <= 1e-12
        assert abs(r["sharpness_gap"] - (np.linalg.eigvalsh(hess)[-1] - 2 / ETA)) <= 1e-9
        assert abs(r["alpha"] - ALPHA) <= 1e-12 and abs(r["beta"] - 1.0) <= 1e-12
        assert abs(r["constrained_gap"]) <= 1e-12 and abs(r["constrained_proj"]) <= 1e-12
        assert abs(r["init_distance"] - math.hypot(x - 0.01, y + 0.3)) <= 1e-12


def test_toy_predicted_map_is_the_exact_iteration(toy):
    records, theta = toy
    crossings = [r["step"] for r in records if r["crossing"]]
    assert crossings == [61, 1114, 2199]
    by_step = {r["step"]: r for r in records}
    for r in records:
        t = r["step"]
        if t in crossings:
            x, y = r["x"], r["y"]  # restarted from the measured point
        else:
            x, y = predicted_step(x, y, ETA, ALPHA, 1.0)
        assert (r["x_pred"], r["y_pred"]) == (x, y)
        assert abs(x - theta[t][0]) <= 1e-12 and abs(y - theta[t][1]) <= 1e-12
    assert by_step[crossings[0]]["x_pred"] == by_step[crossings[0]]["x"]


def test_toy_time_average_of_x2_is_2_alpha_over_beta(toy):
    records, _ = toy
    crossings = [i for i, r in enumerate(records) if r["crossing"]]
    x2 = [r["x"] ** 2 for r in records[crossings[0] : crossings[-1]]]
    assert abs(np.mean(x2) - 2 * ALPHA / 1.0) <= 1e-3
    # exactly: y's steps η(α − βx²/2) telescope over the window, so the mean of x² is
    # 2α/β − 2(y_end − y_start)/(ηβN), and the crossings hold y within ηα of 0: → 2α/β as 1/N
    n, dy = len(x2), records[crossings[-1]]["y"] - records[crossings[0]]["y"]
    assert abs(np.mean(x2) - (2 * ALPHA - 2 * dy / (ETA * n))) <= 1e-12
    assert abs(dy) <= ETA * ALPHA


def test_toy_first_cycle_visits_the_four_stages_in_order(toy):
    records, _ = toy
    crossings = [i for i, r in enumerate(records) if r["crossing"]]
    stages = [r["stage"] for r in records[crossings[0] : crossings[1]]]
    runs = [s for i, s in enumerate(stages) if i == 0 or s != stages[i - 1]]
    assert runs == [BLOW_UP, STABILIZING, RETURNING, SHARPENING]


def test_toy_summary(toy):
    records, _ = toy
    s = summarize_arm("toy", records)
    assert s["selfstab_y_error"] <= 1e-12
    assert s["constrained_distance"] == records[-1]["distance"] and s["init_distance"] == records[-1]["init_distance"]
    # the second half of 2200 steps is no whole number of cycles: only near 1
    assert 0.7 <= s["selfstab_x2_ratio"] <= 1.3


def test_stages_are_the_quadrants_of_the_map():
    # y > 0 grows |x|; x² > 2α/β makes y fall (α = 0.5, β = 1: the line x² = 1)
    assert stage_of(0.1, -0.2, 0.5, 1.0) == SHARPENING
    assert stage_of(0.1, 0.2, 0.5, 1.0) == BLOW_UP
    assert stage_of(1.5, 0.2, 0.5, 1.0) == STABILIZING
    assert stage_of(1.5, -0.2, 0.5, 1.0) == RETURNING
    assert stage_of(None, 0.2, 0.5, 1.0) is None and stage_of(1.0, math.nan, 0.5, 1.0) is None


@pytest.mark.parametrize(
    "optimizer, why",
    [
        ('kind = "sgd"\nlr = 0.1\nbatch_size = 8', "SGD's mini-batch noise"),
        ('kind = "gd"\nlr = 0.1\nmomentum = 0.9', "momentum's edge is 2(1+β)/η"),
        ('kind = "adam"\nlr = 0.001', "preconditioner moves with the oscillation"),
        ('kind = "rmsprop"\nlr = 0.001', "preconditioner moves with the oscillation"),
        ('kind = "flow"\nlr = 0.1', "never crosses 2/η"),
    ],
)
def test_refused_for_other_optimizers(optimizer, why):
    text = f'name = "x"\n[optimizer]\n{optimizer}\n[measure]\nself_stabilization = true\n'
    with pytest.raises(ScenarioError) as err:
        load_scenario_text(text, source="x.toml")
    assert "measure.self_stabilization" in str(err.value) and why in str(err.value)
    assert len(str(err.value).splitlines()) == 1


def test_refused_on_the_quadratic_and_with_chunks():
    quad = 'name = "x"\n[data]\nkind = "none"\n[model]\nkind = "quadratic"\neigenvalues = [1.0, 2.0]\n[optimizer]\nlr = 0.1\n'
    quad += "[measure]\nself_stabilization = true\n"
    with pytest.raises(ScenarioError, match="quadratic's ∇S is 0"):
        load_scenario_text(quad, source="x.toml")
    chunked = 'name = "x"\n[optimizer]\nlr = 0.1\n[engine]\nchunk_size = 8\n[measure]\nself_stabilization = true\n'
    with pytest.raises(ScenarioError, match="drop engine.chunk_size"):
        load_scenario_text(chunked, source="x.toml")


def resumable():
    from eos_tui.scenario import load_scenario

    return load_scenario("selfstab", overrides=("steps=40", "measure.checkpoint_every=9"))


@pytest.fixture(scope="module")
def resumable_ref(tmp_path_factory):
    from eos_tui.engine.runner import run_scenario
    from eos_tui.rundir import read_manifest, read_records
    from eos_tui.rundir.prepare import prepare_run

    ref_dir = prepare_run(resumable(), out=tmp_path_factory.mktemp("ref") / "run")
    assert run_scenario(resumable(), ref_dir)[0] == "completed"
    ref = read_records(ref_dir)
    assert sum(r["type"] == "selfstab" for r in ref) >= 25
    return ref, read_manifest(ref_dir)["arms"]["gd"]["summary"]


def resume_and_compare(run_dir, resumable_ref):
    from eos_tui.engine.resume import prepare
    from eos_tui.engine.runner import run_scenario
    from eos_tui.rundir import read_manifest, read_records

    sc, res = prepare(run_dir)
    res.rewrite_metrics()
    assert run_scenario(sc, run_dir, resume=res)[0] == "completed"
    ref, summary = resumable_ref
    assert read_records(run_dir) == ref
    assert read_manifest(run_dir)["arms"]["gd"]["summary"] == summary and summary["constrained_distance"] is not None
    return res


def test_resume_after_an_interruption_equals_an_uninterrupted_run(tmp_path, resumable_ref):
    # θ† (before its next projection), the warm starts, the solves' generator and the map's point are
    # in the checkpoint ("selfstab.*"): interrupted past the crossing (step 13) and resumed, the run
    # writes the records an uninterrupted one writes, bit for bit. Before, resume refused such an arm.
    from eos_tui.engine import checkpoint as ck
    from eos_tui.engine.runner import StopRequest, run_scenario
    from eos_tui.rundir.prepare import prepare_run

    run_dir = prepare_run(resumable(), out=tmp_path / "run")
    stop = StopRequest()

    def on_records(recs, arms):
        if any(r["type"] == "step" and r["step"] == 22 for r in recs):
            stop.request()

    assert run_scenario(resumable(), run_dir, on_records=on_records, stop=stop)[0] == "interrupted"
    meta = ck.load(ck.path_for(run_dir, "gd", max(ck.list_steps(run_dir, "gd"))))[1]
    assert meta["step"] > 13 and meta["selfstab"]["seen"] > 0
    resume_and_compare(run_dir, resumable_ref)


def test_a_stop_inside_the_projection_is_undone(tmp_path, resumable_ref, monkeypatch):
    # Ctrl-C inside a solve at θ†, after the step's solve at θ_t moved the warm starts and the
    # generator: the runner puts the step's start back (the arm's state holds the measurement's),
    # checkpoints that, and the resumed run ends as the reference.
    from eos_tui.engine import interrupt
    from eos_tui.engine.runner import StopRequest, run_scenario
    from eos_tui.rundir.prepare import prepare_run

    run_dir = prepare_run(resumable(), out=tmp_path / "run")
    stop = StopRequest()
    original = SelfStabilization.project

    def cut(self, theta, lr, polish=False):
        if self.seen == 20:
            original(self, theta, lr, polish)  # solves and draws as the step does, then the stop
            stop.request()
            interrupt.check()
        return original(self, theta, lr, polish)

    monkeypatch.setattr(SelfStabilization, "project", cut)
    assert run_scenario(resumable(), run_dir, stop=stop)[0] == "interrupted"
    monkeypatch.setattr(SelfStabilization, "project", original)
    assert resume_and_compare(run_dir, resumable_ref).resumed_from["gd"] == 19


def test_a_damaged_selfstab_state_is_refused_in_one_line(tmp_path):
    from eos_tui.engine import checkpoint as ck
    from eos_tui.engine.arm import Arm
    from eos_tui.scenario import load_scenario

    spec = load_scenario("selfstab", overrides=("steps=20",)).arms[0]
    arm = Arm(spec, torch.device("cpu"))
    arm.begin()
    while arm.t < 16:
        arm.step()
    tensors, meta = ck.state_file(arm.state_dict(), arm, records=0)
    assert {"selfstab.rng", "selfstab.pending", "selfstab.vectors"} <= set(tensors)
    fresh = Arm(spec, torch.device("cpu"))
    ck.restore_arm(fresh, tensors, meta)
    assert torch.equal(fresh.selfstab.pending, arm.selfstab.pending) and fresh.selfstab.pred == arm.selfstab.pred
    for damage in (
        lambda t, m: m["selfstab"].update(seen=-1),
        lambda t, m: m["selfstab"].update(pred={"list": ["a", 1]}),
        lambda t, m: m["selfstab"].pop("alive"),
        lambda t, m: t.update({"selfstab.pending": t["selfstab.pending"][:-1]}),
        lambda t, m: t.update({"selfstab.rng": t["selfstab.rng"][:10]}),
    ):
        t2, m2 = dict(tensors), json.loads(json.dumps(meta))
        damage(t2, m2)
        path = ck.save(tmp_path / "x.safetensors", t2, m2)
        with pytest.raises(ck.CheckpointError) as err:
            ck.restore_arm(Arm(spec, torch.device("cpu")), *ck.load(path))
        assert len(str(err.value).splitlines()) == 1


# ---- a float64 tanh MLP: the built-in `selfstab` (teacher data, 8-16-16-16-2, η = 0.6, 300 steps) ----
# Measured (this container, one thread, ~10 s): first crossing at step 13, then 117 and 195;
# S(θ†) − 2/η within [−4e-16, 2.3e-10]; GD 0.003–0.11 from θ†, 1.3–1.7 from θ0; y against
# S(θ_t) − 2/η correlated 0.98 over the first cycle; selfstab_x2_ratio 0.68 (the reference
# run, 10-32-32-4 on random labels, gives 0.55–0.77). The bounds below leave room for another
# projection's rounding, not for another physics.


@pytest.fixture(scope="module")
def mlp():
    from eos_tui.engine.arm import Arm
    from eos_tui.scenario import load_scenario

    spec = load_scenario("selfstab").arms[0]
    arm = Arm(spec, torch.device("cpu"))
    records = arm.begin()
    on_m = []  # (S(θ†) − 2/η, |⟨∇L, u⟩| / ‖∇L‖) at θ†, each step from the crossing
    while arm.status is None:
        records += arm.step()
        here = arm.selfstab.dagger
        if here is not None and records[-1]["type"] != "end":
            on_m.append((here.sharpness - 2 / spec.optimizer.lr, abs(float(here.grad @ here.u)) / float(here.grad.norm())))
    return spec, records, on_m


def test_mlp_constrained_trajectory_stays_on_m(mlp):
    spec, records, on_m = mlp
    ss = [r for r in records if r["type"] == "selfstab"]
    assert len(ss) > 250 and len(on_m) >= len(ss) - 1
    for gap, proj in on_m:
        assert abs(gap) <= 1e-6 and proj <= 1e-6  # 1e-6: the projection's tolerance (TOLERANCES)
    for r in ss:
        assert abs(r["constrained_gap"]) <= 1e-6


def test_mlp_gd_stays_near_the_constrained_trajectory(mlp):
    _, records, _ = mlp
    ss = [r for r in records if r["type"] == "selfstab"]
    assert all(r["distance"] < 0.2 * r["init_distance"] for r in ss[5:])
    s = summarize_arm("gd", records)
    assert s["constrained_distance"] < 0.1 * s["init_distance"]


def test_mlp_y_follows_the_sharpness_and_x2_settles_near_2_alpha_over_beta(mlp):
    _, records, _ = mlp
    ss = [r for r in records if r["type"] == "selfstab"]
    crossings = [i for i, r in enumerate(ss) if r["crossing"]]
    assert len(crossings) >= 2 and all(b - a > 20 for a, b in zip(crossings, crossings[1:]))  # no flicker
    first = ss[crossings[0] : crossings[1]]
    # y = ⟨∇S, θ − θ†⟩ is S(θ) − S(θ†) = S(θ) − 2/η to first order
    assert np.corrcoef([r["y"] for r in first], [r["sharpness_gap"] for r in first])[0, 1] >= 0.9
    s = summarize_arm("gd", records)
    assert 0.4 <= s["selfstab_x2_ratio"] <= 1.0
    assert {r["stage"] for r in first} == {BLOW_UP, STABILIZING, RETURNING, SHARPENING}


def test_summary_survives_a_map_that_overflows():
    # The map run freely overflowed on the reference MLP (y_pred ~1e98, then null): squaring it
    # raised OverflowError in the summarizer, which failed the whole run.
    from eos_tui.rundir.records import selfstab_record

    def rec(step, y_pred, crossing=False):
        return selfstab_record(
            arm="gd", step=step, x=1e200, y=0.5, sharpness_gap=0.4, alpha=0.2, beta=40.0, x_pred=1e200,
            y_pred=y_pred, distance=0.1, crossing=crossing, init_distance=1.0,
        )  # fmt: skip

    s = summarize_arm("gd", [rec(0, 0.5, True), rec(1, 1e200), rec(2, None), rec(3, -1e300)])
    assert 0.5 <= s["selfstab_y_error"] <= 1.0 and s["selfstab_x2_ratio"] is None
    assert s["constrained_distance"] == 0.1 and s["init_distance"] == 1.0


def test_a_failure_at_theta_dagger_ends_the_measurement_with_one_null_record():
    theta = torch.tensor([0.01, 0.05], dtype=torch.float64)  # above 2/η: crosses at once
    ss = SelfStabilization("toy", toy_loss, theta)
    (first,) = ss.step(0, ETA, theta)
    assert first["crossing"] and first["x"] is not None

    def broken(theta):
        raise FloatingPointError("the loss at θ† is nan")

    ss.at = broken  # type: ignore[method-assign]
    (last,) = ss.step(1, ETA, theta)
    assert last["step"] == 1 and all(last[k] is None for k in ("x", "y", "alpha", "beta", "x_pred", "y_pred", "distance"))
    assert ss.step(2, ETA, theta) == []


def test_headless_summary_has_a_line_for_the_measurement():
    from rich.console import Console

    from eos_tui.cli.headless import summary_table

    arm = {
        "name": "gd", "status": "completed", "steps_done": 300, "initial_loss": 0.3, "final_loss": 0.01,
        "max_loss": 0.3, "final_sharpness": 3.3, "eos_ratio": 1.01, "eos_onset_step": 14, "flip_fraction": 1.0,
    }  # fmt: skip
    measured = {**arm, "name": "ss", "selfstab_x2_ratio": 0.68, "selfstab_y_error": 0.41, "selfstab_y_corr": -0.44}
    measured |= {"constrained_distance": 0.0591, "init_distance": 1.708}
    console = Console(width=160, record=True)
    console.print(summary_table({"scenario": "selfstab", "run_dir": "runs/x", "arms": [arm, measured]}))
    text = console.export_text()
    assert "ss: x²/(2α/β) 0.68, map's y error 0.41, ‖θ−θ†‖ 0.0591 (‖θ−θ0‖ 1.71)" in text
    assert "gd:" not in text
