"""Closing the app by SIGTERM or SIGHUP (terminal closed, SSH dropped) stops its engine as `q` does:
the engine is gone and the manifest says "interrupted". Only `d` leaves an engine training."""

import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest
from helpers import read_until, start_in_pty, wait_file

from eos_tui.engine.launch import engine_alive, stop_engine

HERE = Path(__file__).parent
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="pty")


def wait_exit(pid: int, timeout: float = 60.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    raise AssertionError("the app did not exit")


def engine_pid(run: Path) -> int:
    wait_file(lambda: (run / "manifest.json").exists() and json.loads((run / "manifest.json").read_text())["pid"])
    return json.loads((run / "manifest.json").read_text())["pid"]


def started(out: bytes) -> bool:
    return b"steps/s" in out or b"Sharpness" in out


@pytest.mark.parametrize("how", ["SIGTERM", "SIGHUP (terminal closed)"])
def test_closing_the_app_stops_its_engine(tmp_path, how):
    run = tmp_path / "closed-run"
    pid, fd = start_in_pty(run)
    engine = None
    try:
        assert started(read_until(fd, started, timeout=60.0)), "the app did not draw"
        engine = engine_pid(run)
        assert engine_alive(engine)
        if how == "SIGTERM":
            os.kill(pid, signal.SIGTERM)
            tail = read_until(fd, lambda out: False, timeout=60.0)  # until the app closes the pty
            code = wait_exit(pid)
            assert code == 128 + signal.SIGTERM
            assert b"Run stopped (interrupted)" in tail
        else:
            os.close(fd)  # the terminal goes away: the kernel sends SIGHUP to the app
            fd = -1
            code = wait_exit(pid)
            assert code == 128 + signal.SIGHUP
        manifest = json.loads((run / "manifest.json").read_text())
        assert manifest["status"] == "interrupted"
        assert "finalized_by" not in manifest  # the engine stopped cleanly and wrote it itself
        assert not engine_alive(engine)
    finally:
        if fd >= 0:
            os.close(fd)
        if engine is not None and engine_alive(engine):
            stop_engine(engine, timeout=5)


def test_closing_a_watching_app_leaves_the_engine_alone(tmp_path):
    """`eos-tui watch` never stops anything, whatever closes it."""
    run = tmp_path / "watched-run"
    pid, fd = start_in_pty(run, extra=["--watch"])
    engine = None
    try:
        assert started(read_until(fd, started, timeout=60.0)), "the app did not draw"
        engine = engine_pid(run)
        os.kill(pid, signal.SIGTERM)
        read_until(fd, lambda out: False, timeout=60.0)
        assert wait_exit(pid) == 128 + signal.SIGTERM
        assert engine_alive(engine)
        assert json.loads((run / "manifest.json").read_text())["status"] == "running"
    finally:
        os.close(fd)
        if engine is not None and engine_alive(engine):
            assert stop_engine(engine, timeout=60)
