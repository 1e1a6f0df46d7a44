"""Events panel: what the engine noticed, newest first (also marked on the charts' step axis).

The list scrolls (↑ ↓ PgUp PgDn once it has the focus, or the mouse wheel) and `v` filters it to
the highlighted arm."""

from __future__ import annotations

import textwrap

from rich.markup import escape
from textual.app import ComposeResult
from textual.containers import VerticalScroll

from ...analysis.detectors import threshold_name
from ...rundir.format import RUNNING
from ..keys import bindings
from ..model import ArmSeries, Event, RunModel
from ..view import View
from .palette import EVENT_LETTERS, EVENT_NAMES, MUTED, arm_color, event_color
from .panel import Panel, Text

EVENTS_SHOWN = 500  # the newest; the panel scrolls


def newest_first(events: list, n: int = EVENTS_SHOWN) -> list:
    """The n latest events by training step, across arms; at one step, the later-recorded first.
    Record order alone is not time order: a run read back in one go arrives arm by arm."""
    return sorted(reversed(events), key=lambda e: e.step, reverse=True)[:n]  # sorted() is stable


class EventsScroll(VerticalScroll, inherit_bindings=False):
    """The events list's scroller. Its own keys are only up/down and the page keys: left/right,
    home/end and the rest belong to the charts, whatever has the focus."""

    BINDINGS = bindings("events")  # keys.py


def event_name(e: Event, arm: ArmSeries | None) -> str:
    """The event's kind in words. "above 38/η" names the arm's own threshold (its step records'
    `threshold` over η: 2/η for GD, 38/η for Adam at β1 = 0.9), never GD's 2/η for every arm; a run
    from before the field (plain GD only) reads 2/η from the learning rate alone."""
    if e.kind == "unstable_start":
        return f"above {threshold_name(arm.threshold_factor if arm is not None else None)}"
    return EVENT_NAMES.get(e.kind, escape(e.kind))


# A finished run without events. Where the panel is too short for the sentence wrapped (it was
# seen cut after "…no arm"), its first clause alone, which says what matters.
NO_EVENTS = "no events in this run: no arm reached the edge, spiked or diverged"
NO_EVENTS_SHORT = "no events in this run"


def empty_text(model: RunModel, view: View, arm_only: bool, size: tuple[int, int] | None = None) -> str:
    """What the list says without events; `size`: the list's (width, height) in cells, if known."""
    if arm_only and model.events:
        return f"[{MUTED}]no events for arm {escape(view.arm or '?')} (v: all arms)[/]"
    if model.status in (RUNNING, "starting", "unknown"):
        return f"[{MUTED}]none yet[/]"
    text = NO_EVENTS
    if size is not None and size[0] > 0 and size[1] > 0 and len(textwrap.wrap(NO_EVENTS, size[0])) > size[1]:
        text = NO_EVENTS_SHORT
    return f"[{MUTED}]{text}[/]"


class EventsPanel(Panel):
    TITLE = "Events"
    help = """\
**Events** the engine detected, newest first, each also marked on the charts' step axis:
**E** EoS onset (λ_max reached 2/η from below, by sharpening), **!** above the arm's threshold
already at the first measurement (η chosen past it: a catapult or divergence follows; the label
names the arm's own threshold: 2/η for GD, 2(1+β)/η for momentum β, 38/η for Adam at β1 = 0.9, on
λ_max(P⁻¹H)), **2** period-2
onset (the sign of ⟨∇L,u⟩ flips every step with λ_max near 2/η, λη/2 ≥ 0.95: far below it a flip
decays by |1 − ηλ| a step and is not the edge's oscillation), **C** catapult (a loss spike that ends
in a flatter region), **η** a step-size change from the schedule, **X** divergence (the loss became
infinite or NaN; that arm stops). The list scrolls (mouse wheel, or ↑ ↓ PgUp PgDn); **v** shows only
the highlighted arm's events, or all again.
"""

    def compose(self) -> ComposeResult:
        with EventsScroll(id="events-scroll"):
            yield Text("", id="events-list")

    def show(self, model: RunModel, view: View) -> None:
        names = list(model.arms)
        arm_only = view.events_arm_only and view.arm is not None
        events = [e for e in model.events if e.arm == view.arm] if arm_only else model.events
        lines = []
        for e in newest_first(events):
            color = event_color(e.kind)
            arm = f"[{arm_color(names.index(e.arm))}]{escape(e.arm)}[/]" if e.arm in names else escape(e.arm)
            letter = EVENT_LETTERS.get(e.kind, "•")
            lines.append(
                f"[b {color}]{letter}[/] {e.step:>6} {arm} [{color}]{event_name(e, model.arms.get(e.arm))}[/] "
                f"[{MUTED}]{escape(e.message)}[/]"
            )
        scroll = self.query_one(EventsScroll)
        size = (scroll.content_size.width, scroll.content_size.height) if scroll.is_mounted else None
        self.query_one("#events-list", Text).set("\n".join(lines) or empty_text(model, view, arm_only, size))
        if arm_only:
            self.set_subtitle(f"{escape(view.arm or '')}: {len(events)} of {len(model.events)}")  # v: all again
        else:
            n = len(model.events)  # "7 events": a bare "7" in the corner said nothing
            self.set_subtitle(f"{n} event{'s' if n != 1 else ''}" if n else "")
