"""The app on metrics written by the real engine (short runs in a subprocess, so this test process
never imports torch for them): the instruments of issue 4 reach the screen."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import run_finished, wait_for

from eos_tui.app import EosApp
from eos_tui.app.widgets.chart import Chart
from eos_tui.app.widgets.reparam import latest_checks

# The runs start a real engine (torch) first: slow, so run early (tests/conftest.py), and all on one
# xdist worker, which makes them once for the whole module.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("real_run")]

RUNS = {
    # 21 steps, checks at steps 0, 10, 20: three steps' worth of T_α maps.
    "reparam": ["steps=21", "measure.reparam_every=10", "measure.sharpness_every=5"],
    "quadratic": ["steps=40"],
    "catapult": ["steps=12"],
}

# The engine's own entry points, as a headless run calls them; one interpreter for the three runs
# (each new one spends ~3 s of CPU importing torch before its first step).
ENGINE = """
import json, sys
from pathlib import Path
from eos_tui.engine.runner import run_scenario
from eos_tui.rundir.prepare import prepare_run
from eos_tui.scenario import load_scenario
root, runs = Path(sys.argv[1]), json.loads(sys.argv[2])
for name, overrides in runs.items():
    sc = load_scenario(name, overrides=overrides)
    status, _ = run_scenario(sc, prepare_run(sc, out=root / name))
    assert status == "completed", (name, status)
"""


@pytest.fixture(scope="module")
def real_runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("real")
    done = subprocess.run([sys.executable, "-c", ENGINE, str(root), json.dumps(RUNS)], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    return {name: root / name for name in RUNS}


async def test_reparameterization_panel_shows_both_sharpnesses(real_runs):
    app = EosApp(real_runs["reparam"])
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: run_finished(app))
        checks = app.model.arms["main"].reparams
        assert {c.step for c in checks} == {0, 10, 20}
        for c in checks:
            # T_α preserves the function: outputs and loss change at round-off only (float64).
            assert c.max_output_change < 1e-10 and abs(c.loss_change) < 1e-10
            # ... while λ_max moves, and the adaptive sharpness does not.
            assert math.isclose(c.adaptive_after, c.adaptive_before, rel_tol=1e-6)
        assert any(c.sharpness_after > 5 * c.sharpness_before for c in checks)
        before = str(app.query_one("#reparam-before").render())
        assert "step 20" in before
        table = app.query_one("#reparam-table")
        shown = latest_checks(checks, 99)
        assert all(c.step == 20 for c in shown)
        # The step's 12 maps do not fit at 120×40: the summary, with both sharpnesses' rows.
        body = "\n".join(table.render_line(y).text for y in range(table.size.height))
        assert "λ_max" in body and "adaptive" in body and table.size.height >= 3


async def test_quadratic_theory_overlay_matches_the_measured_loss(real_runs):
    app = EosApp(real_runs["quadratic"])
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: run_finished(app))
        for arm in app.model.arms.values():
            assert arm.has_loss_theory and len(arm.loss_theory) == len(arm.loss)
            measured, theory = arm.loss.values, arm.loss_theory.values
            # float64 GD on a quadratic follows the closed form to round-off (relative 1e-9
            # leaves room for the growth of the unstable arm's error, ~(ηλ-1)^t ε).
            ok = (theory > 0) & (theory < 1e12)
            assert ok.sum() > 10
            assert max(abs(measured[ok] / theory[ok] - 1)) < 1e-9
        keys = [s.key for s in app.query_one("#loss-chart", Chart)._series]
        assert any(k.endswith("/loss-theory") for k in keys)
        assert "theory" in str(app.query_one("LossPanel").border_subtitle)


async def test_uv_one_step_map_is_drawn_beside_the_sharpness(real_runs):
    app = EosApp(real_runs["catapult"])
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: run_finished(app))
        uv = app.model.arms["uv-catapult"]
        assert uv.has_uv_theory and not app.model.arms["mlp-catapult"].has_uv_theory
        # The map's prediction for step t+1 equals the loss measured at step t+1 (exact map).
        steps = uv.step.values.astype(int)
        loss_at = dict(zip(steps.tolist(), uv.loss.values.tolist()))
        for s, predicted in zip(uv.uv_step.values.astype(int).tolist(), uv.uv_loss_theory.values.tolist()):
            if s in loss_at:
                assert math.isclose(predicted, loss_at[s], rel_tol=1e-9)
        keys = [s.key for s in app.query_one("#sharpness-chart", Chart)._series]
        assert "uv-catapult/n/ntk-map" in keys  # the catapult opens normalized ([display])
        await pilot.press("n")
        keys = [s.key for s in app.query_one("#sharpness-chart", Chart)._series]
        assert "uv-catapult/ntk-map" in keys
