"""A phase portrait in braille: points (x_t, y_t) of a trajectory on a canvas with both axes in data
units, as Damian et al.'s (x, y) self-stabilization plane is drawn (app/widgets/portrait.py).

A time series chart reduces each dot column to one min..max span; a portrait cannot (x is not
monotone in time), so here each point is placed where it lies and consecutive points of one *parity*
are joined: under gradient descent at the edge x flips sign every step, so steps t and t+1 sit on
opposite sides of x = 0 and joining them would draw a comb of horizontal lines. Steps t and t+2 lie
on the same side, and each side traces the cycle (the two sides mirror each other).

The trail fades with age: each age band is its own layer, drawn oldest first, so a cell shared by an
old and a recent point takes the recent one's colour.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .canvas import BrailleCanvas


@dataclass
class Trace:
    """Points to draw: `ages` (in steps before the newest, 0 the newest) sort them into fade bands."""

    xs: np.ndarray
    ys: np.ndarray
    steps: np.ndarray  # integer steps: points two steps apart are joined
    layer_for_age: list[tuple[float, int]]  # (age limit, layer): a point younger than the limit takes that layer
    level: int = 2
    dotted: bool = False  # every other dot of each joining segment only (a prediction)
    # Optional: a group per point (e.g. the stage it was measured in), each with its own layers per
    # age band (the same limits as layer_for_age): a point and its join back take its group's colour.
    groups: np.ndarray | None = None
    group_layers: dict[int, list[tuple[float, int]]] | None = None


@dataclass
class PortraitFrame:
    """What a draw decided: the canvas and the data ranges, for the labels and the current point."""

    canvas: BrailleCanvas
    x_range: tuple[float, float]
    y_range: tuple[float, float]

    def cell_of(self, x: float, y: float) -> tuple[int, int] | None:
        """The (row, col) of the cell where (x, y) lies, None outside the frame."""
        col, row = _to_dots(self, np.array([x]), np.array([y]))
        if not (np.isfinite(col[0]) and np.isfinite(row[0])):
            return None
        c, r = int(round(col[0])), int(round(row[0]))
        if not (0 <= c < self.canvas.width and 0 <= r < self.canvas.height):
            return None
        return r // 4, c // 2


def symmetric_range(values: np.ndarray, *, margin: float = 0.1) -> tuple[float, float]:
    """(−a, a) around the finite values' largest magnitude (x flips sign, so x = 0 sits in the middle)."""
    finite = values[np.isfinite(values)]
    a = float(np.abs(finite).max()) if len(finite) else 0.0
    a = a * (1 + margin) if a > 0 else 1.0
    return -a, a


def range_with_zero(values: np.ndarray, *, margin: float = 0.1) -> tuple[float, float]:
    """The finite values' range with 0 inside it (y = 0 is S = 2/η: it is always drawn)."""
    finite = values[np.isfinite(values)]
    lo = min(0.0, float(finite.min())) if len(finite) else -1.0
    hi = max(0.0, float(finite.max())) if len(finite) else 1.0
    span = hi - lo
    if span <= 0 or not math.isfinite(span):
        return (lo - 1.0, hi + 1.0)
    return lo - margin * span, hi + margin * span


def _to_dots(frame: PortraitFrame, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    (x0, x1), (y0, y1) = frame.x_range, frame.y_range
    w, h = frame.canvas.width, frame.canvas.height
    cols = (xs - x0) / (x1 - x0) * (w - 1)
    rows = (y1 - ys) / (y1 - y0) * (h - 1)
    return cols, rows


def segments_mask(frame: PortraitFrame, xs: np.ndarray, ys: np.ndarray, steps: np.ndarray, *, dotted: bool = False) -> np.ndarray:
    """The dots of each point, and of the straight segment from the point two steps before (same
    parity) where both exist and lie in the frame."""
    canvas = frame.canvas
    mask = np.zeros((canvas.height, canvas.width), dtype=bool)
    if not len(xs) or not canvas.width or not canvas.height:
        return mask
    cols, rows = _to_dots(frame, xs, ys)
    ok = np.isfinite(cols) & np.isfinite(rows) & (cols > -0.5) & (cols < canvas.width - 0.5) & (rows > -0.5) & (rows < canvas.height - 0.5)
    pc, pr = [np.round(cols[ok]).astype(int)], [np.round(rows[ok]).astype(int)]
    # Joins: each point and the point two steps before it, found by step (records may have gaps;
    # steps ascend), sampled along the segment one dot apart, all segments at once.
    j = np.searchsorted(steps, steps - 2)
    j = np.minimum(j, len(steps) - 1)
    i = np.flatnonzero((steps[j] == steps - 2) & ok & ok[j])
    j = j[i]
    if len(i):
        counts = (np.maximum(np.abs(cols[i] - cols[j]), np.abs(rows[i] - rows[j])).astype(int) + 1) + 1  # n + 1 samples
        seg = np.repeat(np.arange(len(i)), counts)
        local = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        t = local / (counts[seg] - 1)
        if dotted:  # every other sample, as linspace(0, 1, n + 1)[::2]
            seg, t = seg[local % 2 == 0], t[local % 2 == 0]
        a_, b_ = j[seg], i[seg]
        pc.append(np.round(cols[a_] + t * (cols[b_] - cols[a_])).astype(int))
        pr.append(np.round(rows[a_] + t * (rows[b_] - rows[a_])).astype(int))
    c, r = np.concatenate(pc), np.concatenate(pr)
    keep = (c >= 0) & (c < canvas.width) & (r >= 0) & (r < canvas.height)
    mask[r[keep], c[keep]] = True
    return mask


def draw_portrait(
    cols: int, rows: int, traces: list[Trace], x_range: tuple[float, float], y_range: tuple[float, float], *, axes_layer: int
) -> PortraitFrame:
    """Draw the axes x = 0 and y = 0 (dashed, `axes_layer`, under the data), then each trace's fade
    bands oldest first."""
    frame = PortraitFrame(BrailleCanvas(cols, rows), x_range, y_range)
    canvas = frame.canvas
    if not canvas.width or not canvas.height:
        return frame
    zc, zr = _to_dots(frame, np.array([0.0]), np.array([0.0]))
    if 0 <= round(zr[0]) < canvas.height:  # y = 0: S = 2/η
        mask = np.zeros((canvas.height, canvas.width), dtype=bool)
        mask[int(round(zr[0])), (np.arange(canvas.width) // 2) % 2 == 0] = True
        canvas.draw_mask(mask, axes_layer, level=0)
    if 0 <= round(zc[0]) < canvas.width:  # x = 0: no oscillation along u
        mask = np.zeros((canvas.height, canvas.width), dtype=bool)
        mask[(np.arange(canvas.height) // 2) % 2 == 0, int(round(zc[0]))] = True
        canvas.draw_mask(mask, axes_layer, level=0)
    for trace in traces:
        if not len(trace.steps):
            continue
        age = trace.steps.max() - trace.steps
        # Oldest band first: each band holds every point younger than its limit, so the newer bands
        # are drawn over it and a shared cell takes the newest colour.
        if trace.groups is None or trace.group_layers is None:
            for limit, layer in sorted(trace.layer_for_age, reverse=True):
                sel = age < limit
                mask = segments_mask(frame, trace.xs[sel], trace.ys[sel], trace.steps[sel], dotted=trace.dotted)
                canvas.draw_mask(mask, layer, trace.level)
            continue
        for band in range(len(trace.layer_for_age) - 1, -1, -1):  # oldest band first, as above
            for group, layers in trace.group_layers.items():
                limit, layer = sorted(layers)[band]
                own = (age < limit) & (trace.groups == group)
                # with the points two steps before them, so each join reaches back across a change of group
                sel = own | (np.isin(trace.steps, trace.steps[own] - 2) & (age < limit))
                mask = segments_mask(frame, trace.xs[sel], trace.ys[sel], trace.steps[sel], dotted=trace.dotted)
                canvas.draw_mask(mask, layer, trace.level)
    return frame
