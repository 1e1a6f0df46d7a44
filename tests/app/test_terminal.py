"""End to end in a pseudo-terminal, as a person runs it: `d` detaches and says how to come back."""

import json
import os
import pty
import sys
import time
from pathlib import Path

import pytest
from helpers import read_until, wait_file

from eos_tui.engine.launch import engine_alive, stop_engine

HERE = Path(__file__).parent


def run_in_pty(argv, keys: bytes, until: bytes, cols=100, rows=30, timeout=60.0) -> tuple[bytes, int]:
    """Run argv in a pty; send keys once `until` has been written (what says the app is ready for
    them: a fixed wait was too short on a loaded machine), then read to the end."""
    pid, fd = pty.fork()
    if pid == 0:
        import fcntl
        import struct
        import termios

        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        env = dict(os.environ, TERM="xterm-256color")
        os.execvpe(argv[0], argv, env)
    t0 = time.monotonic()
    out = read_until(fd, lambda out: until in out, timeout)
    if until in out:  # else the pty closed first (the program ended by itself), or the deadline passed
        try:
            os.write(fd, keys)
        except OSError:
            pass
    out += read_until(fd, lambda _: False, timeout - (time.monotonic() - t0))
    _, status = os.waitpid(pid, 0)
    return out, os.waitstatus_to_exitcode(status)


@pytest.mark.skipif(sys.platform == "win32", reason="pty")
def test_detach_in_a_terminal_leaves_the_engine_and_prints_the_watch_command(tmp_path):
    run = tmp_path / "detached-run"
    out, code = run_in_pty([sys.executable, str(HERE / "live_demo.py"), str(run)], b"d", until=b"detach")
    assert code == 0
    text = out.decode("utf-8", "replace")
    assert f"eos-tui watch {run}" in text
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "running" and engine_alive(manifest["pid"])  # it outlived the terminal
    assert stop_engine(manifest["pid"], timeout=60)
    wait_file(lambda: json.loads((run / "manifest.json").read_text())["status"] == "interrupted")


@pytest.mark.skipif(sys.platform == "win32", reason="pty")
def test_quit_in_a_terminal_stops_the_engine(tmp_path):
    run = tmp_path / "quit-run"
    out, code = run_in_pty([sys.executable, str(HERE / "live_demo.py"), str(run)], b"q", until=b"detach")
    assert code == 130  # interrupted by the user: the README's exit code, as `run --headless` (was 0)
    assert "Run stopped (interrupted)" in out.decode("utf-8", "replace")
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "interrupted" and not engine_alive(manifest["pid"])
