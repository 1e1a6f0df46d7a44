"""The chart's downsampling as pure functions: min and max per pixel column survive."""

import time

import numpy as np

from eos_tui.braille.canvas import BrailleCanvas
from eos_tui.braille.downsample import MinMaxPyramid, minmax_columns


def test_min_and_max_per_column_are_kept():
    xs = np.arange(10)
    ys = np.array([0, 5, 1, -3, 2, 2, 7, -1, 4, 4], dtype=float)
    lo, hi = minmax_columns(xs, ys, 0, 10, 5)  # two points per column
    assert lo.tolist() == [0, -3, 2, -1, 4]
    assert hi.tolist() == [5, 1, 2, 7, 4]


def test_period_two_oscillation_stays_visible():
    xs = np.arange(10_000)
    ys = np.where(xs % 2 == 0, 1.0, -1.0)
    lo, hi = minmax_columns(xs, ys, 0, 9_999, 80)
    assert np.all(lo == -1) and np.all(hi == 1)


def test_a_single_spike_among_100k_points_is_kept():
    rng = np.random.default_rng(0)
    xs = np.arange(100_000, dtype=float)
    ys = rng.normal(size=100_000)
    ys[61_234] = 1e3
    lo, hi = minmax_columns(xs, ys, 0, 99_999, 73)
    assert np.nanmax(hi) == 1e3
    assert np.nanargmax(hi) == int(61_234 / 99_999 * 73)
    pyramid = MinMaxPyramid()
    pyramid.update(xs, ys)
    plo, phi = pyramid.columns(0, 99_999, 73)
    assert np.nanmax(phi) == 1e3
    assert abs(int(np.nanargmax(phi)) - int(61_234 / 99_999 * 73)) <= 1
    assert np.nanmin(plo) == ys.min()


def test_empty_columns_nan_and_out_of_range_ignored():
    lo, hi = minmax_columns([0, 1, 2, 50], [1, 2, 3, 100], 0, 10, 10)
    assert np.isnan(lo[5]) and np.isnan(hi[9])
    assert np.nanmax(hi) == 3  # x=50 is outside [0, 10]
    lo, hi = minmax_columns([], [], 0, 1, 4)
    assert np.isnan(lo).all()


def test_missing_values_are_ignored_unless_the_whole_column_is_missing():
    lo, hi = minmax_columns([0, 1, 2, 3], [1.0, np.nan, np.nan, np.nan], 0, 4, 2)
    assert lo[0] == 1 and hi[0] == 1
    assert np.isnan(lo[1])


def test_pyramid_grows_incrementally_like_a_rebuild():
    rng = np.random.default_rng(1)
    xs = np.arange(50_001, dtype=float)
    ys = rng.normal(size=len(xs))
    grown, built = MinMaxPyramid(), MinMaxPyramid()
    for cut in (3, 4_097, 10_000, 33_333, 50_001):
        grown.update(xs[:cut], ys[:cut])
    built.update(xs, ys)
    for x0, x1, n in ((0, 50_000, 100), (40_000, 50_000, 37), (0, 5_000, 400)):
        a, b = grown.columns(x0, x1, n), built.columns(x0, x1, n)
        assert np.array_equal(a[0], b[0], equal_nan=True) and np.array_equal(a[1], b[1], equal_nan=True)


def _time_columns(n: int) -> float:
    xs = np.arange(n, dtype=float)
    ys = np.sin(xs)
    p = MinMaxPyramid()
    p.update(xs, ys)
    t = time.perf_counter()
    for _ in range(50):
        p.columns(0, n - 1, 200)
    return (time.perf_counter() - t) / 50


def test_redraw_cost_does_not_grow_with_the_number_of_points():
    small = min(_time_columns(10_000) for _ in range(3))
    large = min(_time_columns(1_000_000) for _ in range(3))
    assert large < 5 * small + 2e-4, (small, large)  # exact reduction would be ~100x slower


def test_braille_canvas_dots():
    c = BrailleCanvas(2, 1)
    mask = np.zeros((4, 4), dtype=bool)
    mask[0, 0] = True  # top-left dot of the first cell
    mask[:, 3] = True  # the right column of the second cell
    c.draw_mask(mask, 0)
    assert c.text_rows() == ["\u2801\u28b8"]


def test_a_log_step_axis_keeps_the_first_steps_of_a_long_series():
    """On a log step axis (x) steps 0-127 of 100k are half the width: one pyramid level for all the
    columns drew them as one block at step 0, leaving the left half of the chart blank."""
    from eos_tui.braille.downsample import log_step_columns

    n, ncols = 100_000, 80
    steps = np.arange(n, dtype=float)
    xs = np.log10(1.0 + steps)
    ys = np.random.default_rng(0).normal(size=n)
    pyramid = MinMaxPyramid()
    pyramid.update(xs, ys)
    x0, x1 = 0.0, float(xs[-1]) + 1e-9
    exact_lo, exact_hi = minmax_columns(xs, ys, x0, x1, ncols)
    lo, hi = log_step_columns(pyramid, x0, x1, ncols)
    assert np.array_equal(np.isnan(lo), np.isnan(exact_lo))  # no blank column where there are points
    assert np.isnan(pyramid.columns(x0, x1, ncols)[0]).sum() > 20  # what one level gave
    assert np.nanmin(lo) == ys.min() and np.nanmax(hi) == ys.max()  # no min or max lost
    for j in np.flatnonzero(~np.isnan(lo)):  # a block lands at most one column from its exact place
        near = slice(max(j - 1, 0), j + 2)
        assert np.nanmin(exact_lo[near]) <= lo[j] and hi[j] <= np.nanmax(exact_hi[near])
