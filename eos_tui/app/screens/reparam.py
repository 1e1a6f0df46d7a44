"""`r`: every reparameterization check of the highlighted arm, newest step first, each step's
table whole (the panel shows a summary where the rows do not fit: 2 of 12 did at 80×24)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Group
from rich.markup import escape
from rich.text import Text as RichText
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from ..keys import bindings
from ..model import Reparam
from ..widgets.palette import MUTED
from ..widgets.reparam import before_line, reparam_table

if TYPE_CHECKING:
    from textual.app import App

    from ..model import RunModel
    from ..view import View


def by_step(checks: list[Reparam]) -> list[list[Reparam]]:
    """The checks grouped by step, the newest step first, each group in recorded order."""
    groups: dict[int, list[Reparam]] = {}
    for r in checks:
        groups.setdefault(r.step, []).append(r)
    return [groups[step] for step in sorted(groups, reverse=True)]


def tables(checks: list[Reparam]) -> Group:
    parts: list = []
    for rows in by_step(checks):
        if parts:
            parts.append(RichText(""))
        parts += [RichText.from_markup(before_line(rows[0])), reparam_table(rows, full=True)]
    return Group(*parts)


class ReparamScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    ReparamScreen { align: center middle; }
    ReparamScreen > VerticalScroll {
        width: 64; max-width: 100%; height: 100%;
        border: round $primary; background: $surface; padding: 0 1;
    }
    """
    BINDINGS = bindings("reparam")  # keys.py

    def __init__(self, arm: str, checks: list[Reparam]):
        super().__init__()
        self.arm = arm
        self.checks = list(checks)

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            body = tables(self.checks) if self.checks else RichText("no reparameterization checks for this arm", style=MUTED)
            yield Static(body, id="reparam-all")
        yield Footer()

    def on_mount(self) -> None:
        scroll = self.query_one(VerticalScroll)
        n = len(self.checks)
        scroll.border_title = f"Reparameterization · {escape(self.arm)} · {n} check{'s' if n != 1 else ''}"
        scroll.border_subtitle = "esc to close"
        scroll.focus()

    def action_close(self) -> None:
        self.dismiss(None)


class ReparamKeys:
    """The app's `r`; the app provides `model` and `view`."""

    model: RunModel
    view: View

    def action_reparam(self) -> None:
        app: App = self  # type: ignore[assignment]
        if isinstance(app.screen, ReparamScreen):
            return
        arm = self.model.arms.get(self.view.arm or "")
        if arm is None:
            return
        app.push_screen(ReparamScreen(arm.name, arm.reparams))
