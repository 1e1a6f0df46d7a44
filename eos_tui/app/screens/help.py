"""The help screen: the keys (from their table, keys.py), then what each panel shows, physically (from each panel's `help`)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

from ..keys import bindings, help_table

ABOUT = """\
# eos-tui: the edge of stability, live

Gradient descent with step size η on a loss whose sharpness (top Hessian eigenvalue) is λ_max
is stable only while λ_max < 2/η. In practice λ_max *rises* during training until it reaches 2/η,
then hovers there while the loss keeps falling, unevenly: the **edge of stability** (Cohen et al.
2021). This screen follows a run as it trains (or a finished one) from its run directory.
"""

INTRO = f"{ABOUT}\n{help_table()}"  # the keys from their one table, keys.py


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 90%; max-width: 100; height: 90%;
        border: round $primary; background: $surface; padding: 0 1;
    }
    """
    BINDINGS = bindings("help")

    def __init__(self, sections: list[tuple[str, str]]):
        super().__init__()
        self.sections = sections

    def markdown(self) -> str:
        parts = [INTRO]
        for title, text in self.sections:
            parts.append(f"## {title}\n\n{text}")
        return "\n\n".join(parts)

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Markdown(self.markdown())

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).border_title = "help · esc to close"
        self.query_one(VerticalScroll).focus()

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(None)
