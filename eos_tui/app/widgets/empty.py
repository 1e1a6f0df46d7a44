"""A chart panel with nothing to draw yet shows a centred line saying why (what the engine is doing,
or what it waits for) instead of empty axes around ±0.001."""

from __future__ import annotations

import numpy as np
from rich.markup import escape

from ...rundir.format import RUNNING
from ..model import RunModel
from ..progress import phase_text
from .chart import Chart
from .panel import Panel

# What each chart panel waits for, by panel class name (the panels' own files stay as they are).
WAITING_FOR = {
    "SharpnessPanel": "λ_max measurement",
    "LossPanel": "step",
    "EigendirectionPanel": "top eigenvector (after the first λ_max measurement)",
    "FlowDistancePanel": "flow step",
}


def chart_has_data(chart: Chart) -> bool:
    """Whether any series of the chart has a finite value to draw (True where the chart does not
    say what it holds: better axes than a message over data)."""
    series = getattr(chart, "_series", None)
    if series is None:
        return True
    return any(len(s.ys) and bool(np.isfinite(np.asarray(s.ys, dtype=float)).any()) for s in series)


def empty_message(panel: Panel, model: RunModel) -> str | None:
    """The line a chart panel shows while none of its charts has data; None once one has."""
    charts = list(panel.query(Chart))
    if not charts or any(chart_has_data(c) for c in charts):
        return None
    what = WAITING_FOR.get(type(panel).__name__, "data")
    phase = phase_text(model)
    if phase is not None:
        return escape(phase)
    if model.status in (RUNNING, "starting", "unknown"):
        return f"waiting for the first {escape(what)}…"
    return f"no {escape(what.split(' (')[0])} recorded in this run"


def show_empty(panel: Panel, model: RunModel) -> None:
    panel.show_message(empty_message(panel, model))
