"""Every key is defined once, in eos_tui/app/keys.py: the screens' bindings, the command palette and
the help screen's key table are made from it, and docs/keys.md is its Markdown (issue 21). These tests
read the bindings the screens really have, not the table, so a key bound anywhere else, or a help row
or palette command without its key, fails here."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from helpers import run_finished, wait_for
from textual.app import App
from textual.binding import Binding

from eos_tui.app import app as app_module
from eos_tui.app import keys
from eos_tui.app.app import EosApp, MainScreen
from eos_tui.app.history import HistoryScreen
from eos_tui.app.landscape_screen import LandscapeScreen
from eos_tui.app.screens.help import INTRO, HelpScreen
from eos_tui.app.screens.reparam import ReparamScreen
from eos_tui.app.widgets.events import EventsScroll

REPO = Path(__file__).resolve().parents[2]
APP_DIR = Path(app_module.__file__).resolve().parent
ROW = re.compile(r"^\| (.+?) \| (.+) \|$")


def names(binding: Binding) -> list[str]:
    return [keys.KEY_NAMES.get(k, k) for k in binding.key.split(",")]


def main_bindings() -> list[Binding]:
    """What the main screen answers to: its own bindings, HistoryScreen's, the app's."""
    found = [*MainScreen.BINDINGS, *HistoryScreen.BINDINGS, *EosApp.BINDINGS]
    assert all(isinstance(b, Binding) for b in found)
    return found  # type: ignore[return-value]


def help_table_rows(markdown: str) -> list[tuple[list[str], str]]:
    """(key names, text) of each row of the help's key table."""
    rows = []
    for line in markdown.splitlines():
        if (m := ROW.match(line)) and m.group(1) not in ("key", "---"):
            rows.append((re.findall(r"`([^`]+)`", m.group(1)), m.group(2)))
    return rows


def test_the_help_lists_exactly_the_main_screens_bindings():
    rows = help_table_rows(HelpScreen([]).markdown())
    listed = [name for row_names, _ in rows for name in row_names]
    assert len(listed) == len(set(listed)), "a key in two rows"
    bound = {name for b in main_bindings() for name in names(b)}
    # Textual binds the command palette itself; the help names it all the same.
    bound.add(App.COMMAND_PALETTE_BINDING)
    # A key left to the text of the row above it (`esc` in the cursor's row) is named in that text.
    mentioned = {name for k in keys.KEYS if k.help == keys.MENTIONED for name in keys.key_names(k)}
    assert mentioned == {"esc"}
    assert set(listed) == bound - mentioned
    assert all(any(f"`{name}`" in text for _, text in rows) for name in mentioned)


def test_every_binding_does_something():
    """Each binding names an action its screen (or, with "app.", the app) has."""
    for screens, bindings in (
        ((MainScreen,), [*MainScreen.BINDINGS, *HistoryScreen.BINDINGS]),
        ((EosApp,), EosApp.BINDINGS),
        ((LandscapeScreen,), LandscapeScreen.BINDINGS),
        ((ReparamScreen,), ReparamScreen.BINDINGS),
        ((HelpScreen,), HelpScreen.BINDINGS),
        ((EventsScroll,), EventsScroll.BINDINGS),
    ):
        for b in bindings:
            assert isinstance(b, Binding)
            owner = EosApp if b.action.startswith("app.") else screens[0]
            method = "action_" + b.action.removeprefix("app.").split("(", 1)[0]
            assert callable(getattr(owner, method, None)), f"{b.key}: {owner.__name__} has no {method}"


def test_each_screen_binds_its_scope_of_the_table_and_nothing_else():
    for scopes, bound in (
        (("main", "chart"), MainScreen.BINDINGS),
        (("history",), HistoryScreen.BINDINGS),
        (("app",), EosApp.BINDINGS),
        (("landscape",), LandscapeScreen.BINDINGS),
        (("reparam",), ReparamScreen.BINDINGS),
        (("help",), HelpScreen.BINDINGS),
        (("events",), EventsScroll.BINDINGS),
    ):
        assert bound == [k.binding() for k in keys.KEYS if k.scope in scopes]
    # Every key of the table is bound somewhere (the palette's through Textual).
    assert {k.scope for k in keys.KEYS} == {"app", "main", "chart", "history", "textual", "landscape", "reparam", "help", "events"}


def test_no_key_is_defined_outside_the_table():
    """No `Binding(` outside keys.py, and the palette's commands are made in one place (app.py)."""
    bindings, commands = [], []
    for path in sorted(APP_DIR.rglob("*.py")):
        code = path.read_text(encoding="utf-8")
        if path.name != "keys.py" and "Binding(" in code:
            bindings.append(str(path.relative_to(APP_DIR)))
        commands += [str(path.relative_to(APP_DIR))] * code.count("SystemCommand(")
    assert bindings == []
    assert commands == ["app.py"]


async def test_the_palette_offers_each_key_with_a_palette_text_and_nothing_else(finished_run):
    app = EosApp(finished_run)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: run_finished(app))
        textual_own = {c.title for c in App.get_system_commands(app, app.screen)}
        ours = [c for c in app.get_system_commands(app.screen) if c.title not in textual_own]
    expected = [k for k in keys.KEYS if k.palette is not None and k.action != "app.detach"]  # watching: nothing to detach
    # No landscape.json in this run: `L` says how to make one.
    titles = [keys.LANDSCAPE_HOW[0] if k.action == "app.landscape" else k.palette[0] for k in expected]  # type: ignore[index]
    assert [c.title for c in ours] == titles
    for command, key in zip(ours, expected):
        assert (command.callback.func.__name__, command.callback.args) == (key.method, key.arguments)  # what the key does
        assert any(b.action == key.action and b.key == key.key for b in main_bindings())
    # Left out of the palette, on purpose: Textual's palette has its own Quit, and moving through the
    # steps one press at a time is what keys are for.
    left_out = {k.action for k in keys.in_scopes(*keys.MAIN_SCOPES) if k.palette is None}
    assert left_out == {
        "app.quit",
        "quit",
        "pan(-1)",
        "pan(1)",
        "zoom_in",
        "zoom_out",
        "home",
        "end",
        "cursor(-1)",
        "cursor(1)",
        "hide_cursor",
        "command_palette",
    }


def test_the_palette_offers_detach_only_with_an_engine(tmp_path):
    app = EosApp(tmp_path)
    detach = next(k for k in keys.KEYS if k.action == "app.detach")
    assert app.palette_text(detach) is None
    app.engine = object()  # type: ignore[assignment]
    assert app.palette_text(detach) == detach.palette


def test_the_docs_key_table_is_the_generated_one():
    """docs/keys.md is `python -m eos_tui.app.keydoc`'s output: the docs cannot disagree with the code."""
    docs = (REPO / "docs" / "keys.md").read_text(encoding="utf-8")
    assert docs == keys.markdown(), "docs/keys.md is stale: python -m eos_tui.app.keydoc > docs/keys.md"
    assert keys.help_table() in docs and keys.help_table() in INTRO


def app_modules() -> dict[str, Path]:
    mods = {}
    for path in APP_DIR.rglob("*.py"):
        parts = ("eos_tui", "app", *path.relative_to(APP_DIR).with_suffix("").parts)
        mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return mods


def imports_of(name: str, path: Path, mods: dict[str, Path]) -> set[str]:
    """The modules of the app that `name` imports, also under TYPE_CHECKING: a cycle there is
    still two modules that cannot be read one without the other."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else [])) if node.level else (node.module or "")
            found |= {m for m in (module, *(f"{module}.{a.name}" for a in node.names)) if m in mods}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name in mods}
    return found - {name}


def test_no_two_modules_of_the_app_import_each_other():
    """history.py reached the app through `from .app import EosApp` while app.py imports history.py;
    it names what it needs of the app in a Protocol instead."""
    mods = app_modules()
    graph = {name: imports_of(name, path, mods) for name, path in mods.items()}
    cycles = []

    def visit(name: str, stack: list[str], done: set[str]) -> None:
        for dep in sorted(graph[name]):
            if dep in stack:
                cycles.append(stack[stack.index(dep) :] + [dep])
            elif dep not in done:
                done.add(dep)
                visit(dep, [*stack, dep], done)

    for name in sorted(graph):
        visit(name, [name], {name})
    assert cycles == []


def test_no_module_of_the_app_uses_another_modules_private_names():
    """`obj._name` only where `_name` is defined in the same module (a class's own helpers), and no
    `from x import _name`: the history keys called the app's `_view_changed`; now `view_changed`."""
    offenders = []
    for path in sorted(APP_DIR.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        own: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                own.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                own.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                own.add(node.id)
        for node in ast.walk(tree):
            where = f"{path.relative_to(APP_DIR)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.ImportFrom):
                offenders += [f"{where}: import {a.name}" for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
            if not isinstance(node, ast.Attribute) or not node.attr.startswith("_") or node.attr.startswith("__"):
                continue
            receiver = ast.unparse(node.value)
            if receiver in ("self", "cls", "super()", "os") or node.attr in own:  # os._exit: the standard library's
                continue
            offenders.append(f"{where}: {ast.unparse(node)}")
    assert offenders == []
