"""`eos-tui runs` on a resumed run: its duration is the time its sessions ran, not the time since its
first start (which counted the hours it lay interrupted between sessions)."""

from __future__ import annotations

import json

from eos_tui.rundir import format as rf
from eos_tui.rundir.reader import run_info


def write(run_dir, manifest):
    run_dir.mkdir()
    (run_dir / rf.MANIFEST_FILE).write_text(json.dumps(manifest))
    (run_dir / rf.METRICS_FILE).write_text("")


BASE = {"format": 1, "scenario": "x", "status": "completed", "steps": 10, "arms": {}}


def test_a_resumed_run_sums_its_sessions(tmp_path):
    m = {
        **BASE,
        "started": "2026-01-01T10:00:00+00:00",
        "ended": "2026-01-01T15:00:30+00:00",
        "history": [
            {"started": "2026-01-01T10:00:00+00:00", "ended": "2026-01-01T10:00:10+00:00", "status": "interrupted"},
            {"started": "2026-01-01T12:00:00+00:00", "ended": "2026-01-01T12:00:20+00:00", "status": "interrupted"},
        ],
        "resumed": {"started": "2026-01-01T15:00:00+00:00", "from": {}},
    }
    write(tmp_path / "run", m)
    assert run_info(tmp_path / "run").duration_s == 10 + 20 + 30  # not 5 h 30 s


def test_sessions_recorded_with_the_first_start_are_not_counted_twice(tmp_path):
    """Manifests written before each session kept its own start gave every session the run's first."""
    m = {
        **BASE,
        "started": "2026-01-01T10:00:00+00:00",
        "ended": "2026-01-01T10:01:00+00:00",
        "history": [
            {"started": "2026-01-01T10:00:00+00:00", "ended": "2026-01-01T10:00:10+00:00", "status": "interrupted"},
            {"started": "2026-01-01T10:00:00+00:00", "ended": "2026-01-01T10:00:30+00:00", "status": "interrupted"},
        ],
        "resumed": {"started": "2026-01-01T10:00:50+00:00", "from": {}},
    }
    write(tmp_path / "run", m)
    assert run_info(tmp_path / "run").duration_s == 10 + 20 + 10


def test_a_run_never_resumed_is_as_before(tmp_path):
    write(tmp_path / "run", {**BASE, "started": "2026-01-01T10:00:00+00:00", "ended": "2026-01-01T10:00:42+00:00"})
    assert run_info(tmp_path / "run").duration_s == 42
