"""Every learning-rate schedule runs to its last step, on every engine path.

Regression: a cosine schedule reaches η = 0 on its last step, where the stability threshold
2(1+β)/η divided by zero and every arm failed. At η = 0 there is no threshold: the record's
threshold is null (readers' step_threshold gives None), no EoS comparison, no catapult.
"""

from __future__ import annotations

import json
from collections import defaultdict

import pytest

from eos_tui.engine.runner import run_scenario
from eos_tui.rundir.format import step_threshold

from .helpers import scenario

SCHEDULES = {
    "constant": '{ kind = "constant" }',
    "warmup": '{ kind = "warmup", warmup_steps = 3 }',
    "step": '{ kind = "step", milestones = [3], factors = [0.5] }',
    "cosine": '{ kind = "cosine" }',
    "cosine-warmup": '{ kind = "cosine", warmup_steps = 2 }',
    "cosine-floor": '{ kind = "cosine", final_factor = 0.1 }',
}


def _arms() -> str:
    out = []
    for name, sched in SCHEDULES.items():
        for beta in (0.0, 0.9):
            out.append(f'[[arm]]\nname = "{name}-b{beta:g}"\noptimizer.momentum = {beta}\nschedule = {sched}\n')
    # the other optimizers, alone: gradient flow (RK4 over time η_t = 0) and SGD on an MLP
    out.append('[[arm]]\nname = "flow-cosine"\noptimizer.kind = "flow"\nschedule = { kind = "cosine" }\n')
    return "\n".join(out)


TEXT = """
name = "schedules"
steps = 8
dtype = "float64"
[data]
kind = "none"
[model]
kind = "quadratic"
eigenvalues = [10.0, 1.0]
[optimizer]
lr = 0.19
[measure]
sharpness_every = 1
""" + _arms()

SGD = """
name = "sgd-cosine"
steps = 6
dtype = "float64"
[data]
n = 16
dim = 4
[model]
hidden = [8]
[optimizer]
kind = "sgd"
batch_size = 4
lr = 0.5
momentum = 0.9
[schedule]
kind = "cosine"
[measure]
sharpness_every = 1
on = "batch"
track_every_step = true
"""


def _run(text: str, tmp_path, mode: str):
    sc = scenario(text, overrides=[f'engine.batch_arms="{mode}"'])
    d = tmp_path / mode
    d.mkdir()
    status, manifest = run_scenario(sc, d)
    by_arm: dict[str, list[dict]] = defaultdict(list)
    for line in (d / "metrics.jsonl").read_text().splitlines():
        rec = json.loads(line)
        by_arm[rec["arm"]].append(rec)
    return status, manifest, by_arm


@pytest.mark.parametrize("mode", ["auto", "off"])
def test_every_schedule_runs_to_its_last_step(tmp_path, mode):
    status, manifest, by_arm = _run(TEXT, tmp_path, mode)
    assert status == "completed", manifest.get("error")
    if mode == "auto":  # the GD arms (with and without momentum) trained as one vmapped batch
        assert any(len(b) == 2 * len(SCHEDULES) for b in manifest["batches"])
    for name, recs in by_arm.items():
        end = recs[-1]
        assert end["type"] == "end" and end["status"] == "completed", (name, end)
        assert end["steps_done"] == 8
        last = [r for r in recs if r["type"] == "step"][-1]
        assert last["step"] == 7
        if (name.startswith("cosine") and not name.startswith("cosine-floor")) or name == "flow-cosine":
            assert last["lr"] == 0.0
            assert step_threshold(last) is None  # no threshold at η = 0
            assert "threshold" not in last or last["threshold"] is None
        else:
            assert last["lr"] > 0 and step_threshold(last) > 0


def test_sgd_cosine_with_momentum_and_tracking_runs_to_its_last_step(tmp_path):
    status, manifest, by_arm = _run(SGD, tmp_path, "auto")
    assert status == "completed", manifest.get("error")
    (recs,) = by_arm.values()
    assert recs[-1]["status"] == "completed"
    last = [r for r in recs if r["type"] == "step"][-1]
    assert last["lr"] == 0.0 and last["threshold"] is None
