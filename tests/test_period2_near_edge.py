"""Period-2 onsets only near the edge: a sign flip of ⟨∇L, u⟩ below it decays by |1 − ηλ| per step
(or is round-off's, at ηλ ≈ 1) and is not the oscillation the edge of stability sustains.

Theory (GD on a quadratic): the top coordinate is multiplied by r = 1 − ηλ = 1 − 2ρ each step,
ρ = λη/2. The detector asks |r|^FLIP_WINDOW ≥ 1/10: ρ ≥ PERIOD2_MIN_RATIO = (1 + 10^(−1/20))/2."""

from __future__ import annotations

import math

import pytest

from eos_tui.analysis.detectors import Oscillation
from eos_tui.analysis.flips import FLIP_WINDOW, PERIOD2_MIN_RATIO, near_edge

from .helpers import of, train
from .test_physics import quadratic


def test_the_ratio_keeps_a_tenth_of_the_amplitude_over_the_window():
    r = 1 - 2 * PERIOD2_MIN_RATIO
    assert abs(r) ** FLIP_WINDOW == pytest.approx(0.1, rel=1e-12)
    assert near_edge(None) and near_edge(1.3) and near_edge(PERIOD2_MIN_RATIO)
    assert not near_edge(0.5) and not near_edge(0.94)


@pytest.mark.parametrize("ratio, fires", [(0.5, False), (0.9, False), (0.95, True), (1.0, True), (1.5, True)])
def test_every_step_flips_are_an_onset_only_near_the_edge(ratio, fires):
    osc = Oscillation()
    fired = [t for t in range(60) if osc.update(t, (-1.0) ** t, 0.1, ratio)]
    assert fired == ([FLIP_WINDOW] if fires else [])


def test_the_onset_waits_for_sharpness_to_reach_the_edge():
    """Flips from the start, λ_max rising to the edge at step 35 (progressive sharpening)."""
    osc = Oscillation()
    fired = [t for t in range(60) if osc.update(t, (-1.0) ** t, 0.1, 0.5 + 0.5 * min(1.0, t / 35))]
    # ratio ≥ 0.9456 from t ≥ 35·0.4456/0.5 = 31.2
    assert fired == [32]


@pytest.mark.parametrize(
    "eta_lambda, onset",
    [
        (1.0, False),  # r = 0: the top coordinate is gone after one step, what flips is round-off
        (1.5, False),  # r = −0.5: flips, and halves each step
        (1.8, False),  # r = −0.8: 0.8^20 ≈ 0.012 over the window
        (1.95, True),  # r = −0.95: 0.95^20 ≈ 0.36, sustained enough: the edge's oscillation
    ],
)
def test_quadratic_gd_period2_onset_only_near_two_over_eta(eta_lambda, onset):
    arm = quadratic(eta_lambda / 10.0, eigs=(10.0, 1.0), steps=60, every=1)
    records = train(arm)
    events = [e for e in of(records, "event") if e["kind"] == "period2_onset"]
    assert bool(events) is onset, events
    if onset:
        projs = [s["proj"] for s in of(records, "step")][2:]
        ratios = [b / a for a, b in zip(projs, projs[1:])]
        # the flip decays at exactly the theory's rate 1 − ηλ (float64)
        assert all(math.isclose(q, 1 - eta_lambda, rel_tol=1e-6) for q in ratios[:30])
