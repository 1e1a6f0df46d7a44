"""Helpers that turn the model's arms into chart series, highlighted arm last (drawn on top)."""

from __future__ import annotations

import re

from rich.markup import escape
from rich.text import Text as RichText

from ..model import ArmSeries, RunModel
from ..view import View
from .chart import Mark, faint
from .palette import EVENT_LETTERS, arm_color, event_color


def arms_in_draw_order(model: RunModel, view: View) -> list[tuple[ArmSeries, str, bool]]:
    """(arm, colour, highlighted) with the highlighted arm last; others fainter when there are several.
    With the view's focus (`h`), only the highlighted arm."""
    out = []
    for i, arm in enumerate(model.arms.values()):
        highlighted = arm.name == view.arm
        color = arm_color(i)
        if not highlighted and len(model.arms) > 1:
            if view.focus and view.arm in model.arms:
                continue
            color = faint(color, 0.25)
        out.append((arm, color, highlighted))
    out.sort(key=lambda t: t[2])
    return out


def arm_tag(model: RunModel, name: str) -> str:
    """The arm's number (1, 2, …, then letters): drawn at the end of its traces and before its name in
    the legend where colours cannot tell arms apart (NO_COLOR)."""
    i = list(model.arms).index(name) if name in model.arms else 0
    return "123456789abcdefghijklmnopqrstuvwxyz"[i % 35]


def abbreviate(name: str, keep: int) -> str:
    """Each part of a name (split at - _ . and spaces) cut to `keep` characters: uv-catapult → uv-cat."""
    return "".join(p if re.fullmatch(r"[-_. ]", p) else p[:keep] for p in re.split(r"([-_. ])", name))


def _legend_at(model: RunModel, view: View, extra: str, tags: bool, keep: int | None, compact: bool) -> str:
    parts = []
    for i, arm in enumerate(model.arms.values()):
        mark = "━━" if arm.name == view.arm or len(model.arms) == 1 else "━"
        tag = f"{arm_tag(model, arm.name)}" if tags else ""
        name = arm.name if keep is None else abbreviate(arm.name, keep)
        gap = "" if compact and not tag else " "  # "━1 uv-sm": the tag never runs into the name
        parts.append(f"[{arm_color(i)}]{mark}{tag}{gap}{escape(name)}[/]")
    if extra:
        parts.append(extra)
    return " ".join(parts)


def legend(model: RunModel, view: View, extra: str = "", *, width: int | None = None, tags: bool = False) -> str:
    """Every arm's name in its colour, then `extra`. With `width`, fitted to it as the header does:
    first `extra` goes, then the gaps, then each name is cut part by part (uv-catapult → uv-cat →
    uv-ca), as long as the cut names stay distinct, so that every arm stays named."""
    full = _legend_at(model, view, extra, tags, None, False)
    if width is None or RichText.from_markup(full).cell_len <= width:
        return full
    names = list(model.arms)
    longest = max((len(p) for n in names for p in re.split(r"[-_. ]", n)), default=1)
    tries: list[tuple[str, int | None, bool]] = [("", None, False), ("", None, True)]
    tries += [("", keep, True) for keep in range(longest - 1, 0, -1)]
    best = full
    for ext, keep, compact in tries:
        if keep is not None and len({abbreviate(n, keep) for n in names}) < len(names):
            break  # cut further, two arms would read the same
        best = _legend_at(model, view, ext, tags, keep, compact)
        if RichText.from_markup(best).cell_len <= width:
            return best
    return best


def event_marks(model: RunModel, view: View | None = None) -> list[Mark]:
    """Each event as a letter on the x axis; its vertical line only for the highlighted arm's events,
    or for every arm's with the view's `event_lines` (`m`). Under focus (`h`), only the highlighted arm's."""
    marks = []
    for e in model.events:
        if e.step < 0:
            continue
        own = view is None or e.arm == view.arm or view.arm not in model.arms
        if view is not None and view.focus and not own:
            continue
        line = own or (view is not None and view.event_lines)
        marks.append(Mark(e.step, EVENT_LETTERS.get(e.kind, "•"), event_color(e.kind), line=line))
    return marks
