"""Every key of the app, in one table: the Textual bindings of each screen, the command palette's
commands and the help screen's key table are all made from KEYS, so none of them can name a key
the others do not know. `python -m eos_tui.app.keydoc > docs/keys.md` writes the table for the docs
(tests/app/test_keys.py checks that file is up to date).

A Key's `scope` says where it is bound:
  app        the App itself (it works on every screen);
  main       the main screen (quit, pause, arms, ...);
  chart      the main screen too: the sharpness chart's view (chart_keys.py);
  history    HistoryScreen, which the main screen inherits: pan, zoom, the cursor (history.py);
  textual    bound by Textual itself (the command palette): listed, not bound here;
  landscape  the landscape screen (landscape_screen.py);
  reparam    the reparameterization table (screens/reparam.py);
  help       the help screen;
  events     the events list, once it has the focus (widgets/events.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from textual.actions import parse
from textual.binding import Binding, BindingType

Scope = Literal["app", "main", "chart", "history", "textual", "landscape", "reparam", "help", "events"]

# The main screen's help table lists these scopes, and docs/keys.md has one table per group.
MAIN_SCOPES: tuple[Scope, ...] = ("app", "main", "chart", "history", "textual")

# A Key's `help` that is not a row of its own: ABOVE puts its keys in the key column of the row
# above (`←` `→`: one row, two bindings); MENTIONED leaves it to the text of the row above
# ("…; `esc` hides it"), which must name it.
ABOVE = "\x00above"
MENTIONED = "\x00mentioned"


@dataclass(frozen=True)
class Key:
    key: str  # Textual's key names, comma-separated: "question_mark,f1"
    action: str  # the binding's action, "app." where the App does it
    description: str  # the footer's word
    scope: Scope
    show: bool = False  # in the footer (what fits at 80 columns; every key is in the help and the palette)
    key_display: str | None = None  # the footer's name for the key, where not Textual's
    help: str = ""  # the help table's row ("": not in a help table), or ABOVE / MENTIONED
    palette: tuple[str, str] | None = None  # the command palette's (title, help); None: not offered

    def binding(self) -> Binding:
        return Binding(self.key, self.action, self.description, show=self.show, key_display=self.key_display)

    @property
    def method(self) -> str:
        """The name of the method that does the action (`action_` and the action, no "app.", no arguments)."""
        return "action_" + self.action.removeprefix("app.").split("(", 1)[0]

    @property
    def arguments(self) -> tuple[object, ...]:
        """The action's arguments: ("paused",) for `toggle_view('paused')`."""
        return parse(self.action)[2]


KEYS: tuple[Key, ...] = (
    # -- the main screen, in the help table's order ------------------------------------------------
    Key("q", "app.quit", "quit", "main", show=True, help='quit (a run started here is stopped cleanly: "interrupted")'),
    # Ctrl-C quits as `q` does (Textual's own binding only says "press ctrl+q"): what every terminal
    # user presses. It arrives as a key, not SIGINT: the terminal is in raw mode.
    Key("ctrl+c", "quit", "quit", "app", help=ABOVE),
    Key(
        "d",
        "app.detach",
        "detach",
        "main",
        show=True,
        help="detach: quit, leave the engine training; `eos-tui watch RUN_DIR` to come back",
        palette=("Detach", "Quit, leaving the engine training"),
    ),
    Key(
        "space",
        "app.toggle_view('paused')",
        "pause",
        "main",
        show=True,
        help="pause / resume the view (the engine keeps training)",
        palette=("Pause / resume the view", "Freeze the charts; the engine keeps training"),
    ),
    Key(
        "question_mark,f1",
        "app.help",
        "help",
        "main",
        show=True,
        key_display="?",
        help="this help",
        palette=("Explain the panels", "What sharpness, 2/η, the flip, catapults mean"),
    ),
    Key(
        "l",
        "app.toggle_view('loss_log_y')",
        "log-y",
        "main",
        help="loss chart: log / linear scale",
        palette=("Toggle log scale (loss)", "Loss chart: log or linear y axis"),
    ),
    Key(
        "tab,a",
        "app.next_arm",
        "arm",
        "main",
        show=True,
        key_display="tab",
        help="highlight the next arm (until then, the first arm to reach the edge is)",
        palette=("Next arm", "Highlight the next arm"),
    ),
    Key(
        "f",
        "app.toggle_follow",
        "follow",
        "main",
        show=True,
        help="charts: follow the latest steps (at the current zoom; hides the cursor) / pressed while following, the whole run",
        palette=("Follow / fit", "Charts: latest steps, or the whole run"),
    ),
    Key("left", "pan(-1)", "pan", "history", help="pan through the run: every chart shows the same steps"),
    Key("right", "pan(1)", "pan", "history", help=ABOVE),
    Key(
        "plus,equals_sign",
        "zoom_in",
        "zoom in",
        "history",
        help="zoom in / out, about the cursor (else the latest step); the mouse wheel, about the pointer",
    ),
    Key("minus", "zoom_out", "zoom out", "history", help=ABOVE),
    Key("home", "home", "run start", "history", help="the run's first steps / its latest steps, followed as they come"),
    Key("end", "end", "latest", "history", help=ABOVE),
    Key(
        "comma",
        "cursor(-1)",
        "cursor",
        "history",
        help="move the cursor step (or click a chart): each arm's loss, λ, 2/η, ⟨∇L,u⟩ there; `esc` hides it",
    ),
    Key("full_stop", "cursor(1)", "cursor", "history", help=ABOVE),
    Key("escape", "hide_cursor", "hide cursor", "history", help=MENTIONED),
    Key(
        "e",
        "app.toggle_view('smooth_loss')",
        "ema",
        "history",
        help="loss: its exponential moving average (τ ≈ 1–2% of the steps in view) over the faint raw trace",
        palette=("Smooth the loss (EMA)", "The loss's exponential moving average over the raw trace"),
    ),
    Key(
        "n",
        "app.toggle_view('sharpness_normalized')",
        "λ/edge",
        "chart",
        show=True,
        help="sharpness: normalized (λ_max over each arm's threshold, λ_max·η_t/2 for GD: every edge at 1) / raw",
        palette=("Sharpness: normalized / raw", "λ_max over each arm's threshold (edge = 1), or λ_max"),
    ),
    Key(
        "g",
        "app.toggle_view('sharpness_log_y')",
        "log λ",
        "chart",
        help="sharpness chart: log / linear scale",
        palette=("Sharpness: log / linear scale", "Sharpness chart's y axis"),
    ),
    Key(
        "h",
        "app.toggle_view('focus')",
        "focus",
        "chart",
        help="focus: only the highlighted arm (the others and their threshold lines hidden) / all arms",
        palette=("Focus the highlighted arm", "Hide / show the other arms and their threshold lines"),
    ),
    Key(
        "m",
        "app.toggle_view('event_lines')",
        "events",
        "chart",
        help="event lines: every arm's / only the highlighted arm's (the letters on the axis stay)",
        palette=("Event lines: every arm / highlighted", "Vertical lines at events on the charts"),
    ),
    Key(
        "x",
        "app.toggle_view('log_steps')",
        "log steps",
        "chart",
        help="charts' step axis: log (steps 1, 10, 100 equally apart: the first steps spread out) / linear (⟨∇L,u⟩'s bars: one per step)",
        palette=("Step axis: log / linear", "The charts' steps on a log axis: the first steps spread out"),
    ),
    Key(
        "p",
        "app.toggle_view('portrait')",
        "portrait",
        "main",
        help="the self-stabilization (x, y) portrait in place of the eigendirection panel / back",
        palette=("Self-stabilization portrait", "Damian et al.'s (x, y) cycle in place of the eigendirection panel"),
    ),
    Key(
        "L",
        "app.landscape",
        "landscape",
        "main",
        help="the landscape between two arms' end points (landscape.json: `eos-tui landscape RUN_DIR --curve`)",
        # Without landscape.json the app offers LANDSCAPE_HOW instead (landscape_screen.py).
        palette=("Landscape", "The loss between the arms' end points, and how flat each is (L)"),
    ),
    Key(
        "r",
        "app.reparam",
        "reparam",
        "main",
        help="the reparameterization checks: every map's row at every check step (the panel sums up where they do not fit)",
        palette=("Reparameterization table", "Every check: |Δf|, ΔL, λ_max and the adaptive sharpness after each map"),
    ),
    Key(
        "s",
        "app.screenshot",
        "svg",
        "main",
        help="save an SVG screenshot into the run directory",
        # Textual's own "Screenshot" saves into a folder that may not exist; the app leaves it out.
        palette=("Save SVG screenshot", "Into the run directory"),
    ),
    Key(
        "v",
        "app.toggle_view('events_arm_only')",
        "events",
        "main",
        help="events: the highlighted arm's only / every arm's (↑ ↓ PgUp PgDn or the wheel scroll them)",
        palette=("Events: this arm / all", "Only the highlighted arm's events, or all (v)"),
    ),
    Key("ctrl+p", "command_palette", "palette", "textual", help="command palette"),
    # -- the landscape screen (its keys are explained in its own help, landscape_screen.HELP) --------
    Key("escape,q,L", "close", "close", "landscape", show=True, help="close the landscape"),
    Key("l", "toggle_log", "log-y", "landscape", show=True, help="log / linear loss along the path"),
    Key("question_mark,f1", "help", "help", "landscape", show=True, key_display="?", help="what the landscape shows"),
    # -- the reparameterization table (r) ---------------------------------------------------------
    Key("escape,q,r", "close", "close", "reparam", show=True, help="close the table (↑ ↓ PgUp PgDn scroll it)"),
    # -- the help screen -------------------------------------------------------------------------
    Key("escape,q,question_mark,f1", "dismiss", "close", "help", show=True, help="close the help"),
    # -- the events list, once it has the focus: only these, the charts keep the rest ---------------
    Key("up", "scroll_up", "scroll up", "events", help="scroll the events a line"),
    Key("down", "scroll_down", "scroll down", "events", help=ABOVE),
    Key("pageup", "page_up", "page up", "events", help="scroll the events a page"),
    Key("pagedown", "page_down", "page down", "events", help=ABOVE),
)

# Without landscape.json, the palette's `L` says how to make one.
LANDSCAPE_HOW = ("Landscape: how to make one", "eos-tui landscape RUN_DIR --curve, then L")

# How the help and the docs name a key (Textual's names otherwise).
KEY_NAMES = {
    "question_mark": "?",
    "f1": "F1",
    "plus": "+",
    "equals_sign": "=",
    "minus": "-",
    "left": "←",
    "right": "→",
    "up": "↑",
    "down": "↓",
    "pageup": "PgUp",
    "pagedown": "PgDn",
    "comma": ",",
    "full_stop": ".",
    "escape": "esc",
}


def bindings(*scopes: Scope) -> list[BindingType]:
    """The Textual BINDINGS of these scopes, in the table's order."""
    return [k.binding() for k in KEYS if k.scope in scopes and k.scope != "textual"]


def in_scopes(*scopes: Scope) -> list[Key]:
    return [k for k in KEYS if k.scope in scopes]


def key_names(key: Key) -> list[str]:
    """The key's names as the help writes them: "question_mark,f1" → ["?", "F1"]."""
    return [KEY_NAMES.get(name, name) for name in key.key.split(",")]


def help_rows(scopes: tuple[Scope, ...] = MAIN_SCOPES) -> list[tuple[list[str], str]]:
    """(key names, what they do) per row of the help table of these scopes."""
    rows: list[tuple[list[str], str]] = []
    for key in in_scopes(*scopes):
        if key.help == ABOVE:
            rows[-1][0].extend(key_names(key))
        elif key.help and key.help != MENTIONED:
            rows.append((key_names(key), key.help))
    return rows


def help_table(scopes: tuple[Scope, ...] = MAIN_SCOPES) -> str:
    """The Markdown table of these scopes' keys (the help screen's, docs/keys.md's)."""
    lines = ["| key | does |", "|---|---|"]
    lines += [f"| {' '.join(f'`{name}`' for name in names)} | {text} |" for names, text in help_rows(scopes)]
    return "\n".join(lines) + "\n"


DOC_GROUPS: tuple[tuple[str, tuple[Scope, ...]], ...] = (
    ("The main screen", MAIN_SCOPES),
    ("The landscape (`L`)", ("landscape",)),
    ("The reparameterization table (`r`)", ("reparam",)),
    ("The help (`?`)", ("help",)),
    ("The events list, once it has the focus", ("events",)),
)


def markdown() -> str:
    """docs/keys.md: every key, one table per screen."""
    parts = ["# eos-tui's keys\n\nGenerated from eos_tui/app/keys.py by `python -m eos_tui.app.keydoc > docs/keys.md`; do not edit.\n"]
    parts += [f"## {title}\n\n{help_table(scopes)}" for title, scopes in DOC_GROUPS]
    return "\n".join(parts)
