"""Exponential smoothing of the loss (`e`): SGD's loss is noisy from step to step.

    s_0 = x_0,    s_t = α x_t + (1 − α) s_{t−1},    α = 1/τ

with the time constant τ = 1% of the run's steps (at least 1 step: α = 1, no smoothing): 6 steps
on a 600-step run, 100 on a 10k-step one, so the smoothed trace looks alike whatever the run's
length. A step whose loss is not finite (a diverged arm writes null) is skipped: its smoothed
value is NaN and the next step goes on from the last finite one.

The smoothed series is extended as steps arrive (EmaCache), not recomputed each frame.
"""

from __future__ import annotations

import math

import numpy as np

from .model import Column

RUN_FRACTION = 0.01  # τ as a fraction of the run's steps


def time_constant(run_steps: int | None, last_step: int | None = None) -> float:
    """τ in steps for a run of `run_steps` steps (the manifest's); before the manifest says, for
    the steps seen so far, rounded up to a power of 2 (so τ does not change with every step)."""
    if not run_steps:
        run_steps = 2 ** math.ceil(math.log2(last_step + 1)) if last_step is not None and last_step >= 0 else 0
    return max(1.0, RUN_FRACTION * run_steps)


def ema(values: np.ndarray, alpha: float, state: float | None = None) -> tuple[np.ndarray, float | None]:
    """The EMA of `values` going on from `state` (the last smoothed value; None: start afresh);
    returns (smoothed values, the new state)."""
    out = np.empty(len(values))
    keep = 1.0 - alpha
    s = state
    for i, x in enumerate(values.tolist()):
        if not math.isfinite(x):
            out[i] = math.nan
            continue
        s = x if s is None else alpha * x + keep * s
        out[i] = s
    return out, s


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
