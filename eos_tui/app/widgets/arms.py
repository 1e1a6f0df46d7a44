"""Helpers that turn the model's arms into chart series, highlighted arm last (drawn on top)."""

from __future__ import annotations

from rich.markup import escape

from ..model import ArmSeries, RunModel
from ..view import View
from .chart import Mark, faint
from .palette import EVENT_LETTERS, arm_color, event_color


def arms_in_draw_order(model: RunModel, view: View) -> list[tuple[ArmSeries, str, bool]]:
    """(arm, colour, highlighted) with the highlighted arm last; others fainter when there are several."""
    out = []
    for i, arm in enumerate(model.arms.values()):
        highlighted = arm.name == view.arm
        color = arm_color(i)
        if not highlighted and len(model.arms) > 1:
            color = faint(color, 0.25)
        out.append((arm, color, highlighted))
    out.sort(key=lambda t: t[2])
    return out


def legend(model: RunModel, view: View, extra: str = "") -> str:
    parts = []
    for i, arm in enumerate(model.arms.values()):
        mark = "━━" if arm.name == view.arm or len(model.arms) == 1 else "━"
        parts.append(f"[{arm_color(i)}]{mark} {escape(arm.name)}[/]")
    if extra:
        parts.append(extra)
    return " ".join(parts)


def event_marks(model: RunModel) -> list[Mark]:
    return [Mark(e.step, EVENT_LETTERS.get(e.kind, "•"), event_color(e.kind)) for e in model.events if e.step >= 0]
