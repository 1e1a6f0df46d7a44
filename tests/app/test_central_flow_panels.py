"""The flows in the live app: the central flow's predicted loss on the loss chart, its λ_max on the
sharpness chart, and the distances to both flows on the eigendirection panel's line (80 columns)."""

from __future__ import annotations

import json

from . import synthetic
from .helpers import run_finished, wait_for


def _with_flows(records):
    out = []
    for r in records:
        out.append(r)
        if r.get("type") == "step" and r["arm"] == "gd":
            t, loss = r["step"], r["loss"]
            out.append(
                {
                    "type": "flow",
                    "arm": "gd",
                    "step": t,
                    "flow": "central",
                    "loss": 0.9 * loss,
                    "distance": 0.061,
                    "predicted_loss": loss,
                    "sharpness": 2 / r["lr"],
                    "critical": 1,
                    "sigma": [0.01],
                }
            )
            out.append({"type": "flow", "arm": "gd", "step": t, "flow": "stable", "loss": 0.8 * loss, "distance": 0.23})
    return out


async def test_the_panels_draw_the_flows(tmp_path):
    from rich.text import Text as Text_

    from eos_tui.app.app import EosApp
    from eos_tui.app.widgets.chart import Chart
    from eos_tui.app.widgets.panel import Text
    from eos_tui.app.widgets.sharpness import SharpnessPanel

    run = synthetic.make_run(tmp_path / "run", steps=100)
    lines = (run / "metrics.jsonl").read_text().splitlines()
    records = _with_flows([json.loads(line) for line in lines])
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    app = EosApp(run)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: run_finished(app))
        await pilot.pause()
        loss_keys = [s.key for s in app.query_one("#loss-chart", Chart)._series]
        assert "gd/central-loss" in loss_keys and "gd/stable-loss" in loss_keys, loss_keys
        sharp = {s.key: s for s in app.query_one("#sharpness-chart", Chart)._series}
        # Issue 23: a solid line of its own (a dotted one vanished into the dashed 2/η it lies on), named in the legend.
        assert sharp["gd/central-lambda"].kind == "line" and sharp["gd/central-lambda"].ys[-1] == 2 / 0.02
        legend = Text_.from_markup(str(app.query_one(SharpnessPanel).border_subtitle)).plain
        assert "─ central flow" in legend, legend
        line = app.query_one("#proj-summary", Text)
        text = str(line._last)  # the markup last set
        assert "CF" in text and "SF" in text, text
