"""The x window every chart shares: which steps are in view, and the cursor step (pure arithmetic).

Three modes:

- "all": the whole run, from step 0 to the latest (what the app opens on);
- "follow": the latest `span` steps, the right edge pinned to the newest step (None: one step per
  dot column of the charts, as `f` gives);
- "fixed": `span` steps from `start`, where pan and zoom put them; new data does not move it.

The keys act on the window as it is drawn, `(x0, x1)`, and on the run's extent `(lo, hi)`: `lo` is
the first step (or 0), `hi` the latest. Every result is clamped to the run: a pan stops at its
start and at its end, a zoom never shows less than MIN_SPAN steps, and zooming out to the whole
run returns to "all". A zoom keeps its anchor (the cursor, or the step under the mouse) where it
is on the screen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..braille.ticks import nice_step

ALL, FOLLOW, FIXED = "all", "follow", "fixed"
MIN_SPAN = 8.0  # the narrowest window, in steps
KEY_ZOOM = 2.0  # `+` halves the visible steps, `-` doubles them
WHEEL_ZOOM = 1.25  # one mouse-wheel notch
PAN_FRACTION = 0.25  # left/right move the window by a quarter of its width
WHEEL_PAN_FRACTION = 0.125


def _clamp(v: float, lo: float, hi: float) -> float:
    return max(lo, min(v, hi))


@dataclass(frozen=True)
class XWindow:
    mode: str = ALL
    span: float | None = None
    start: float = 0.0
    at_start: bool = False  # the whole run, after `Home`: a zoom keeps the start in view

    @property
    def following(self) -> bool:
        return self.mode == FOLLOW

    def resolve(self, first: float, last: float, dots: int, live: bool = False) -> tuple[float, float]:
        """The steps in view, (x0, x1), for a run whose recorded steps go from `first` to `last`, on
        charts `dots` dot columns wide. While a run is live, the whole-run view ends on a round step
        (most frames then only add columns instead of rescaling the chart)."""
        lo, hi = min(float(first), 0.0), float(last)
        if self.mode == FIXED and self.span is not None:
            x0 = _clamp(self.start, lo, max(lo, hi - self.span))
            return x0, x0 + max(self.span, 1.0)
        if self.mode == FOLLOW:
            width = self.span if self.span is not None else float(max(8, dots - 1))
            lo = max(lo, hi - width)
        elif live:
            step = nice_step(max(hi - lo, 1.0), 8)
            hi = math.ceil(hi / step + 1e-9) * step
        if hi - lo < 1:
            hi = lo + 1
        return lo, hi

    # -- what the keys do: each takes the window as drawn (x0, x1) and the run's extent (lo, hi) ----

    def zoom(self, factor: float, x0: float, x1: float, lo: float, hi: float, about: float | None = None) -> XWindow:
        """Show `factor` times as many steps (< 1 zooms in), keeping `about` where it is on screen.
        Without an anchor, a fixed window zooms about its centre and the others about the latest
        step (and keep following it)."""
        lo = min(lo, 0.0)
        width = x1 - x0
        full = max(hi - lo, 1.0)
        new = max(MIN_SPAN, width * factor)
        if new >= full:
            return XWindow(ALL)
        if about is None or not x0 <= about <= x1:
            if self.mode != FIXED and not self.at_start:
                return XWindow(FOLLOW, new)
            # After `Home` the zoom keeps the run's start on screen (as the others keep the latest step);
            # a fixed window elsewhere zooms about its centre.
            about = x0 if self.at_start or x0 <= lo else (x0 + x1) / 2
        start = about - (about - x0) * new / width if width > 0 else about - new / 2
        return XWindow(FIXED, new, _clamp(start, lo, hi - new))

    def pan(self, fraction: float, x0: float, x1: float, lo: float, hi: float) -> XWindow:
        """Move the window by `fraction` of its width (negative: back in time), within the run."""
        lo = min(lo, 0.0)
        width = x1 - x0
        if width >= hi - lo or (self.mode == FOLLOW and fraction > 0):
            return self  # the whole run is in view, or already at its newest step
        return XWindow(FIXED, width, _clamp(x0 + fraction * width, lo, hi - width))

    def home(self, x0: float, x1: float, lo: float, hi: float) -> XWindow:
        """The run's first steps, at this zoom. With the whole run in view it stays so (and grows with
        a live run), but a zoom (`+`) then keeps the start on screen, not the latest step."""
        lo = min(lo, 0.0)
        width = x1 - x0
        return XWindow(ALL, at_start=True) if width >= hi - lo else XWindow(FIXED, width, lo)

    def end(self, x0: float, x1: float, lo: float, hi: float) -> XWindow:
        """The run's latest steps, at this zoom, following them as they come."""
        lo = min(lo, 0.0)
        width = x1 - x0
        return self if self.mode == ALL or width >= hi - lo else XWindow(FOLLOW, width)

    def toggle_follow(self, x0: float, x1: float) -> XWindow:
        """`f`: follow the latest steps (at this zoom if zoomed, else one step per dot column);
        pressed while following, the whole run."""
        if self.mode == FOLLOW:
            return XWindow(ALL)
        if self.mode == FIXED:
            return XWindow(FOLLOW, x1 - x0)
        return XWindow(FOLLOW)

    def showing(self, step: float, x0: float, x1: float, lo: float, hi: float) -> XWindow:
        """This window, or one panned just enough to show `step` (the cursor moved off screen)."""
        if x0 <= step <= x1:
            return self
        lo = min(lo, 0.0)
        width = x1 - x0
        start = step - 0.1 * width if step < x0 else step - 0.9 * width
        return XWindow(FIXED, width, _clamp(start, lo, max(lo, hi - width)))


def move_cursor(cursor: int | None, delta: int, x0: float, x1: float, first: float, last: float) -> int:
    """The cursor `delta` steps on, within the recorded steps; a first press puts it on the newest
    step in view."""
    if cursor is None:
        return int(_clamp(math.floor(min(x1, last)), first, last))
    return int(_clamp(cursor + delta, first, last))


def stems_window(
    x_range: tuple[float, float] | None, cells: int, cursor: float | None, first: float, last: float
) -> tuple[float, float] | None:
    """The steps of a one-bar-per-cell chart (⟨∇L,u⟩): as many as it has cells, at the right end
    of the shared window, or centred on the cursor when there is one in view. None: no window yet."""
    if x_range is None or cells < 2:
        return None
    x0, x1 = x_range
    lo_run = min(first, 0.0)
    width = float(max(8, cells - 1))
    if cursor is not None and x0 <= cursor <= x1:
        lo = _clamp(cursor - width / 2, lo_run, max(lo_run, last - width))
        return lo, lo + width
    hi = min(x1, last)
    lo = max(x0, hi - width)
    return (lo, hi) if hi - lo >= 1 else (lo, lo + 1)
