"""Self-stabilization panel: Damian, Nichani & Lee 2022's (x, y) phase portrait, live.

x = ⟨u, θ − θ†⟩ is how far gradient descent has swung along the top eigenvector u away from the
constrained trajectory θ† (which stays exactly at the edge), and y = ⟨∇S, θ − θ†⟩ how far it sits
along the sharpness gradient, to first order S(θ) − 2/η. The engine measures both at every step
from the first crossing of 2/η (engine/selfstab.py, measure.self_stabilization) and runs the
paper's 2-D map beside them; this panel draws the cycle the two trace, in place of the
eigendirection panel when `p` is pressed or the scenario's [display] panel = "portrait" asks.
"""

from __future__ import annotations

import math

import numpy as np
from rich.markup import escape
from rich.segment import Segment
from rich.style import Style
from rich.text import Text as RichText
from textual.app import ComposeResult
from textual.strip import Strip
from textual.widget import Widget

from ...braille.portrait import PortraitFrame, Trace, draw_portrait, range_with_zero, symmetric_range
from ...braille.ticks import LABEL_WIDTH, format_value
from ...rundir.format import RUNNING
from ..model import SELFSTAB_STAGES, RunModel, SelfStabSeries
from ..view import View
from .chart.chart import faint
from .eigendirection import summary_line
from .palette import AT_THRESHOLD, MUTED, STAGE_COLORS, STAGE_NAMES, THEORY_COLOR, ZERO_LINE, arm_color
from .panel import Panel, Text

# The trail: the newest points in the arm's colour, older ones fading towards the background, so the
# direction of travel reads at a glance; older than the last band, a point is not drawn.
TRAIL_BANDS = ((8, 1.0), (40, 0.6), (160, 0.3))  # (age limit in steps, brightness)
TRAIL_STEPS = TRAIL_BANDS[-1][0]
NOW_MARK, PREDICTED_MARK = "●", "○"
EIGENGAP_TRUSTED = 0.01  # (λ1 − λ2)/λ1 below this: two eigenvalues share the edge, the map does not apply


def trail_slice(series: SelfStabSeries, cursor: int | None) -> slice:
    """The records of the trail: the last TRAIL_STEPS steps up to the cursor (when it lies within the
    records' steps) or up to the newest."""
    steps = series.step.values
    end = len(steps)
    if cursor is not None and len(steps) and steps[0] <= cursor <= steps[-1]:
        end = int(np.searchsorted(steps, cursor, side="right"))
    if not end:
        return slice(0, 0)
    start = int(np.searchsorted(steps, steps[end - 1] - TRAIL_STEPS + 1, side="left"))
    return slice(start, end)


def stage_since(series: SelfStabSeries, index: int) -> tuple[str, int] | None:
    """The stage at record `index` and the step it began (the first of its run of records)."""
    if not 0 <= index < len(series.stages) or not series.stages[index]:
        return None
    stage = series.stages[index]
    i = index
    while i > 0 and series.stages[i - 1] == stage and series.crossing.values[i] == 0:
        i -= 1
    return stage, int(series.step.values[i])


def x2_ratio(series: SelfStabSeries, end: int) -> float | None:
    """The paper's self-stabilization level so far: the mean x² over the second half of the records
    up to `end`, over the mean 2α/β there (≈ 1 predicted; the run's summary field
    selfstab_x2_ratio is this at the run's end)."""
    half = slice(end // 2, end)
    x, alpha, beta = series.x.values[half], series.alpha.values[half], series.beta.values[half]
    ok = np.isfinite(x) & np.isfinite(alpha) & np.isfinite(beta) & (beta > 0)
    if ok.sum() < 2:
        return None
    level = float(np.mean(2 * alpha[ok] / beta[ok]))
    return float(np.mean(x[ok] ** 2)) / level if level > 0 else None


class PhasePortrait(Widget):
    """The (x, y) plane on the line API: y tick labels, the braille plot, then the x labels."""

    DEFAULT_CSS = "PhasePortrait { height: 1fr; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.series: SelfStabSeries | None = None
        self.window = slice(0, 0)
        self.color = MUTED
        self._strips: list[Strip] | None = None
        self._strips_size = (0, 0)
        self.frame: PortraitFrame | None = None  # the last draw's ranges (tests)

    def set_data(self, series: SelfStabSeries | None, window: slice, color: str) -> None:
        self.series, self.window, self.color = series, window, color
        self._strips = None
        self.refresh()

    def has_data(self) -> bool:
        return self.series is not None and self.window.stop > self.window.start

    def on_resize(self) -> None:
        self._strips = None
        self.refresh()

    def render_line(self, y: int) -> Strip:
        width, height = self.size
        if self._strips is None or self._strips_size != (width, height):
            self._strips = self.render_strips(width, height)
            self._strips_size = (width, height)
        return self._strips[y] if 0 <= y < len(self._strips) else Strip.blank(width, self.rich_style)

    def render_strips(self, width: int, height: int) -> list[Strip]:
        base = self.rich_style
        label_style = base + Style(color=MUTED)
        rows, cols = height - 1, width - LABEL_WIDTH - 1
        series = self.series
        if rows < 2 or cols < 4 or series is None or not self.has_data():
            return [Strip.blank(width, base) for _ in range(height)]
        w = self.window
        xs, ys, steps = series.x.values[w], series.y.values[w], series.step.values[w]
        xp, yp = series.x_pred.values[w], series.y_pred.values[w]
        x_range, y_range = symmetric_range(xs), range_with_zero(ys)

        styles: list[Style] = [base + Style(color=ZERO_LINE)]  # layer 0: the axes
        predicted = len(styles)
        styles.append(base + Style(color=THEORY_COLOR))
        # Each point in its stage's colour (the arm's where no stage is named), fading with age.
        names = [*SELFSTAB_STAGES, ""]
        groups = np.array([names.index(st) if st in names else len(names) - 1 for st in series.stages[w]])
        group_layers: dict[int, list[tuple[float, int]]] = {}
        for g, stage in enumerate(names):
            color = STAGE_COLORS.get(stage, self.color)
            group_layers[g] = []
            for limit, brightness in TRAIL_BANDS:
                group_layers[g].append((limit, len(styles)))
                styles.append(base + Style(color=color if brightness >= 1 else faint(color, 1 - brightness)))
        traces = [
            Trace(xp, yp, steps, [(math.inf, predicted)], level=1, dotted=True),
            Trace(xs, ys, steps, [(limit, 0) for limit, _ in TRAIL_BANDS], level=2, groups=groups, group_layers=group_layers),
        ]
        frame = self.frame = draw_portrait(cols, rows, traces, x_range, y_range, axes_layer=0)
        canvas = frame.canvas
        texts = canvas.text_rows()
        owners = canvas.owner.copy()
        # The current point, measured and predicted, as glyphs over the dots.
        now_style = len(styles)
        styles.append(base + Style(color=self.color, bold=True))
        for mark, (x, y), layer in ((PREDICTED_MARK, (xp[-1], yp[-1]), predicted), (NOW_MARK, (xs[-1], ys[-1]), now_style)):
            cell = frame.cell_of(float(x), float(y))
            if cell is not None:
                r, c = cell
                texts[r] = texts[r][:c] + mark + texts[r][c + 1 :]
                owners[r, c] = layer

        # y labels: the top, S = 2/η (y = 0) and the bottom of the range.
        y0, y1 = y_range
        labels: dict[int, str] = {0: format_value(y1), rows - 1: format_value(y0)}
        zero_row = int(round(y1 / (y1 - y0) * (canvas.height - 1))) // 4
        if 0 < zero_row < rows - 1:
            labels[zero_row] = "y 0"
        strips: list[Strip] = []
        for r, text in enumerate(texts):
            label = labels.get(r, "")
            segments = [Segment(label.rjust(LABEL_WIDTH)[:LABEL_WIDTH] + ("┤" if label else "│"), label_style)]
            row = owners[r]
            cuts = np.flatnonzero(row[1:] != row[:-1]) + 1
            start = 0
            for end in [*cuts.tolist(), cols]:
                owner = int(row[start])
                segments.append(Segment(text[start:end], styles[owner] if owner >= 0 else base))
                start = end
            strips.append(Strip(segments, width))
        # x labels: both ends of the symmetric range, and "x" at 0.
        left, right = format_value(x_range[0]), format_value(x_range[1])
        line = [" "] * cols
        mid = cols // 2
        for at, text in ((0, left), (cols - len(right), right), (mid, "x 0")):
            at = max(0, min(at - (1 if text == "x 0" else 0), cols - len(text)))
            if all(ch == " " for ch in line[max(0, at - 1) : at + len(text) + 1]):
                line[at : at + len(text)] = list(text)
        strips.append(Strip([Segment(" " * (LABEL_WIDTH + 1), base), Segment("".join(line), label_style)], width))
        return strips


class PortraitPanel(Panel):
    TITLE = "Self-stabilization (x, y)"
    WAITING_FOR = "self-stabilization measurement"
    help = """\
**Self-stabilization** (Damian, Nichani & Lee 2022) is why gradient descent stays at the edge. θ† is
the constrained trajectory: gradient descent kept on the set where S = λ_max ≤ 2/η and the gradient
has no component along u. The panel plots x = ⟨u, θ − θ†⟩ (across, the swing along the top
eigenvector) against y = ⟨∇S, θ − θ†⟩ (up, to first order S − 2/η: above the dashed line, GD is
unstable along u). Each step's point, in its stage's colour, bright now (●) and fading with age; x flips sign every step,
so each side of x = 0 traces the same cycle, mirrored. One cycle has four stages:

**1. Progressive sharpening** (y < 0, |x| small): below the edge, training itself raises S at
the rate α = −⟨∇L, ∇S⟩; y climbs by ηα a step.
**2. Blow-up** (y > 0, |x| growing): S is above 2/η, so each step multiplies the swing along u
by |1 + ηy| > 1; the point runs outward.
**3. Self-stabilization** (|x| large, y falling): the swing's own third-order effect, −ηβx²/2 a
step with β = ‖∇S‖², pushes S back down: the point falls.
**4. Return to stability** (y < 0, |x| shrinking): S is under 2/η again, the swing dies out by
|1 + ηy| < 1 a step, and the cycle starts over.

The dotted trace (○ now) is the paper's predicted map x ← −(1 + ηy)x, y ← y + η(α − βx²/2), run from
the measured (x, y) and restarted at each crossing. It assumes one eigenvalue at the edge: where
λ2 is within 1% of λ1 the line below says **λ2≈λ1** and the prediction is not to be trusted. The line
gives the stage and the step it began, the mean x² over the second half of the records so far over
the mean 2α/β (the paper predicts ≈ 1), and ‖θ − θ†‖. `p` switches back to the eigendirection.
"""

    _shown: tuple[SelfStabSeries, slice] | None = None

    def set_summary(self) -> None:
        if self._shown is not None:
            self.query_one("#portrait-summary", Text).set(self.summary(*self._shown, self.content_size.width))

    def on_resize(self) -> None:
        # The line is fitted to the width: `p` shows the panel after the frame that filled it, at
        # width 0, and a run that has ended brings no next frame.
        self.set_summary()

    def compose(self) -> ComposeResult:
        yield PhasePortrait(id="portrait-plot")
        yield Text("", id="portrait-summary")

    def show(self, model: RunModel, view: View) -> None:
        self.display = view.portrait
        # The portrait needs rows: a reparameterization panel with no checks to show gives them up
        # while it is on (where the flows' distances stand in its place, flow_distance.py decides).
        flows = any(p.display for p in self.screen.query("FlowDistancePanel"))
        keep = not flows and not (view.portrait and not any(a.reparams for a in model.arms.values()))
        for other in self.screen.query("ReparamPanel"):
            if other.display != keep:
                other.display = keep
        names = list(model.arms)
        arm = model.arms.get(view.arm or "")
        plot = self.query_one(PhasePortrait)
        if arm is None or not arm.has_selfstab:
            self._shown = None
            plot.set_data(None, slice(0, 0), MUTED)
            return
        color = arm_color(names.index(arm.name))
        series = arm.selfstab
        window = trail_slice(series, view.cursor)
        plot.set_data(series, window, color)
        self._shown = (series, window)
        self.set_summary()
        self.set_subtitle(f"[{color}]{escape(arm.name)}[/] [{THEORY_COLOR}]⋯ map[/]")

    @staticmethod
    def summary(series: SelfStabSeries, window: slice, width: int | None) -> str:
        """The line under the plot, fitted to `width`: the stage and the step it began, the eigengap
        flag, then what leaves first when it does not fit (‖θ − θ†‖, the x² ratio, then "since")."""
        i = window.stop - 1
        stage = stage_since(series, i)
        name = f"[{STAGE_COLORS.get(stage[0], MUTED)}]{escape(STAGE_NAMES.get(stage[0], stage[0]))}[/]" if stage else None
        gap = series.eigengap.values[i]
        flag = [f"[{AT_THRESHOLD}]λ2≈λ1[/]"] if math.isfinite(gap) and gap < EIGENGAP_TRUSTED else []
        tail = []
        ratio = x2_ratio(series, window.stop)
        if ratio is not None:
            tail.append(f"x²/(2α/β) {ratio:.2f}")
        dist = series.distance.values[i]
        if math.isfinite(dist):
            tail.append(f"‖θ−θ†‖ {format_value(dist).strip()}")
        if name is None or stage is None:
            return summary_line(flag, None, tail, width)
        line = summary_line([f"{name} [{MUTED}]since {stage[1]}[/]", *flag], None, tail, width)
        if width and RichText.from_markup(line).cell_len > width:
            line = summary_line([name, *flag], None, [], width)  # the stage's name before its start
        return line

    def empty_reason(self, model: RunModel, view: View) -> str | None:
        """Why there is no portrait for the highlighted arm (None: there is one)."""
        arm = model.arms.get(view.arm or "")
        if arm is not None and arm.has_selfstab:
            return None
        if arm is not None and any(a.has_selfstab for a in model.arms.values()):
            return f"no (x, y) for {escape(arm.name)}: tab to an arm with measure.self_stabilization"
        if model.status in (RUNNING, "starting", "unknown"):
            return "no (x, y) yet: they start at the first crossing of 2/η, on an arm with measure.self_stabilization = true"
        return "no (x, y) in this run: measure.self_stabilization = true on a full-batch GD arm"
