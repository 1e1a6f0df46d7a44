"""Detectors and summaries on hand-made records, where the right answer is known exactly."""

from __future__ import annotations

import pytest

from eos_tui.analysis.detectors import FLIP_WINDOW, Catapult, Oscillation
from eos_tui.analysis.summary import summarize_arm


def test_oscillation_onset_when_every_step_flips():
    osc = Oscillation()
    fired = [t for t in range(50) if osc.update(t, (-1.0) ** t, 0.1)]
    # the window is full after FLIP_WINDOW flips, i.e. at step FLIP_WINDOW; it fires once
    assert fired == [FLIP_WINDOW]
    assert osc.flip_fraction == 1.0 and osc.amplitude == pytest.approx(0.1)


def test_oscillation_silent_for_monotone_descent():
    osc = Oscillation()
    assert not any(osc.update(t, 1.0 / (t + 1)) for t in range(100))
    assert osc.flip_fraction == 0.0


def test_catapult_needs_rise_and_return_below_start_with_low_sharpness():
    c = Catapult()
    losses = [1.0, 3.0, 9.0, 4.0, 0.9, 0.5]
    sharp = [10.0, 10.0, 8.0, 5.0, 2.0, 2.0]
    hits = [c.update(t, loss, s, threshold=4.0) for t, (loss, s) in enumerate(zip(losses, sharp))]
    assert [h is not None for h in hits] == [False, False, False, False, True, False]
    assert hits[4] == {"peak_loss_ratio": 9.0, "peak_step": 2, "sharpness_before": 10.0, "sharpness_after": 2.0}


def test_each_catapult_is_reported_once():
    # Warmup: 2/η_t comes down through λ_max twice, and each crossing spikes the loss and drops λ_max.
    c = Catapult()
    losses = [1.0, 0.1, 5.0, 0.2, 0.05, 0.05, 3.0, 0.04, 0.03]
    sharp = [18.0, 18.0, 18.0, 6.0, 6.2, 6.4, 6.5, 4.4, 4.4]
    hits = [c.update(t, loss, s, threshold=10.0) for t, (loss, s) in enumerate(zip(losses, sharp))]
    assert [t for t, h in enumerate(hits) if h] == [3, 7]
    assert hits[7] == {"peak_loss_ratio": 3.0, "peak_step": 6, "sharpness_before": 6.4, "sharpness_after": 4.4}


def test_catapult_compares_with_sharpness_just_before_the_spike():
    # Progressive sharpening 1 → 3.9, a spike, then λ_max 3.5: a drop of 10%, not a rise from step 0.
    c = Catapult()
    losses = [1.0, 0.8, 0.6, 2.5, 0.5]
    sharp = [1.0, 2.0, 3.9, None, 3.5]
    hits = [c.update(t, loss, s, threshold=4.0) for t, (loss, s) in enumerate(zip(losses, sharp))]
    assert hits[4]["sharpness_before"] == 3.9 and hits[4]["sharpness_after"] == 3.5


def test_no_catapult_when_sharpness_ends_higher_than_before_the_spike():
    c = Catapult()
    losses = [1.0, 3.0, 0.5, 0.4]
    sharp = [2.0, None, 3.0, 3.5]
    assert all(c.update(t, loss, s, threshold=4.0) is None for t, (loss, s) in enumerate(zip(losses, sharp)))


def test_no_catapult_for_a_loss_that_starts_at_or_below_zero():
    for start in (0.0, -1.0):
        c = Catapult()
        losses = [start, 5.0, -3.0, -9.0]
        assert all(c.update(t, loss, 1.0, 4.0) is None for t, loss in enumerate(losses))


def test_no_catapult_when_loss_only_falls():
    c = Catapult()
    assert all(c.update(t, 1.0 / (t + 1), 1.0, 4.0) is None for t in range(20))


def test_summary_eos_ratio_is_mean_of_lambda_eta_over_two_in_second_half():
    recs = [{"type": "step", "arm": "a", "step": t, "loss": 1.0 - t / 100, "lr": 0.1, "proj": None} for t in range(10)]
    recs += [{"type": "sharpness", "arm": "a", "step": t, "eigenvalues": [s]} for t, s in [(0, 5.0), (4, 19.0), (6, 20.0), (8, 22.0)]]
    recs += [
        {"type": "end", "arm": "a", "status": "completed", "steps_done": 10, "final_loss": 0.9},
        {"type": "step", "arm": "other", "step": 0, "loss": 99.0, "lr": 1.0},
    ]
    s = summarize_arm("a", recs)
    # second half: steps ≥ 5 → λ ∈ {20, 22} → λη/2 ∈ {1.0, 1.1}
    assert s["eos_ratio"] == pytest.approx(1.05)
    assert s["final_sharpness"] == 22.0
    assert s["max_loss"] == 1.0 and s["final_loss"] == 0.9 and s["status"] == "completed"


def test_summary_max_loss_counts_the_loss_after_the_last_step():
    # A diverging-but-not-yet-diverged arm: the end record's final loss is the largest.
    recs = [{"type": "step", "arm": "a", "step": t, "loss": 2.0**t, "lr": 1.0} for t in range(4)]
    recs.append({"type": "end", "arm": "a", "status": "completed", "steps_done": 4, "final_loss": 16.0})
    s = summarize_arm("a", recs)
    assert s["max_loss"] == 16.0 >= s["final_loss"]
