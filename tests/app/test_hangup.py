"""Closing the terminal (SIGHUP) under a live `run` stops the engine and marks the run interrupted,
even when it comes while the app is still starting; a detached run (`d`) trains on."""

import json
import os
import signal
import sys
import time

import pytest
from helpers import read_until, start_in_pty, wait_file
from test_close_signals import engine_pid, started, wait_exit

from eos_tui.engine.launch import engine_alive, stop_engine

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="pty")


def manifest(run):
    return json.loads((run / "manifest.json").read_text())


def test_a_hangup_while_the_app_starts_still_stops_the_engine(tmp_path):
    """`eos-tui run` starts the engine, then imports and starts the app (a second or so): a SIGHUP
    then used to end the launcher at once and leave the engine training, owned by nobody."""
    run = tmp_path / "hangup-at-start"
    pid, fd = start_in_pty(run, extra=["--pause", "2"])
    engine = None
    try:
        assert b"started" in read_until(fd, lambda out: b"started" in out, timeout=60.0)
        engine = engine_pid(run)
        os.close(fd)  # the terminal goes away while the app is not up yet
        fd = -1
        code = wait_exit(pid)
        assert code == 128 + signal.SIGHUP
        wait_file(lambda: not engine_alive(engine), timeout=60.0)
        assert manifest(run)["status"] == "interrupted"
    finally:
        if fd >= 0:
            os.close(fd)
        if engine is not None and engine_alive(engine):
            stop_engine(engine, timeout=5)


def test_after_detach_closing_the_terminal_leaves_the_engine_training(tmp_path):
    run = tmp_path / "detached"
    pid, fd = start_in_pty(run)
    engine = None
    try:
        # `d` is offered once the app has seen its engine alive: press it then, not after a fixed wait
        assert b"detach" in read_until(fd, lambda out: started(out) and b"detach" in out, timeout=60.0), "the app did not offer d"
        engine = engine_pid(run)
        os.write(fd, b"d")
        tail = read_until(fd, lambda out: False, timeout=60.0)  # to the app's end
        assert b"keeps training" in tail
        assert wait_exit(pid) == 0
        os.close(fd)  # and now the terminal goes
        fd = -1
        time.sleep(0.5)  # something that must NOT happen (the engine stopped): a moment to let it show
        assert engine_alive(engine) and manifest(run)["status"] == "running"
    finally:
        if fd >= 0:
            os.close(fd)
        if engine is not None and engine_alive(engine):
            assert stop_engine(engine, timeout=60)
