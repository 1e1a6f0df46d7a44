"""Sharpness panel: λ_max per arm against the stability threshold 2/η_t."""

from __future__ import annotations

from textual.app import ComposeResult

from ..model import RunModel
from ..view import View
from .arms import arms_in_draw_order, event_marks, legend
from .chart import Chart, Series, faint
from .flows import SHARPNESS_HELP as FLOWS_HELP
from .flows import sharpness_series as flow_sharpness_series
from .palette import MUTED, THEORY_COLOR, THRESHOLD_LABEL
from .panel import Panel


class SharpnessPanel(Panel):
    TITLE = "Sharpness λ_max"
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
! above the threshold at the first measurement).
For **Adam and RMSprop** the quantity at the edge is the *preconditioned* sharpness λ_max(P⁻¹H),
P the optimizer's diagonal preconditioner (Cohen et al. 2022): the title says **P⁻¹H**, the solid
line is λ_max(P⁻¹H) against Adam's (2+2β1)/((1−β1)η) (38/η at β1 = 0.9) or RMSprop's 2/η, and the
dotted trace is the raw λ_max of H, which does not hover. With Nesterov momentum β the threshold
is 2(1+β)/((1+2β)η).
"""
    help += "\n" + FLOWS_HELP  # the central and the stable flow (widgets/flows.py)

    def compose(self) -> ComposeResult:
        yield Chart(include_zero=True, id="sharpness-chart")

    def show(self, model: RunModel, view: View) -> None:
        series = []
        for arm, color, _highlighted in arms_in_draw_order(model, view):
            xs = arm.sharpness_step.values
            for j, col in enumerate(arm.eigenvalues[1:], start=1):
                series.append(Series(f"{arm.name}/eig{j}", xs, col.values, faint(color, 0.55), fit="none"))
            series.append(Series(f"{arm.name}/threshold", arm.step.values, arm.threshold.values, color, kind="dashed", fit="ends"))
            if arm.has_tracked_sharpness:  # every step, under the converged measurements
                series.append(Series(f"{arm.name}/tracked", arm.step.values, arm.sharpness_tracked.values, faint(color, 0.45), fit="none"))
            if arm.has_uv_theory:
                series.append(
                    Series(
                        f"{arm.name}/ntk-map", arm.uv_step.values, arm.uv_sharpness_theory.values, THEORY_COLOR, kind="dotted", fit="none"
                    )
                )
            if arm.preconditioned:  # the raw λ_max(H) beside λ_max(P⁻¹H)
                series.append(Series(f"{arm.name}/raw", xs, arm.raw_sharpness.values, faint(color, 0.6), kind="dotted", fit="none"))
            series += flow_sharpness_series(arm)  # the central flow's λ_max, flat at 2/η
            if arm.eigenvalues:
                series.append(Series(f"{arm.name}/lambda", xs, arm.eigenvalues[0].values, color))
        chart = self.query_one(Chart)
        chart.follow = view.follow
        chart.window, chart.cursor = view.x_range, view.cursor
        chart.live = model.status == "running"
        chart.set_data(series, marks=event_marks(model))
        momentum = any(a.with_momentum for a in model.arms.values())
        pre = any(a.preconditioned for a in model.arms.values())
        factors = {round(f, 6) for a in model.arms.values() if (f := a.threshold_factor) is not None}
        if pre:  # Adam/RMSprop: the threshold's factor itself (38/η_t for Adam at β1 = 0.9)
            label = f"{factors.pop():.4g}/η_t" if len(factors) == 1 else "threshold"
        else:
            label = "2(1+β)/η_t" if momentum else THRESHOLD_LABEL
        extra = f"[{MUTED}]╌ {label}[/]"
        if pre:
            extra += f" [{MUTED}]┈ raw λ_max[/]"
        title = f"{self.TITLE}(P⁻¹H)" if pre and all(a.preconditioned for a in model.arms.values()) else self.TITLE
        title = f"{self.TITLE} (P⁻¹H for Adam/RMSprop arms)" if pre and title == self.TITLE else title
        if self.border_title != title:
            self.border_title = title
        if any(a.has_uv_theory for a in model.arms.values()):
            extra += f" [{THEORY_COLOR}]┈ theory[/]"
        self.set_subtitle(legend(model, view, extra))
