"""Helpers for the app tests: let the app catch up with the files, wait for a file to change."""

from __future__ import annotations

import os
import pty
import select
import sys
import time
from pathlib import Path


async def wait_for(pilot, condition, timeout: float = 60.0) -> None:
    """Let the app follow the files until `condition()` holds, then draw a frame. The deadline is
    generous (a loaded machine); an idle one returns as soon as the condition holds."""
    app = pilot.app
    deadline = time.monotonic() + timeout
    while True:
        app.follower.poll_now()
        await pilot.pause(0.05)
        app.ingest()
        if condition():
            break
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the app to catch up")
    app.redraw()
    await pilot.pause()


async def until(pilot, condition, timeout: float = 60.0) -> None:
    """Let the app run until `condition()` holds (a key's effect, a resize's new layout): a wait for
    the event, not for a time a loaded machine may outlast."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the app")
        await pilot.pause(0.02)


async def wait_exit(pilot, timeout: float = 60.0) -> None:
    """Until the app has exited (after q: stopping its engine first)."""
    await until(pilot, lambda: not pilot.app.is_running, timeout)


HERE = Path(__file__).parent


def wait_file(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


def header_text(app) -> str:
    """The run header's text, on the main screen (whatever screen is on top)."""
    from eos_tui.app.widgets import RunHeader

    return str(app.screen_stack[0].query_one(RunHeader).render())


def run_finished(app) -> bool:
    m = app.model
    return m.manifest is not None and bool(m.arms) and all(a.status != "running" for a in m.arms.values())


# ---- the app in a pseudo-terminal (live_demo.py: the real app on a fake engine) -------------------
def start_in_pty(run: Path, cols=100, rows=30, extra=()) -> tuple[int, int]:
    """Fork live_demo.py on RUN in a pty of cols×rows; (pid, the pty's master fd)."""
    pid, fd = pty.fork()
    if pid == 0:
        import fcntl
        import struct
        import termios

        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        env = dict(os.environ, TERM="xterm-256color")
        argv = [sys.executable, str(HERE / "live_demo.py"), str(run), *extra]
        os.execvpe(argv[0], argv, env)
    return pid, fd


def read_until(fd: int, predicate, timeout: float) -> bytes:
    """What the app writes to the pty until predicate(output) holds, the pty closes, or timeout."""
    out, t0 = b"", time.monotonic()
    while time.monotonic() - t0 < timeout and not predicate(out):
        r, _, _ = select.select([fd], [], [], 0.05)
        if r:
            try:
                data = os.read(fd, 65536)
            except OSError:
                break
            if not data:
                break
            out += data
    return out


def quit_when(pid: int, fd: int, marker: bytes, *, settle: float = 0.0, timeout: float = 60.0) -> tuple[str, bool, int]:
    """Press q once the app has written `marker` (after `settle` s), read to the end; (everything
    written, whether q was sent, exit code)."""
    try:
        out = read_until(fd, lambda o: marker in o, timeout)
        sent = marker in out
        if sent:
            time.sleep(settle)
            os.write(fd, b"q")
        out += read_until(fd, lambda o: False, timeout)
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    return out.decode("utf-8", "replace"), sent, os.waitstatus_to_exitcode(status)
