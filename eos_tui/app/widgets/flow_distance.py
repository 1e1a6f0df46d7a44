"""Distance to the flows: ‖θ_GD − θ_CF‖ and ‖θ_GD − θ_SF‖ against the step, for the highlighted arm.

It takes the Reparameterization panel's place in the right column where the run has flow records
("flow": measure.central_flow, measure.stable_flow) and no reparameterization checks: there the
Reparameterization panel would only say "no checks in this run". Every other run never shows it,
and its screen is as before (the panel is hidden, app.tcss; the help lists shown panels only).
"""

from __future__ import annotations

from rich.markup import escape
from textual.app import ComposeResult

from ..model import ArmSeries, RunModel
from ..view import View
from .chart import Chart, Series
from .flows import CENTRAL_COLOR
from .palette import MUTED, arm_color
from .panel import Panel

CENTRAL_LABEL, STABLE_LABEL = "central", "stable"


def has_flows(arm: ArmSeries) -> bool:
    return arm.has_central_flow or arm.has_stable_flow


def wanted(model: RunModel) -> bool:
    """The panel replaces the Reparameterization panel: some arm has flows, none has checks."""
    arms = list(model.arms.values())
    return any(has_flows(a) for a in arms) and not any(a.reparams for a in arms)


def distance_series(arm: ArmSeries, color: str) -> list[Series]:
    """The two traces: the central flow's distance dotted white (its colour on the other charts),
    the stable flow's solid in the arm's colour."""
    out = []
    if arm.has_central_flow:
        xs, ys = arm.central_step.values, arm.central_distance.values
        out.append(Series(f"{arm.name}/central-distance", xs, ys, CENTRAL_COLOR, label=CENTRAL_LABEL, kind="dotted"))
    if arm.has_stable_flow:
        xs, ys = arm.stable_step.values, arm.stable_distance.values
        out.append(Series(f"{arm.name}/stable-distance", xs, ys, color, label=STABLE_LABEL))
    return out


class FlowDistancePanel(Panel):
    TITLE = "Distance to the flows"
    WAITING_FOR = "flow step"
    help = """\
**Distance to the flows** (shown in place of the Reparameterization panel where the run has the
flows, `measure.central_flow` / `measure.stable_flow`, and no reparameterization checks) draws,
for the highlighted arm, ‖θ_GD − θ_CF‖ (**central**, dotted white) and ‖θ_GD − θ_SF‖ (**stable**,
in the arm's colour): the Euclidean distance from GD's parameters to the central flow's and to the
stable flow's at the same step. Both flows start at GD's θ_0; until λ_max first reaches 2/η both
are gradient flow and the two distances are close (what separates them from GD is its finite
step). The **central flow** (Cohen, Damian et al. 2024, "Understanding optimization in deep
learning with central flows") then follows GD's time-averaged trajectory through the edge of
stability, so its distance stays about where it was; the **stable flow**, plain gradient flow,
has nothing holding its λ_max at 2/η and drifts away: its distance climbs above the central one.
"""

    def compose(self) -> ComposeResult:
        yield Chart(include_zero=True, id="flow-distance-chart")

    def show(self, model: RunModel, view: View) -> None:
        on = wanted(model)
        if self.display != on:
            self.display = on
            for other in self.screen.query("ReparamPanel"):
                other.display = not on
        chart = self.query_one(Chart)
        chart.live = model.status == "running"
        arm = model.arms.get(view.arm or "")
        if not on or arm is None:
            chart.set_data([])
            self.set_subtitle("")
            return
        color = arm_color(list(model.arms).index(arm.name))
        chart.follow = view.follow
        chart.window, chart.cursor = view.x_range, view.cursor
        chart.log_x = view.log_steps
        chart.set_data(distance_series(arm, color))
        legend = []
        if arm.has_central_flow:
            legend.append(f"[{CENTRAL_COLOR}]┈ {CENTRAL_LABEL}[/]")
        if arm.has_stable_flow:
            legend.append(f"[{color}]─ {STABLE_LABEL}[/]")
        if not has_flows(arm):
            legend.append(f"[{MUTED}]no flows on {escape(arm.name)}[/]")
        self.set_subtitle(" ".join(legend))
