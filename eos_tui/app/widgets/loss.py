"""Loss panel: training loss per arm (log scale by default), and the learning rate under it."""

from __future__ import annotations

from rich.text import Text as RichText
from textual.app import ComposeResult
from textual.widgets import Static

from ...braille.ticks import format_value
from ..model import RunModel
from ..smoothing import EmaCache, time_constant
from ..view import View
from .arms import arm_tag, arms_in_draw_order, event_marks, legend
from .chart import Chart, Series
from .flows import LOSS_HELP as FLOWS_HELP
from .flows import loss_series as flow_loss_series
from .palette import MUTED, THEORY_COLOR
from .panel import Panel


class LossPanel(Panel):
    TITLE = "Loss"
    WAITING_FOR = "step"
    help = """\
**Loss** is the training loss per arm (log scale by default; `l` toggles; `e` draws its exponential
moving average over the faint raw trace, α = 1/τ, the time constant τ shown in the subtitle: the
power of 2 between 1% and 2% of the steps in view, at least 2; SGD's loss is noisy from step to step). At the edge of
stability it keeps decreasing over long times but **not monotonically**: it wiggles up and down
from one step to the next as the iterate bounces across the sharp valley. A **catapult** is a
spike: with a large step, the loss shoots up, the iterate is thrown to a flatter region (sharpness
drops below 2/η) and the loss comes back down lower. The y range follows the highlighted arm and
keeps a catapult's spike (up to 1000× above it) in view; a loss beyond that (a diverged arm at 1e7)
or more than 12 decades under the top (a float64 loss at 1e-30) is marked by an arrow at the edge
(↑, ↓), so a trace never seems to stop where it only left the axis.

The dotted white trace, where there is one, is **theory**: on the quadratic, the exact loss
Σᵢ ½λᵢ(1 − ηλᵢ)²ᵗ cᵢ² (each eigendirection shrinks, or grows, by the factor 1 − ηλᵢ per step);
on the uv model, the loss the exact one-step map of (f, λ) predicts from the step before.

Under it, the **learning rate** η_t (the schedule: warmup, decay, steps).

The faint dashed trace in an arm's colour, where there is one, is the **held-out loss** (data with a
test split: `data.test_n` for CIFAR-10, `X_test`/`y_test` in an npz), every `measure.test_every`
steps: does the flatter minimum that edge-of-stability training finds generalize better?
"""
    help += "\n" + FLOWS_HELP  # the central and the stable flow (widgets/flows.py)

    def compose(self) -> ComposeResult:
        chart = Chart(log_y=True, max_decades=12, id="loss-chart")
        chart.trim_outliers = True  # on the linear axis (`l`), a catapult's spike does not set the range
        yield chart
        yield Static("learning rate η_t", classes="chart-label", id="lr-label")
        yield Chart(log_y=False, include_zero=True, id="lr-chart")

    _ema: EmaCache | None = None

    def show(self, model: RunModel, view: View) -> None:
        loss, lr, smoothed = [], [], []
        tau = time_constant(view.x_range)
        tags = bool(getattr(self.app, "no_color", False))
        for arm, color, highlighted in arms_in_draw_order(model, view):
            tag = arm_tag(model, arm.name)
            if view.smooth_loss:  # `e`: the raw trace faint, its EMA over all the arms' raw traces
                self._ema = self._ema or EmaCache()
                ema = self._ema.smoothed(arm.name, arm.loss.values, 1.0 / tau)
                loss.append(Series(f"{arm.name}/loss", arm.step.values, arm.loss.values, color, faint=True, core=highlighted))
                smoothed.append(Series(f"{arm.name}/loss-ema-{tau}", arm.step.values, ema, color, fit="none", offscale=True, tag=tag))
            else:
                loss.append(Series(f"{arm.name}/loss", arm.step.values, arm.loss.values, color, core=highlighted, offscale=True, tag=tag))
            if arm.has_loss_theory:
                loss.append(
                    Series(f"{arm.name}/loss-theory", arm.step.values, arm.loss_theory.values, THEORY_COLOR, kind="dotted", fit="none")
                )
            if arm.has_test_loss:
                xs, ys = arm.test_loss_points()
                loss.append(Series(f"{arm.name}/test-loss", xs, ys, color, kind="dashed", faint=True, core=highlighted))
            if arm.has_uv_theory:
                loss.append(
                    Series(
                        f"{arm.name}/loss-uv-map", arm.uv_step.values, arm.uv_loss_theory.values, THEORY_COLOR, kind="dotted", fit="none"
                    )
                )
            loss += flow_loss_series(arm, color)  # the central flow's predicted loss, the stable flow's
            lr.append(Series(f"{arm.name}/lr", arm.step.values, arm.lr.values, color))
        loss += smoothed
        marks = event_marks(model, view)
        loss_chart = self.query_one("#loss-chart", Chart)
        loss_chart.follow = view.follow
        loss_chart.window, loss_chart.cursor = view.x_range, view.cursor
        loss_chart.log_x = view.log_steps
        loss_chart.log_y = view.loss_log_y
        loss_chart.live = model.status == "running"
        loss_chart.tags = tags
        loss_chart.set_data(loss, marks=marks)
        lr_chart = self.query_one("#lr-chart", Chart)
        lr_chart.follow = view.follow
        lr_chart.window, lr_chart.cursor = view.x_range, view.cursor
        lr_chart.log_x = view.log_steps
        lr_chart.live = model.status == "running"
        lr_chart.set_data(lr)
        current = model.arms.get(view.arm or "")
        eta = current.lr.last() if current is not None else None
        scale = "log" if view.loss_log_y else "linear"
        eta_text = f" · η {format_value(eta)}" if eta is not None else ""
        theory = any(a.has_loss_theory or a.has_uv_theory for a in model.arms.values())
        extra = f"[{THEORY_COLOR}]┈ theory[/]" if theory else ""
        if any(a.has_central_flow for a in model.arms.values()):
            extra = (extra + " " if extra else "") + f"[{THEORY_COLOR}]┈ central flow[/]"
        if any(a.has_test_loss for a in model.arms.values()):
            extra = (extra + " " if extra else "") + f"[{MUTED}]╌ held-out[/]"
        smoothing = f" · EMA τ {tau}" if view.smooth_loss else ""
        # Every arm named comes first: the scale, then η, give way where the names would be cut.
        room = self.size.width - 6 if self.size.width else None
        tails = [f" [{MUTED}]({scale}{smoothing}){eta_text}[/]", f" [{MUTED}]{eta_text.strip(' ·')}[/]" if eta_text else "", ""]
        if view.smooth_loss:  # `e` says it took: the EMA's τ before η (at 80 columns there is room for one)
            tails.insert(1, f" [{MUTED}]EMA τ{tau}[/]")
        for tail in tails:
            width = None if room is None else max(8, room - RichText.from_markup(tail).cell_len)
            text = legend(model, view, extra, width=width, tags=tags)
            if width is None or text == legend(model, view, extra, tags=tags) or not tail:
                break
        self.set_subtitle(text + tail)
