"""Eigendirection panel: the gradient's component along the top Hessian eigenvector, step by step."""

from __future__ import annotations

import math

import numpy as np
from rich.markup import escape
from rich.text import Text as RichText
from textual.app import ComposeResult

from ...analysis import flips
from ...analysis.flips import FLIP_WINDOW, PERIOD2_THRESHOLD
from ...braille.ticks import format_value
from ..model import RunModel
from ..view import View
from ..window import stems_window
from .chart import Chart, HLine, Series
from .chart.chart import AXIS_WIDTH
from .flows import DISTANCE_HELP
from .flows import distances as flow_distances
from .palette import AT_THRESHOLD, MUTED, PERIOD2, ZERO_LINE, arm_color
from .panel import Panel, Text

SIGNS_SHOWN = 6


def sign_string(values: np.ndarray) -> str:
    """'+−+−…' for the last values (· where unknown)."""
    out = []
    for v in values[-SIGNS_SHOWN:]:
        out.append("·" if not math.isfinite(v) or v == 0 else ("+" if v > 0 else "−"))
    return "".join(out)


def flip_fraction(values: np.ndarray, window: int = FLIP_WINDOW) -> float | None:
    """The fraction of the last `window` sign comparisons of ⟨∇L, u⟩ that flipped, as the engine's
    period-2 detector and the summary count it (analysis/flips.py: unknown or zero projections are
    skipped). Only the last window + 1 known signs are handed over, however long the run."""
    recent = values[-8 * (window + 1) :]  # usually enough; the whole series only if it has gaps
    known = recent[np.isfinite(recent) & (recent != 0)]
    if len(known) <= window and len(recent) < len(values):
        known = values[np.isfinite(values) & (values != 0)]
    return flips.flip_fraction(known[-(window + 1) :].tolist(), window)


def amplitude(disp: np.ndarray, window: int = FLIP_WINDOW) -> float | None:
    """The oscillation's amplitude: the mean |⟨θ_{t+1} − θ_t, u⟩| over the last `window` steps."""
    tail = disp[-window:]
    tail = tail[np.isfinite(tail)]
    return float(np.abs(tail).mean()) if len(tail) else None


def summary_line(head: list[str], signs: str | None, tail: list[str], width: int | None) -> str:
    """The line under the chart, fitted to `width` cells by leaving things out whole, never by
    cutting a number: first the sign string (the chart shows the signs too), then the last parts
    (the amplitude, then the flip fraction). A one-line Text wraps what does not fit out of view."""

    def cells(parts: list[str]) -> int:
        return RichText.from_markup(" ".join(parts)).cell_len

    if signs is not None and (not width or cells(head + [signs] + tail) <= width):
        return " ".join(head + [signs] + tail)
    parts = head + tail
    while width and len(parts) > 1 and cells(parts) > width:
        parts.pop()
    return " ".join(parts)


class EigendirectionPanel(Panel):
    TITLE = "Top eigendirection ⟨∇L,u⟩"
    WAITING_FOR = "top eigenvector (after the first λ_max measurement)"
    help = """\
**Eigendirection** shows ⟨∇L, u⟩, the component of the gradient along u, the top eigenvector of
the Hessian (the sharpest direction), one bar per step: the latest steps of the charts' window, or
those around the cursor when there is one.

Below 2/η, gradient descent moves smoothly along u and the sign stays put. At the **edge of
stability** the step overshoots along u: the iterate jumps from one wall of the valley to the
other, so ⟨∇L, u⟩ **flips sign every step**. This period-2 oscillation is what lets λ_max hover at
2/η: the oscillation itself pushes the weights toward flatter regions (self-stabilization).
The line under the chart gives λ_max·η/2 (1 is the threshold), the latest signs, the fraction
of the last 20 steps on which the sign flipped (≥ 90% is the period-2 oscillation) and its
amplitude, the mean |⟨θ_{t+1} − θ_t, u⟩|: how far each step jumps across the valley.
"""
    help += "\n" + DISTANCE_HELP  # the central and the stable flow (widgets/flows.py)
    help += "\n`p` puts the self-stabilization (x, y) portrait in this panel's place, where the run measures it.\n"

    def compose(self) -> ComposeResult:
        yield Chart(follow=True, id="proj-chart")
        yield Text("", id="proj-summary")

    def show(self, model: RunModel, view: View) -> None:
        self.display = not view.portrait  # `p`: the self-stabilization portrait in its place (portrait.py)
        names = list(model.arms)
        arm = model.arms.get(view.arm or "")
        chart = self.query_one(Chart)
        chart.live = model.status == "running"
        if arm is None:
            chart.set_data([])
            return
        color = arm_color(names.index(arm.name))
        proj = arm.proj.values
        if len(arm.step):  # the shared x window: its latest steps, or those around the cursor
            chart.window = stems_window(view.x_range, chart.size.width - AXIS_WIDTH, view.cursor, arm.step.values[0], arm.step.values[-1])
            chart.cursor = view.cursor
        chart.set_data([Series(f"{arm.name}/proj", arm.step.values, proj, color, kind="stems")], hlines=[HLine(0.0, ZERO_LINE)])
        head, tail = [], []
        ratio = None
        lam, thr = arm.sharpness, arm.threshold.last()
        if lam is not None and thr is not None and math.isfinite(lam) and math.isfinite(thr) and thr > 0:
            ratio = lam / thr  # λη/2, or λη/2(1+β) under momentum β: 1 at the threshold
            tint = AT_THRESHOLD if ratio >= 0.95 else MUTED
            # Adam/RMSprop (λ of P⁻¹H) and Nesterov (factor < 2): λ over the record's own threshold
            factor = arm.threshold_factor
            own = arm.preconditioned or (factor is not None and factor < 2 - 1e-9)
            label = "λ/thr" if own else ("λη/2(1+β)" if arm.with_momentum else "λη/2")
            head.append(f"[{tint}]{label} {ratio:.2f}[/]")
        signs = sign_string(proj) if len(proj) else None
        if len(proj):
            fraction = flip_fraction(proj)
            if fraction is not None:
                tail.append(
                    # the edge's oscillation only near the edge (flips.near_edge), as the engine's detector
                    f"[{PERIOD2}]period-2 {fraction:.0%}[/]"
                    if fraction >= PERIOD2_THRESHOLD and flips.near_edge(ratio)
                    else f"[{MUTED}]flips {fraction:.0%}[/]"
                )
            amp = amplitude(arm.disp.values)
            if amp is not None:
                tail.append(f"amp {format_value(amp)}")
        dist = flow_distances(arm)  # ‖θ − θ_flow‖ to the central and the stable flow
        if dist is not None:
            head.append(dist)
        self.query_one("#proj-summary", Text).set(summary_line(head, signs, tail, self.content_size.width))
        self.set_subtitle(f"[{color}]{escape(arm.name)}[/]")
