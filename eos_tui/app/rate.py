"""The run's speed for the header: steps per second, smoothed over at least RATE_WINDOW_S, and
whether it is steady enough to give an ETA.

The app samples (time, steps done by all arms) each time records arrive. On a slow run the steps
arrive in bursts: a run of cheap steps, then a pause while λ_max is measured. Over the 5 s the
header once averaged, `central` read "0 steps/s" and its ETA swung from 13m58s to 1m26s within
5 s. Here:

    rate     the least-squares slope of steps against time over the window: the samples of the last
             `window` seconds and the newest one before (so it spans at least that long), where
             window = max(RATE_WINDOW_S, GAPS_PER_WINDOW × the longest gap between arrivals). A
             slope through every arrival, not the steps between two of them, hardly depends on
             where in a burst the window starts (two end points are off by up to a whole burst;
             on central-like arrivals, tests/app/test_rate.py holds the slope to 5%), and a
             window of several pauses holds several bursts.
    steady   the rate has been measured over full windows for at least max(STEADY_S, window), and
             every such measurement since (and the one just before) lies within STEADY_TOLERANCE
             of the present one; and the run has not stalled. Only then is an ETA shown.
    stalled  no steps for longer than the longest gap between arrivals seen (and than
             STALL_MIN_S): the silence then counts in the rate, which falls, and the ETA goes.

The clock is injected (tests/app/test_rate.py drives it by hand: no sleeps).
"""

from __future__ import annotations

import time
from collections import deque
from typing import Callable

import numpy as np

RATE_WINDOW_S = 10.0  # every rate is the slope over at least this many seconds
GAPS_PER_WINDOW = 4.0  # ... and over at least this many of the longest gaps between arrivals
STEADY_S = 10.0  # the rate must have held for at least this long before an ETA is shown
STEADY_TOLERANCE = 0.25  # ... each measurement within ±25% of the present one
STALL_MIN_S = 2.0  # a silence shorter than this is never a stall (records come in bursts)
KEEP_WINDOWS = 3.0  # samples are kept for this many (window + steady span)s


class RateMeter:
    """Steps per second from (time, steps) samples; not thread-safe (the UI thread feeds and reads it)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self._samples: deque[tuple[float, int]] = deque()
        self._baseline: float | None = None  # the first sample's time, while it is kept

    def clear(self) -> None:
        """Forget every sample (the steps re-read after a rewind are not this session's rate)."""
        self._samples.clear()
        self._baseline = None

    def sample(self, steps: int) -> None:
        """All arms' steps done, now. The first sample (the history read at start-up) is a baseline only."""
        now = self.clock()
        if self._samples and steps == self._samples[-1][1]:
            return  # nothing new: the last arrival stays the window's end
        if not self._samples:
            self._baseline = now
        self._samples.append((now, steps))
        window = self.window()
        keep_from = now - KEEP_WINDOWS * (window + max(STEADY_S, window))
        while len(self._samples) > 2 and self._samples[1][0] <= keep_from:
            self._samples.popleft()

    def longest_gap(self) -> float:
        """The longest pause between two arrivals. Not the one after the baseline: that is the
        engine starting (importing torch, building the arms) or, for a run already going, wherever
        the app happened to open; counted, a 10 s start-up held the ETA back for 40 s more."""
        times = [t for t, _ in self._samples]
        return max((b - a for a, b in zip(times, times[1:]) if a != self._baseline), default=0.0)

    def window(self) -> float:
        """Seconds each rate is measured over: RATE_WINDOW_S, or more where arrivals are sparse."""
        return max(RATE_WINDOW_S, GAPS_PER_WINDOW * self.longest_gap())

    def _measurements(self) -> tuple[list[tuple[float, float]], float]:
        """(time, rate) at each sample with a full window behind it (the least-squares slope over
        it), and the window. Prefix sums make each O(1); times from the first sample's, so that
        the sums of squares do not lose the slope to round-off."""
        if len(self._samples) < 2:
            return [], self.window()
        window = self.window()
        arr = np.array(self._samples, dtype=float)
        t = arr[:, 0] - arr[0, 0]
        s = arr[:, 1] - arr[0, 1]
        zero = np.zeros(1)
        ct, cs, ctt, cts = (np.concatenate([zero, np.cumsum(x)]) for x in (t, s, t * t, t * s))
        out = []
        a = 0
        for i in range(len(t)):
            while a + 1 < len(t) and t[a + 1] <= t[i] - window:
                a += 1
            if t[i] - t[a] < window:
                continue
            n = i - a + 1
            st, ss_ = ct[i + 1] - ct[a], cs[i + 1] - cs[a]
            var = n * (ctt[i + 1] - ctt[a]) - st * st
            if var > 0:
                out.append((float(arr[i, 0]), float((n * (cts[i + 1] - cts[a]) - st * ss_) / var)))
        return out, window

    def stalled(self) -> bool:
        """No step for longer than any gap between arrivals seen (and than STALL_MIN_S)."""
        if len(self._samples) < 2:
            return False
        return self.clock() - self._samples[-1][0] > max(self.longest_gap(), STALL_MIN_S)

    def rate(self) -> float | None:
        """Steps per second, all arms together; None until two samples are apart. Until a full
        window has passed, over what there is; once stalled, the silence up to now counts too."""
        if len(self._samples) < 2:
            return None
        t1, s1 = self._samples[-1]
        if self.stalled():
            now = self.clock()
            window = self.window()
            t0, s0 = next((p for p in reversed(self._samples) if p[0] <= now - window), self._samples[0])
            return (s1 - s0) / (now - t0)
        measured, _ = self._measurements()
        if measured and measured[-1][0] == t1:
            return measured[-1][1]
        t0, s0 = self._samples[0]
        return (s1 - s0) / (t1 - t0) if t1 > t0 else None

    def steady(self) -> bool:
        """Whether the rate is steady enough for an ETA (the module's docstring says when)."""
        if self.stalled():
            return False
        measured, window = self._measurements()
        if not measured or measured[-1][0] != self._samples[-1][0]:
            return False
        now_t, now_rate = measured[-1]
        if now_rate <= 0:
            return False
        held = now_t - max(STEADY_S, window)
        since = [i for i, (t, _) in enumerate(measured) if t >= held]
        if since[0] == 0:
            return False  # not yet measured for that long
        return all(abs(r - now_rate) <= STEADY_TOLERANCE * now_rate for _, r in measured[since[0] - 1 :])
