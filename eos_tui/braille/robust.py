"""The y range of a chart, robust to spikes (as TensorBoard's "ignore outliers in chart scaling").

A divergence or a catapult spike, and an arm whose scale is ten times the others', must not flatten
everything else for the rest of the run. The range is set in two steps:

1. the *core*: the series that matter most (the highlighted arm's, unless it spans under a tenth of
   the x axis, as an arm that diverged at once; all of them when none is marked),
   on a linear axis each trimmed to its 2%..98% quantiles of the per-column values (a spike a few
   columns wide does not count), together with the fixed values (a reference line, zero);
2. every series (core or not) is then shown in full up to a margin around the core: `spread` times
   the core's height on a linear axis (3: the threshold 2/η while λ_max climbs from a quarter of
   it; an arm ten times sharper is cut), `spread` decades on a log axis (3: a catapult's spike of
   100× over the start stays in view, a divergence to 1e7 does not).

What lies beyond is cut, and the chart marks it with an arrow at the edge (offscale.py).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

QUANTILE = 0.02  # each end of a core series trims this share of its columns
MIN_FOR_QUANTILE = 50  # fewer columns than this: no trimming (a short series is all signal)
# A core series spanning less of the x axis than this share of the longest series' span is left out
# of the core: an arm that diverged in 7 steps of 800 is itself a spike, not the chart's scale.
MIN_COVER = 0.1


def _span(lo: np.ndarray) -> int:
    have = np.flatnonzero(np.isfinite(lo))
    return int(have[-1] - have[0] + 1) if len(have) else 0


def _extent(fit: str, lo: np.ndarray, hi: np.ndarray, robust: bool) -> tuple[float, float] | None:
    flo, fhi = lo[np.isfinite(lo)], hi[np.isfinite(hi)]
    if not len(flo) or not len(fhi):
        return None
    if fit == "ends":  # the lowest and the latest value, not a huge early one (2/η_t under warmup)
        return float(flo.min()), float(fhi[-1])
    if robust and len(flo) >= MIN_FOR_QUANTILE:
        return float(np.quantile(flo, QUANTILE)), float(np.quantile(fhi, 1 - QUANTILE))
    return float(flo.min()), float(fhi.max())


def robust_range(
    items: Sequence[tuple[str, bool, np.ndarray, np.ndarray]],
    fixed: Sequence[float] = (),
    *,
    spread: float,
    relative: bool = True,
    trim: bool = True,
) -> tuple[float | None, float | None]:
    """(lo, hi) in plot coordinates, or (None, None) when there is nothing to fit.

    items: (fit, core, per-column minima, per-column maxima) per series; fit "none" is skipped.
    fixed: values always in range. relative: the margin is `spread` times the core's height
    (linear axes), else `spread` itself (log axes, in decades). trim: cut the core series to their
    quantiles (linear axes; on a log axis a spike is a few decades, while a loss that falls fast
    would lose its first steps, the top of its range, to the trimming)."""
    full: list[tuple[float, float, float, float]] = []  # whole extent, then trimmed
    core: list[tuple[float, float]] = []
    loose: list[tuple[float, float]] = []  # the core when no series is marked as core
    longest = max((_span(lo) for fit, _, lo, _ in items if fit != "none"), default=0)
    for fit, is_core, lo, hi in items:
        if fit == "none":
            continue
        short = _span(lo) < MIN_COVER * longest
        whole = _extent(fit, lo, hi, robust=False)
        if whole is None:
            continue
        trimmed = _extent(fit, lo, hi, robust=trim)
        assert trimmed is not None
        full.append((*whole, *trimmed))
        if not short:
            (core if is_core else loose).append(trimmed)
    core = core or loose
    lows: list[float] = [a for a, _ in core] + [float(v) for v in fixed]
    highs: list[float] = [b for _, b in core] + [float(v) for v in fixed]
    if not lows:
        return None, None
    c_lo, c_hi = float(min(lows)), float(max(highs))
    if relative:
        margin = spread * max(c_hi - c_lo, 1e-12 + 1e-3 * max(abs(c_lo), abs(c_hi)))
    else:
        margin = spread
    # A series reaching beyond the margin stretches the range only as far as its trimmed extent, if
    # that is inside the margin: what lies beyond is cut and marked, and does not stretch it at all.
    floor, ceiling = c_lo - margin, c_hi + margin
    below: list[float] = [a if a >= floor else ta for a, _, ta, _ in full if a >= floor or ta >= floor]
    above: list[float] = [b if b <= ceiling else tb for _, b, _, tb in full if b <= ceiling or tb <= ceiling]
    return max(min(below + [c_lo]), floor), min(max(above + [c_hi]), ceiling)
