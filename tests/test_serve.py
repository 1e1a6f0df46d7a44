"""`eos-tui serve`: the app through textual-serve. The server starts, answers HTTP on its port, runs
the app for a websocket client (what the browser page does), and stops cleanly on Ctrl-C (SIGINT).

These tests speak the page's websocket protocol themselves and read the app's screen from the bytes
they get; tests/test_serve_browser.py runs the page itself in headless Chromium."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("textual_serve")
aiohttp = pytest.importorskip("aiohttp")

from eos_tui.cli.serve import app_command, is_loopback  # noqa: E402
from eos_tui.rundir import read_manifest  # noqa: E402
from eos_tui.rundir.reader import pid_alive  # noqa: E402
from tests.app import synthetic  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(*args: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "eos_tui.cli", "serve", *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def get(url: str, deadline: float) -> str:
    while True:
        try:
            with urllib.request.urlopen(url, timeout=60) as r:
                assert r.status == 200
                return r.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


async def screen_text(port: int, until: tuple[str, ...], timeout: float = 60) -> str:
    """Connect as the page does and return the app's screen text (escape codes removed) once it shows `until`."""
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"http://127.0.0.1:{port}/ws?width=100&height=30") as ws:
            data, text = b"", ""
            end = time.monotonic() + timeout
            while time.monotonic() < end and not all(u in text for u in until):
                try:
                    msg = await ws.receive(timeout=1)
                except asyncio.TimeoutError:
                    continue
                if msg.type != aiohttp.WSMsgType.BINARY:
                    break
                data += msg.data
                text = re.sub(rb"\x1b\[[0-9;?$]*[A-Za-z]", b"", data).decode("utf-8", "replace")
            return text


def served_apps(marker: str) -> list[int]:
    """Pids of app processes textual-serve started for a run whose path contains `marker`."""
    out = []
    for pid in os.listdir("/proc"):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"served_main" in cmd and marker.encode() in cmd:
            out.append(int(pid))
    return out


def stop(server: subprocess.Popen) -> tuple[int, str]:
    server.send_signal(signal.SIGINT)
    try:
        _, err = server.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        server.kill()
        raise
    return server.returncode, err


def test_serves_the_app_and_stops_cleanly_on_ctrl_c(tmp_path):
    run = synthetic.make_run(tmp_path / "served-run", steps=200)
    port = free_port()
    server = start(str(run), "--port", str(port), cwd=tmp_path)
    try:
        page = get(f"http://127.0.0.1:{port}/", time.monotonic() + 60)
        assert "eos-tui" in page and f'data-session-websocket-url="ws://127.0.0.1:{port}/ws"' in page
        # the page's URLs follow the address the browser used (a forwarded port keeps working)
        req = urllib.request.Request(f"http://127.0.0.1:{port}/", headers={"Host": "localhost:9999"})
        with urllib.request.urlopen(req, timeout=60) as r:
            assert 'data-session-websocket-url="ws://localhost:9999/ws"' in r.read().decode()
        text = asyncio.run(screen_text(port, ("eos-tui", "synthetic", "completed", "Sharpness")))
        assert "eos-tui" in text and "synthetic" in text and "completed" in text and "Sharpness" in text
        assert "200/200" in text
    finally:
        code, err = stop(server)
    assert code == 0, err
    assert "Traceback" not in err and f"at http://127.0.0.1:{port}" in err
    deadline = time.monotonic() + 60  # the app process ends with its websocket: wait for that, not 0.5 s
    while served_apps("served-run") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert served_apps("served-run") == []
    with socket.socket() as s:  # the port is free again: no listener (TIME_WAIT connections may remain, as a server allows)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen()


def test_a_scenario_is_started_and_its_engine_stopped_with_the_server(tmp_path):
    (tmp_path / "long.toml").write_text(
        'name = "long"\nsteps = 1000000\ndtype = "float64"\n[data]\nkind = "none"\n'
        '[model]\nkind = "quadratic"\neigenvalues = [10.0, 1.0]\n[optimizer]\nkind = "gd"\nlr = 0.1\n'
        "[measure]\nsharpness_every = 100\n"
    )
    port = free_port()
    server = start("long.toml", "--port", str(port), cwd=tmp_path)
    try:
        get(f"http://127.0.0.1:{port}/", time.monotonic() + 60)
        (run,) = list((tmp_path / "runs").iterdir())
        deadline = time.monotonic() + 60
        while (read_manifest(run) or {}).get("status") != "running" or not (run / "metrics.jsonl").stat().st_size:
            assert time.monotonic() < deadline, "the engine did not start"
            time.sleep(0.2)
        pid = read_manifest(run)["pid"]
    finally:
        code, err = stop(server)
    assert code == 0, err
    manifest = read_manifest(run)
    assert manifest["status"] == "interrupted" and not pid_alive(pid, manifest.get("pid_start")), err


@pytest.mark.parametrize(
    ("args", "needle", "code"),
    [
        (("--port", "0"), "--port 0", 2),
        ((), "no runs under runs/", 2),
        (("notarun",), "notarun", 2),
        (("--host", "192.0.2.1", "--port", "8799"), "cannot serve on http://192.0.2.1:8799", 1),
    ],
)
def test_refusals(tmp_path, args, needle, code):
    synthetic.make_run(tmp_path / "r", steps=5)
    (tmp_path / "notarun").mkdir()
    args = ("r", *args) if args and args[0].startswith("--") else args
    r = subprocess.run([sys.executable, "-m", "eos_tui.cli", "serve", *args], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == code and "Traceback" not in r.stderr, r.stderr
    assert needle in r.stderr
    if "192.0.2.1" in args:  # another host is said to expose the app, before anything else
        assert r.stderr.splitlines()[0].startswith("eos-tui: warning: --host 192.0.2.1 is not this machine only")


def test_without_textual_serve_one_line_names_the_extra(tmp_path):
    run = synthetic.make_run(tmp_path / "r", steps=5)
    code = (
        "import sys\nsys.modules['textual_serve'] = None\nsys.modules['textual_serve.server'] = None\n"
        f"sys.argv = ['eos-tui', 'serve', {str(run)!r}]\nfrom eos_tui.cli import main\nmain()\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    from eos_tui.cli.extras import install_hint

    assert r.returncode == 2 and install_hint("serve") in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_loopback_and_quoting(tmp_path):
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1") and is_loopback("[::1]")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5") and not is_loopback("example.org")
    # a run directory's name is never read by the shell that starts the app
    evil = tmp_path / "x; touch pwned; $(touch pwned2)"
    echo = tmp_path / "args"
    echo.write_text('#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\n')
    echo.chmod(0o755)
    r = subprocess.run(["sh", "-c", app_command([evil], python=str(echo))], cwd=tmp_path, capture_output=True, text=True)
    assert r.stdout.splitlines()[-1] == str(evil) and r.stdout.splitlines()[0] == "-c"
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "pwned2").exists()
