"""Downsampling a series to pixel columns, keeping each column's min AND max.

A chart that plots one value per pixel column (the mean, or every k-th point) hides exactly what
this lab is about: a single catapult spike, or the period-2 oscillation of the loss at the edge of
stability, where consecutive steps alternate up and down. Keeping the min and the max of all
the points that fall in a pixel column keeps both visible however many points there are.

`minmax_columns` is the exact pure function (numpy, no Python loop over points). `MinMaxPyramid`
makes the cost of a redraw depend on the chart's width rather than on the number of points: it
keeps min/max of blocks of 2, 4, 8, ... points, extended incrementally as the series grows, and a
redraw reduces the coarsest level that still has several blocks per pixel column. A block is placed
in the column of its first point, so a point can land at most one pixel column from where the
exact function puts it; no min or max is ever lost.
"""

from __future__ import annotations

import numpy as np

# A redraw reduces at least this many blocks per pixel column (then picks the coarsest such level).
BLOCKS_PER_COLUMN = 4
# Levels stop once they are this short: a chart never has more pixel columns than that / 4.
MIN_LEVEL_LENGTH = 2048


def _empty(ncols: int) -> tuple[np.ndarray, np.ndarray]:
    return np.full(ncols, np.nan), np.full(ncols, np.nan)


def _reduce(xs: np.ndarray, lo: np.ndarray, hi: np.ndarray, x0: float, x1: float, ncols: int) -> tuple[np.ndarray, np.ndarray]:
    """Per column of [x0, x1] split in `ncols`: min of `lo` and max of `hi` (xs non-decreasing)."""
    mins, maxs = _empty(ncols)
    if ncols <= 0 or len(xs) == 0 or not x1 > x0:
        return mins, maxs
    i0 = int(np.searchsorted(xs, x0, side="left"))
    i1 = int(np.searchsorted(xs, x1, side="right"))
    if i1 <= i0:
        return mins, maxs
    cols = ((xs[i0:i1] - x0) * (ncols / (x1 - x0))).astype(np.int64)
    np.clip(cols, 0, ncols - 1, out=cols)  # x == x1 belongs to the last column
    starts = np.flatnonzero(np.concatenate(([True], cols[1:] != cols[:-1])))
    used = cols[starts]
    # fmin/fmax ignore NaN (a missing value) unless a whole column is NaN.
    mins[used] = np.fmin.reduceat(lo[i0:i1], starts)
    maxs[used] = np.fmax.reduceat(hi[i0:i1], starts)
    return mins, maxs


def minmax_columns(xs, ys, x0: float, x1: float, ncols: int) -> tuple[np.ndarray, np.ndarray]:
    """The min and max of the ys whose x falls in each of `ncols` equal columns of [x0, x1].

    xs must be non-decreasing (steps are). Columns with no point are NaN. Points outside
    [x0, x1] are ignored. Vectorized: np.fmin.reduceat over the run of each column.
    """
    xs = np.asarray(xs, dtype=np.float64)
    ys = np.asarray(ys, dtype=np.float64)
    return _reduce(xs, ys, ys, float(x0), float(x1), int(ncols))


class _Buffer:
    """A float64 array that grows by doubling, rewritable from any index to its end."""

    def __init__(self) -> None:
        self._data = np.empty(64)
        self.n = 0

    def write_from(self, start: int, values: np.ndarray) -> None:
        end = start + len(values)
        if end > len(self._data):
            grown = np.empty(max(end, 2 * len(self._data)))
            grown[: self.n] = self._data[: self.n]
            self._data = grown
        self._data[start:end] = values
        self.n = end

    @property
    def view(self) -> np.ndarray:
        return self._data[: self.n]


class MinMaxPyramid:
    """Min/max of blocks of 2**k points of one growing series, for redraws in O(width).

    Call `update(xs, ys)` with the whole series each time (only the new tail is read: the arrays
    must only have grown since the last call; a shorter series rebuilds), then `columns(...)`.
    """

    def __init__(self) -> None:
        self._xs = np.empty(0)
        self._ys = np.empty(0)
        self._levels: list[tuple[_Buffer, _Buffer, _Buffer]] = []  # level k >= 1: (x, lo, hi)

    def __len__(self) -> int:
        return len(self._xs)

    def update(self, xs: np.ndarray, ys: np.ndarray) -> None:
        old = len(self._xs)
        self._xs, self._ys = np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)
        n = len(self._xs)
        if n < old:
            self._levels, old = [], 0
        changed = old  # first index of the level below that changed
        px, plo, phi = self._xs, self._ys, self._ys
        k = 0
        while len(px) > MIN_LEVEL_LENGTH:
            if k == len(self._levels):
                self._levels.append((_Buffer(), _Buffer(), _Buffer()))
                changed_here = 0
            else:
                changed_here = min(changed // 2, self._levels[k][0].n)
            start = 2 * changed_here
            tx, tlo, thi = px[start:], plo[start:], phi[start:]
            if len(tx) % 2:  # a partial last block: pair its point with itself
                tx, tlo, thi = np.append(tx, tx[-1]), np.append(tlo, tlo[-1]), np.append(thi, thi[-1])
            bx, blo, bhi = self._levels[k]
            bx.write_from(changed_here, tx[0::2])
            blo.write_from(changed_here, np.fmin(tlo[0::2], tlo[1::2]))
            bhi.write_from(changed_here, np.fmax(thi[0::2], thi[1::2]))
            changed = changed_here
            px, plo, phi = bx.view, blo.view, bhi.view
            k += 1
        del self._levels[k:]

    def columns(self, x0: float, x1: float, ncols: int) -> tuple[np.ndarray, np.ndarray]:
        """Like `minmax_columns` on the whole series, at a cost set by `ncols`, not by its length."""
        xs = self._xs
        if ncols <= 0 or len(xs) == 0 or not x1 > x0:
            return _empty(max(ncols, 0))
        in_view = int(np.searchsorted(xs, x1, side="right") - np.searchsorted(xs, x0, side="left"))
        level = 0
        while level < len(self._levels) and in_view >> (level + 1) >= BLOCKS_PER_COLUMN * ncols:
            level += 1
        if level == 0:
            return _reduce(xs, self._ys, self._ys, x0, x1, ncols)
        bx, blo, bhi = self._levels[level - 1]
        return _reduce(bx.view, blo.view, bhi.view, x0, x1, ncols)


def log_step_columns(pyramid: MinMaxPyramid, x0: float, x1: float, ncols: int) -> tuple[np.ndarray, np.ndarray]:
    """`pyramid.columns` for a pyramid over log10(1 + step) (a log step axis, Chart.log_x).

    There a column's width in steps grows 10**((x1 - x0) / ncols) times from one column to the next,
    so one level for the whole width (chosen by the average number of points per column) would put
    the first columns' points in a few coarse blocks: on 100k steps, blocks of 128 steps, and steps
    0–127 are half of a five-decade axis, drawn as one column. The columns are taken in runs over
    which the width in steps at most doubles, each run at its own level."""
    if ncols <= 0 or not x1 > x0:
        return _empty(max(ncols, 0))
    edges = x0 + (x1 - x0) * np.arange(ncols + 1) / ncols
    steps = np.power(10.0, edges)
    widths = steps[1:] - steps[:-1]
    run = np.floor(np.log2(widths / widths[0])).astype(np.int64)
    starts = np.flatnonzero(np.concatenate(([True], run[1:] != run[:-1]))).tolist()
    parts = [pyramid.columns(float(edges[a]), float(edges[b]), b - a) for a, b in zip(starts, [*starts[1:], ncols])]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
