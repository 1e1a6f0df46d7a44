"""`eos-tui serve` review findings: a port in use is refused before a scenario's engine starts (it
left an "engine lost" run behind), and an engine stopped before it wrote its end leaves the run
"interrupted", not "running"."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("textual_serve")

from eos_tui.cli import serve  # noqa: E402
from eos_tui.rundir import read_manifest  # noqa: E402
from tests.app import synthetic  # noqa: E402


def test_a_port_in_use_is_refused_before_the_engine_starts(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = subprocess.run(
            [sys.executable, "-m", "eos_tui.cli", "serve", "quadratic", "--port", str(port)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert f"cannot serve on http://127.0.0.1:{port}" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path / "runs").exists()  # no run started, none left "engine lost"


def test_an_engine_stopped_before_its_end_leaves_the_run_interrupted(tmp_path, monkeypatch):
    run = synthetic.make_run(tmp_path / "run", steps=50, done=3, status="running")
    # an "engine" that dies on SIGINT without writing anything, as one still importing torch does
    engine = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])

    class Server:
        def __init__(self, *args, **kwargs):
            pass

        def serve(self):  # the server stops at once (Ctrl-C)
            return None

    monkeypatch.setattr(serve, "_server_class", lambda: Server)
    monkeypatch.setattr(serve, "resolve_target", lambda target: (Path(run), engine))
    try:
        assert serve.serve_command("whatever", port=free_port()) == 0
    finally:
        engine.kill()
    m = read_manifest(run)
    assert m["status"] == "interrupted" and m["stop_reason"] == "serve stopped" and m["ended"]
    assert {a["status"] for a in m["arms"].values()} == {"interrupted"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
