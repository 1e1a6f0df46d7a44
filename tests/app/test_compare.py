"""`eos-tui watch RUN_DIR RUN_DIR...`: several runs in one app, arms named run/arm, live runs followed."""

from __future__ import annotations

import subprocess
import sys

import synthetic
from helpers import header_text, wait_for

from eos_tui.app import EosApp
from eos_tui.app.compare import combined_status, merge_manifests, run_labels
from eos_tui.app.widgets.header import header_markup
from eos_tui.app.widgets.palette import arm_color


async def test_two_runs_in_one_app_and_the_live_one_keeps_growing(tmp_path):
    done = synthetic.make_run(tmp_path / "yesterday", steps=300)
    live = synthetic.make_run(tmp_path / "today", steps=300, done=40, status="running", pid=None)
    app = EosApp(done, runs=[done, live], poll_interval=0.05)
    async with app.run_test(size=(120, 40)) as pilot:
        names = ["yesterday/gd", "yesterday/sgd", "today/gd", "today/sgd"]
        await wait_for(pilot, lambda: list(app.model.arms) == names and app.model.arms["today/gd"].done == 40)
        assert app.model.arms["yesterday/gd"].done == 300 and app.model.arms["yesterday/gd"].status == "completed"
        assert app.model.status == "running"  # one run still trains
        text = header_text(app)
        assert "yesterday, today" in text and all(n in text for n in names)
        # each arm has its own colour
        markup = header_markup(app.model, app.view, run_name=app.run_name)
        assert all(arm_color(i) in markup for i in range(4)) and len({arm_color(i) for i in range(4)}) == 4
        # the live run keeps following; its events carry the new names
        synthetic.append(live, synthetic.records_range(synthetic.ARMS, 40, 200))
        await wait_for(pilot, lambda: app.model.arms["today/gd"].done == 200)
        assert "today/gd" in {e.arm for e in app.model.events} and "yesterday/gd" in {e.arm for e in app.model.events}
        assert "200/300" in header_text(app)
        # both runs' arms are drawn in the sharpness chart
        synthetic.append(live, synthetic.end_records(synthetic.ARMS, 200))
        m = synthetic.manifest(status="completed", steps=300)
        synthetic.write_manifest(live, m)
        await wait_for(pilot, lambda: app.model.status == "completed")
        await pilot.press("tab")
        assert app.view.arm == "yesterday/sgd"


def test_labels_are_short_and_distinct(tmp_path):
    a, b, c = tmp_path / "x" / "eos-1", tmp_path / "y" / "eos-1", tmp_path / "x" / "cat"
    assert run_labels([a, c]) == ["eos-1", "cat"]
    assert run_labels([a, b, c]) == ["x/eos-1", "y/eos-1", "cat"]
    assert run_labels([tmp_path / "esc\x1b[31m"]) == ["esc\\x1b[31m"]


def test_merged_status_and_manifest():
    assert combined_status(["completed", "running"]) == "running"
    assert combined_status(["completed", "completed"]) == "completed"
    assert combined_status(["completed", "interrupted"]) == "interrupted"
    assert combined_status(["engine lost", "failed"]) == "engine lost"
    m1 = synthetic.manifest(status="completed", steps=100, scenario="eos")
    m2 = synthetic.manifest(status="running", steps=300, scenario="eos")
    merged, status = merge_manifests([("a", m1, "completed"), ("b", m2, "running"), ("c", None, "unknown")])
    assert status == "running" and merged["steps"] == 300 and merged["scenario"] == "eos"
    assert list(merged["arms"]) == ["a/gd", "a/sgd", "b/gd", "b/sgd"] and merged["runs"] == ["a", "b", "c"]


def test_watch_refuses_a_second_argument_that_is_not_a_run(tmp_path):
    run = synthetic.make_run(tmp_path / "r", steps=5)
    (tmp_path / "other").mkdir()
    r = subprocess.run(
        [sys.executable, "-m", "eos_tui.cli", "watch", str(run), "other"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 2 and "other is not a run directory" in r.stderr and "Traceback" not in r.stderr
