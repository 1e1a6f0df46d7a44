"""The data model: records grouped per arm and appended in batches."""

import math

import synthetic

from eos_tui.app.model import Batch, RunModel


def test_model_from_a_finished_run(finished_run):
    from eos_tui.rundir import read_records

    model = RunModel()
    assert model.apply_records(read_records(finished_run))
    gd = model.arms["gd"]
    assert gd.done == 600 and gd.status == "completed"
    assert len(gd.step) == 600 and len(gd.sharpness_step) == 600 // synthetic.SHARPNESS_EVERY
    assert len(gd.eigenvalues) == 3
    assert math.isclose(gd.threshold.values[0], 2 / 0.02)
    assert [e.kind for e in gd.events] == ["eos_onset", "period2_onset", "catapult"]
    assert len(gd.reparams) == 6 and gd.reparams[0].alpha == 4.0
    assert math.isnan(gd.proj.values[0])  # null until an eigenvector is known


def test_batches_append_and_version_grows():
    model = RunModel()
    v0 = model.version
    model.apply_records(synthetic.records_range(["gd"], 0, 10))
    model.apply_records(synthetic.records_range(["gd"], 10, 25))
    assert model.version == v0 + 2
    assert model.arms["gd"].step.values.tolist() == list(range(25))
    assert not model.apply(Batch.from_records([]))


def test_a_diverged_loss_is_nan_and_the_arm_says_diverged():
    model = RunModel()
    model.apply_records(
        [
            {"type": "step", "arm": "a", "step": 0, "loss": None, "lr": 0.1, "grad_norm": None, "proj": None},
            {"type": "end", "arm": "a", "status": "diverged", "steps_done": 1, "final_loss": None},
        ]
    )
    a = model.arms["a"]
    assert math.isnan(a.loss.values[0]) and a.status == "diverged" and model.any_diverged


def test_more_eigenvalues_later_are_padded():
    model = RunModel()
    model.apply_records([{"type": "sharpness", "arm": "a", "step": 0, "eigenvalues": [3.0]}])
    model.apply_records([{"type": "sharpness", "arm": "a", "step": 5, "eigenvalues": [4.0, 2.0]}])
    a = model.arms["a"]
    assert a.eigenvalues[0].values.tolist() == [3.0, 4.0]
    assert math.isnan(a.eigenvalues[1].values[0]) and a.eigenvalues[1].values[1] == 2.0


def test_steps_per_second_with_an_injected_clock():
    now = [100.0]
    model = RunModel(clock=lambda: now[0])
    model.apply_records(synthetic.records_range(["gd"], 0, 1000))  # history: a baseline only
    assert model.steps_per_second() is None
    now[0] += 2.0
    model.apply_records(synthetic.records_range(["gd"], 1000, 1200))
    assert model.steps_per_second() == 100.0


def test_optional_per_step_fields_start_late_and_stay_aligned_with_steps():
    model = RunModel()
    model.apply_records([{"type": "step", "arm": "a", "step": t, "loss": 1.0, "lr": 0.1} for t in range(3)])
    arm = model.arms["a"]
    assert not arm.has_tracked_sharpness and not arm.has_loss_theory
    model.apply_records(
        [{"type": "step", "arm": "a", "step": t, "loss": 1.0, "lr": 0.1, "sharpness_tracked": 10.0 + t} for t in range(3, 5)]
    )
    assert arm.has_tracked_sharpness and len(arm.sharpness_tracked) == len(arm.step) == 5
    assert math.isnan(arm.sharpness_tracked.values[0]) and arm.sharpness_tracked.values[4] == 14.0


def test_damaged_records_are_skipped_and_counted_without_ragged_columns():
    good = synthetic.records_range(["gd"], 0, 3)
    bad = [
        {"type": "event", "arm": "gd", "step": "x", "kind": "eos_onset"},
        {"type": "reparam", "arm": "gd", "step": float("inf")},
        {"type": "sharpness", "arm": "gd", "step": 1, "eigenvalues": 5},
    ]
    batch = Batch.from_records(good + bad)
    assert batch.bad == 3 and batch.records == len(good) + 3
    model = RunModel()
    model.apply(batch)
    gd = model.arms["gd"]
    assert len(gd.sharpness_step) == len(gd.eigenvalues[0]) and len(gd.step) == 3


def test_a_damaged_manifest_does_not_reach_the_panels():
    model = RunModel()
    model.set_manifest({"arms": [{"a": 1}, "gd"], "steps": float("inf"), "status": "running"}, "running")
    assert list(model.arms) == ["gd"] and model.total_steps is None


def test_events_read_in_one_go_show_newest_first_across_arms():
    # A run read back at once arrives arm by arm; the panel orders by step, not by arrival.
    from eos_tui.app.widgets.events import newest_first

    model = RunModel()
    model.apply_records(
        [
            {"type": "event", "arm": "a", "step": 0, "kind": "eos_onset", "message": ""},
            {"type": "event", "arm": "a", "step": 11, "kind": "catapult", "message": ""},
            {"type": "event", "arm": "b", "step": 62, "kind": "period2_onset", "message": ""},
            {"type": "event", "arm": "c", "step": 6, "kind": "diverged", "message": ""},
            {"type": "event", "arm": "c", "step": 62, "kind": "lr_change", "message": ""},
        ]
    )
    shown = [(e.arm, e.step) for e in newest_first(model.events)]
    assert shown == [("c", 62), ("b", 62), ("a", 11), ("c", 6), ("a", 0)]
    assert len(newest_first(model.events, 2)) == 2


def test_the_threshold_line_is_the_records_own_under_momentum():
    # Heavy ball β = 0.5: the engine writes 2(1+β)/η; without the field the line is 2/η.
    model = RunModel()
    model.apply_records(
        [
            {"type": "step", "arm": "hb", "step": 0, "loss": 1.0, "lr": 0.1, "threshold": 30.0},
            {"type": "step", "arm": "gd", "step": 0, "loss": 1.0, "lr": 0.1},
        ]
    )
    assert model.arms["hb"].threshold.last() == 30.0 and model.arms["hb"].with_momentum
    assert math.isclose(model.arms["gd"].threshold.last(), 20.0) and not model.arms["gd"].with_momentum


def test_a_rewritten_metrics_file_replaces_what_the_app_had(tmp_path):
    """`eos-tui resume` from elsewhere rewrites metrics.jsonl (its records cut back to the last
    checkpoint, a new file renamed into place) and appends: the watching app forgets what it had and
    shows the file's records, each once (it showed every event twice)."""
    import json
    import os
    import time

    from eos_tui.app.follow import RunFollower
    from eos_tui.rundir import read_records

    run = tmp_path / "run"
    run.mkdir()
    records = synthetic.records_range(["gd"], 0, 300)
    lines = [json.dumps(r) for r in records]
    (run / "metrics.jsonl").write_text("".join(line + "\n" for line in lines))
    model, follower = RunModel(), RunFollower(run, interval=0.01)

    def follow_until(condition):
        deadline = time.monotonic() + 60
        while not condition():
            assert time.monotonic() < deadline, "the follower did not catch up"
            for batch in follower.take()[0]:
                model.apply(batch)
            time.sleep(0.01)

    follower.start()
    try:
        follow_until(lambda: model.records == len(records))
        kept = [line for line in lines if json.loads(line).get("step", 0) < 150]  # the last checkpoint: step 150
        tmp = run / ".metrics.tmp"
        tmp.write_text("".join(line + "\n" for line in kept))
        os.replace(tmp, run / "metrics.jsonl")
        with open(run / "metrics.jsonl", "a") as fh:  # the resumed session goes on
            fh.writelines(json.dumps(r) + "\n" for r in synthetic.records_range(["gd"], 150, 200))
        on_file = read_records(run)
        follow_until(lambda: model.records == len(on_file))
    finally:
        follower.stop()
    gd = model.arms["gd"]
    assert list(gd.step.values) == list(range(200))
    events = [(r["step"], r["kind"]) for r in on_file if r["type"] == "event"]
    assert [(e.step, e.kind) for e in model.events] == events and events
    assert [(e.step, e.kind) for e in gd.events] == events
