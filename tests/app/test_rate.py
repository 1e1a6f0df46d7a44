"""The header's rate and when it gives an ETA (app/rate.py), on an injected clock: no sleeps.

On `central` the header read "0 steps/s  ETA 21m57s" and within 5 s the ETA swung between 13m58s
and 1m26s: the steps arrive in bursts (a run of cheap steps, then a pause while λ_max is measured),
and a 5 s window saw a burst, or a pause, rather than the rate."""

from __future__ import annotations

import pytest

from eos_tui.app.progress import format_rate
from eos_tui.app.rate import RATE_WINDOW_S, STALL_MIN_S, STEADY_S, RateMeter


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def bursts(
    meter: RateMeter, clock: Clock, seconds: float, *, steps: int = 0, burst: int = 20, every: float = 0.05, pause: float = 3.0
) -> int:
    """central's pattern: `burst` steps `every` s apart, then `pause` s measuring λ_max; from `steps`
    done, for `seconds` of the clock. Returns the steps done. (Average rate: burst/(burst·every + pause).)"""
    end = clock.t + seconds
    while clock.t < end:
        for _ in range(burst):
            clock.t += every
            steps += 1
            meter.sample(steps)
        clock.t += pause
    return steps


def even(meter: RateMeter, clock: Clock, seconds: int, rate: float, *, steps: int = 0, per_s: int = 4) -> int:
    """`rate` steps a second arriving `per_s` times a second (integer steps: the remainder carried)."""
    done = float(steps)
    for _ in range(int(seconds * per_s)):
        clock.t += 1.0 / per_s
        done += rate / per_s
        meter.sample(int(done))
    return int(done)


def test_no_rate_from_one_sample_and_the_first_is_a_baseline():
    clock = Clock()
    meter = RateMeter(clock)
    assert meter.rate() is None and not meter.steady()
    meter.sample(500)  # the history read at start-up
    clock.t = 1.0
    assert meter.rate() is None
    meter.sample(520)
    assert meter.rate() == 20.0  # the 500 read at start-up are not counted as this second's
    assert not meter.steady()  # 1 s is no window


def test_evenly_arriving_steps_give_their_exact_rate_however_batched():
    clock = Clock()
    meter = RateMeter(clock)
    meter.sample(0)
    even(meter, clock, 30, 12.0, per_s=4)
    assert meter.rate() == pytest.approx(12.0, rel=1e-12)


def test_bursty_steps_give_a_rate_within_the_tolerance_and_one_eta():
    """central-like arrivals (20 steps in 1 s, then 3 s measuring: 5 steps/s on average): every
    rate the header shows once steady lies within 5% of the true 5 steps/s. (The steps between two
    arrivals 10 s apart read 3.7 to 5, depending on where in a burst the window began; over 5 s,
    anything from 0 to 20.)"""
    clock = Clock()
    meter = RateMeter(clock)
    meter.sample(0)
    steps = 0
    shown = []
    for _ in range(40):  # 160 s, looked at after every burst and during every pause
        steps = bursts(meter, clock, 0.5, steps=steps, pause=0.0)  # one burst: 20 steps in 1 s
        if meter.steady():
            shown.append(meter.rate())
        for _ in range(3):  # the 3 s pause, looked at every second
            clock.t += 1.0
            if meter.steady():
                shown.append(meter.rate())
    assert len(shown) > 100  # steady for most of the run ...
    assert all(abs(r - 5.0) <= 0.05 * 5.0 for r in shown)  # ... and then right


def test_no_eta_until_the_rate_has_held_for_steady_s():
    clock = Clock()
    meter = RateMeter(clock)
    meter.sample(0)
    even(meter, clock, int(RATE_WINDOW_S + STEADY_S), 8.0)  # exactly a window and STEADY_S
    assert meter.rate() == pytest.approx(8.0) and not meter.steady()
    even(meter, clock, 1, 8.0, steps=8 * 20)
    assert meter.steady()


def test_a_change_of_rate_hides_the_eta_until_the_new_rate_has_held():
    clock = Clock()
    meter = RateMeter(clock)
    meter.sample(0)
    steps = even(meter, clock, 40, 8.0)
    assert meter.steady()
    steps = even(meter, clock, 5, 40.0, steps=steps)  # the arms that remain run five times faster
    assert not meter.steady()
    history = []
    for _ in range(40):
        steps = even(meter, clock, 1, 40.0, steps=steps)
        history.append(meter.steady())
    # Hidden while the windows straddle the change, then shown for good: never flickering.
    assert history[-1] and history == sorted(history)
    assert meter.rate() == pytest.approx(40.0)
    # Not before a whole window has passed at the new rate (it changed 5 s before the loop began).
    assert 5 + history.index(True) + 1 >= RATE_WINDOW_S


def test_a_stall_hides_the_eta_and_counts_the_silence():
    clock = Clock()
    meter = RateMeter(clock)
    meter.sample(0)
    even(meter, clock, 30, 10.0, per_s=1)
    assert meter.steady() and meter.rate() == pytest.approx(10.0)
    clock.t += STALL_MIN_S / 2  # shorter than any stall: as it was
    assert not meter.stalled() and meter.steady()
    clock.t += STALL_MIN_S  # silence longer than the longest gap (1 s) and than STALL_MIN_S
    assert meter.stalled() and not meter.steady()
    clock.t += 20.0  # no step for 21 s: the last 10 s window has none
    assert meter.rate() == pytest.approx(0.0, abs=0.5)


def test_a_pause_as_long_as_those_seen_is_no_stall():
    clock = Clock()
    meter = RateMeter(clock)
    meter.sample(0)
    bursts(meter, clock, 40)  # 3 s pauses between bursts, and 3 s since the last step
    assert not meter.stalled() and meter.steady()
    clock.t += 0.5  # longer than any pause seen
    assert meter.stalled() and not meter.steady()


def test_clear_forgets_the_rate():
    clock = Clock()
    meter = RateMeter(clock)
    meter.sample(0)
    even(meter, clock, 30, 10.0)
    meter.clear()
    assert meter.rate() is None and not meter.steady()


def test_a_slow_rate_is_not_zero():
    """A run taking 2.5 s a step read "0 steps/s"."""
    assert format_rate(0.4) == "0.4 steps/s"
    assert format_rate(0.042) == "0.042 steps/s"
    assert format_rate(4.24) == "4.2 steps/s"
    assert format_rate(1234.4) == "1,234 steps/s"


def test_the_engines_start_up_is_no_pause_of_the_run():
    """The app opens (the baseline: 0 steps), the engine takes 12 s to import torch and build its
    arms, then steps evenly: the ETA comes as soon as on a run that started at once, and the
    start-up neither widens the window nor lets a later 12 s silence pass for a pause."""
    clock = Clock()
    meter = RateMeter(clock)
    meter.sample(0)
    clock.t = 12.0
    even(meter, clock, int(RATE_WINDOW_S + STEADY_S) + 1, 50.0)
    assert meter.window() == RATE_WINDOW_S and meter.steady() and meter.rate() == pytest.approx(50.0)
    clock.t += 5.0
    assert meter.stalled()
