"""Sharpness panel: λ_max per arm against the stability threshold 2/η_t."""

from __future__ import annotations

import math
from functools import partial

import numpy as np
from rich.markup import escape
from textual.app import ComposeResult

from ..model import ArmSeries, RunModel
from ..view import View
from .arms import arm_tag, arms_in_draw_order, event_marks, legend
from .chart import Chart, HLine, Series, faint
from .flows import CENTRAL_COLOR, CENTRAL_MARK
from .flows import SHARPNESS_HELP as FLOWS_HELP
from .flows import sharpness_series as flow_sharpness_series
from .palette import MUTED, THEORY_COLOR, THRESHOLD_LABEL
from .panel import Panel


class SharpnessPanel(Panel):
    TITLE = "Sharpness λ_max"
    WAITING_FOR = "λ_max measurement"
    help = """\
**Sharpness** is λ_max, the largest eigenvalue of the Hessian of the training loss: how sharply
the loss curves along its most curved direction. Gradient descent with step size η is stable on a
quadratic only while λ_max < **2/η** (the dashed line): beyond it, the step overshoots along that
direction and the iterate oscillates with growing amplitude.

Watch λ_max rise during training (*progressive sharpening*) until it meets 2/η, then **hover
there** instead of blowing up: that is the *edge of stability* (Cohen et al. 2021). The loss keeps
falling, non-monotonically. The fainter traces are the next eigenvalues.

With warmup or decay, η changes over time, so the threshold 2/η_t moves: warmup brings it down
from high, decay raises it (and sharpness follows it up). SGD with small batches settles below
2/η. With heavy-ball momentum β the threshold is 2(1+β)/η, and the dashed line is drawn there.
On the uv model the dotted white trace is **theory**: the λ that the exact one-step map
λ' = λ + (ηf²/n)(ηλ − 4) predicts from the step before (Lewkowycz et al. 2020). With ηλ > 4
while the loss spikes, it can only fall: that is the catapult.
Where the scenario tracks λ_max at every step (measure.track_every_step), a dimmer trace under
λ_max shows it: a cheap estimate, two Hessian-vector products a step, that is never above the
true value (a Ritz value) and within about 1% of it on average.
All the charts show the same steps: `←` `→` pan, `+` `-` zoom, `,` `.` move the cursor (the grey
vertical line) whose values are read out under the charts, `f` follows the latest steps.
Letters on the axis mark events (E EoS onset, C catapult, 2 period-2, η step-size change, X divergence,
! above the threshold at the first measurement); the highlighted arm's events also draw a dotted
vertical line, every arm's with `m`.

**Normalized view** (`n`; a scenario can open in it, `[display] sharpness = "normalized"`): each arm's
λ_max divided by its own threshold at that step, λ_max·η_t/2 for plain GD (λ_max(P⁻¹H) over Adam's
threshold, λ_max over 2(1+β)/η_t with momentum), so every arm's edge of stability is the **line at
1**, whatever its η: hovering at 1 is the edge, a catapult drops well under 1, SGD settles below it.
`g` puts the axis on a log scale. The y range follows the highlighted arm (tab): the other arms are
drawn faint, and what lies far beyond its range (a divergence, a threshold ten times its λ_max) is cut
and marked by an arrow at the edge (↑ above, ↓ below) rather than flattening the chart; `h` hides the
other arms and their threshold lines.
For **Adam and RMSprop** the quantity at the edge is the *preconditioned* sharpness λ_max(P⁻¹H),
P the optimizer's diagonal preconditioner (Cohen et al. 2022): the title says **P⁻¹H**, the solid
line is λ_max(P⁻¹H) against Adam's (2+2β1)/((1−β1)η) (38/η at β1 = 0.9) or RMSprop's 2/η, and the
dotted trace is the raw λ_max of H, which does not hover. With Nesterov momentum β the threshold
is 2(1+β)/((1+2β)η).
"""
    help += "\n" + FLOWS_HELP  # the central and the stable flow (widgets/flows.py)

    def compose(self) -> ComposeResult:
        chart = Chart(include_zero=True, max_decades=8, id="sharpness-chart")
        chart.trim_outliers = True
        chart.spread = 2.0  # a threshold more than 3× the highlighted arm's λ_max is cut (arrow), not a squashed chart
        yield chart

    def show(self, model: RunModel, view: View) -> None:
        norm = view.sharpness_normalized
        drawn = arms_in_draw_order(model, view)
        # Each arm's number at the end of its λ_max wherever several arms are drawn, not only under
        # NO_COLOR: sgd_vs_gd's four plateaus (1, 0.85, 0.55, 0.3 of the edge) a row apart are told
        # apart by it in monochrome, and by more than a shade of colour in colour.
        no_color = bool(getattr(self.app, "no_color", False))
        tags = no_color or len(drawn) > 1
        series = []
        thresholds: list[str] = []
        for arm, color, highlighted in drawn:
            xs = arm.sharpness_step.values
            # In the normalized view every value is divided by the arm's threshold at its step (λ_max·η_t/2
            # for GD): each arm's edge is then the line at 1; "/n" keys keep the two views' caches apart.
            over = threshold_at(arm, xs) if norm else None
            key = f"{arm.name}/n" if norm else arm.name
            for j, col in enumerate(arm.eigenvalues[1:], start=1):
                series.append(Series(f"{key}/eig{j}", xs, _div(col.values, over), faint(color, 0.55), fit="none"))
            if not norm:
                series.append(
                    Series(
                        f"{key}/threshold",
                        arm.step.values,
                        arm.threshold.values,
                        color,
                        kind="dashed",
                        fit="ends",
                        core=False,
                        offscale=True,
                        edge_line=True,
                    )
                )
                thresholds.append(f"{key}/threshold")
            if arm.has_tracked_sharpness:  # every step, under the converged measurements
                tracked = arm.sharpness_tracked.values
                by = arm.threshold.values[: len(tracked)] if norm else None
                series.append(Series(f"{key}/tracked", arm.step.values[: len(tracked)], _div(tracked, by), faint(color, 0.45), fit="none"))
            if arm.has_uv_theory:
                uv_xs = arm.uv_step.values
                by = threshold_at(arm, uv_xs) if norm else None
                series.append(
                    Series(f"{key}/ntk-map", uv_xs, _div(arm.uv_sharpness_theory.values, by), THEORY_COLOR, kind="dotted", fit="none")
                )
            if arm.preconditioned:  # the raw λ_max(H) beside λ_max(P⁻¹H); normalized: against 2/η
                by = 2.0 / lr_at(arm, xs) if norm else None
                series.append(Series(f"{key}/raw", xs, _div(arm.raw_sharpness.values, by), faint(color, 0.6), kind="dotted", fit="none"))
            # the central flow's λ_max, flat at 2/η (at 1 in the normalized view)
            series += flow_sharpness_series(arm, partial(threshold_at, arm) if norm else None, key)
            if arm.eigenvalues:
                top = _div(arm.eigenvalues[0].values, over)
                series.append(Series(f"{key}/lambda", xs, top, color, core=highlighted, offscale=True, tag=arm_tag(model, arm.name)))
        chart = self.query_one(Chart)
        chart.follow = view.follow
        chart.window, chart.cursor = view.x_range, view.cursor
        chart.log_x = view.log_steps
        chart.live = model.status == "running"
        chart.log_y = view.sharpness_log_y
        chart.zero_below = 0.5 if norm else None  # normalized: zero only where an arm is far under its edge
        chart.tags = tags
        chart.set_data(series, marks=event_marks(model, view), hlines=[HLine(1.0)] if norm and model.arms else [])
        momentum = any(a.with_momentum for a in model.arms.values())
        pre = any(a.preconditioned for a in model.arms.values())
        factors = {round(f, 6) for a in model.arms.values() if (f := a.threshold_factor) is not None}
        if pre:  # Adam/RMSprop: the threshold's factor itself (38/η_t for Adam at β1 = 0.9)
            label = f"{factors.pop():.4g}/η_t" if len(factors) == 1 else "threshold"
        else:
            label = "2(1+β)/η_t" if momentum else THRESHOLD_LABEL
        extras = [] if not pre else [f"[{MUTED}]┈ raw λ_max[/]"]
        title = f"{self.TITLE}(P⁻¹H)" if pre and all(a.preconditioned for a in model.arms.values()) else self.TITLE
        title = f"{self.TITLE} (P⁻¹H for Adam/RMSprop arms)" if pre and title == self.TITLE else title
        if norm:
            title += " ÷ threshold" if pre or momentum else "·η_t/2"
        if view.sharpness_log_y:
            title += " (log)"
        if view.focus and len(model.arms) > 1:
            title += f" · {escape(view.arm or '')} only"
        title = fit_title(title, self.size.width - 4 if self.size.width else None)
        if self.border_title != title:
            self.border_title = title
        if any(a.has_uv_theory for a in model.arms.values()):
            extras.append(f"[{THEORY_COLOR}]┈ theory[/]")
        if any(a.has_central_flow for a, _, _ in drawn):
            extras.append(f"[{CENTRAL_COLOR}]{CENTRAL_MARK} central flow[/]")
        self._legend = (model, view, None if norm else label, thresholds, extras, tags)
        self.show_legend()

    _legend: tuple[RunModel, View, str | None, list[str], list[str], bool] | None = None

    def show_legend(self) -> None:
        """The legend under the chart: the arms, then the threshold lines as the chart drew them
        (threshold_legend), then the overlays. Called again when the chart finds the threshold on or
        off the scale at a later render than show()'s (its first, sized one)."""
        if self._legend is None:
            return
        model, view, label, thresholds, extras, tags = self._legend
        chart = self.query_one(Chart)
        if label is None:
            line = f"[{MUTED}]╌ edge = 1[/]"
        else:
            line = f"[{MUTED}]{threshold_legend(chart, thresholds, label, self._offscale_value(model, view, chart))}[/]"
        extra = " ".join([line, *extras])
        self.set_subtitle(legend(model, view, extra, width=max(8, self.size.width - 6) if self.size.width else None, tags=tags))

    def on_chart_placed(self) -> None:
        self.show_legend()

    @staticmethod
    def _offscale_value(model: RunModel, view: View, chart: Chart) -> float | None:
        """The highlighted arm's latest threshold where it ends above the chart (decay's 2/η = 16 over
        λ_max under 6): the legend says where the line went."""
        arm = model.arms.get(view.arm or "")
        last = arm.threshold.last() if arm is not None else None
        if last is None or view.sharpness_log_y or not math.isfinite(last) or last <= chart.frame.y1:
            return None
        return last


def threshold_legend(chart: Chart, keys: list[str], label: str, above_at: float | None = None) -> str:
    """The legend's entry for the threshold lines: only what the chart drew. `╌ 2/η_t` where a line is
    in the range; an arrow where it is off the scale (`↑ 2/η_t 40` on reparam, whose 2/η = 40 is far
    above λ_max ≈ 4; `╌ 2/η_t ↑16` on decay after its drop), with the highlighted arm's latest value
    there. Before the chart has been drawn, the line."""
    seen = [chart.placement[k] for k in keys if k in chart.placement]
    inside = not seen or any(p[0] for p in seen)
    arrows = ("↑" if any(p[1] for p in seen) else "") + ("↓" if any(p[2] for p in seen) else "")
    value = f" {above_at:.3g}" if above_at is not None and "↑" in arrows else ""
    if not arrows:
        return f"╌ {label}"
    if inside:
        return f"╌ {label} {arrows}{value.strip()}"
    return f"{arrows} {label}{value}"


def fit_title(title: str, width: int | None) -> str:
    """The title, shortened where it is wider than `width` (80 columns, with `g` and `h`: "Sharpness
    λ_max·η_t/2 (log) · uv-catapult only" was cut to "… · uv-catapult…"): first "Sharpness " goes (the
    panel's quantity stays), then " only"."""
    for short in (title, title.removeprefix("Sharpness "), title.removeprefix("Sharpness ").removesuffix(" only")):
        if width is None or len(short) <= width:
            return short
    return short


def _div(values: np.ndarray, by: np.ndarray | None) -> np.ndarray:
    if by is None:
        return values
    with np.errstate(divide="ignore", invalid="ignore"):
        return values / by[: len(values)]


def _at(arm: ArmSeries, column: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """The step column's value at each of xs (the step record of the same step; else the one before)."""
    steps = arm.step.values
    n = min(len(steps), len(column))
    if n == 0:
        return np.full(len(xs), np.nan)
    i = np.clip(np.searchsorted(steps[:n], xs, side="right") - 1, 0, n - 1)
    return column[:n][i]


def threshold_at(arm: ArmSeries, xs: np.ndarray) -> np.ndarray:
    """The arm's threshold (2/η_t, or its momentum or preconditioner form) at each step of xs."""
    return _at(arm, arm.threshold.values, xs)


def lr_at(arm: ArmSeries, xs: np.ndarray) -> np.ndarray:
    return _at(arm, arm.lr.values, xs)
