"""EoS onset detection (analysis.detectors.EosOnset), on plain numbers."""

from __future__ import annotations

from eos_tui.analysis.detectors import EosOnset


def test_onset_is_reaching_the_threshold_from_below_once():
    d = EosOnset()
    assert [d.update(s, 2.0) for s in (1.0, 1.5, 2.1, 1.9, 2.2)] == [None, None, "eos_onset", None, None]


def test_above_at_the_first_measurement_is_an_unstable_start_then_onset_after_falling_below():
    d = EosOnset()
    assert [d.update(s, 2.0) for s in (3.0, 2.5, 1.0, 2.0)] == ["unstable_start", None, None, "eos_onset"]


def test_no_threshold_compares_nothing_and_is_not_a_first_measurement():
    d = EosOnset()
    assert d.update(5.0, None) is None and d.update(None, 2.0) is None
    assert d.update(3.0, 2.0) == "unstable_start"
