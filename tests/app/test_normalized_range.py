"""The normalized sharpness (λ_max over each arm's threshold, the edge at 1) leaves zero out of its
range where no arm in view goes under 0.5: the quadratic's arms at λη/2 = 0.95 and 1.05 lie on either
side of the line at 1, not on one row with it; arms that climb from far under the edge keep zero."""

import numpy as np
from helpers import run_finished, wait_for
from test_scenario_screens import plot_text, unpack

from eos_tui.app import EosApp
from eos_tui.app.widgets.chart import Chart


def rows_of(chart: Chart, value: float) -> int:
    f = chart.frame
    return int(round((f.y1 - value) / (f.y1 - f.y0) * (4 * (chart.size.height - 2) - 1))) // 4


async def test_the_quadratic_opens_normalized_with_its_arms_either_side_of_the_edge(tmp_path):
    app = EosApp(unpack("quadratic", tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: run_finished(app))
        assert app.view.sharpness_normalized  # the scenario's [display]
        sharp = app.query_one("#sharpness-chart", Chart)
        under = next(s for s in sharp._series if s.key == "eta-0.19/n/lambda").ys
        over = next(s for s in sharp._series if s.key == "eta-0.21/n/lambda").ys
        assert np.allclose(under, 0.95, atol=1e-6) and np.allclose(over, 1.05, atol=1e-6)
        assert 0.8 < sharp.frame.y0 < 0.95 and 1.05 < sharp.frame.y1 < 1.2  # zero left out
        assert rows_of(sharp, 0.95) > rows_of(sharp, 1.0) > rows_of(sharp, 1.05)  # three rows, in order
        assert "1.00" in plot_text(sharp)
        await pilot.press("n")  # raw: λ_max = 10 against 2/η = 10.5 and 9.5, from zero as before
        await pilot.pause()
        assert sharp.frame.y0 <= 0


async def test_arms_far_under_the_edge_keep_zero_in_view(tmp_path):
    app = EosApp(unpack("sgd_vs_gd", tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: run_finished(app))
        assert app.view.sharpness_normalized
        assert app.query_one("#sharpness-chart", Chart).frame.y0 <= 0  # SGD with batch 8 settles at ~0.35


async def test_central_opens_normalized_gd_over_and_under_the_flow_on_the_line(tmp_path):
    app = EosApp(unpack("central", tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: run_finished(app))
        assert app.view.sharpness_normalized
        sharp = app.query_one("#sharpness-chart", Chart)
        gd = next(s for s in sharp._series if s.key == "gd/n/lambda").ys
        late = gd[len(gd) // 4 :]
        assert late.max() > 1.02 and late.min() < 0.98  # GD hovers around the edge
        assert sharp.frame.y1 < 1.5 and rows_of(sharp, late.max()) < rows_of(sharp, 1.0) < rows_of(sharp, late.min())


async def test_the_focused_log_title_fits_80_columns(tmp_path):
    app = EosApp(unpack("catapult", tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: run_finished(app))
        await pilot.press("g", "h")
        await pilot.pause()
        panel = app.query_one("SharpnessPanel")
        title = str(panel.border_title)
        assert "uv-catapult only" in title and "(log)" in title and len(title) <= panel.size.width - 4
        await pilot.press("h", "g")  # room again: the whole title
        await pilot.pause()
        assert str(panel.border_title) == "Sharpness λ_max·η_t/2"
