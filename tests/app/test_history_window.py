"""The shared x window's arithmetic (app/window.py) and the loss EMA (app/smoothing.py), without the app."""

import math

import numpy as np
import pytest

from eos_tui.app.smoothing import EmaCache, ema, time_constant
from eos_tui.app.window import ALL, FIXED, FOLLOW, MIN_SPAN, XWindow, move_cursor, stems_window

# A run recorded from step 0 to 999.
LO, HI = 0.0, 999.0


def test_resolve_each_mode():
    assert XWindow().resolve(LO, HI, dots=80) == (0.0, 999.0)
    assert XWindow().resolve(LO, HI, dots=80, live=True) == (0.0, 1000.0)  # a round end while live
    assert XWindow(FOLLOW).resolve(LO, HI, dots=80) == (999.0 - 79, 999.0)  # one step per dot column
    assert XWindow(FOLLOW, 100.0).resolve(LO, HI, dots=80) == (899.0, 999.0)
    assert XWindow(FOLLOW, 100.0).resolve(LO, 50.0, dots=80) == (0.0, 50.0)  # a run shorter than the window
    assert XWindow(FIXED, 100.0, 300.0).resolve(LO, HI, dots=80) == (300.0, 400.0)
    # A fixed window is clamped to the run: never before its start, never past its end.
    assert XWindow(FIXED, 100.0, -50.0).resolve(LO, HI, dots=80) == (0.0, 100.0)
    assert XWindow(FIXED, 100.0, 950.0).resolve(LO, HI, dots=80) == (899.0, 999.0)


def test_zoom_keeps_the_anchor_in_place_and_is_clamped():
    w = XWindow(FIXED, 400.0, 200.0)
    z = w.zoom(0.5, 200.0, 600.0, LO, HI, about=300.0)
    assert z.mode == FIXED and z.span == 200.0
    x0, x1 = z.resolve(LO, HI, 80)
    assert (300.0 - x0) / (x1 - x0) == pytest.approx((300.0 - 200.0) / 400.0)  # the cursor stays at 25%
    # About a step near the run's start: the window cannot begin before step 0.
    z = XWindow(FIXED, 400.0, 0.0).zoom(2.0, 0.0, 400.0, LO, HI, about=10.0)
    assert z.resolve(LO, HI, 80) == (0.0, 800.0)
    # ... nor end after the run's last step.
    z = XWindow(FIXED, 400.0, 599.0).zoom(1.2, 599.0, 999.0, LO, HI, about=990.0)
    assert z.resolve(LO, HI, 80)[1] == HI
    # Never narrower than MIN_SPAN; zooming out past the run is the whole run.
    assert XWindow(FIXED, 10.0, 500.0).zoom(0.1, 500.0, 510.0, LO, HI, about=505.0).span == MIN_SPAN
    assert XWindow(FIXED, 600.0, 100.0).zoom(2.0, 100.0, 700.0, LO, HI) == XWindow(ALL)
    # Without an anchor: the whole run or a followed window zooms about the latest step and keeps following.
    assert XWindow(ALL).zoom(0.5, 0.0, 999.0, LO, HI) == XWindow(FOLLOW, 499.5)
    assert XWindow(FOLLOW, 100.0).zoom(0.5, 899.0, 999.0, LO, HI) == XWindow(FOLLOW, 50.0)
    # A fixed one about its centre.
    assert XWindow(FIXED, 100.0, 400.0).zoom(0.5, 400.0, 500.0, LO, HI) == XWindow(FIXED, 50.0, 425.0)
    # An anchor out of view is no anchor.
    assert XWindow(ALL).zoom(0.5, 0.0, 999.0, LO, HI, about=5000.0) == XWindow(FOLLOW, 499.5)


def test_pan_is_clamped_at_the_run_start_and_end():
    w = XWindow(FIXED, 100.0, 450.0)
    assert w.pan(-0.25, 450.0, 550.0, LO, HI) == XWindow(FIXED, 100.0, 425.0)
    assert w.pan(0.25, 450.0, 550.0, LO, HI) == XWindow(FIXED, 100.0, 475.0)
    assert XWindow(FIXED, 100.0, 10.0).pan(-0.25, 10.0, 110.0, LO, HI).start == 0.0
    assert XWindow(FIXED, 100.0, 890.0).pan(0.25, 890.0, 990.0, LO, HI).start == 899.0
    # Following: a pan back in time fixes the window; forward there is nothing newer.
    f = XWindow(FOLLOW, 100.0)
    assert f.pan(-0.25, 899.0, 999.0, LO, HI) == XWindow(FIXED, 100.0, 874.0)
    assert f.pan(0.25, 899.0, 999.0, LO, HI) is f
    # The whole run in view: nothing to pan.
    assert XWindow().pan(-0.25, 0.0, 999.0, LO, HI) == XWindow()


def test_home_end_and_follow():
    w = XWindow(FIXED, 100.0, 450.0)
    assert w.home(450.0, 550.0, LO, HI) == XWindow(FIXED, 100.0, 0.0)
    assert w.end(450.0, 550.0, LO, HI) == XWindow(FOLLOW, 100.0)
    assert XWindow().home(0.0, 999.0, LO, HI) == XWindow(ALL, at_start=True)  # still the whole run, live too
    assert XWindow(ALL, at_start=True).resolve(LO, HI, dots=80, live=True) == (0.0, 1000.0)
    # f: the whole run -> follow (one step per dot column) -> the whole run; a fixed window -> follow at its zoom.
    assert XWindow().toggle_follow(0.0, 999.0) == XWindow(FOLLOW)
    assert XWindow(FOLLOW).toggle_follow(920.0, 999.0) == XWindow(ALL)
    assert w.toggle_follow(450.0, 550.0) == XWindow(FOLLOW, 100.0)


def test_home_then_zoom_in_shows_the_start():
    """Issue 23: on catapult (60 steps), `Home` then `+` showed steps 30-60, not the start."""
    home = XWindow().home(0.0, 59.0, 0.0, 59.0)
    zoomed = home.zoom(0.5, 0.0, 59.0, 0.0, 59.0)
    assert zoomed.resolve(0.0, 59.0, dots=80) == (0.0, 29.5)
    again = zoomed.zoom(0.5, *zoomed.resolve(0.0, 59.0, dots=80), 0.0, 59.0)
    assert again.resolve(0.0, 59.0, dots=80) == (0.0, 14.75)  # a fixed window at the start keeps it
    # Without Home, `+` still zooms onto the latest steps and follows them.
    assert XWindow().zoom(0.5, 0.0, 59.0, 0.0, 59.0) == XWindow(FOLLOW, 29.5)


def test_the_cursor_moves_within_the_run_and_the_window_follows_it():
    assert move_cursor(None, 1, 0.0, 1000.0, LO, HI) == 999  # the first press: the newest step in view
    assert move_cursor(None, -1, 100.0, 200.0, LO, HI) == 200
    assert move_cursor(500, -1, 0.0, 999.0, LO, HI) == 499
    assert move_cursor(999, 1, 0.0, 999.0, LO, HI) == 999
    assert move_cursor(0, -1, 0.0, 999.0, LO, HI) == 0
    w = XWindow(FIXED, 100.0, 400.0)
    assert w.showing(450.0, 400.0, 500.0, LO, HI) is w
    assert w.showing(501.0, 400.0, 500.0, LO, HI) == XWindow(FIXED, 100.0, 411.0)  # 90% of the way across
    assert w.showing(399.0, 400.0, 500.0, LO, HI) == XWindow(FIXED, 100.0, 389.0)
    assert w.showing(2.0, 400.0, 500.0, LO, HI).start == 0.0


def test_the_stems_window_ends_the_shared_one_or_centres_on_the_cursor():
    assert stems_window(None, 30, None, LO, HI) is None
    assert stems_window((0.0, 999.0), 30, None, LO, HI) == (970.0, 999.0)  # today's follow: cells − 1 steps
    assert stems_window((100.0, 300.0), 30, None, LO, HI) == (271.0, 300.0)
    assert stems_window((100.0, 300.0), 30, 200.0, LO, HI) == (185.5, 214.5)
    assert stems_window((0.0, 999.0), 30, 3.0, LO, HI) == (0.0, 29.0)
    assert stems_window((0.0, 999.0), 30, 998.0, LO, HI) == (970.0, 999.0)


def ema_reference(x: np.ndarray, alpha: float) -> np.ndarray:
    """s_t = (1−α)^t x_0 + Σ_{k=1..t} α (1−α)^(t−k) x_k, as a matrix product."""
    t = np.arange(len(x))
    weights = np.where(t[:, None] >= t[None, :], alpha * (1 - alpha) ** (t[:, None] - t[None, :]).clip(0), 0.0)
    weights[:, 0] = (1 - alpha) ** t
    return weights @ x


def test_ema_is_the_exponential_moving_average():
    x = np.random.default_rng(0).lognormal(size=300)
    for alpha in (1.0, 0.5, 1 / 6, 0.01):
        out, state = ema(x, alpha)
        np.testing.assert_allclose(out, ema_reference(x, alpha), rtol=1e-12)
        assert state == out[-1]
    # Extended piece by piece, the same series.
    cache = EmaCache()
    for n in (1, 17, 150, 300):
        got = cache.smoothed("a", x[:n], 0.1)
    np.testing.assert_allclose(got, ema_reference(x, 0.1), rtol=1e-12)
    # A new α starts afresh.
    np.testing.assert_allclose(cache.smoothed("a", x, 0.5), ema_reference(x, 0.5), rtol=1e-12)


def test_a_diverged_step_is_skipped():
    x = np.array([1.0, 2.0, math.nan, math.inf, 4.0])
    out, _ = ema(x, 0.5)
    assert out[0] == 1.0 and out[1] == 1.5 and math.isnan(out[2]) and math.isnan(out[3]) and out[4] == 0.5 * 4 + 0.5 * 1.5


def test_the_time_constant_is_a_power_of_2_between_1_and_2_percent_of_the_steps_in_view():
    assert time_constant((0.0, 599.0)) == 8
    assert time_constant((0.0, 100_000.0)) == 1024
    assert time_constant((300.0, 599.0)) == 4
    assert time_constant((0.0, 400.0)) == 8  # exactly 2%
    assert time_constant((0.0, 79.0)) == 2  # one step per dot column: still smoothed
    assert time_constant(None) == 2
    for width in np.geomspace(100, 1e6, 50):
        tau = time_constant((0.0, width))
        assert 0.01 * width < tau <= 0.02 * width and tau & (tau - 1) == 0
