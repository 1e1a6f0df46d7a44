"""Ctrl-C quits as `q` does (a live run's engine stopped, the manifest "interrupted"); the command
palette offers the app's screenshot (into the run directory), not Textual's own."""

import pytest
from helpers import run_finished, wait_exit, wait_file, wait_for

from eos_tui.app import EosApp
from eos_tui.engine.launch import engine_alive, start_engine
from eos_tui.rundir import read_manifest


@pytest.fixture
def engine(tmp_path, fake_python):
    run = tmp_path / "live-run"
    proc = start_engine(run, python=fake_python)
    wait_file(lambda: (read_manifest(run) or {}).get("status") == "running")
    yield run, proc
    if engine_alive(proc):
        proc.kill()
        proc.wait()


async def test_ctrl_c_stops_the_engine_as_q_does(engine):
    run, proc = engine
    app = EosApp(run, engine=proc, poll_interval=0.05)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.model.arms.get("gd") and app.model.arms["gd"].done > 5)
        await pilot.press("ctrl+c")
        await wait_exit(pilot)
    assert app.outcome == "stopped" and app.exit_code == 130  # interrupted by the user, as `run --headless`
    assert proc.returncode == 130
    assert read_manifest(run)["status"] == "interrupted"


async def test_ctrl_c_quits_a_watching_app(finished_run):
    app = EosApp(finished_run)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: run_finished(app))
        await pilot.press("ctrl+c")
        await wait_exit(pilot)
    assert app.outcome == "quit" and app.exit_code == 0  # nothing was stopped: 0, not 130


async def test_the_palette_offers_the_apps_screenshot_only(finished_run):
    app = EosApp(finished_run)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: run_finished(app))
        titles = [c.title for c in app.get_system_commands(app.screen)]
    assert "Screenshot" not in titles  # Textual's: saves to a folder that may not exist
    assert "Save SVG screenshot" in titles and "Quit" in titles
