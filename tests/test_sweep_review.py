"""Review of the sweeps (issue 13): defects found by trying them adversarially, each with its test."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from tests.test_sweep import quad


def test_sigterm_to_the_process_group_interrupts_and_fails_no_point(tmp_path):
    """`timeout`, `kill -TERM -PGID` or a batch system's cancel signal every process of the group,
    the fork server included. A worker's exit is reported through the fork server's pipe, so its death
    broke the pool: every point not yet finished was written to points.jsonl as "failed" ("not run: a
    worker process died") and the map said so. The fork server now ignores SIGTERM and SIGHUP: the
    sweep stops as interrupted (130), with only finished points in points.jsonl."""
    q = quad(tmp_path, steps=200)
    grid = "optimizer.lr=0.01:0.19:40"
    proc = subprocess.Popen(
        [sys.executable, "-m", "eos_tui.cli", "sweep", str(q), "--grid", grid, "--jobs", "1", "--out", "s"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, OMP_NUM_THREADS="1"),
        start_new_session=True,
    )
    points = tmp_path / "s" / "points.jsonl"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not (points.is_file() and points.read_text()):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert proc.returncode == 130, err
    records = [json.loads(line) for line in points.read_text().splitlines()]
    assert 1 <= len(records) < 40
    assert {r["status"] for r in records} == {"completed"}, [r.get("message") for r in records if r["status"] != "completed"][:3]
    assert "failed" not in err.replace("0 failed", "")
