"""Events panel: what the engine noticed, newest first (also marked on the charts' step axis)."""

from __future__ import annotations

from rich.markup import escape
from textual.app import ComposeResult

from ..model import RunModel
from ..view import View
from .palette import EVENT_LETTERS, EVENT_NAMES, MUTED, arm_color, event_color
from .panel import Panel, Text

EVENTS_SHOWN = 50


def newest_first(events: list, n: int = EVENTS_SHOWN) -> list:
    """The n latest events by training step, across arms; at one step, the later-recorded first.
    Record order alone is not time order: a run read back in one go arrives arm by arm."""
    return sorted(reversed(events), key=lambda e: e.step, reverse=True)[:n]  # sorted() is stable


class EventsPanel(Panel):
    TITLE = "Events"
    help = """\
**Events** the engine detected, newest first, each also marked on the charts' step axis:
**E** EoS onset (λ_max reached 2/η from below, by sharpening), **!** above 2/η already at the
first measurement (η chosen past the threshold: a catapult or divergence follows), **2** period-2
onset (the sign of ⟨∇L,u⟩ flips every step), **C** catapult (a loss spike that ends in a flatter
region), **η** a step-size change from the schedule, **X** divergence (the loss became infinite or NaN; that arm stops).
"""

    def compose(self) -> ComposeResult:
        yield Text("", id="events-list")

    def show(self, model: RunModel, view: View) -> None:
        names = list(model.arms)
        lines = []
        for e in newest_first(model.events):
            color = event_color(e.kind)
            arm = f"[{arm_color(names.index(e.arm))}]{escape(e.arm)}[/]" if e.arm in names else escape(e.arm)
            letter = EVENT_LETTERS.get(e.kind, "•")
            lines.append(
                f"[b {color}]{letter}[/] {e.step:>6} {arm} [{color}]{EVENT_NAMES.get(e.kind, escape(e.kind))}[/] "
                f"[{MUTED}]{escape(e.message)}[/]"
            )
        self.query_one("#events-list", Text).set("\n".join(lines) or f"[{MUTED}]none yet[/]")
        self.set_subtitle(str(len(model.events)) if model.events else "")
