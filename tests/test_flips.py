"""One flip fraction: the engine's period-2 detector, the app's eigendirection panel and the run
summary count sign flips of ⟨∇L, u⟩ the same way (analysis/flips.py), gaps and zeros included."""

from __future__ import annotations

import math

import numpy as np
import pytest

from eos_tui.analysis.detectors import Oscillation
from eos_tui.analysis.flips import FLIP_WINDOW, flip_fraction, flips, sign_of, tail_flip_fraction
from eos_tui.analysis.summary import summarize_arm
from eos_tui.app.widgets.eigendirection import flip_fraction as panel_flip_fraction


def projections() -> list[float | None]:
    """41 known signs (40 comparisons), period-2 with a few repeats, and gaps: None (not written),
    NaN and ±inf (non-finite) and exact zeros, some between two equal signs, some between two
    opposite ones."""
    signs = [(-1) ** t for t in range(41)]
    for t in (5, 24, 30, 37):  # a repeated sign breaks the alternation
        signs[t:] = [-s for s in signs[t:]]
    out: list[float | None] = []
    gaps = {3: None, 22: 0.0, 26: math.nan, 31: None, 33: 0.0, 35: math.inf, 38: -0.0}
    for t, s in enumerate(signs):
        if t in gaps:
            out.append(gaps[t])
        out.append(0.1 * s * (1 + t / 50))
    return out


def expected_last(window: int) -> float:
    signs = [sign_of(p) for p in projections() if sign_of(p) != 0]
    comparisons = [int(a != b) for a, b in zip(signs, signs[1:])]
    return sum(comparisons[-window:]) / window


def test_the_definition_skips_what_says_nothing_about_the_sign():
    assert [sign_of(v) for v in (None, math.nan, math.inf, 0.0, -0.0, 2.0, -3.0, "x")] == [0, 0, 0, 0, 0, 1, -1, 0]
    assert flips([1.0, None, -1.0, 0.0, -2.0, math.nan, 3.0]) == [1, 0, 1]
    assert flip_fraction([1.0, None, 0.0]) is None and tail_flip_fraction([]) is None
    assert flip_fraction([1.0, -1.0, 1.0, 1.0], window=2) == 0.5


def test_detector_panel_and_summary_agree_on_the_same_sequence():
    seq = projections()
    assert len(flips(seq)) == 2 * FLIP_WINDOW  # the summary's last half is the detectors' window
    want = expected_last(FLIP_WINDOW)
    assert 0.5 < want < 1.0

    osc = Oscillation()
    for t, p in enumerate(seq):
        osc.update(t, p)
    panel = panel_flip_fraction(np.array([math.nan if p is None else p for p in seq]))
    records = [{"type": "step", "arm": "gd", "step": t, "loss": 1.0, "lr": 0.1, "proj": p} for t, p in enumerate(seq)]
    summary = summarize_arm("gd", records)["flip_fraction"]

    assert osc.flip_fraction == pytest.approx(want)
    assert panel == pytest.approx(want)
    assert summary == pytest.approx(want)


def test_the_panel_looks_past_a_long_gap():
    """The panel only hands over the last known signs, but finds them behind a long gap."""
    proj = np.concatenate([0.1 * (-1.0) ** np.arange(30), np.full(500, np.nan)])
    assert panel_flip_fraction(proj) == 1.0
    assert panel_flip_fraction(np.full(10, np.nan)) is None
