"""The built-in `central` shows what its description promises (trains 400 steps with both flows:
~18 s of one CPU core, measured 50 s wall on this shared 2-core container)."""

from __future__ import annotations

import pytest

from eos_tui.analysis.summary import summarize_arm
from eos_tui.engine.runner import run_scenario
from eos_tui.rundir import read_records
from eos_tui.rundir.prepare import prepare_run
from eos_tui.scenario import load_scenario

pytestmark = pytest.mark.slow


def test_central(tmp_path):
    sc = load_scenario("central")
    run_dir = prepare_run(sc, out=tmp_path / "central")
    status, manifest = run_scenario(sc, run_dir)
    assert status == "completed"
    records = read_records(run_dir)
    (arm,) = sc.arms
    s = summarize_arm(arm.name, records)
    assert manifest["arms"][arm.name]["summary"] == s  # the engine's online summary agrees
    assert s["eos_onset_step"] is not None and abs(s["eos_ratio"] - 1) < 0.05  # GD at the edge (measured 1.002)
    # the central flow's prediction runs through GD's loss (measured 0.113) ...
    assert s["central_loss_error"] < 0.2
    # ... GD stays by the central flow and leaves the stable flow (measured 0.061 against 0.235)
    assert s["stable_distance"] > 2.5 * s["central_distance"]
    lr = arm.optimizer.lr
    central = [r for r in records if r["type"] == "flow" and r["flow"] == "central" and r["step"] >= arm.steps // 2]
    assert all(abs(r["sharpness"] * lr / 2 - 1) < 0.01 for r in central)  # flat at 2/η
