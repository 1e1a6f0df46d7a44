"""The pure functions behind the panels: labels, oscillation numbers, which checks to show."""

import math

import numpy as np

from eos_tui.app.model import Reparam
from eos_tui.app.widgets.eigendirection import amplitude, flip_fraction, sign_string
from eos_tui.app.widgets.reparam import latest_checks, map_label
from eos_tui.braille.ticks import format_decade, format_step, format_value, labelled_ticks, linear_ticks, tick_label


def test_labels_fit_and_never_lie():
    assert format_value(-6.938893903907228e-18, width=5) == "-7e-18"  # wider than asked, not "-7e-1"
    assert format_value(0.0005) == "0.0005" and format_value(0.0005, width=5) == "5e-4"
    assert format_value(1000.0) == "1000" and format_value(4e-9) == "4e-9"
    assert format_value(170.28, width=5) == "170.3"
    for v in (123456.0, -0.3333, 2.5e-11, 9.99e7, 1e-300):
        text = format_value(v)
        assert math.isclose(float(text), v, rel_tol=0.06), (v, text)
    assert [format_decade(k) for k in (-12, -3, 0, 4, 8)] == ["1e-12", "0.001", "1", "1e4", "1e8"]


def test_tick_labels_are_the_ticks_values():
    # A step of 2.5·10^k needs one more decimal than 10^k: 0.75 must not read "0.8".
    ticks = linear_ticks(0.0, 1.0, 4)
    step = ticks[1] - ticks[0]
    assert step == 0.25 and [format_value(t, step) for t in ticks] == ["0", "0.25", "0.50", "0.75", "1.00"]
    rng = np.random.default_rng(0)
    for _ in range(2000):
        lo = float(rng.uniform(-1, 1) * 10 ** rng.uniform(-6, 5))
        hi = lo + float(10 ** rng.uniform(-6, 5))
        max_ticks = int(rng.integers(2, 12))
        ticks = linear_ticks(lo, hi, max_ticks)
        if len(ticks) < 2:  # a span below float resolution at this offset
            continue
        step = ticks[1] - ticks[0]
        for t in ticks:
            label = tick_label(t, step)
            if label is not None:  # None: left off the axis, never cut or rounded to a neighbour
                assert abs(float(label) - t) <= 1e-6 * step, (lo, hi, t, label)
        shown = labelled_ticks(lo, hi, max_ticks)
        assert all(abs(float(label) - t) <= 1e-6 * (hi - lo) for t, label in shown)
        if 1e-3 < hi - lo and hi - lo > 0.5 * max(abs(lo), abs(hi)):  # an ordinary axis: labelled
            assert len(shown) >= 2, (lo, hi, max_ticks, shown)
    # The step axis: whole steps only (no "2" for 2.5), and at least 1 apart.
    for hi in (1.0, 3.0, 5.0, 7.0, 40.0, 123.0, 25_000.0):
        ticks = linear_ticks(0.0, hi, 8, integer=True)
        assert all(t == int(t) for t in ticks) and ticks[1] - ticks[0] >= 1, (hi, ticks)
        assert [float(format_step(t).replace("k", "e3").replace("M", "e6")) for t in ticks] == ticks
    assert format_step(2.5) == "2.5"  # a fractional step is written as it is, not rounded


def test_flip_fraction_and_amplitude_on_a_period_two_signal():
    t = np.arange(50, dtype=float)
    proj = 0.3 * (-1.0) ** t
    assert flip_fraction(proj) == 1.0 and sign_string(proj) == "+−+−+−"
    assert flip_fraction(np.abs(proj)) == 0.0
    proj[-3] = np.nan  # an unknown projection is skipped (as the engine's detector counts it):
    assert flip_fraction(proj) == 19 / 20  # its neighbours, two steps apart, share a sign
    assert flip_fraction(np.array([1.0])) is None
    disp = np.concatenate([np.full(30, np.nan), 0.02 * (-1.0) ** t[:20]])
    assert math.isclose(amplitude(disp), 0.02)
    assert amplitude(np.full(5, np.nan)) is None


def check(step, alpha, before, after, layer=0, neurons="all"):
    return Reparam(step, alpha, 1e-16, 0.0, before, after, 0.4, 0.4, after, layer, neurons)


def test_latest_checks_keeps_the_latest_step_and_the_biggest_moves_in_order():
    old = [check(0, 10.0, 1.0, 100.0)]
    new = [
        check(100, 0.5, 4.0, 5.0),
        check(100, 10.0, 4.0, 400.0, 1),
        check(100, 2.0, 4.0, 3.0, 0, "every other"),
        check(100, 0.1, 4.0, 0.04),
    ]
    rows = latest_checks(old + new, 2)
    assert rows == [new[1], new[3]]  # ×100 and ÷100, in recorded order
    assert latest_checks(old + new, 10) == new
    assert latest_checks([], 3) == []
    assert map_label(new[2]) == "L0½×2" and map_label(new[1]) == "L1×10"


def test_a_refused_check_says_why_in_the_reparam_panel():
    from eos_tui.app.model import RunModel
    from eos_tui.app.widgets.reparam import ReparamPanel

    model = RunModel()
    model.apply_records(
        [{"type": "event", "arm": "a", "step": 0, "kind": "reparam_skipped", "message": "activation 'tanh' is not positively homogeneous"}]
    )
    assert "not positively homogeneous" in ReparamPanel._absent(model, model.arms["a"])
    assert "no checks yet" in ReparamPanel._absent(model, None)
