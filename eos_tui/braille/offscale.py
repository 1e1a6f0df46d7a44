"""Characters drawn over a chart's dots: arrows at the edge where a series lies beyond the y range
(a loss of 2e-11 under a 12-decade cap, a diverged arm at 1e7, a threshold ten times the data), so
that a trace never seems to stop where it only left the axis; and a series' tag at its last point
(under NO_COLOR, where colours do not tell arms apart)."""

from __future__ import annotations

from typing import Callable

import numpy as np

ABOVE, BELOW = "↑", "↓"
TAGGED = set("123456789abcdefghijklmnopqrstuvwxyz")  # the characters of arm tags (arms.arm_tag)
ARROW_EVERY = 8  # along a stretch beyond the range: an arrow where it leaves, then every this many cells
EDGE_EVERY = 4  # a reference line beyond the range: denser, so the arrows read as the line along the edge

Overlay = dict[tuple[int, int], tuple[str, str]]  # (cell row, cell column) -> (character, colour)


def _states(lo: np.ndarray, hi: np.ndarray, y0: float, y1: float) -> np.ndarray:
    """Per cell (two dot columns): 1 wholly above the range, -1 below, 0 in it, NaN no data;
    a cell without data before the series' last point takes the state of the cell before it
    (sparse measurements)."""
    cols = len(lo) // 2
    lo, hi = lo[: 2 * cols].reshape(cols, 2), hi[: 2 * cols].reshape(cols, 2)
    with np.errstate(invalid="ignore"):
        above = (np.isfinite(lo) & (lo > y1)).any(axis=1)
        below = (np.isfinite(hi) & (hi < y0)).any(axis=1)
    have = (np.isfinite(lo) | np.isfinite(hi)).any(axis=1)
    state = np.where(have, np.where(above, 1.0, np.where(below, -1.0, 0.0)), np.nan)
    idx = np.where(have, np.arange(cols), -1)
    last = np.maximum.accumulate(idx) if cols else idx
    filled = np.where(last >= 0, state[np.maximum(last, 0)], np.nan)
    end = np.flatnonzero(have)
    if len(end):
        filled[end[-1] + 1 :] = np.nan  # the series ended: no arrows after its last point
    return filled


def placement(lo: np.ndarray, hi: np.ndarray, y0: float, y1: float) -> tuple[bool, bool, bool]:
    """Whether a series (per-column minima and maxima) is drawn inside [y0, y1] somewhere, lies wholly
    above it somewhere, and wholly below it somewhere: what a legend may name."""
    with np.errstate(invalid="ignore"):
        have = np.isfinite(lo) & np.isfinite(hi)
        above = have & (lo > y1)
        below = have & (hi < y0)
    return bool((have & ~above & ~below).any()), bool(above.any()), bool(below.any())


def offscale_arrows(
    overlay: Overlay, lo: np.ndarray, hi: np.ndarray, y0: float, y1: float, rows: int, color: str, *, every: int | None = ARROW_EVERY
) -> None:
    """Arrows on the top row (↑) or the bottom row (↓) where the series is wholly beyond the range:
    where it leaves it, and then every `every` cells along the stretch (None: only where it leaves)."""
    if rows <= 0 or len(lo) < 2:
        return
    state = _states(lo, hi, y0, y1)
    for value, row, char in ((1.0, 0, ABOVE), (-1.0, rows - 1, BELOW)):
        on = state == value
        if not on.any():
            continue
        starts = np.flatnonzero(on & ~np.concatenate(([False], on[:-1])))
        run_start = np.maximum.accumulate(np.where(on & ~np.concatenate(([False], on[:-1])), np.arange(len(on)), 0))
        marked = on & ((np.arange(len(on)) - run_start) % every == 0) if every else np.zeros(len(on), dtype=bool)
        marked[starts] = True
        for c in np.flatnonzero(marked).tolist():
            overlay[(row, c)] = (char, color)


def end_tags(
    overlay: Overlay, tag: str, lo: np.ndarray, hi: np.ndarray, to_row: Callable[[np.ndarray], np.ndarray], rows: int, color: str
) -> None:
    """The tag's first character at the series' last point (on the edge if that point is off-scale)."""
    mid = (lo + hi) / 2
    have = np.flatnonzero(np.isfinite(mid))
    if not len(have) or rows <= 0:
        return
    x = int(have[-1])
    row = int(np.clip(np.round(to_row(np.array([mid[x]]))[0]) // 4, 0, rows - 1))
    col = x // 2
    # Arms that end at the same point: the later tag moves next to the earlier one, never over it; nor
    # over an arrow (an arm that diverged ends off the scale where its arrow is: the tag goes under it).
    for r, c in ((row, col), (row - 1, col), (row + 1, col), (row, col - 1), (row - 1, col - 1), (row + 1, col - 1)):
        if 0 <= r < rows and c >= 0 and overlay.get((r, c), ("",))[0] not in TAGGED | {ABOVE, BELOW}:
            overlay[(r, c)] = (tag[:1], color)
            return
