"""Adam/RMSprop arms in the app: sharpness records marked "operator": "preconditioned" carry
λ_max(P⁻¹H) and the raw λ_max(H); the sharpness panel says P⁻¹H, labels the threshold by its own
factor (38/η_t for Adam at β1 = 0.9) and draws the raw λ_max dotted beside it."""

from __future__ import annotations

import json
import math

from eos_tui.app.model import RunModel

from . import synthetic
from .helpers import run_finished, wait_for


def _as_adam(records, lr=0.02):
    for r in records:
        if r.get("type") == "step":
            r["threshold"] = 38.0 / r["lr"]
        elif r.get("type") == "sharpness":
            r["operator"] = "preconditioned"
            r["raw_eigenvalues"] = [r["eigenvalues"][0] / 50]
    return records


def test_the_model_marks_preconditioned_arms():
    model = RunModel()
    model.apply_records(synthetic.records_range(["gd"], 0, 30))
    model.apply_records(_as_adam(synthetic.records_range(["adam"], 0, 30)))
    gd, adam = model.arms["gd"], model.arms["adam"]
    assert adam.preconditioned and not gd.preconditioned
    assert len(adam.raw_sharpness) == len(adam.sharpness_step) > 0
    assert math.isclose(adam.raw_sharpness.last(), adam.sharpness / 50)
    assert all(math.isnan(v) for v in gd.raw_sharpness.values)
    assert math.isclose(adam.threshold_factor, 38.0) and math.isclose(gd.threshold_factor, 2.0)


async def test_the_sharpness_panel_says_p_inverse_h(tmp_path):
    from eos_tui.app.app import EosApp
    from eos_tui.app.widgets.chart import Chart
    from eos_tui.app.widgets.sharpness import SharpnessPanel

    run = synthetic.make_run(tmp_path / "run", steps=100)
    lines = (run / "metrics.jsonl").read_text().splitlines()
    records = _as_adam([json.loads(line) for line in lines])
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    app = EosApp(run)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: run_finished(app))
        await pilot.pause()
        panel = app.query_one(SharpnessPanel)
        assert "P⁻¹H" in str(panel.border_title)
        assert "38/η_t" in str(panel.border_subtitle) and "raw λ_max" in str(panel.border_subtitle)
        keys = [s.key for s in app.query_one("#sharpness-chart", Chart)._series]
        assert any(k.endswith("/raw") for k in keys), keys


async def test_the_eigendirection_line_says_lambda_over_threshold(tmp_path):
    """λη/2 would misname Adam's ratio: the line under the eigendirection chart says λ/thr."""
    from eos_tui.app.app import EosApp
    from eos_tui.app.widgets.eigendirection import EigendirectionPanel

    run = synthetic.make_run(tmp_path / "run", steps=100)
    lines = (run / "metrics.jsonl").read_text().splitlines()
    records = _as_adam([json.loads(line) for line in lines])
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    app = EosApp(run)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: run_finished(app))
        await pilot.pause()
        text = "".join(str(w.render()) for w in app.query_one(EigendirectionPanel).query("*"))
        assert "λ/thr" in text and "λη/2" not in text, text
