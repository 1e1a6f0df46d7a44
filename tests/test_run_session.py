"""The run session (rundir/session.py): one owner for a run directory's lifecycle (issue 21).

Each transition is one method; these pin what they write, so that moving every caller onto the
session changed no result (the callers' own tests, test_headless*, test_faults, test_resume*,
test_stop, test_sweep, tests/app/test_engine_end.py, prove the rest)."""

from __future__ import annotations

import json
import os

import pytest

from eos_tui.rundir import format as rf
from eos_tui.rundir.lock import RunBusy
from eos_tui.rundir.reader import read_manifest
from eos_tui.rundir.session import RunSession
from eos_tui.scenario import load_scenario


def test_claim_writes_the_first_manifest_in_the_format_order(tmp_path):
    sc = load_scenario("quadratic")
    s = RunSession.claim(sc, out=tmp_path / "run")
    assert s.made and sorted(p.name for p in s.run_dir.iterdir()) == [rf.MANIFEST_FILE, rf.METRICS_FILE, rf.SCENARIO_FILE]
    m = json.loads((s.run_dir / rf.MANIFEST_FILE).read_text())
    order = ["format", "scenario", "seed", "device", "versions", "status", "started", "ended", "pid", "pid_start", "steps", "arms"]
    assert list(m) == [*order, "arm_steps"]
    assert m["status"] == rf.RUNNING and m["pid"] == os.getpid()
    assert m["arm_steps"] == {a.name: a.steps for a in sc.arms}


def test_a_refused_run_leaves_an_empty_out_empty_and_removes_a_made_one(tmp_path):
    sc = load_scenario("quadratic")
    (tmp_path / "given").mkdir()
    given = RunSession.claim(sc, out=tmp_path / "given")
    (given.run_dir / rf.ENGINE_LOG).write_text("x")
    given.acquire()
    given.phase(rf.PHASE_BUILDING, "building")
    given.release()
    given.remove_refused()
    assert (tmp_path / "given").is_dir() and list((tmp_path / "given").iterdir()) == []
    made = RunSession.claim(sc, out=tmp_path / "made")
    made.remove_refused()
    assert not (tmp_path / "made").exists()


def test_a_claim_that_fails_half_way_leaves_nothing(tmp_path, monkeypatch):
    def full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(rf, "write_json_atomic", full)
    with pytest.raises(OSError):
        RunSession.claim(load_scenario("quadratic"), out=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_the_lock_refuses_a_second_session_until_released(tmp_path):
    run = RunSession.claim(load_scenario("quadratic"), out=tmp_path / "run").run_dir
    with RunSession(run) as first:
        assert first.held
        with pytest.raises(RunBusy):
            RunSession(run).acquire()
    RunSession(run).acquire().release()


def test_ends_for_a_lost_engine_write_once_and_only_over_running(tmp_path):
    run = RunSession.claim(load_scenario("quadratic"), out=tmp_path / "run").run_dir
    assert not RunSession(run).interrupted(pids=[os.getpid() + 1])  # names another process: not ours
    assert RunSession(run).failed("engine exited with code 1", finalized_by="app")
    assert not RunSession(run).interrupted()  # already ended
    m = read_manifest(run)
    assert m["status"] == rf.FAILED and m["error"] == "engine exited with code 1" and m["finalized_by"] == "app"
    assert all(a["status"] == rf.FAILED for a in m["arms"].values())


def test_the_engine_end_falls_back_to_a_slim_manifest_in_place_on_a_full_disk(tmp_path, monkeypatch, capsys):
    sc = load_scenario("quadratic")
    s = RunSession.claim(sc, out=tmp_path / "run")
    manifest = s.begin(sc, versions={"eos_tui": "x"})
    for entry in manifest["arms"].values():
        entry["summary"] = {"big": "y" * 4000}
    s.reserve()
    s.save()

    def full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(rf, "write_json_atomic", full)
    assert s.end(rf.COMPLETED) == rf.FAILED  # the summaries are lost: the run cannot say "completed"
    m = read_manifest(s.run_dir)
    assert m["status"] == rf.FAILED and "cannot write the final manifest" in m["error"]
    assert not (s.run_dir / rf.RESERVE_FILE).exists()
    assert "wrote it in place" in capsys.readouterr().err
