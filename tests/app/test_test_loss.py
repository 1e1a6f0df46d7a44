"""The held-out loss (step records' test_loss, every measure.test_every steps) in the app: a
column aligned with the steps, and a faint dashed trace beside each arm's training loss."""

from __future__ import annotations

import json

import numpy as np

from eos_tui.app.model import RunModel

from . import synthetic
from .helpers import run_finished, wait_for


def _with_test_loss(records, every=10):
    for r in records:
        if r.get("type") == "step" and r["step"] % every == 0:
            r["test_loss"] = 2.0 * r["loss"]
            r["test_accuracy"] = 0.5
    return records


def test_the_model_keeps_the_measured_points_only():
    model = RunModel()
    model.apply_records(synthetic.records_range(["gd"], 0, 5))  # earlier records without it
    model.apply_records(_with_test_loss(synthetic.records_range(["gd"], 5, 35)))
    arm = model.arms["gd"]
    assert arm.has_test_loss and len(arm.test_loss) == len(arm.step) == 35
    xs, ys = arm.test_loss_points()
    assert list(xs) == [10, 20, 30]
    assert np.allclose(ys, 2 * arm.loss.values[[10, 20, 30]])
    other = RunModel()
    other.apply_records(synthetic.records_range(["gd"], 0, 5))
    assert not other.arms["gd"].has_test_loss


async def test_the_loss_panel_draws_it(tmp_path):
    from eos_tui.app.app import EosApp
    from eos_tui.app.widgets.chart import Chart

    run = synthetic.make_run(tmp_path / "run", steps=100)
    lines = (run / "metrics.jsonl").read_text().splitlines()
    records = _with_test_loss([json.loads(line) for line in lines])
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    app = EosApp(run)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: run_finished(app))
        chart = app.query_one("#loss-chart", Chart)
        keys = [s.key for s in chart._series]
        assert any(k.endswith("/test-loss") for k in keys), keys
        trace = next(s for s in chart._series if s.key.endswith("/test-loss"))
        assert trace.faint and trace.kind == "dashed" and list(trace.xs[:3]) == [0, 10, 20]
