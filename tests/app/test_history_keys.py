"""History keys through Pilot: pan and zoom the shared x window, the cursor readout, `f`, the loss EMA."""

import math

import numpy as np
import pytest
import synthetic
from helpers import run_finished, wait_for
from test_history_window import ema_reference
from textual import events

from eos_tui.app import EosApp
from eos_tui.app.widgets.chart import Chart
from eos_tui.app.widgets.chart.chart import AXIS_WIDTH
from eos_tui.app.widgets.readout import CursorReadout, number, reading
from eos_tui.app.window import FIXED, FOLLOW

CHARTS = ("#sharpness-chart", "#loss-chart")


def x_range(app, selector="#sharpness-chart") -> tuple[float, float]:
    frame = app.query_one(selector, Chart).frame
    return frame.x0, frame.x1


def shared(app) -> tuple[float, float]:
    """The x range, the same on every chart of the left column."""
    ranges = {x_range(app, s) for s in CHARTS}
    assert len(ranges) == 1, ranges
    return ranges.pop()


def readout_text(app) -> str:
    return str(app.query_one("#readout-text").render())


async def test_pan_and_zoom_change_the_visible_steps(finished_run):
    app = EosApp(finished_run)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: run_finished(app))
        assert shared(app) == (0.0, 599.0)
        await pilot.press("plus")  # about the latest step, still following it
        assert shared(app) == (299.5, 599.0) and app.view.window.mode == FOLLOW
        await pilot.press("equals_sign")
        assert shared(app) == (599.0 - 149.75, 599.0)
        await pilot.press("left")
        x0, x1 = shared(app)
        assert (x0, x1) == (599.0 - 149.75 * 1.25, 599.0 - 149.75 * 0.25) and app.view.window.mode == FIXED
        await pilot.press("right", "right")  # clamped at the run's end
        assert shared(app) == (599.0 - 149.75, 599.0)
        await pilot.press("home")
        assert shared(app) == (0.0, 149.75)
        await pilot.press("left")  # clamped at the run's start
        assert shared(app) == (0.0, 149.75)
        await pilot.press("end")
        assert shared(app) == (599.0 - 149.75, 599.0) and app.view.follow
        await pilot.press("minus", "minus")
        assert shared(app) == (0.0, 599.0) and app.view.window.mode == "all"
        # The eigendirection chart shows the latest steps of the same window, one per bar.
        await pilot.press("plus", "home")
        px0, px1 = x_range(app, "#proj-chart")
        assert px1 == shared(app)[1] and px0 >= shared(app)[0]


async def test_the_mouse_wheel_zooms_about_the_pointer_and_a_click_sets_the_cursor(finished_run):
    app = EosApp(finished_run)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: run_finished(app))
        chart = app.query_one("#sharpness-chart", Chart)
        col = 10
        x0, x1 = shared(app)
        dots = 2 * (chart.size.width - AXIS_WIDTH)
        under = x0 + (2 * col + 0.5) / (dots - 1) * (x1 - x0)
        await pilot._post_mouse_events([events.MouseScrollUp], chart, offset=(AXIS_WIDTH + col, 2))
        n0, n1 = shared(app)
        assert math.isclose(n1 - n0, (x1 - x0) / 1.25)
        assert math.isclose((under - n0) / (n1 - n0), (under - x0) / (x1 - x0))  # the step under the pointer stays put
        await pilot._post_mouse_events([events.MouseScrollRight], chart, offset=(AXIS_WIDTH + col, 2))  # a sideways scroll pans
        assert shared(app) == pytest.approx((n0 + (n1 - n0) / 8, n1 + (n1 - n0) / 8))
        await pilot._post_mouse_events([events.MouseScrollLeft], chart, offset=(AXIS_WIDTH + col, 2))
        assert shared(app) == pytest.approx((n0, n1))
        await pilot._post_mouse_events([events.MouseScrollDown], chart, offset=(AXIS_WIDTH + col, 2))
        assert shared(app) == (0.0, 599.0)
        await pilot._post_mouse_events([events.MouseScrollUp], chart, offset=(2, 2))  # the y axis: not a step
        assert shared(app) == (0.0, 599.0)
        await pilot.click(chart, offset=(AXIS_WIDTH + col, 3))
        assert app.view.cursor == round(under)
        assert app.query_one(CursorReadout).display and f"step {round(under)}" in readout_text(app)


async def test_the_cursor_reads_out_the_recorded_values_of_every_arm(finished_run):
    app = EosApp(finished_run)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: run_finished(app))
        assert not app.query_one(CursorReadout).display
        await pilot.press("full_stop")  # the first press: the newest step
        assert app.view.cursor == 599
        await pilot.press(*["comma"] * 4)
        assert app.view.cursor == 595  # a step where λ_max was measured
        text = readout_text(app)
        assert "step 595" in text
        for arm in synthetic.ARMS:
            step, sharp = synthetic.step_records(arm, 595)[:2]
            r = reading(app.model.arms[arm], 595)
            assert (r.loss, r.threshold, r.proj, r.sharpness, r.sharpness_step) == (
                step["loss"],
                2 / step["lr"],
                step["proj"],
                sharp["eigenvalues"][0],
                595,
            )
            for v in (r.loss, r.threshold, r.proj, r.sharpness):
                assert number(v) in text, (arm, v, text)
        assert all(len(line) <= 78 for line in text.splitlines()) and len(text.splitlines()) <= 2
        # Between measurements, λ_max is the latest one before the cursor, with its step.
        await pilot.press("full_stop", "full_stop")
        assert "λ@595" in readout_text(app) and "step 597" in readout_text(app)
        # The cursor is drawn on every chart.
        assert all(app.query_one(s, Chart).cursor == 597 for s in (*CHARTS, "#proj-chart"))
        # Zoom about the cursor: it stays where it is on the screen.
        x0, x1 = shared(app)
        await pilot.press("home", "plus")  # home: nothing to do while the whole run is in view
        n0, n1 = shared(app)
        assert math.isclose((597 - n0) / (n1 - n0), (597 - x0) / (x1 - x0))
        # Moving the cursor off screen pans the window to it.
        await pilot.press("home", *["comma"] * 3)
        assert app.view.cursor == 594 and shared(app)[0] <= 594 <= shared(app)[1]
        await pilot.press("escape")
        assert app.view.cursor is None and not app.query_one(CursorReadout).display


async def test_f_returns_to_following_and_new_data_keeps_following(tmp_path):
    run = synthetic.make_run(tmp_path / "live", steps=1000, done=300, status="running")
    app = EosApp(run, poll_interval=0.05)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.model.arms.get("gd") and app.model.arms["gd"].done == 300)
        assert shared(app) == (0.0, 300.0)  # the whole run, to a round step while live
        await pilot.press("plus", "left", "full_stop")
        fixed = shared(app)
        assert app.view.window.mode == FIXED and app.view.cursor is not None
        synthetic.append(run, synthetic.records_range(synthetic.ARMS, 300, 400))
        await wait_for(pilot, lambda: app.model.arms["gd"].done == 400)
        assert shared(app) == fixed  # a fixed window stays where it was put
        await pilot.press("f")
        assert app.view.follow and app.view.cursor is None
        width = fixed[1] - fixed[0]
        assert shared(app) == (399.0 - width, 399.0)  # the latest steps, at the same zoom
        synthetic.append(run, synthetic.records_range(synthetic.ARMS, 400, 450))
        await wait_for(pilot, lambda: app.model.arms["gd"].done == 450)
        assert shared(app) == (449.0 - width, 449.0)
        await pilot.press("full_stop", "f")  # a cursor while following: f drops it, and keeps following
        assert app.view.follow and app.view.cursor is None and shared(app) == (449.0 - width, 449.0)
        await pilot.press("f")  # while following: the whole run
        assert shared(app)[0] == 0.0 and not app.view.follow
        await pilot.press("f")  # and back to following, one step per dot column
        chart = app.query_one("#sharpness-chart", Chart)
        assert shared(app) == (449.0 - (2 * (chart.size.width - AXIS_WIDTH) - 1), 449.0)


async def test_e_smooths_the_loss_with_the_exact_ema_over_the_faint_raw_trace(finished_run):
    app = EosApp(finished_run)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: run_finished(app))
        chart = app.query_one("#loss-chart", Chart)
        assert not any("ema" in s.key for s in chart._series)
        raw = {arm: np.array([synthetic.step_records(arm, t)[0]["loss"] for t in range(600)]) for arm in synthetic.ARMS}
        await pilot.press("e")
        for tau in (8, 4):  # 600 steps in view: τ = 8 (α = 1/8); zoomed in to 300: τ = 4
            series = {s.key: s for s in chart._series}
            for arm in synthetic.ARMS:
                smooth = series[f"{arm}/loss-ema-{tau}"]
                np.testing.assert_allclose(smooth.ys, ema_reference(raw[arm], 1 / tau), rtol=1e-12)
                assert series[f"{arm}/loss"].faint and not smooth.faint
                np.testing.assert_array_equal(series[f"{arm}/loss"].ys, raw[arm])
            keys = list(series)
            assert max(keys.index(f"{a}/loss") for a in synthetic.ARMS) < min(keys.index(f"{a}/loss-ema-{tau}") for a in synthetic.ARMS)
            assert f"EMA τ {tau})" in str(app.query_one("LossPanel").border_subtitle)
            await pilot.press("plus")
        await pilot.press("e")
        assert not any("ema" in s.key for s in chart._series)


async def test_the_help_explains_the_history_keys(finished_run):
    app = EosApp(finished_run)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: run_finished(app))
        await pilot.press("question_mark")
        text = app.screen.markdown()
        for key in ("`←` `→`", "`+` `=` `-`", "`home` `end`", "`,` `.`", "`esc`", "`e`", "`f`"):
            assert key in text, key
        assert "## Cursor and history" in text and "mouse" in text and "1–2% of the steps in view" in text


async def test_the_readout_of_five_arms_fits_two_lines_at_80x24(tmp_path):
    arms = ("uv-small", "uv-catapult", "uv-diverge", "mlp-small", "mlp-catapult")
    run = synthetic.make_run(tmp_path / "five", steps=150, arms=arms)
    app = EosApp(run)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: run_finished(app))
        await pilot.press("comma", "comma", "tab", "tab")
        lines = readout_text(app).splitlines()
        assert len(lines) == 2 and all(len(line) <= 78 for line in lines), lines
        assert "step 148" in lines[0] and "(λ@145)" in lines[0] and "2/η 100" in lines[0]
        text = "\n".join(lines)
        assert text.index("uv-diverge") < text.index("uv-small")  # the highlighted arm first
        r = reading(app.model.arms["uv-diverge"], 148)
        assert f"uv-diverge {number(r.loss)} {number(r.sharpness)} {number(r.proj)}" in lines[0]
        assert "more (tab)" in lines[1]
    async with EosApp(run).run_test(size=(120, 40)) as pilot:  # room for every arm
        app = pilot.app
        await wait_for(pilot, lambda: run_finished(app))
        await pilot.press("comma")
        text = readout_text(app)
        assert all(a in text for a in arms) and "more" not in text and len(text.splitlines()) <= 4
