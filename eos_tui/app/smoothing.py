"""Exponential smoothing of the loss (`e`): SGD's loss is noisy from step to step.

    s_0 = x_0,    s_t = α x_t + (1 − α) s_{t−1},    α = 1/τ

over every recorded step, with the time constant τ set by the steps in view: the power of 2
between 1% and 2% of them (at least 2): 8 steps when the charts show 600, 1024 when they show
100k, so the smoothed trace looks alike at any zoom and any run length, and zooming in shows
finer detail. τ changes only when the window's width crosses a power of 2. A step whose loss is
not finite (a diverged arm writes null) is skipped: its smoothed value is NaN and the next step
goes on from the last finite one.

The smoothed series is extended as steps arrive (EmaCache), not recomputed each frame.
"""

from __future__ import annotations

import math

import numpy as np

from .model import Column

VISIBLE_FRACTION = 0.02  # τ ≤ 2% of the steps in view ...
MIN_TAU = 2  # ... and at least 2 steps (at one step per dot column, τ = 1 would change nothing)


def time_constant(x_range: tuple[float, float] | None) -> int:
    """τ in steps for the window `x_range`: the largest power of 2 ≤ 2% of its steps, at least MIN_TAU."""
    visible = x_range[1] - x_range[0] if x_range is not None else 0.0
    target = VISIBLE_FRACTION * visible
    return max(MIN_TAU, 2 ** math.floor(math.log2(target)) if target >= 1 else 1)


def ema(values: np.ndarray, alpha: float, state: float | None = None) -> tuple[np.ndarray, float | None]:
    """The EMA of `values` going on from `state` (the last smoothed value; None: start afresh);
    returns (smoothed values, the new state).

    The recurrence s_t = a s_{t−1} + b_t (a = 1 − α, b_t = α x_t) as a parallel prefix scan in
    numpy: after the pass with shift d, each s_t holds the terms of its last 2d steps, so log2(n)
    passes give all of them, fewer once a^d is below float64's resolution: a few numpy passes
    instead of a Python loop over every step in view, redone as the view moves. Equal to the
    recurrence to rounding (tests/app/test_history_window.py)."""
    values = np.asarray(values, dtype=np.float64)
    out = np.full(len(values), np.nan)
    finite = np.flatnonzero(np.isfinite(values))
    if not len(finite):
        return out, state
    keep = 1.0 - alpha
    s = alpha * values[finite]
    if state is None:
        s[0] = values[finite[0]]
    else:
        s[0] += keep * state
    d, factor = 1, keep
    while d < len(s) and factor > 1e-18:
        s[d:] = s[d:] + factor * s[:-d]
        d, factor = 2 * d, factor * factor
    out[finite] = s
    return out, float(s[-1])


class EmaCache:
    """Smoothed series by key, extended with the new values only while α stays the same."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[float, Column, float | None]] = {}

    def smoothed(self, key: str, values: np.ndarray, alpha: float) -> np.ndarray:
        cached = self._cache.get(key)
        if cached is None or cached[0] != alpha or len(cached[1]) > len(values):
            cached = (alpha, Column(), None)
        _, column, state = cached
        if len(column) < len(values):
            new, state = ema(values[len(column) :], alpha, state)
            column.extend(new)
        self._cache[key] = (alpha, column, state)
        return column.values
