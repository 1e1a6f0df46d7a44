"""Starting and stopping the training engine as its own process (no torch, no textual here).

The engine runs as `python -m eos_tui.engine RUN_DIR` in a fresh interpreter. A fresh interpreter
is as safe for CUDA as multiprocessing's "spawn" (nothing is inherited from a parent that may have
touched the GPU), and unlike a multiprocessing child it can outlive the process that started it:
that is what `--detach` and the app's `d` key need.

`start_new_session=True` puts the engine in its own session and process group, so

* closing the terminal or the SSH session (SIGHUP to the terminal's session) does not reach it, and
* Ctrl-C typed in the app's terminal (SIGINT to the foreground process group) does not reach it;
  the app decides whether to stop the engine, and does so with `stop_engine`.

The engine's stdout and stderr are appended to RUN_DIR/engine.log.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Union

from .rundir.format import ENGINE_LOG
from .rundir.reader import pid_alive

EngineHandle = Union[int, subprocess.Popen]


def start_engine(run_dir: str | os.PathLike[str], *, python: str = sys.executable) -> subprocess.Popen:
    """Start the engine on RUN_DIR (which holds scenario.toml) in the background and return at once."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / ENGINE_LOG, "ab") as log:
        return subprocess.Popen(
            [python, "-m", "eos_tui.engine", str(run_dir)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )


def engine_alive(engine: EngineHandle | None) -> bool:
    """Whether the engine process still runs (a finished child is reaped, not counted as alive)."""
    if engine is None:
        return False
    if isinstance(engine, subprocess.Popen):
        return engine.poll() is None
    return pid_alive(engine)


def _send(engine: EngineHandle, sig: int) -> None:
    pid = engine.pid if isinstance(engine, subprocess.Popen) else int(engine)
    try:
        # The engine leads its own process group (start_new_session): signal the group, so that
        # any helper processes it started stop with it. Otherwise signal the process alone.
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _wait(engine: EngineHandle, timeout: float) -> bool:
    """Wait up to `timeout` seconds for the engine to exit; True if it did."""
    if isinstance(engine, subprocess.Popen):
        try:
            engine.wait(timeout=max(0.0, timeout))
            return True
        except subprocess.TimeoutExpired:
            return False
    deadline = time.monotonic() + timeout
    while pid_alive(engine):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def stop_engine(engine: EngineHandle, timeout: float = 10.0) -> bool:
    """Stop the engine cleanly: SIGINT (it finishes the current step, writes "end" records with
    status "interrupted" and marks the manifest interrupted), then SIGTERM, then SIGKILL.

    Returns True if the engine exited on SIGINT or SIGTERM (its run directory is complete), False if
    it had to be killed (the metrics are still valid line by line, but the manifest may say
    "running"; readers then show "engine lost").
    """
    if not engine_alive(engine):
        return True
    _send(engine, signal.SIGINT)
    if _wait(engine, timeout):
        return True
    _send(engine, signal.SIGTERM)
    if _wait(engine, max(1.0, timeout / 2)):
        return True
    _send(engine, signal.SIGKILL)
    _wait(engine, 5.0)
    return False
