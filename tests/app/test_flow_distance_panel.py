"""Distance to the flows (widgets/flow_distance.py): on a run with flow records and no
reparameterization checks, a chart of ‖θ_GD − θ_CF‖ and ‖θ_GD − θ_SF‖ takes the empty
Reparameterization panel's place (issue 12: the stable flow's drift at a glance); every other run
shows the Reparameterization panel as before."""

from __future__ import annotations

import gzip
import json

import numpy as np

from eos_tui.app import EosApp
from eos_tui.app.screens.help import HelpScreen
from eos_tui.app.widgets import ReparamPanel
from eos_tui.app.widgets.chart import Chart
from eos_tui.app.widgets.flow_distance import FlowDistancePanel

from .helpers import run_finished, wait_for
from .test_scenario_screens import STORE, unpack


def _recorded(name: str, arm: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The stored run's flow records: {flow: (steps, distances)}."""
    rows: dict[str, list[tuple[float, float]]] = {"central": [], "stable": []}
    with gzip.open(STORE / name / "metrics.jsonl.gz", "rt") as f:
        for line in f:
            r = json.loads(line)
            if r.get("type") == "flow" and r["arm"] == arm:
                rows[r["flow"]].append((r["step"], r["distance"]))
    return {k: (np.array([s for s, _ in v], float), np.array([d for _, d in v], float)) for k, v in rows.items()}


async def test_central_shows_the_distances_in_place_of_the_empty_reparam_panel(tmp_path):
    app = EosApp(unpack("central", tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: run_finished(app))
        await pilot.pause()
        panel = app.query_one(FlowDistancePanel)
        assert panel.display and not app.query_one(ReparamPanel).display
        assert panel.outer_size.height >= 7  # a chart, not a line: 3 rows of plot, axis and labels at 80x24
        chart = app.query_one("#flow-distance-chart", Chart)
        series = {s.label: s for s in chart._series}
        assert set(series) == {"central", "stable"}
        recorded = _recorded("central", "gd")
        for flow in ("central", "stable"):
            steps, dist = recorded[flow]
            assert len(steps) == 400
            np.testing.assert_array_equal(series[flow].xs, steps)
            np.testing.assert_array_equal(series[flow].ys, dist)
        # what the chart is for: after the crossing the stable flow is far from GD, the central one near
        assert dist[-1] > 3 * recorded["central"][1][-1]
        assert "central" in str(panel.border_subtitle) and "stable" in str(panel.border_subtitle)
        assert chart.window == app.view.x_range  # the x window the other charts share
        await pilot.press("question_mark")
        await pilot.pause()
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        titles = [t for t, _ in help_screen.sections]
        assert "Distance to the flows" in titles and "Reparameterization" not in titles
        assert "Cursor and history" in titles  # a hidden panel that is not swapped keeps its help
        assert "Cohen, Damian" in dict(help_screen.sections)["Distance to the flows"]


async def test_a_run_without_flows_keeps_the_reparam_panel(tmp_path):
    app = EosApp(unpack("eos", tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: run_finished(app))
        await pilot.pause()
        assert app.query_one(ReparamPanel).display
        assert not app.query_one(FlowDistancePanel).display
        assert app.query_one(FlowDistancePanel).size.height == 0  # takes no room
        await pilot.press("question_mark")
        await pilot.pause()
        titles = [t for t, _ in app.screen.sections]
        assert "Reparameterization" in titles and "Distance to the flows" not in titles
        assert "Cursor and history" in titles


async def test_flows_with_reparam_checks_keep_the_reparam_panel(tmp_path):
    run = unpack("central", tmp_path)
    check = {
        "type": "reparam",
        "arm": "gd",
        "step": 10,
        "alpha": 10.0,
        "layer": 0,
        "neurons": "all",
        "max_output_change": 1e-16,
        "loss_change": 0.0,
        "sharpness_before": 3.3,
        "sharpness_after": 9.9,
        "sharpness_predicted": 9.9,
        "adaptive_before": 0.03,
        "adaptive_after": 0.03,
    }
    lines = (run / "metrics.jsonl").read_text().splitlines(keepends=True)
    (run / "metrics.jsonl").write_text("".join(lines[:50]) + json.dumps(check) + "\n" + "".join(lines[50:]))
    app = EosApp(run)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: run_finished(app))
        await pilot.pause()
        assert app.model.arms["gd"].reparams
        assert app.query_one(ReparamPanel).display
        assert not app.query_one(FlowDistancePanel).display
