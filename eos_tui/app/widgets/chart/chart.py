"""A braille line chart on Textual's line API: `render_line(y) -> Strip`, cached until data or size change.

    ┤  ⣀⡠⠤⠒⠉⠉⠒⠤⣀         y tick labels, then the plot (braille dots)
    │⠊         ⠑⠢⡀
    └──┬─────E───┬──      x axis: ticks, and event marks (E = EoS onset, C = catapult, ...)
       200       400      x tick labels (steps)

Each series is reduced to one min..max span per dot column (see downsample.py), so the cost of a
redraw is set by the chart's size, not by how many points the series holds. Consecutive spans are
joined so the trace reads as a line, gaps between sparse points are bridged, and a "stems" series
is drawn from zero to its value (the sign of each step at a glance).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual.color import Color
from textual.geometry import Region
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from ....braille.canvas import BrailleCanvas
from ....braille.downsample import MinMaxPyramid, log_step_columns
from ....braille.offscale import ARROW_EVERY, EDGE_EVERY, Overlay, end_tags, offscale_arrows, placement
from ....braille.robust import robust_range
from ....braille.ticks import (
    LABEL_WIDTH,
    format_decade,
    format_step,
    format_value,
    labelled_ticks,
    linear_ticks,
    log_step_ticks,
    log_ticks,
    nice_step,
)
from ..palette import EVENT_DEFAULT, FADE_TOWARDS, MUTED, REFERENCE

AXIS_WIDTH = LABEL_WIDTH + 1  # labels, then the axis line
FAINT_TOWARDS = Color.parse(FADE_TOWARDS)


@dataclass(eq=False)
class Series:
    """One trace. `key` names it across redraws, so its min/max pyramid is kept and only extended."""

    key: str
    xs: np.ndarray
    ys: np.ndarray
    color: str
    label: str = ""  # legend entry; "" keeps it out of the legend
    kind: str = "line"  # "line", "dashed", "dotted" (theory overlays) or "stems"
    faint: bool = False
    fit: str = "all"  # counts toward the y range: "all" its min and max; "ends" its min and last value; "none"
    # The highlighted arm's series (core) set the y range; the others are shown within a margin of it,
    # beyond which they are cut with an off-scale arrow (robust.py). Single-arm charts: all core.
    core: bool = True
    offscale: bool = False  # mark with an arrow at the edge where it lies beyond the y range
    # A reference line (a threshold) stays a line where it is off the scale: arrows all along the
    # edge (offscale.EDGE_EVERY), not only where it leaves, so a line at 16 over data under 6 reads
    # as "the threshold is up there" for as long as it is.
    edge_line: bool = False
    tag: str = ""  # a character drawn at its last point when the chart shows `tags` (NO_COLOR)


@dataclass(frozen=True)
class Mark:
    """An event at a step: a letter on the x axis, and with `line` a faint dotted vertical line."""

    step: float
    letter: str
    color: str = EVENT_DEFAULT
    line: bool = True


@dataclass(frozen=True)
class HLine:
    """A constant horizontal reference line (dashed)."""

    y: float
    color: str = REFERENCE


@dataclass
class _Frame:
    """What a redraw decided: the visible ranges, in plot coordinates (log10 for a log axis)."""

    x0: float = 0.0
    x1: float = 1.0
    y0: float = 0.0
    y1: float = 1.0


class Shade(str):
    """A colour made fainter (the hex it blends to), remembering its base colour and how faint: a
    terminal of 16 colours maps a blend to another of its colours (orange's blend became yellow while
    the legend's orange became red), so there the chart draws the base colour instead."""

    base: str
    fade: float


def faint(color: str, amount: float = 0.5) -> str:
    base = getattr(color, "base", color)
    fade = 1 - (1 - getattr(color, "fade", 0.0)) * (1 - amount)
    out = Shade(Color.parse(base).blend(FAINT_TOWARDS, fade).hex)
    out.base, out.fade = base, fade
    return out


def _fill_and_join(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bridge empty columns between points (linear) and stretch each span to reach the previous one."""
    mid = (lo + hi) / 2
    have = np.flatnonzero(np.isfinite(mid))
    if len(have) >= 2:
        inner = np.arange(have[0], have[-1] + 1)
        missing = inner[~np.isfinite(mid[inner])]
        if len(missing):
            filled = np.interp(missing, have, mid[have])
            lo, hi = lo.copy(), hi.copy()
            lo[missing] = filled
            hi[missing] = filled
    prev_lo = np.concatenate(([np.nan], lo[:-1]))
    prev_hi = np.concatenate(([np.nan], hi[:-1]))
    valid = np.isfinite(lo)
    return np.where(valid, np.fmin(lo, prev_hi), lo), np.where(valid, np.fmax(hi, prev_lo), hi)


def _fill_blank_owners(owner: np.ndarray, bits: np.ndarray) -> np.ndarray:
    """Give blank cells the style of the cell before them (a space shows no foreground colour),
    so a row switches style only where the visible colour changes: each switch costs an escape
    sequence of ~20 bytes, more than the braille character itself."""
    rows, cols = owner.shape
    if cols == 0:
        return owner
    pos = np.where(bits != 0, np.arange(cols)[None, :], -1)
    last = np.maximum.accumulate(pos, axis=1)
    first = np.where((bits != 0).any(axis=1), np.argmax(bits != 0, axis=1), 0)
    last = np.where(last < 0, first[:, None], last)
    return np.take_along_axis(owner, last, axis=1)


LETTER_RANK = "XC!E2η"  # divergence, catapult, unstable start, EoS onset, period-2, η change; others after


def place_letters(wanted: Sequence[tuple[int, Mark]], cols: int) -> dict[int, Mark]:
    """The event letters on the x axis: cell -> mark, with a blank cell between any two letters (on
    warmup, three arms' events a few steps apart read `X─E2C─2E─ηC`). The highlighted arm's marks
    (those with a line) go first, then by step; a letter whose cell is taken or touches another moves
    one cell, else it is left out (the events panel lists every event); among marks of the same arm,
    the rarer kinds first (LETTER_RANK). The same letter in the same cell (two arms' EoS onsets at
    one step) is one letter."""
    placed: dict[int, Mark] = {}
    rank = {letter: i for i, letter in enumerate(LETTER_RANK)}
    for c, m in sorted(wanted, key=lambda cm: (not cm[1].line, rank.get(cm[1].letter, len(rank)), cm[0])):
        if placed.get(c) is not None and placed[c].letter == m.letter:
            continue
        for at in (c, c + 1, c - 1):
            if 0 <= at < cols and all(placed.get(at + d) is None for d in (-1, 0, 1)):
                placed[at] = m
                break
    return placed


class RedrawnFlag:
    """An on/off attribute of a chart (kept in `_<name>`) whose change redraws it; setting the
    value it already has draws nothing."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.attr = "_" + name

    def __get__(self, chart: Chart | None, owner: type | None = None) -> Any:
        return self if chart is None else getattr(chart, self.attr)  # on the class: the flag itself

    def __set__(self, chart: Chart, value: bool) -> None:
        if bool(value) != getattr(chart, self.attr):
            setattr(chart, self.attr, bool(value))
            chart._redraw()


class Chart(Widget):
    """Several series over steps, with axes, reference lines and event marks."""

    class Placed(Message):
        """A render found a series with `offscale` newly in or beyond the range (Chart.placement):
        a legend that names only what is drawn is remade."""

    DEFAULT_CSS = """
    Chart { height: 1fr; min-height: 4; }
    """

    def __init__(
        self,
        *,
        log_y: bool = False,
        include_zero: bool = False,
        follow: bool = False,
        follow_steps: int | None = None,
        max_decades: float | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ):
        super().__init__(name=name, id=id, classes=classes)
        self._log_y = log_y
        self.include_zero = include_zero
        self._follow = follow
        self.follow_steps = follow_steps  # None: one step per dot column
        # On a log axis, show at most this many decades below the top: a loss that converges to
        # 1e-36 in float64 would otherwise squash a catapult's spike into a few rows.
        self.max_decades = max_decades
        # While a run is live, the ranges snap outward to round values, so that most frames only
        # add the newest columns instead of rescaling (and repainting) the whole chart.
        self.live = False
        # The steps in view, where the app sets them (the x window all charts share: app/window.py),
        # and the cursor step, drawn as a vertical line; None: the chart's own follow/fit, no cursor.
        self.window: tuple[float, float] | None = None
        self.cursor: float | None = None
        # Beyond the core series' robust range, the others are shown up to this much more: `spread`
        # times its height on a linear axis, `spread_decades` decades on a log axis (robust.py).
        self.spread = 3.0
        self.spread_decades = 3.0
        self.trim_outliers = False  # on a linear axis, core series count by their 2..98% quantiles
        # With include_zero: zero is in range only where some series in view (one that counts
        # toward the range) goes under this value; None: always. The normalized sharpness (edge at 1)
        # uses 0.5: arms at λη/2 = 0.95 and 1.05 (the quadratic) are told apart, not flattened onto 1.
        self.zero_below: float | None = None
        self.tags = False  # draw each series' `tag` at its last point (NO_COLOR: arms told apart by it)
        self._series: list[Series] = []
        self._marks: list[Mark] = []
        self._hlines: list[HLine] = []
        self._pyramids: dict[str, MinMaxPyramid] = {}
        self._log_pyramids: dict[str, MinMaxPyramid] = {}  # over log10(1 + step), kept only while log_x
        self._log_x = False
        # Per series with `offscale`, as last drawn: (in the range somewhere, above it somewhere,
        # below it somewhere), so a legend names a line only where it is drawn (or its arrow).
        self.placement: dict[str, tuple[bool, bool, bool]] = {}
        self._strips: list[Strip] | None = None
        self._strips_size: tuple[int, int] = (0, 0)
        self.frame = _Frame()
        self.render_count = 0  # how many times the strips were rebuilt (tests, benchmarks)

    # -- what to draw ------------------------------------------------------------------------------

    def set_data(self, series: Sequence[Series], marks: Iterable[Mark] = (), hlines: Iterable[HLine] = ()) -> None:
        """New data: rebuild the strips now and refresh only the lines that changed."""
        self._series = list(series)
        self._marks = list(marks)
        self._hlines = list(hlines)
        for s in self._series:
            pyramid = self._pyramids.get(s.key)
            if pyramid is None:
                pyramid = self._pyramids[s.key] = MinMaxPyramid()
            pyramid.update(s.xs, s.ys)
        self._update_log_pyramids()
        self._redraw()

    def _update_log_pyramids(self) -> None:
        if not self._log_x:
            self._log_pyramids.clear()  # rebuilt from the whole series when the axis is log again
            return
        for s in self._series:
            pyramid = self._log_pyramids.get(s.key)
            if pyramid is None:
                pyramid = self._log_pyramids[s.key] = MinMaxPyramid()
            pyramid.update(self.to_plot_x(np.asarray(s.xs, dtype=float)), s.ys)

    log_y = RedrawnFlag()
    follow = RedrawnFlag()

    @property
    def log_x(self) -> bool:
        return self._log_x

    @log_x.setter
    def log_x(self, value: bool) -> None:
        if bool(value) != self._log_x:
            self._log_x = bool(value)
            self._update_log_pyramids()
            self._redraw()

    # -- the step axis: linear, or log10(1 + step) ---------------------------------------------------

    def to_plot_x(self, steps: np.ndarray | float) -> Any:
        """Steps in plot coordinates: themselves, or log10(1 + step) on a log step axis (step 0 at the
        left edge, steps 1, 10, 100 a decade apart: a catapult in the first 10 of 60 steps gets half
        the chart). Steps are never negative."""
        if not self._log_x:
            return steps
        return np.log10(1.0 + np.maximum(steps, 0.0))

    def to_step(self, x: float) -> float:
        """A plot x back to a step (the inverse of to_plot_x)."""
        return float(10.0**x - 1.0) if self._log_x else float(x)

    def _columns(self, s: Series, x0: float, x1: float, ncols: int) -> tuple[np.ndarray, np.ndarray]:
        """The series' min and max per column of plot x [x0, x1] (a second pyramid, over log steps, on a
        log step axis, whose columns are uneven in steps: log_step_columns)."""
        if self._log_x:
            return log_step_columns(self._log_pyramids[s.key], x0, x1, ncols)
        return self._pyramids[s.key].columns(x0, x1, ncols)

    # -- the line API ------------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width, height = self.size
        if self._strips is None or self._strips_size != (width, height):
            self._strips = self.render_strips(width, height)
            self._strips_size = (width, height)
        if 0 <= y < len(self._strips):
            return self._strips[y]
        return Strip.blank(width, self.rich_style)

    def on_resize(self) -> None:
        self._strips = None
        self.refresh()

    def _redraw(self) -> None:
        width, height = self.size
        if not self.is_mounted or width <= 0 or height <= 0:
            self._strips = None
            return
        new = self.render_strips(width, height)
        old = self._strips if self._strips_size == (width, height) else None
        self._strips, self._strips_size = new, (width, height)
        if old is None or len(old) != len(new):
            self.refresh()
            return
        for y, (a, b) in enumerate(zip(old, new)):
            if a != b:
                self.refresh(Region(0, y, width, 1))

    # -- drawing -----------------------------------------------------------------------------------

    def _x_range(self, plot_dots: int) -> tuple[float, float]:
        if self.window is not None:
            return self.window
        firsts = [s.xs[0] for s in self._series if len(s.xs)]
        lasts = [s.xs[-1] for s in self._series if len(s.xs)]
        if not lasts:
            return 0.0, 1.0
        lo, hi = float(min(firsts)), float(max(lasts))
        lo = min(lo, 0.0)
        if self._follow:
            per_cell = all(s.kind == "stems" for s in self._series)
            window = float(self.follow_steps or max(8, (plot_dots // 2 if per_cell else plot_dots) - 1))
            lo = max(lo, hi - window)
        elif self.live:
            step = nice_step(max(hi - lo, 1.0), 8)
            hi = math.ceil(hi / step + 1e-9) * step
        if hi - lo < 1:
            hi = lo + 1
        return lo, hi

    def _to_plot_y(self, values: np.ndarray) -> np.ndarray:
        if not self._log_y:
            return values
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(values > 0, np.log10(np.where(values > 0, values, 1.0)), np.nan)

    def _y_range(self, spans: list[tuple[Series, np.ndarray, np.ndarray]]) -> tuple[float, float]:
        fixed = self._to_plot_y(np.array([h.y for h in self._hlines], dtype=float)).tolist()
        if self.include_zero and not self._log_y and (self.zero_below is None or self._reaches_below(spans, self.zero_below)):
            fixed.append(0.0)
        lo, hi = robust_range(
            [(s.fit, s.core, s_lo, s_hi) for s, s_lo, s_hi in spans],
            [v for v in fixed if math.isfinite(v)],
            spread=self.spread_decades if self._log_y else self.spread,
            relative=not self._log_y,
            trim=self.trim_outliers and not self._log_y,
        )
        if lo is None or hi is None:
            return (-1.0, 1.0) if self._log_y else (0.0, 1.0)
        if self._log_y and self.max_decades is not None:
            lo = max(lo, hi - self.max_decades)
        if hi - lo < 1e-12:
            pad = 0.5 if self._log_y else max(abs(lo) * 0.1, 1e-3)
            return lo - pad, hi + pad
        low = lo
        pad = 0.04 * (hi - lo)
        lo, hi = lo - pad, hi + pad
        if self.live:
            step = nice_step(hi - lo, 8) / 2
            lo, hi = math.floor(lo / step) * step, math.ceil(hi / step) * step
        if self.include_zero and not self._log_y and low >= 0:
            lo = max(lo, 0.0) if low == 0 else lo
        return lo, hi

    @staticmethod
    def _reaches_below(spans: list[tuple[Series, np.ndarray, np.ndarray]], value: float) -> bool:
        with np.errstate(invalid="ignore"):
            return any(bool(np.any(lo < value)) for s, lo, _ in spans if s.fit != "none")

    def _style(self, color: str, base: Style) -> Style:
        """A series' style: where the terminal has 16 colours, a faint colour is its base colour (a
        blend, or `dim`, which Textual turns into a blend, maps to another of the 16 and no longer
        matches the legend and the header); the highlighted arm is still the one drawn on top."""
        if isinstance(color, Shade) and self._few_colors():
            return base + Style(color=color.base)
        return base + Style(color=color)

    def _few_colors(self) -> bool:
        try:
            return self.app.console.color_system in ("standard", "windows")
        except Exception:  # no app (a chart rendered on its own)
            return False

    def has_data(self) -> bool:
        """Whether any series has a finite value to draw (an empty chart's panel says why instead)."""
        return any(len(s.ys) and bool(np.isfinite(np.asarray(s.ys, dtype=float)).any()) for s in self._series)

    def x_ticks(self, x0: float, x1: float, n: int) -> list[float]:
        """Where the x axis has ticks: whole steps. A chart over another x (landscape_screen.XChart:
        t, s) overrides this and `x_label`."""
        return [t for t in linear_ticks(x0, x1, n, integer=True) if t >= x0]

    def x_label(self, t: float, span: float, n: int) -> str:
        return format_step(t)

    def end_ticks(self, x0: float, x1: float, n: int, cols: int, to_dot: Callable[[float], int]) -> list[float]:
        """x_ticks with a tick at the end of the axis where round numbers allow one. A run of 1000 steps
        ends at step 999 (of 60: at 59), so its round end lies just past the axis and had no tick: a
        tick at most a cell (or a step) past the last dot gets the last cell. Where `n` ticks' step misses the end
        (800 steps: 0 500), a few more are tried (0 200 400 600 800), as long as labels keep a gap."""
        width = 2 * cols
        most = max(n, cols // (len(self.x_label(x1, x1 - x0, n)) + 3))
        first: list[float] | None = None
        for k in range(n, most + 1):
            ticks = self.x_ticks(x0, x1, k)
            after = ticks[-1] + (ticks[-1] - ticks[-2]) if len(ticks) >= 2 else None
            if after is not None and (after <= x1 + 1 or to_dot(after) <= width + 1):  # a cell or a step past the end
                ticks.append(after)
            if first is None:
                first = ticks
            if ticks and to_dot(ticks[-1]) >= width - 2:
                return ticks
        return first or []

    def render_strips(self, width: int, height: int) -> list[Strip]:
        """All the lines of the chart at this size (pure given the data: no side effects but caches)."""
        self.render_count += 1
        base = self.rich_style
        axis_style = label_style = base + Style(color=MUTED)  # one style: fewer escape codes
        if width <= AXIS_WIDTH + 2 or height < 2:
            return [Strip.blank(width, base) for _ in range(height)]
        label_rows = 2 if height >= 5 else 1  # the axis line, then (if room) the step labels
        rows, cols = height - label_rows, width - AXIS_WIDTH
        canvas = BrailleCanvas(cols, rows)
        frame = self.frame = _Frame()
        frame.x0, frame.x1 = (float(self.to_plot_x(x)) for x in self._x_range(canvas.width))

        spans = []
        for s in self._series:
            if s.kind == "stems":  # one bar per cell (both dot columns): up/down steps read as a checker
                lo, hi = self._columns(s, frame.x0, frame.x1 + 1e-9, canvas.cols)
                lo, hi = np.repeat(lo, 2), np.repeat(hi, 2)
            else:
                lo, hi = self._columns(s, frame.x0, frame.x1 + 1e-9, canvas.width)
            spans.append((s, self._to_plot_y(lo), self._to_plot_y(hi)))
        frame.y0, frame.y1 = self._y_range(spans)

        def to_row(v: np.ndarray) -> np.ndarray:
            return (frame.y1 - v) / (frame.y1 - frame.y0) * (canvas.height - 1)

        styles: list[Style] = []

        def layer(color: str) -> int:
            styles.append(self._style(color, base))
            return len(styles) - 1

        def to_dot(step: float) -> int:
            return int(round((float(self.to_plot_x(step)) - frame.x0) / (frame.x1 - frame.x0) * (canvas.width - 1)))

        # Bottom layer: event marks, dotted vertical lines.
        wanted: list[tuple[int, Mark]] = []
        for m in self._marks:
            if frame.x0 <= self.to_plot_x(m.step) <= frame.x1:
                x = to_dot(m.step)
                if m.line:
                    mask = np.zeros((canvas.height, canvas.width), dtype=bool)
                    mask[::3, x] = True
                    canvas.draw_mask(mask, layer(faint(m.color, 0.55)), level=0)
                wanted.append((x // 2, m))
        mark_cols = place_letters(wanted, cols)
        # The cursor step, a solid vertical line under the data.
        if self.cursor is not None and frame.x0 <= self.to_plot_x(self.cursor) <= frame.x1:
            x = to_dot(self.cursor)
            mask = np.zeros((canvas.height, canvas.width), dtype=bool)
            mask[:, x] = True
            canvas.draw_mask(mask, layer(MUTED), level=0)
        # Reference lines, dashed.
        dash = (np.arange(canvas.width) // 2) % 2 == 0
        dots = np.arange(canvas.width) % 3 == 0
        for h in self._hlines:
            y = to_row(self._to_plot_y(np.array([h.y], dtype=float)))[0]
            row = np.full(canvas.width, y)
            canvas.draw_mask(canvas.spans_mask(row, row) & dash[None, :], layer(h.color), level=0)
        # The series, in order (the caller puts the highlighted arm last, on top).
        for s, lo, hi in spans:
            if s.kind == "stems":
                zero = 0.0 if not self._log_y else frame.y0
                top, bottom = np.fmax(hi, zero), np.fmin(lo, zero)
                top = np.where(np.isfinite(hi), top, np.nan)
            else:
                bottom, top = _fill_and_join(lo, hi)
            mask = canvas.spans_mask(to_row(top), to_row(bottom))
            if s.kind == "dashed":
                mask &= dash[None, :]
            elif s.kind == "dotted":
                mask &= dots[None, :]
            canvas.draw_mask(mask, layer(faint(s.color) if s.faint else s.color), level=1 if s.faint or isinstance(s.color, Shade) else 2)

        # Over the dots: arrows at the edge where a series lies beyond the range, tags at its end.
        overlay: Overlay = {}
        placed = {}
        for s, lo, hi in spans:
            if s.offscale:
                if s.edge_line:  # a line's arrows never hide a trace's dots on the edge row, nor a trace's arrow or tag
                    edge: Overlay = {}
                    offscale_arrows(edge, lo, hi, frame.y0, frame.y1, canvas.rows, s.color, every=EDGE_EVERY)
                    overlay.update({rc: v for rc, v in edge.items() if not canvas.bits[rc] and rc not in overlay})
                else:
                    offscale_arrows(overlay, lo, hi, frame.y0, frame.y1, canvas.rows, s.color, every=ARROW_EVERY if s.core else None)
                placed[s.key] = placement(lo, hi, frame.y0, frame.y1)
            if self.tags and s.tag:
                end_tags(overlay, s.tag, lo, hi, to_row, canvas.rows, s.color)
        if placed != self.placement:
            self.placement = placed
            if self.is_attached:
                self.post_message(self.Placed())

        # Y axis labels.
        max_ticks = max(2, rows // 2)
        if self._log_y:
            labelled = [
                (t, format_decade(round(t)) if abs(t - round(t)) < 1e-9 else format_value(10**t))
                for t in log_ticks(frame.y0, frame.y1, max_ticks)
            ]
        else:
            labelled = labelled_ticks(frame.y0, frame.y1, max_ticks)
        tick_rows: dict[int, str] = {}
        for t, label in labelled:
            r = int(round(to_row(np.array([t]))[0])) // 4
            if 0 <= r < rows and r not in tick_rows and len(label) <= LABEL_WIDTH:
                tick_rows[r] = label  # a label too wide to be exact is left out, never cut

        strips: list[Strip] = []
        owner_rows = _fill_blank_owners(canvas.owner, canvas.bits)
        texts = canvas.text_rows()
        for (r, c), (char, color) in overlay.items():
            texts[r] = texts[r][:c] + char + texts[r][c + 1 :]
            owner_rows[r, c] = layer(color)
        for r, text in enumerate(texts):
            segments = [Segment(tick_rows.get(r, "").rjust(LABEL_WIDTH) + ("┤" if r in tick_rows else "│"), axis_style)]
            owners = owner_rows[r]
            cuts = np.flatnonzero(owners[1:] != owners[:-1]) + 1
            start = 0
            for end in [*cuts.tolist(), cols]:
                owner = int(owners[start])
                segments.append(Segment(text[start:end], styles[owner] if owner >= 0 else base))
                start = end
            strips.append(Strip(segments, width))

        # X axis: ticks, event letters, labels.
        n_ticks = max(2, cols // 10)
        s0, s1 = self.to_step(frame.x0), self.to_step(frame.x1)
        if self._log_x:
            xticks = log_step_ticks(s0, s1, lambda t: min(to_dot(t) // 2, cols - 1), len(format_step(s1)) + 2)
        else:
            xticks = self.end_ticks(frame.x0, frame.x1, n_ticks, cols, to_dot)
        axis = ["─"] * cols
        labels = [" "] * cols
        free_from = 0
        for t in xticks:
            c = min(to_dot(t) // 2, cols - 1)
            if not 0 <= c:
                continue
            axis[c] = "┬"
            text = self.x_label(t, s1 - s0, n_ticks)
            at = min(max(0, c - len(text) // 2), cols - len(text))
            if at >= free_from and at >= 0:
                labels[at : at + len(text)] = list(text)
                free_from = at + len(text) + 1
        axis_segments = [Segment(" " * LABEL_WIDTH + "└", axis_style)]
        start = 0
        for c in sorted(mark_cols):
            if c > start:
                axis_segments.append(Segment("".join(axis[start:c]), axis_style))
            axis_segments.append(Segment(mark_cols[c].letter[:1], base + Style(color=mark_cols[c].color, bold=True)))
            start = c + 1
        if start < cols:
            axis_segments.append(Segment("".join(axis[start:]), axis_style))
        strips.append(Strip(axis_segments, width))
        if label_rows == 2:
            strips.append(Strip([Segment(" " * AXIS_WIDTH + "".join(labels), label_style)], width))
        return strips
