"""A chart panel with nothing to draw yet shows a centred line saying why (what the engine is doing,
or what it waits for) instead of empty axes around ±0.001."""

from __future__ import annotations

from rich.markup import escape

from ...rundir.format import RUNNING
from ..model import RunModel
from ..progress import phase_text
from ..view import View
from .chart import Chart
from .panel import Panel


def empty_message(panel: Panel, model: RunModel, view: View) -> str | None:
    """The line a chart panel shows while none of its charts has data; None once one has. A panel
    without charts says its own (Panel.empty_reason)."""
    charts = list(panel.query(Chart))
    if not charts:
        return panel.empty_reason(model, view)
    if any(c.has_data() for c in charts):
        return None
    what = panel.WAITING_FOR
    phase = phase_text(model)
    if phase is not None:
        return escape(phase)
    if model.status in (RUNNING, "starting", "unknown"):
        return f"waiting for the first {escape(what)}…"
    return f"no {escape(what.split(' (')[0])} recorded in this run"


def show_empty(panel: Panel, model: RunModel, view: View) -> None:
    panel.show_message(empty_message(panel, model, view))
