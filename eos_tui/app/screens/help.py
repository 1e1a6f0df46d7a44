"""The help screen: the keys, then what each panel shows, physically (from each panel's `help`)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

INTRO = """\
# eos-tui: the edge of stability, live

Gradient descent with step size η on a loss whose sharpness (top Hessian eigenvalue) is λ_max
is stable only while λ_max < 2/η. In practice λ_max *rises* during training until it reaches 2/η,
then hovers there while the loss keeps falling, unevenly: the **edge of stability** (Cohen et al.
2021). This screen follows a run as it trains (or a finished one) from its run directory.

| key | does |
|---|---|
| `q` `ctrl+c` | quit (a run started here is stopped cleanly: "interrupted") |
| `d` | detach: quit, leave the engine training; `eos-tui watch RUN_DIR` to come back |
| `space` | pause / resume the view (the engine keeps training) |
| `?` `F1` | this help |
| `l` | loss chart: log / linear scale |
| `tab` `a` | highlight the next arm (until then, the first arm to reach the edge is) |
| `f` | charts: follow the latest steps (at the current zoom; hides the cursor) / pressed while following, the whole run |
| `←` `→` | pan through the run: every chart shows the same steps |
| `+` `=` `-` | zoom in / out, about the cursor (else the latest step); the mouse wheel, about the pointer |
| `home` `end` | the run's first steps / its latest steps, followed as they come |
| `,` `.` | move the cursor step (or click a chart): each arm's loss, λ, 2/η, ⟨∇L,u⟩ there; `esc` hides it |
| `e` | loss: its exponential moving average (τ ≈ 1–2% of the steps in view) over the faint raw trace |
| `n` | sharpness: normalized (λ_max over each arm's threshold, λ_max·η_t/2 for GD: every edge at 1) / raw |
| `g` | sharpness chart: log / linear scale |
| `h` | focus: only the highlighted arm (the others and their threshold lines hidden) / all arms |
| `m` | event lines: every arm's / only the highlighted arm's (the letters on the axis stay) |
| `L` | the landscape between two arms' end points (landscape.json: `eos-tui landscape RUN_DIR --curve`) |
| `s` | save an SVG screenshot into the run directory |
| `v` | events: the highlighted arm's only / every arm's (↑ ↓ PgUp PgDn or the wheel scroll them) |
| `ctrl+p` | command palette |
"""


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 90%; max-width: 100; height: 90%;
        border: round $primary; background: $surface; padding: 0 1;
    }
    """
    BINDINGS = [
        Binding("escape,q,question_mark,f1", "dismiss", "close", show=True),
    ]

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
