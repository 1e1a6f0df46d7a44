"""Starting and stopping the training engine as its own process (no torch, no textual here).

The engine runs as `python -c ENGINE_CODE RUN_DIR` in a fresh interpreter, not as
`python -m eos_tui.engine`: `-m` and `-c` put the current directory first on sys.path, and a
numpy.py (or torch.py, ...) in the directory where someone runs `eos-tui run` would then be imported
by the engine. ENGINE_CODE removes that entry before importing anything, and PYTHONSAFEPATH=1 keeps
it off on Python 3.11+ (-I or -E would too, but they would also drop PYTHONPATH and the user's
site-packages, where eos_tui itself may be installed). A fresh interpreter
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
from typing import Mapping, Union

from ..rundir.format import ENGINE_LOG
from ..rundir.reader import pid_alive
from ..rundir.session import RunSession

# sys.path[0] is the current directory ('') under -c unless safe_path (PYTHONSAFEPATH, 3.11+) kept it off.
# An empty entry in PYTHONPATH ("a:" or ":a") means the current directory too, even under
# safe_path: every '' and '.' entry goes, while explicit directories (a PYTHONPATH that names a
# source checkout) stay.
ENGINE_CODE = (
    "import sys\nsys.path[:] = [p for p in sys.path if p not in ('', '.')]\nfrom eos_tui.engine.boot import main\nsys.exit(main())\n"
)

EngineHandle = Union[int, subprocess.Popen]


def engine_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The engine's environment: safe_path on (3.11+), and PYTHONPATH without its empty or '.'
    entries, which Python would turn into the current directory ("a:" reads as "a" and the cwd)."""
    env = dict(environ, PYTHONSAFEPATH="1")
    if "PYTHONPATH" in env:
        kept = [p for p in env["PYTHONPATH"].split(os.pathsep) if p not in ("", ".")]
        if kept:
            env["PYTHONPATH"] = os.pathsep.join(kept)
        else:
            del env["PYTHONPATH"]
    return env


def start_engine(run_dir: str | os.PathLike[str], *, python: str = sys.executable, threads: int | None = None) -> subprocess.Popen:
    """Start the engine on RUN_DIR (which holds scenario.toml) in the background and return at once.

    The manifest then names the engine's process (pid and start time), so that a reader never takes
    this launcher's exit for the engine's (the engine writes the same pid itself once it runs).
    `threads`: --threads, passed on to the engine (else it chooses; engine/threads.py)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    env = engine_env(os.environ)
    with open(run_dir / ENGINE_LOG, "ab") as log:
        proc = subprocess.Popen(
            [python, "-c", ENGINE_CODE, str(run_dir), *(["--threads", str(threads)] if threads is not None else [])],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            env=env,
        )
    _record_engine_pid(run_dir, proc.pid)
    return proc


# SIGTERM or SIGHUP (the terminal closed) between starting an engine the app will own and the
# app's own handlers (Textual's start-up takes a second): the default action would end this process
# at once and leave the engine training with nobody to stop it. `start_owned_engine` records such a
# signal instead; the app acts on it as soon as it is up (EosApp.on_mount), as on one that comes later.
_pending_close: int | None = None


def _hold_close(signum: int, frame: object) -> None:
    global _pending_close
    if _pending_close is None:
        _pending_close = signum


def pending_close_signal() -> int | None:
    """The SIGTERM or SIGHUP that came before the app could close on it, if any."""
    return _pending_close


def start_owned_engine(run_dir: str | os.PathLike[str], *, python: str = sys.executable, threads: int | None = None) -> subprocess.Popen:
    """`start_engine` for an engine the app will own (`run` without --detach): from now on SIGTERM
    and SIGHUP are held for the app (`pending_close_signal`), which stops the engine on them."""
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _hold_close)
    return start_engine(run_dir, python=python, threads=threads)


def _record_engine_pid(run_dir: Path, pid: int) -> None:
    """The engine's pid into its manifest, if that still names another process (RunSession.record_pid)."""
    RunSession(run_dir).record_pid(pid)


def engine_alive(engine: EngineHandle | None) -> bool:
    """Whether the engine process still runs (a finished child is reaped, not counted as alive)."""
    if engine is None:
        return False
    if isinstance(engine, subprocess.Popen):
        return engine.poll() is None
    return pid_alive(engine)


def signal_engine(engine: EngineHandle, sig: int, *, quiet: bool = True) -> None:
    """Send `sig` to the engine. A process already gone is not an error; one that is not ours to
    signal (PermissionError) is passed over, or raised with quiet=False (`eos-tui stop` says so)."""
    pid = engine.pid if isinstance(engine, subprocess.Popen) else int(engine)
    try:
        # The engine leads its own process group (start_new_session): signal the group, so that
        # any helper processes it started stop with it. Otherwise signal the process alone.
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        if not quiet:
            raise


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
    """Stop the engine cleanly: SIGINT (it stops within one Hessian-vector product, even inside a
    long eigen-solve, writes "end" records with status "interrupted" and marks the manifest
    interrupted), then SIGTERM, then SIGKILL.

    Returns True if the engine exited on SIGINT or SIGTERM (its run directory is complete), False if
    it had to be killed (the metrics are still valid line by line, but the manifest may say
    "running"; readers then show "engine lost").
    """
    if not engine_alive(engine):
        return True
    signal_engine(engine, signal.SIGINT)
    if _wait(engine, timeout):
        return True
    signal_engine(engine, signal.SIGTERM)
    if _wait(engine, max(1.0, timeout / 2)):
        return True
    signal_engine(engine, signal.SIGKILL)
    _wait(engine, 5.0)
    return False
