"""The central flow and the stable flow beside a GD arm ("flow" records), for the charts: the traces
the loss and sharpness panels add, the distances readout, and the help paragraphs that explain them.

The central flow (Cohen, Damian et al. 2024, "Understanding optimization in deep learning with
central flows") is the ODE that follows GD's time-averaged trajectory at the edge of stability;
the stable flow is plain gradient flow from the same θ_0 (eos_tui/engine/central_flow.py).
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from ..model import ArmSeries
from .chart import Series, faint
from .palette import MUTED, THEORY_COLOR

CENTRAL_COLOR = THEORY_COLOR  # a prediction: drawn dotted on the loss, as the closed-form overlays are
# On the sharpness chart the central flow's λ_max is a solid line: once at the edge it lies exactly on
# the dashed threshold line (or the normalized view's line at 1), where a dotted trace disappeared
# into the dashes; solid over dashed stays visible, in colour and in monochrome.
CENTRAL_MARK = "─"

LOSS_HELP = """\
Where the scenario runs the **central flow** beside a GD arm (`measure.central_flow`), the dotted
white trace is its **predicted loss**: L(θ_CF) + ½⟨UᵀHU, X⟩ ≈ L + tr(X)/η, the loss GD has *on
average* while it oscillates with covariance Σ = U X Uᵀ along its critical eigenvectors (Cohen,
Damian et al. 2024, "Understanding optimization in deep learning with central flows"). GD's raw
loss bounces around it. The faint dashed trace in the arm's colour is the **stable flow**
(`measure.stable_flow`): gradient flow from the same θ_0, which follows GD only until λ_max first
reaches 2/η and then goes its own way in parameter space (nothing holds its λ_max at the edge).
"""

SHARPNESS_HELP = """\
The solid white line, on an arm with `measure.central_flow`, is the **central flow's λ_max**: the
central flow (Cohen, Damian et al. 2024) projects away every motion that would push a critical
eigenvalue past 2/η, so once it reaches the dashed line it stays on it (flat at 2/η: the dashes
turn solid white), while GD's λ_max hovers around it.
"""

DISTANCE_HELP = """\
With the flows on (`measure.central_flow`, `measure.stable_flow`) the line also gives **CF** and
**SF**, the distances ‖θ_GD − θ_flow‖ from GD's parameters to the central flow's and to the stable
flow's at the same step: the central flow stays close to GD through the edge of stability, the
stable flow drifts away after the first 2/η crossing (Cohen, Damian et al. 2024).
"""


def loss_series(arm: ArmSeries, color: str) -> list[Series]:
    out = []
    if arm.has_stable_flow:
        out.append(Series(f"{arm.name}/stable-loss", arm.stable_step.values, arm.stable_loss.values, faint(color, 0.4), kind="dashed"))
    if arm.has_central_flow:
        out.append(
            Series(
                f"{arm.name}/central-loss", arm.central_step.values, arm.central_predicted.values, CENTRAL_COLOR, kind="dotted", fit="none"
            )
        )
    return out


def sharpness_series(arm: ArmSeries, by: Callable[[np.ndarray], np.ndarray | None] | None = None, key: str | None = None) -> list[Series]:
    """The central flow's λ_max; `by(steps)` gives the divisor of the normalized view (the arm's threshold)."""
    if not arm.has_central_flow:
        return []
    xs, ys = arm.central_step.values, arm.central_sharpness.values
    over = by(xs) if by is not None else None
    if over is not None:
        ys = ys / over
    return [Series(f"{key or arm.name}/central-lambda", xs, ys, CENTRAL_COLOR, fit="none")]


def distances(arm: ArmSeries) -> str | None:
    """The latest distances ‖θ_GD − θ_flow‖ to the central and the stable flow, "CF 0.061 SF 0.23":
    short enough to stay on the eigendirection panel's line at 80 columns (the help says what they are)."""
    parts = []
    for label, column in (("CF", arm.central_distance), ("SF", arm.stable_distance)):
        value = column.last()
        if value is not None and math.isfinite(value):
            parts.append(f"[{MUTED}]{label}[/] {value:.2g}")
    return " ".join(parts) if parts else None
