"""The app's own engine ends without writing its end: the app writes it, and never lies.

* kill -9 of the engine: the manifest says "failed" with how the engine exited;
* `q` on an engine that ignores SIGINT/SIGTERM (a long solve) and has to be killed: "interrupted";
* `q` works while a read error is shown in the header (it used to do nothing);
* a manifest the engine finalised itself is left as it is.
"""

from pathlib import Path

import pytest
from helpers import header_text, wait_exit, wait_file, wait_for

from eos_tui.app import EosApp
from eos_tui.app.ending import exit_reason, finalize_manifest
from eos_tui.engine.launch import engine_alive, start_engine
from eos_tui.rundir import read_manifest


def manifest(run) -> dict:
    return read_manifest(run) or {}


@pytest.fixture
def start(tmp_path, fake_python, monkeypatch):
    procs = []

    def start_it(name="live-run", **env):
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        run = tmp_path / name
        proc = start_engine(run, python=fake_python)
        procs.append(proc)
        wait_file(lambda: manifest(run).get("status") == "running")
        return run, proc

    yield start_it
    for proc in procs:
        if engine_alive(proc):
            proc.kill()
            proc.wait()


def test_exit_reason_in_words():
    assert exit_reason(-9) == "engine exited with signal 9 (SIGKILL)"
    assert exit_reason(1) == "engine exited with code 1"
    assert exit_reason(None).startswith("engine ended")


async def test_engine_killed_the_app_writes_failed_with_the_reason(start):
    run, proc = start()
    app = EosApp(run, engine=proc, poll_interval=0.05)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: app.model.arms.get("gd") and app.model.arms["gd"].done > 5)
        proc.kill()
        proc.wait()
        metrics = (run / "metrics.jsonl").read_bytes()
        await wait_for(pilot, lambda: app.model.status == "failed")
        m = manifest(run)
        assert m["status"] == "failed" and m["error"] == "engine exited with signal 9 (SIGKILL)"
        assert m["finalized_by"] == "app" and m["ended"]
        assert {a["status"] for a in m["arms"].values()} == {"failed"}
        assert (run / "metrics.jsonl").read_bytes() == metrics  # the records stay as they were
        assert "failed (engine exited with signal 9 (SIGKILL))" in header_text(app)
        assert {a.status for a in app.model.arms.values()} == {"failed"}
        await pilot.press("q")
        await wait_exit(pilot)
    assert app.exit_code == 0 and manifest(run)["status"] == "failed"


async def test_a_manifest_the_engine_finished_is_never_overwritten(start):
    run, proc = start("short-run", FAKE_STEPS="20", FAKE_DELAY="0.001")
    app = EosApp(run, engine=proc, poll_interval=0.05)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: app.model.status == "completed")
        proc.wait(timeout=60)
        # what must not happen (the app writing the end of an engine that finished it): the engine
        # has exited, so a manifest re-read (every 0.5 s) after that exit could show it
        await pilot.pause(0.6)
    m = manifest(run)
    assert m["status"] == "completed" and "finalized_by" not in m and "error" not in m
    # and the helper itself refuses: it only ever finishes a "running" manifest
    assert finalize_manifest(run, "failed", "x") == (m, False)
    assert manifest(run) == m


async def test_quit_with_an_engine_that_must_be_killed_writes_interrupted(start):
    run, proc = start("stubborn-run", FAKE_IGNORE_SIGNALS="1")
    app = EosApp(run, engine=proc, poll_interval=0.05, stop_timeout=0.3)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: app.model.arms.get("gd") and app.model.arms["gd"].done > 5)
        await pilot.press("q")
        await wait_exit(pilot)
    assert app.outcome == "stopped" and app.exit_code == 1
    assert proc.returncode == -9
    m = manifest(run)
    assert m["status"] == "interrupted" and "killed" in m["stop_reason"] and m["finalized_by"] == "app"
    assert {a["status"] for a in m["arms"].values()} == {"interrupted"}
    assert "error" not in m


async def test_quit_works_while_a_read_error_is_shown(start):
    run, proc = start()
    app = EosApp(run, engine=proc, poll_interval=0.05)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: app.model.arms.get("gd") and app.model.arms["gd"].done > 5)

        def unreadable():
            raise PermissionError(13, "Permission denied", str(run / "metrics.jsonl"))

        app.follower.metrics.poll = unreadable
        await wait_for(pilot, lambda: "cannot read run" in header_text(app))
        assert app.state.read_error is not None and not app.state.stopping
        await pilot.press("q")
        await wait_exit(pilot)
    assert app.outcome == "stopped" and app.exit_code == 130  # interrupted by the user, as `run --headless`
    assert proc.returncode == 130 and manifest(run)["status"] == "interrupted"
    assert "finalized_by" not in manifest(run)  # the engine wrote its own end


def test_the_app_state_is_explicit_fields():
    """No overloaded `note` string: what the header shows comes from typed fields."""
    app = EosApp(Path("/nonexistent"))
    assert not hasattr(app, "note")
    assert {"read_error", "stopping", "engine_end"} <= set(vars(app.state))


async def test_an_engine_that_never_wrote_a_manifest_says_how_it_exited(tmp_path):
    import subprocess
    import sys

    run = tmp_path / "never-started"
    run.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.exit(3)"])
    proc.wait()
    app = EosApp(run, engine=proc, poll_interval=0.05)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: app.model.status == "engine lost" and app.state.engine_end is not None)
        assert "engine lost (engine exited with code 3 before writing a manifest; see engine.log)" in header_text(app)
    assert not (run / "manifest.json").exists()
