"""`eos-tui watch A B`: one run named twice is shown once; default run names drop what they all
share, so that `run/arm` fits the 80-column legend (review findings)."""

from __future__ import annotations

import os

from eos_tui.app.compare import distinct_runs, run_labels


def test_one_run_under_several_spellings_is_one_run(tmp_path):
    (tmp_path / "runs" / "a").mkdir(parents=True)
    (tmp_path / "runs" / "b").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "runs" / "a")
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        given = [tmp_path / "runs" / "a", tmp_path / "runs" / "b", tmp_path / "runs" / "a" / ".", tmp_path / "link"]
        assert distinct_runs(given) == given[:2]
        from pathlib import Path

        assert distinct_runs([Path("runs/a"), Path("./runs/a/"), tmp_path / "runs/a"]) == [Path("runs/a")]
    finally:
        os.chdir(old)


def test_default_names_lose_the_scenario_and_date_they_share(tmp_path):
    same_day = [tmp_path / "runs" / "eos-20261130-051751", tmp_path / "runs" / "eos-20261130-051804"]
    assert run_labels(same_day) == ["051751", "051804"]
    two_days = [tmp_path / "eos-20261129-101010", tmp_path / "eos-20261130-051804-2"]
    assert run_labels(two_days) == ["20261129-101010", "20261130-051804-2"]
    two_scenarios = [tmp_path / "eos-20261130-051751", tmp_path / "catapult-20261130-051804"]
    assert run_labels(two_scenarios) == ["eos-051751", "catapult-051804"]
    # names of the user's own (--out) stay whole, as does one default name among them
    assert run_labels([tmp_path / "lr-0.1", tmp_path / "lr-0.2"]) == ["lr-0.1", "lr-0.2"]
    assert run_labels([tmp_path / "eos-20261130-051751", tmp_path / "mine"]) == ["eos-20261130-051751", "mine"]


def test_watch_refuses_a_folder_whose_manifest_is_someone_elses(tmp_path):
    import json
    import subprocess
    import sys

    (tmp_path / "webapp").mkdir()
    (tmp_path / "webapp" / "manifest.json").write_text(json.dumps({"name": "My PWA"}))
    r = subprocess.run([sys.executable, "-m", "eos_tui.cli", "watch", "webapp"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "webapp is not a run directory (its manifest.json is not eos-tui's)" in r.stderr
