"""The app's side of the flows: "flow" records into columns, the overlays and the distances readout."""

import math

from eos_tui.app.model import RunModel
from eos_tui.app.widgets import flows


def records():
    out = []
    for t in range(5):
        out.append({"type": "step", "arm": "gd", "step": t, "loss": 1.0 / (t + 1), "lr": 0.5, "grad_norm": 1.0, "proj": None, "disp": None})
        out.append(
            {
                "type": "flow",
                "arm": "gd",
                "step": t,
                "flow": "central",
                "loss": 0.9 / (t + 1),
                "distance": 0.01 * t,
                "predicted_loss": 0.95 / (t + 1),
                "sharpness": 4.0,
                "critical": 1,
                "sigma": [0.1],
            }
        )
        out.append({"type": "flow", "arm": "gd", "step": t, "flow": "stable", "loss": 0.8 / (t + 1), "distance": 0.03 * t})
    return out


def test_flow_records_become_columns():
    model = RunModel()
    model.apply_records(records())
    arm = model.arms["gd"]
    assert arm.has_central_flow and arm.has_stable_flow
    assert list(arm.central_step.values) == [0, 1, 2, 3, 4] == list(arm.stable_step.values)
    assert arm.central_predicted.values[2] == 0.95 / 3 and arm.central_sharpness.values[0] == 4.0
    assert arm.stable_distance.last() == 0.12 and math.isclose(arm.central_distance.last(), 0.04)
    assert len(arm.step) == 5  # the step records are untouched


def test_damaged_flow_record_is_skipped_and_null_is_nan():
    model = RunModel()
    recs = records()
    recs.append({"type": "flow", "arm": "gd", "step": 5, "flow": "central", "loss": None, "distance": None})
    recs.append({"type": "flow", "arm": "gd", "step": "x\x1b[2J", "flow": "stable", "loss": {}, "distance": []})
    model.apply_records(recs)
    arm = model.arms["gd"]
    assert len(arm.central_step) == 6 and math.isnan(arm.central_loss.last())
    assert len(arm.stable_step) == 6 and math.isnan(arm.stable_step.last())  # malformed: NaN, never an exception


def test_overlays_and_readout():
    model = RunModel()
    model.apply_records(records())
    arm = model.arms["gd"]
    keys = [s.key for s in flows.loss_series(arm, "#4ea1ff")]
    assert keys == ["gd/stable-loss", "gd/central-loss"]
    (sharp,) = flows.sharpness_series(arm)
    # solid: it lies on the dashed edge line, which a dotted trace left unseen (issue 23, docs/chart.md)
    assert sharp.kind == "line" and list(sharp.ys) == [4.0] * 5
    text = flows.distances(arm)
    assert text is not None and "CF[/] 0.04" in text and "SF[/] 0.12" in text
    plain = RunModel()
    plain.apply_records([r for r in records() if r["type"] == "step"])
    assert flows.loss_series(plain.arms["gd"], "#fff") == [] and flows.distances(plain.arms["gd"]) is None


def test_headless_summary_gives_the_flows_a_line():
    from rich.console import Console

    from eos_tui.cli.headless import summary_table

    arm = {
        "name": "gd",
        "status": "completed",
        "steps_done": 400,
        "initial_loss": 0.3,
        "final_loss": 0.004,
        "max_loss": 0.3,
        "final_sharpness": 3.3,
        "eos_ratio": 1.002,
        "eos_onset_step": 14,
        "flip_fraction": 0.9,
    }
    flows = {**arm, "name": "cf", "central_loss_error": 0.113, "central_distance": 0.0609, "stable_distance": None}
    console = Console(width=160, record=True)
    console.print(summary_table({"scenario": "central", "run_dir": "runs/x", "arms": [arm, flows]}))
    text = console.export_text()
    assert "cf: central flow loss error 11.3%, ‖θ−θ_CF‖ 0.0609 (stable flow —)" in text and "gd:" not in text
