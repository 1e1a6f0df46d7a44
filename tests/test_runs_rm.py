"""`eos-tui runs [DIR]` (newest first, with the duration) and `eos-tui rm`, which never deletes a running run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from eos_tui.cli.runs import format_duration
from eos_tui.rundir.format import process_start_time
from tests.app import synthetic


def eos(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, COLUMNS="200")
    return subprocess.run([sys.executable, "-m", "eos_tui.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=60, env=env)


def make(root: Path, name: str, *, started: str, ended: str | None, status: str = "completed", **fields) -> Path:
    d = synthetic.make_run(root / name, steps=5, status="completed")
    m = synthetic.manifest(status=status, steps=5)
    m.update(started=started, ended=ended, **fields)
    synthetic.write_manifest(d, m)
    return d


def test_runs_takes_a_directory_and_lists_newest_first_with_duration(tmp_path):
    root = tmp_path / "elsewhere"
    make(root, "old", started="2026-01-01T10:00:00+00:00", ended="2026-01-01T10:02:05+00:00")
    make(root, "new", started="2026-01-02T10:00:00+00:00", ended="2026-01-02T13:04:00+00:00")
    r = eos("runs", "elsewhere", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert [Path(x["run_dir"]).name for x in got] == ["new", "old"]
    assert [x["duration_s"] for x in got] == [3 * 3600 + 240, 125]
    assert got[0]["ended"] == "2026-01-02T13:04:00+00:00"
    table = eos("runs", "elsewhere", cwd=tmp_path).stdout.splitlines()
    assert "duration" in table[0] and "scenario" in table[0] and "status" in table[0]
    assert "3h04m" in table[1] and "new" in table[1] and "2m05s" in table[2]
    # --root still works, and the positional wins over it
    assert json.loads(eos("runs", "--root", "elsewhere", "--json", cwd=tmp_path).stdout) == got
    assert eos("runs", "elsewhere", "--root", "nowhere", "--json", cwd=tmp_path).stdout == r.stdout


def test_format_duration():
    assert [format_duration(s) for s in (None, 0, 59.4, 60, 3599, 3600, 86399, 90000)] == [
        "",
        "0s",
        "59s",
        "1m00s",
        "59m59s",
        "1h00m",
        "23h59m",
        "1d01h",
    ]


def test_rm_refuses_a_running_run_and_then_removes_nothing(tmp_path):
    me = os.getpid()  # a live process with its real start time: the manifest's engine is alive
    start = process_start_time(me)
    live = make(tmp_path, "live", started="2026-01-01T10:00:00+00:00", ended=None, status="running", pid=me, pid_start=start)
    done = make(tmp_path, "done", started="2026-01-01T10:00:00+00:00", ended="2026-01-01T10:01:00+00:00")
    r = eos("rm", "done", "live", cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "live: still running" in r.stderr and f"pid {me}" in r.stderr and "nothing removed" in r.stderr
    assert live.is_dir() and done.is_dir()


def test_rm_removes_finished_and_lost_runs(tmp_path):
    done = make(tmp_path, "done", started="2026-01-01T10:00:00+00:00", ended="2026-01-01T10:01:00+00:00")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    lost = make(tmp_path, "lost", started="2026-01-01T10:00:00+00:00", ended=None, status="running", pid=gone.pid)
    # a pid that now names another process (another start time) is not the engine either
    reused = make(tmp_path, "reused", started="2026-01-01T10:00:00+00:00", ended=None, status="running", pid=os.getpid(), pid_start=1)
    r = eos("rm", "done", "lost", "reused", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["removed done", "removed lost", "removed reused"]
    assert not done.exists() and not lost.exists() and not reused.exists()


def test_rm_deletes_only_run_directories(tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "keep.txt").write_text("x")
    run = make(tmp_path, "run", started="2026-01-01T10:00:00+00:00", ended="2026-01-01T10:01:00+00:00")
    (tmp_path / "link").symlink_to(run)
    for target, needle in (("notes", "not a run directory"), ("link", "symbolic link"), ("missing", "not a run directory")):
        r = eos("rm", target, cwd=tmp_path)
        assert r.returncode == 2 and needle in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert (tmp_path / "notes" / "keep.txt").exists() and run.is_dir()
    r = eos("rm", ".", cwd=run)
    assert r.returncode == 2 and "current directory" in r.stderr and run.is_dir()
