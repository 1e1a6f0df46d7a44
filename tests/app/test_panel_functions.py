"""The pure functions behind the panels: labels, oscillation numbers, which checks to show."""

import math

import numpy as np

from eos_tui.app.model import Reparam
from eos_tui.app.widgets.chart.ticks import format_decade, format_value
from eos_tui.app.widgets.eigendirection import amplitude, flip_fraction, sign_string
from eos_tui.app.widgets.reparam import latest_checks, map_label


def test_labels_fit_and_never_lie():
    assert format_value(-6.938893903907228e-18, width=5) == "-7e-18"  # wider than asked, not "-7e-1"
    assert format_value(0.0005) == "0.0005" and format_value(0.0005, width=5) == "5e-4"
    assert format_value(1000.0) == "1000" and format_value(4e-9) == "4e-9"
    assert format_value(170.28, width=5) == "170.3"
    for v in (123456.0, -0.3333, 2.5e-11, 9.99e7, 1e-300):
        text = format_value(v)
        assert math.isclose(float(text), v, rel_tol=0.06), (v, text)
    assert [format_decade(k) for k in (-12, -3, 0, 4, 8)] == ["1e-12", "0.001", "1", "1e4", "1e8"]


def test_flip_fraction_and_amplitude_on_a_period_two_signal():
    t = np.arange(50, dtype=float)
    proj = 0.3 * (-1.0) ** t
    assert flip_fraction(proj) == 1.0 and sign_string(proj) == "+−+−+−"
    assert flip_fraction(np.abs(proj)) == 0.0
    proj[-3] = np.nan  # an unknown projection is no flip (as the engine's detector counts it)
    assert flip_fraction(proj) == 18 / 20
    assert flip_fraction(np.array([1.0])) is None
    disp = np.concatenate([np.full(30, np.nan), 0.02 * (-1.0) ** t[:20]])
    assert math.isclose(amplitude(disp), 0.02)
    assert amplitude(np.full(5, np.nan)) is None


def check(step, alpha, before, after, layer=0, neurons="all"):
    return Reparam(step, alpha, 1e-16, 0.0, before, after, 0.4, 0.4, after, layer, neurons)


def test_latest_checks_keeps_the_latest_step_and_the_biggest_moves_in_order():
    old = [check(0, 10.0, 1.0, 100.0)]
    new = [check(100, 0.5, 4.0, 5.0), check(100, 10.0, 4.0, 400.0, 1), check(100, 2.0, 4.0, 3.0, 0, "every other"),
           check(100, 0.1, 4.0, 0.04)]
    rows = latest_checks(old + new, 2)
    assert rows == [new[1], new[3]]  # ×100 and ÷100, in recorded order
    assert latest_checks(old + new, 10) == new
    assert latest_checks([], 3) == []
    assert map_label(new[2]) == "L0½×2" and map_label(new[1]) == "L1×10"


def test_a_refused_check_says_why_in_the_reparam_panel():
    from eos_tui.app.model import RunModel
    from eos_tui.app.widgets.reparam import ReparamPanel

    model = RunModel()
    model.apply_records([{"type": "event", "arm": "a", "step": 0, "kind": "reparam_skipped",
                          "message": "activation 'tanh' is not positively homogeneous"}])
    assert "not positively homogeneous" in ReparamPanel._absent(model, model.arms["a"])
    assert "no checks yet" in ReparamPanel._absent(model, None)
