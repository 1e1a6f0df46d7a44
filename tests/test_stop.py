"""`eos-tui stop RUN_DIR...` on a real detached run: SIGINT to the engine the manifest names (pid and
start time), the manifest "interrupted"; named by `rm`'s refusal and under `runs`. Each wait is for
an event, with a generous deadline."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from eos_tui.engine.launch import engine_alive, stop_engine
from eos_tui.rundir import format as rf
from eos_tui.rundir import read_manifest
from eos_tui.rundir.reader import pid_alive

from .helpers import eos

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="signals")


def wait_for(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


def training(run: Path) -> bool:
    """The engine has taken steps (so its stop handler is in place, the case users meet)."""
    try:
        return b'"type":"step"' in (run / "metrics.jsonl").read_bytes()
    except OSError:
        return False


@pytest.fixture
def detached(tmp_path):
    r = eos("run", "eos", "--detach", "--steps", "100000", "--out", "run", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    run = tmp_path / "run"
    wait_for(lambda: training(run))
    pid = read_manifest(run)["pid"]
    yield run
    if engine_alive(pid):  # the test failed before stopping it
        stop_engine(pid, timeout=10)


def test_stop_a_detached_run(detached, tmp_path):
    run = detached
    manifest = read_manifest(run)
    assert manifest["status"] == "running" and pid_alive(manifest["pid"], manifest["pid_start"])
    # rm and runs name the command (rm said "q in its app", which a detached run does not have)
    r = eos("rm", "run", cwd=tmp_path)
    assert r.returncode == 2 and "eos-tui stop run" in r.stderr, r.stderr
    r = eos("runs", "--root", ".", cwd=tmp_path)
    assert r.returncode == 0 and "eos-tui stop run" in r.stderr, r.stderr
    r = eos("stop", "run", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "stopped run (interrupted)"
    manifest = read_manifest(run)
    assert manifest["status"] == "interrupted" and "finalized_by" not in manifest  # the engine wrote its own end
    assert not pid_alive(manifest["pid"], manifest["pid_start"])
    ends = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if '"end"' in x]
    assert ends and {e["status"] for e in ends} == {"interrupted"}
    # stopped already: said so, exit 0; the runs hint is gone, rm now removes it
    r = eos("stop", "run", cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.strip() == "run: not running (interrupted); nothing to stop", r.stdout
    assert "eos-tui stop" not in eos("runs", "--root", ".", cwd=tmp_path).stderr


def test_stop_refuses_what_is_not_a_run_in_one_line(tmp_path):
    (tmp_path / "folder").mkdir()
    for target in ("folder", "nowhere"):
        r = eos("stop", target, cwd=tmp_path)
        assert r.returncode == 2, r.stderr
        assert r.stderr.strip() == f"eos-tui: {target}: not a run directory (no eos-tui manifest.json)", r.stderr


def test_stop_never_signals_a_process_that_reuses_the_engines_pid(tmp_path):
    """The manifest's pid alive, but with another start time: a later process, not the engine.
    The run is "engine lost": nothing is signalled, and the other process lives on."""
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)
    try:
        start = rf.process_start_time(other.pid)
        if start is None:
            pytest.skip("no process start times on this system")
        run = tmp_path / "run"
        run.mkdir()
        manifest = rf.new_manifest(scenario="x", seed=0, device="cpu", arms=["a"], versions={}, total_steps=10, pid=other.pid)
        manifest["pid_start"] = start + 1
        rf.write_json_atomic(run / rf.MANIFEST_FILE, manifest)
        r = eos("stop", "run", cwd=tmp_path)
        assert r.returncode == 0 and r.stdout.strip() == "run: not running (engine lost); nothing to stop", (r.stdout, r.stderr)
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()


def fake_run(tmp_path: Path, proc: subprocess.Popen) -> Path:
    """A "running" manifest that names `proc` (pid and start time) as its engine."""
    run = tmp_path / "run"
    run.mkdir()
    manifest = rf.new_manifest(scenario="x", seed=0, device="cpu", arms=["a"], versions={}, total_steps=10, pid=proc.pid)
    if manifest["pid_start"] is None:
        pytest.skip("no process start times on this system")
    rf.write_json_atomic(run / rf.MANIFEST_FILE, manifest)
    return run


def started(code: str) -> subprocess.Popen:
    # Python's own SIGINT handling unless `code` says otherwise: an ignored SIGINT would be inherited
    prelude = "import signal\nsignal.signal(signal.SIGINT, signal.default_int_handler)\n"
    proc = subprocess.Popen(
        [sys.executable, "-c", prelude + code + "\nprint('up', flush=True)\nimport time\ntime.sleep(120)"], stdout=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stdout.readline() == b"up\n"  # its handlers are in place
    return proc


def test_an_engine_that_dies_on_sigint_without_its_manifest_is_marked_interrupted(tmp_path):
    """Stopped before its handler was installed (still importing torch): Python's default SIGINT ends
    it with the manifest "running"; stop writes the end, as the app does for its own engine."""
    proc = started("")
    try:
        run = fake_run(tmp_path, proc)
        r = eos("stop", "run", cwd=tmp_path)
        assert r.returncode == 0 and r.stdout.strip() == "stopped run (interrupted)", (r.stdout, r.stderr)
        m = read_manifest(run)
        assert m["status"] == "interrupted" and m["finalized_by"] == "stop" and m["arms"]["a"]["status"] == "interrupted"
    finally:
        proc.kill()
        proc.wait()


def test_an_engine_that_ignores_sigint_is_named_at_the_deadline(tmp_path):
    proc = started("import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)")
    try:
        run = fake_run(tmp_path, proc)
        r = eos("stop", "run", "--timeout", "0.5", cwd=tmp_path)
        assert r.returncode == 1, (r.stdout, r.stderr)
        assert r.stderr.strip().startswith(f"eos-tui: run: still running 0.5 s after SIGINT (engine pid {proc.pid})")
        assert len(r.stderr.strip().splitlines()) == 1
        assert proc.poll() is None and read_manifest(run)["status"] == "running"  # never killed by stop
    finally:
        proc.kill()
        proc.wait()
