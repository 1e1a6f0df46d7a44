"""`L`: the landscape between two arms' end points (landscape.json, from `eos-tui landscape RUN_DIR`).

    ╭ Loss along the path ─────────────────────╮  the straight line (and the trained Bézier curve)
    │ braille chart against t, −0.2 … 1.2       │  from end point A (t=0) to B (t=1); barriers in
    ╰──────────────── ━ line barrier 0.047 ━ … ╯  the legend
     end point   loss  λ_max  adaptive  trace     how flat each end is, three ways
    ╭ Slice along the top eigenvector at A ────╮  L(θ + s·u) and the parabola ½λ_max·s²
    ╰──────────────────────────────────────────╯

The file is read with eos_tui/rundir/landscape.py, which trusts nothing in it: what cannot be shown
is said on the screen, never raised. Without the file, `L` says how to make one. No torch here.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import numpy as np
from rich.cells import cell_len
from rich.markup import escape
from rich.table import Table
from rich.text import Text as RichText
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Static

from ..braille.ticks import format_value, linear_ticks, nice_step
from ..rundir.landscape import LandscapePath, LandscapeRead, landscape_path, read_landscape
from ..rundir.reader import safe_text
from .keys import LANDSCAPE_HOW, bindings
from .screens.help import HelpScreen
from .widgets.chart import Chart, Series
from .widgets.chart.chart import Mark, faint
from .widgets.palette import ARM_COLORS, CYAN, GREEN, MUTED, THEORY_COLOR, YELLOW
from .widgets.panel import Panel

if TYPE_CHECKING:
    from textual.app import App

LINE_COLOR, CURVE_COLOR, SLICE_COLOR, STEP_COLOR = CYAN, GREEN, CYAN, YELLOW

HELP = """\
`L` opens the **landscape** between two arms' end points, where the run directory holds a
`landscape.json` (made by `eos-tui landscape RUN_DIR --curve`, once the run has checkpoints). At the
top, the loss along the **straight line** from the first end point (t = 0) to the second (t = 1),
extended to t = −0.2 … 1.2, and with `--curve` along a **Bézier curve** whose middle point was
trained to lower it (Garipov et al. 2018). The **barrier** of each (in the legend) is its highest
loss on t ∈ [0, 1] less the higher end's: a high barrier on the line and a near-zero one on the
curve is mode connectivity. The table says how flat each end is: λ_max, the **adaptive sharpness**
(unchanged by the rescalings with which Dinh et al. make λ_max as large as one likes), and the Hessian's trace
(Hutchinson's estimate ± its standard error). Below, the loss along the top eigenvector u,
L(θ + s·u), against the parabola ½λ_max·s² (dotted) that λ_max describes; the marks η are one
gradient step, ±η‖∇L‖, against the valley's width. `l` there: log / linear loss; `esc` closes.
"""


def _fmt(x: float | None) -> str:
    return "—" if x is None or not math.isfinite(x) else f"{x:.4g}"


class XChart(Chart):
    """The app's chart, with an x axis of decimal ticks (t, s) instead of whole steps."""

    def x_ticks(self, x0: float, x1: float, n: int) -> list[float]:
        return list(linear_ticks(x0, x1, n))

    def x_label(self, t: float, span: float, n: int) -> str:
        return format_value(t, nice_step(span, n))


class PathsPanel(Panel):
    TITLE = "Loss along the path"


class SlicePanel(Panel):
    TITLE = "Slice along the top eigenvector"


def _arrays(xs: list[float], ys: list[float]) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)


def _positive(paths: Iterable[LandscapePath]) -> bool:
    values = [v for p in paths for v in p.loss if math.isfinite(v)]
    return bool(values) and all(v > 0 for v in values)


def ends_table(data: LandscapeRead) -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False, expand=False)
    for name in ("end point", "step", "loss", "λ_max", "adaptive", "trace ± s.e."):
        first = name == "end point"
        table.add_column(name, justify="left" if first else "right", no_wrap=True, overflow="ellipsis", max_width=24 if first else None)
    for i, e in enumerate(data.ends):
        table.add_row(
            RichText("AB"[i] + " ", style=f"bold {ARM_COLORS[i]}") + RichText(e.arm),  # plain Text: never markup
            "—" if e.step is None else str(e.step),
            _fmt(e.loss),
            _fmt(e.sharpness),
            _fmt(e.adaptive_sharpness),
            f"{_fmt(e.trace)} ± {_fmt(e.trace_stderr)}",
        )
    return table


def landscape_title(data_of: str | None, path: str, width: int | None) -> RichText:
    """ "Landscape · losses on seed-1's data · /runs/x/landscape.json" in one line of `width`: the
    path cut from its left ("…/x/landscape.json"), or left out, before anything else is cut. (The
    title is one line high: a path too long for it used to leave "…seed-1's data ·" and no path.)"""
    head = RichText("Landscape", style="bold")
    if data_of:
        head += RichText(f" · losses on {data_of}'s data")
    if width is None or head.cell_len + 3 + cell_len(path) <= width:
        return head + RichText(" · ") + RichText(path, style=MUTED)
    room = width - head.cell_len - 3
    name = path.rsplit("/", 1)[-1]
    if room >= cell_len(name) + 1:  # "…" and at least the file's name
        tail = path
        while cell_len(tail) > room - 1:
            tail = tail[1:]
        return head + RichText(" · ") + RichText("…" + tail, style=MUTED)
    if head.cell_len > width:
        head.truncate(width, overflow="ellipsis")
    return head


class LandscapeHelp(HelpScreen):
    """`?` on the landscape: what it shows, not the main screen's keys."""

    def markdown(self) -> str:
        return f"# The landscape between two end points\n\n{HELP}"


class LandscapeScreen(Screen[None]):
    DEFAULT_CSS = """
    LandscapeScreen { layout: vertical; }
    LandscapeScreen #landscape-title { height: 1; background: $panel; padding: 0 1; }
    LandscapeScreen #landscape-ends { height: auto; padding: 0 1; }
    LandscapeScreen #landscape-problems { height: auto; max-height: 3; padding: 0 1; color: $warning; }
    LandscapeScreen #landscape-message { height: 1fr; content-align: center middle; padding: 0 2; }
    LandscapeScreen PathsPanel, LandscapeScreen SlicePanel { height: 1fr; }
    """
    BINDINGS = bindings("landscape")  # keys.py

    def __init__(self, run_dir: Path):
        super().__init__()
        self.run_dir = Path(run_dir)
        self.data, self.error = read_landscape(self.run_dir)
        self.log_y = self.data is not None and _positive(p for p in (self.data.line, self.data.curve) if p is not None)

    def compose(self) -> ComposeResult:
        yield Static(self.title_text(None), id="landscape-title")
        data = self.data
        if data is None:
            yield Static(RichText(self.error or "no landscape"), id="landscape-message")
        else:
            if data.line is not None or data.curve is not None:
                with PathsPanel():
                    yield XChart(log_y=self.log_y, max_decades=12, id="landscape-paths")
            if data.ends:
                yield Static(ends_table(data), id="landscape-ends")
            if data.slice is not None:
                with SlicePanel():
                    yield XChart(id="landscape-slice")
            if data.problems:
                yield Static(RichText("left out: " + "; ".join(data.problems)), id="landscape-problems")
        yield Footer()

    def title_text(self, width: int | None) -> RichText:
        return landscape_title(self.data.data_of if self.data is not None else None, safe_text(str(landscape_path(self.run_dir))), width)

    def on_resize(self) -> None:
        title = self.query_one("#landscape-title", Static)
        title.update(self.title_text(title.content_size.width or None))

    def on_mount(self) -> None:
        data = self.data
        if data is None:
            return
        if data.line is not None or data.curve is not None:
            self.show_paths(data)
        if data.slice is not None:
            self.show_slice(data)

    def show_paths(self, data: LandscapeRead) -> None:
        chart = self.query_one("#landscape-paths", XChart)
        series, legend = [], []
        xs_all: list[float] = []
        for name, path, color in (("line", data.line, LINE_COLOR), ("curve", data.curve, CURVE_COLOR)):
            if path is None:
                continue
            xs_all += [path.t[0], path.t[-1]]
            if path.test_loss is not None:
                series.append(Series(f"{name}/test", *_arrays(path.t, path.test_loss), faint(color), kind="dashed"))
            series.append(Series(name, *_arrays(path.t, path.loss), color))
            what = f"barrier {_fmt(path.barrier)}"
            if path.test_loss is not None:
                what += f", held-out {_fmt(path.test_barrier)}"
            legend.append(f"[{color}]━ {name}[/] {escape(what)}")
        marks = [Mark(float(i), "AB"[i], ARM_COLORS[i]) for i in range(2)]
        chart.window = (min(xs_all), max(xs_all))
        chart.set_data(series, marks)
        panel = self.query_one(PathsPanel)
        ends = [e.arm for e in data.ends]
        if len(ends) == 2:
            panel.border_title = f"Loss from A {escape(ends[0])} (t=0) to B {escape(ends[1])} (t=1)"
        panel.set_subtitle("  ".join(legend))

    def show_slice(self, data: LandscapeRead) -> None:
        sl = data.slice
        assert sl is not None
        chart = self.query_one("#landscape-slice", XChart)
        series = []
        if sl.parabola is not None:
            series.append(Series("parabola", *_arrays(sl.s, sl.parabola), THEORY_COLOR, kind="dotted", fit="none", offscale=True))
        series.append(Series("slice", *_arrays(sl.s, sl.loss), SLICE_COLOR))
        marks = [Mark(v, "η", STEP_COLOR) for v in ((-sl.step, sl.step) if sl.step else ()) if sl.s[0] <= v <= sl.s[-1]]
        chart.window = (sl.s[0], sl.s[-1])
        chart.set_data(series, marks)
        panel = self.query_one(SlicePanel)
        panel.border_title = f"Slice along the top eigenvector at {escape(sl.arm)}: L(θ + s·u)"
        legend = [f"[{SLICE_COLOR}]━ loss[/]"]
        if sl.parabola is not None:
            legend.append(f"[{THEORY_COLOR}]┅ ½λ·s²[/] λ={escape(_fmt(sl.sharpness))}")
        if sl.step:
            legend.append(f"[{STEP_COLOR}]η[/] ±{escape(_fmt(sl.step))}")
        panel.set_subtitle("  ".join(legend))

    def action_toggle_log(self) -> None:
        found = self.query("#landscape-paths")
        if found:
            chart = found.first(XChart)
            chart.log_y = not chart.log_y

    def action_help(self) -> None:
        self.app.push_screen(LandscapeHelp([]))

    def action_close(self) -> None:
        self.dismiss(None)


class LandscapeKeys:
    """The app's `L` and its palette text; the app provides `run_dir`."""

    run_dir: Path

    def action_landscape(self) -> None:
        app: App = self  # type: ignore[assignment]
        if isinstance(app.screen, LandscapeScreen):
            return
        if not landscape_path(self.run_dir).exists():
            run = safe_text(str(self.run_dir))
            hint = f"No landscape.json in this run yet: make one with\neos-tui landscape {escape(run)} --curve"
            app.notify(hint, title="landscape", timeout=10)
            return
        app.push_screen(LandscapeScreen(self.run_dir))

    def landscape_palette(self, text: tuple[str, str]) -> tuple[str, str]:
        """The palette's (title, help) for `L`: `text` (keys.py), or how to make landscape.json where there is none."""
        return text if landscape_path(self.run_dir).exists() else LANDSCAPE_HOW
