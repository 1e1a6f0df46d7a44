"""What a new user sees at 80×24 says what it means: no number cut in half under the eigendirection
chart, no "no checks yet" on a run that has ended without reparameterization checks, and the run
directory named when the app closes on a finished run."""

import os
import sys
from pathlib import Path

import pytest
import synthetic
from helpers import quit_when, run_finished, start_in_pty, until, wait_for
from rich.text import Text

from eos_tui.app import EosApp
from eos_tui.app.widgets.eigendirection import summary_line

HERE = Path(__file__).parent


def cells(markup: str) -> int:
    return Text.from_markup(markup).cell_len


def test_the_eigendirection_line_leaves_parts_out_whole():
    head, signs, tail = ["λη/2 0.50"], "+−+−+−", ["[#a0a0a0]flips 15%[/]", "amp 0.0001234"]
    assert summary_line(head, signs, tail, 80) == "λη/2 0.50 +−+−+− [#a0a0a0]flips 15%[/] amp 0.0001234"
    # 30 cells (an 80-column terminal): without the signs it is 33 cells, so the amplitude goes
    # whole, where the line used to end in "amp" and wrap its number out of view
    assert summary_line(head, signs, tail, 30) == "λη/2 0.50 [#a0a0a0]flips 15%[/]"
    assert summary_line(head, signs, tail, 12) == "λη/2 0.50"
    for width in range(5, 60):
        line = summary_line(head, signs, tail, width)
        assert cells(line) <= width or line == "λη/2 0.50"
        assert not line.endswith("amp")
    assert summary_line(head, None, tail, None) == "λη/2 0.50 [#a0a0a0]flips 15%[/] amp 0.0001234"


async def test_no_reparam_checks_on_an_ended_run_is_not_yet(tmp_path):
    live = synthetic.make_run(tmp_path / "live", steps=100, done=40, status="running", pid=os.getpid())
    ended = synthetic.make_run(tmp_path / "ended", steps=40)

    for run, want in ((live, "no checks yet"), (ended, "no checks in this run (measure.reparam_every)")):
        app = EosApp(run, poll_interval=0.05)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: app.model.arms.get("gd") and app.model.arms["gd"].done == 40)
            if run == ended:
                await wait_for(pilot, lambda: run_finished(app))
            assert str(app.query_one("#reparam-before").render()) == want


@pytest.mark.skipif(sys.platform == "win32", reason="pty")
def test_quitting_a_finished_run_names_its_directory(tmp_path):
    run = tmp_path / "finished-run"
    pid, fd = start_in_pty(run, extra=["--steps", "20", "--delay", "0.001"])
    out, sent, code = quit_when(pid, fd, b"completed", settle=0.3)
    assert sent and code == 0
    assert f"Run completed: {run}" in out


async def test_paused_at_80_columns_the_header_keeps_every_arm(tmp_path):
    """'paused view (engine keeps training)' wrapped the top line, and the arms fell out of view."""
    from eos_tui.app.widgets import RunHeader

    run = synthetic.make_run(tmp_path / "a-rather-long-run-name-20261130-024608", steps=1000, done=300, status="running", pid=os.getpid())
    app = EosApp(run, poll_interval=0.05)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.model.arms.get("gd") and app.model.arms["gd"].done == 300)
        await pilot.press("space")
        header = app.screen_stack[0].query_one(RunHeader)
        await until(pilot, lambda: "paused view" in str(header.render()))
        shown = [strip.text for strip in header.render_lines(header.region.reset_offset)]
        text = "\n".join(shown)
        assert "paused view" in shown[0]
        assert "gd" in text and "sgd" in text, text
        assert all(len(line.rstrip()) <= 80 for line in shown)


async def test_detach_is_offered_only_with_an_engine_to_leave(finished_run):
    """Watch mode (no engine) used to offer `d detach` in the footer; `d` there just quit."""
    from textual.widgets import Footer

    app = EosApp(finished_run)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: run_finished(app))
        footer = app.screen_stack[0].query_one(Footer)
        keys = {b.action for b in footer.query("FooterKey")}
        assert "app.quit" in keys and "app.detach" not in keys
        await pilot.press("d")
        await pilot.pause()
        assert app.is_running  # not a hidden quit


def test_the_header_does_not_show_question_marks_before_the_engine_knows():
    from eos_tui.app.model import RunModel
    from eos_tui.app.view import View
    from eos_tui.app.widgets.header import header_markup

    model = RunModel()
    model.set_manifest({**synthetic.manifest(), "device": "?"}, "running")
    text = Text.from_markup(header_markup(model, View(), run_name="r", width=80)).plain
    assert "?" not in text and "synthetic" in text
    model.set_manifest(synthetic.manifest(), "running")
    assert "cpu" in Text.from_markup(header_markup(model, View(), run_name="r", width=80)).plain


def test_the_redraw_rate_is_kept_sane():
    assert EosApp(Path("/nonexistent"), fps=1e9).fps == 30.0
    assert EosApp(Path("/nonexistent"), fps=float("inf")).fps == 30.0
    assert EosApp(Path("/nonexistent"), fps=float("nan")).fps == 4.0
    assert EosApp(Path("/nonexistent"), fps=0).fps == 0.5
    assert EosApp(Path("/nonexistent"), fps=10).fps == 10.0


@pytest.mark.skipif(sys.platform == "win32", reason="pty")
def test_quitting_before_the_engine_started_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_START_DELAY", "30")
    run = tmp_path / "early-quit"
    pid, fd = start_in_pty(run)
    out, sent, code = quit_when(pid, fd, b"starting")
    assert sent and code == 0
    assert f"Run stopped before the engine had started: {run}" in out
    assert not (run / "manifest.json").exists()


async def test_a_text_grows_when_its_new_line_wraps():
    """A Text first shown with a short line, then with one that wraps in its width, takes the wrapped
    height: it kept one line, so the 80x24 connectivity snapshot lost "(measure.reparam_every)"
    whenever a frame came before the run's end was read (a loaded machine)."""
    from textual.app import App

    from eos_tui.app.widgets.panel import Text as PanelText

    class One(App):
        CSS = "PanelText { width: 30; }"

        def compose(self):
            yield PanelText("")

    app = One()
    async with app.run_test(size=(40, 10)) as pilot:
        text = app.query_one(PanelText)
        text.set("no checks yet")
        await pilot.pause()
        assert text.size.height == 1
        text.set("no checks in this run (measure.reparam_every)")
        await pilot.pause()
        assert text.size.height == 2
        text.set("one short line")
        await pilot.pause()
        assert text.size.height == 1
