"""Starting, stopping, detaching from and watching an engine process (a torch-free fake one)."""

import json
import os
import signal
import subprocess

import pytest
from helpers import wait_exit, wait_file, wait_for

from eos_tui.app import EosApp
from eos_tui.engine.launch import engine_alive, start_engine, stop_engine
from eos_tui.rundir import read_manifest


def manifest_status(run):
    return (read_manifest(run) or {}).get("status")


@pytest.fixture
def engine(tmp_path, fake_python):
    run = tmp_path / "live-run"
    proc = start_engine(run, python=fake_python)
    wait_file(lambda: manifest_status(run) == "running")
    yield run, proc
    if engine_alive(proc):
        proc.kill()
        proc.wait()


def test_start_engine_runs_detached_in_its_own_session(engine):
    run, proc = engine
    assert os.getsid(proc.pid) == proc.pid  # its own session: terminal hangups and Ctrl-C miss it
    assert (read_manifest(run) or {})["pid"] == proc.pid
    assert engine_alive(proc)
    assert stop_engine(proc, timeout=60)
    assert proc.returncode == 130 and manifest_status(run) == "interrupted"
    assert "interrupted" in (run / "engine.log").read_text()
    ends = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if '"end"' in line]
    assert {e["status"] for e in ends} == {"interrupted"}


def test_stop_engine_by_pid_and_a_stubborn_engine_is_killed(tmp_path):
    stubborn = subprocess.Popen(
        [
            "python3",
            "-c",
            "import signal,time; signal.signal(signal.SIGINT, signal.SIG_IGN);"
            "signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    stubborn.stdout.readline()
    assert stop_engine(stubborn, timeout=0.3) is False
    assert stubborn.returncode == -signal.SIGKILL
    assert stop_engine(stubborn) is True  # already gone


async def test_quit_stops_the_engine_cleanly(engine):
    run, proc = engine
    app = EosApp(run, engine=proc, poll_interval=0.05)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.model.arms.get("gd") and app.model.arms["gd"].done > 5)
        assert app.model.status == "running"
        await pilot.press("q")
        await wait_exit(pilot)
    assert app.outcome == "stopped" and app.exit_code == 130  # interrupted by the user, as `run --headless`
    assert proc.returncode == 130
    assert manifest_status(run) == "interrupted"


async def test_detach_leaves_the_engine_running(engine):
    run, proc = engine
    app = EosApp(run, engine=proc, poll_interval=0.05)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.model.arms.get("gd") and app.model.arms["gd"].done > 0)
        await pilot.press("d")
        await pilot.pause()
    assert app.outcome == "detached"
    assert engine_alive(proc) and manifest_status(run) == "running"


async def test_watch_mode_quit_never_stops_anything(engine):
    run, proc = engine
    app = EosApp(run, engine=None, poll_interval=0.05)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.model.arms.get("gd") and app.model.arms["gd"].done > 0)
        assert app.model.status == "running"
        await pilot.press("q")
        await pilot.pause()
    assert app.outcome == "quit" and engine_alive(proc)


async def test_engine_lost_is_shown_and_the_record_stays(engine):
    run, proc = engine
    app = EosApp(run, poll_interval=0.05)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.model.arms.get("gd") and app.model.arms["gd"].done > 5)
        proc.kill()  # no chance to write "interrupted"
        proc.wait()
        await wait_for(pilot, lambda: app.model.status == "engine lost")
        assert "engine lost" in str(app.query_one("#header").render())
        assert app.model.arms["gd"].done > 5
