"""The run-directory contract: whole lines, atomic manifests, a follower that tolerates a torn last line."""

from __future__ import annotations

import json
import math
import os

import pytest

from eos_tui.rundir import format as rf
from eos_tui.rundir.reader import MetricsFollower, effective_status, json_lines, list_runs, read_manifest, run_info


def test_writer_lines_are_whole_json_and_non_finite_becomes_null(tmp_path):
    with rf.MetricsWriter(tmp_path) as w:
        w.write({"type": "step", "arm": "a", "step": 0, "loss": math.inf, "lr": 0.1, "grad_norm": math.nan, "proj": None})
        w.write_many([{"type": "event", "arm": "a", "step": 0, "kind": "diverged", "message": "x"}])
    lines = (tmp_path / rf.METRICS_FILE).read_text().splitlines()
    recs = [json.loads(line) for line in lines]
    assert recs[0]["loss"] is None and recs[0]["grad_norm"] is None
    assert recs[1]["kind"] == "diverged"


def test_writer_rejects_unknown_record_type(tmp_path):
    with rf.MetricsWriter(tmp_path) as w, pytest.raises(ValueError):
        w.write({"type": "nonsense"})


def test_follower_keeps_a_truncated_last_line_for_later(tmp_path):
    path = tmp_path / rf.METRICS_FILE
    f = MetricsFollower(path)
    assert f.poll() == []  # no file yet
    path.write_text('{"type":"step","step":0}\n{"type":"step","st')
    assert [r["step"] for r in f.poll()] == [0]
    assert f.poll() == []
    with open(path, "a") as fh:
        fh.write('ep":1}\n{"type":"step","step":2}\n')
    assert [r["step"] for r in f.poll()] == [1, 2]


def test_follower_skips_a_damaged_line_and_counts_it(tmp_path):
    path = tmp_path / rf.METRICS_FILE
    path.write_text('{"type":"step","step":0}\nnot json\n[1,2]\n{"type":"step","step":1}\n')
    f = MetricsFollower(path)
    assert [r["step"] for r in f.read_all()] == [0, 1]
    assert f.bad_lines == 2


def test_follower_starts_over_when_the_file_is_replaced(tmp_path):
    path = tmp_path / rf.METRICS_FILE
    path.write_text('{"type":"step","step":0}\n{"type":"step","step":1}\n')
    f = MetricsFollower(path)
    assert len(f.poll()) == 2
    tmp = tmp_path / "new"
    tmp.write_text('{"type":"step","step":9}\n')
    os.replace(tmp, path)
    assert [r["step"] for r in f.poll()] == [9]


def test_follower_starts_over_when_the_file_is_cut_and_grown_again_in_place(tmp_path):
    """Truncated and rewritten past the old size between two polls (same inode, larger): the bytes
    already read changed, so it starts over instead of reading on from the old offset (half a line,
    a record shifted). `restarts` tells a reader to forget what it had."""
    path = tmp_path / rf.METRICS_FILE
    path.write_text('{"type":"step","step":0}\n{"type":"step","step":1}\n')
    f = MetricsFollower(path)
    assert [r["step"] for r in f.poll()] == [0, 1] and f.restarts == 0
    with open(path, "r+") as fh:  # the same file, cut back to its first record, then grown again
        fh.truncate(0)
        fh.write('{"type":"step","step":0}\n{"type":"event","step":1,"kind":"x"}\n{"type":"step","step":1}\n')
    assert [(r["type"], r["step"]) for r in f.poll()] == [("step", 0), ("event", 1), ("step", 1)]
    assert f.restarts == 1 and f.bad_lines == 0
    assert f.poll() == [] and f.restarts == 1  # and follows on from there


def test_atomic_manifest_and_status(tmp_path):
    m = rf.new_manifest(scenario="s", seed=0, device="cpu", arms=["a"], versions={}, pid=os.getpid())
    rf.write_json_atomic(tmp_path / rf.MANIFEST_FILE, m)
    assert read_manifest(tmp_path)["arms"] == {"a": {"status": "running"}}
    assert effective_status(read_manifest(tmp_path)) == "running"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    m["pid"] = 2**22 + 12345  # no such process
    rf.write_json_atomic(tmp_path / rf.MANIFEST_FILE, m)
    assert effective_status(read_manifest(tmp_path)) == "engine lost"


def test_create_run_dir_refuses_non_empty_exact(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "f").write_text("")
    with pytest.raises(FileExistsError):
        rf.create_run_dir(tmp_path / "x", exact=True)
    assert rf.create_run_dir(tmp_path / "y", exact=True).is_dir()


@pytest.mark.parametrize(
    "name, ok",
    [("eos", True), ("sgd_vs_gd", True), ("a.b-c", True), ("../x", False), ("a/b", False), (".hidden", False), ("", False), ("..", False)],
)
def test_safe_names(name, ok):
    assert rf.is_safe_name(name) is ok


def test_default_run_dir_is_unique_within_a_second(tmp_path):
    a = rf.default_run_dir("eos", tmp_path)  # created: the mkdir is the claim
    assert a.is_dir()
    b = rf.default_run_dir("eos", tmp_path)
    assert a != b and b.name.startswith(a.name)


def test_list_runs_and_progress_from_metrics(tmp_path):
    run = tmp_path / "eos-1"
    run.mkdir()
    m = rf.new_manifest(scenario="eos", seed=0, device="cpu", arms=["a"], versions={}, pid=os.getpid(), total_steps=10)
    rf.write_json_atomic(run / rf.MANIFEST_FILE, m)
    with rf.MetricsWriter(run) as w:
        for t in range(4):
            w.write({"type": "step", "arm": "a", "step": t, "loss": 1.0, "lr": 0.1, "grad_norm": 1.0, "proj": None})
    (tmp_path / "not-a-run").mkdir()
    runs = list_runs(tmp_path)
    assert [r.path.name for r in runs] == ["eos-1"]
    info = run_info(run)
    assert info.steps_done == 4 and info.steps == 10 and info.status == "running"


@pytest.mark.parametrize(
    "damage",
    [
        {"arms": ["a"]},
        {"pid": "abc"},
        {"pid": 2**70},
        {"pid": True},
        {"steps": "many"},
        {"started": 12345},
        {"arms": {"a": {"steps_done": "many"}}},
        {"arms": {"a": None}},
    ],
)
def test_a_damaged_manifest_is_listed_not_raised(tmp_path, damage):
    """`eos-tui runs` must list the other runs whatever one hand-edited manifest holds."""
    good, bad = tmp_path / "good", tmp_path / "bad"
    for run in (good, bad):
        run.mkdir()
        m = rf.new_manifest(scenario="eos", seed=0, device="cpu", arms=["a"], versions={}, pid=None, total_steps=10)
        rf.write_json_atomic(run / rf.MANIFEST_FILE, {**m, **damage} if run is bad else m)
    with rf.MetricsWriter(bad) as w:
        w.write({"type": "step", "arm": ["not", "a", "name"], "step": "x", "loss": 1.0, "lr": 0.1})
    runs = {r.path.name: r for r in list_runs(tmp_path)}
    assert set(runs) == {"good", "bad"}
    info = runs["bad"]
    assert isinstance(info.steps_done, int) and (info.steps is None or isinstance(info.steps, int))
    assert info.started is None or isinstance(info.started, str)
    json.dumps(info.as_dict())


def test_an_unparseable_manifest_is_listed_as_unreadable(tmp_path):
    run = tmp_path / "cut"
    run.mkdir()
    (run / rf.MANIFEST_FILE).write_text('{"scenario": "eo')
    assert [(r.path.name, r.status) for r in list_runs(tmp_path)] == [("cut", "unreadable")]


def test_batched_flush_writer_lines_visible_to_a_follower_soon(tmp_path):
    """The engine's writer (flush_interval) does not flush every line, yet a follower sees each
    line within about the interval even when nothing else is written after it: the flusher thread."""
    import time

    with rf.MetricsWriter(tmp_path, flush_interval=0.05) as w:
        f = MetricsFollower(tmp_path / rf.METRICS_FILE)
        for t in range(3):
            w.write(
                {
                    "type": "step",
                    "arm": "a",
                    "step": t,
                    "loss": math.nan,
                    "lr": 0.1,
                    "grad_norm": 1.0,
                    "proj": None,
                    "message": "NaN in a string",
                }
            )
        seen, deadline = [], time.monotonic() + 60
        while len(seen) < 3 and time.monotonic() < deadline:
            seen += f.poll()
            time.sleep(0.01)
        assert [r["step"] for r in seen] == [0, 1, 2]  # well under a second idle (0.05 s + scheduling)
        assert seen[0]["loss"] is None and seen[0]["message"] == "NaN in a string"


def test_dumps_fast_path_matches_the_clean_path():
    recs = [
        {"type": "step", "loss": 1.5, "x": [1.0, math.inf, {"y": -math.inf}], "s": "Infinity"},
        {"type": "event", "message": "λ ≥ 2/η", "data": {"a": 0.1}},
    ]
    for r in recs:
        assert rf.dumps_record(r) == json.dumps(rf.json_safe(r), separators=(",", ":"), allow_nan=False)


def test_step_threshold_is_the_records_own_else_two_over_eta():
    assert rf.step_threshold({"lr": 0.1, "threshold": 30.0}) == 30.0  # heavy ball, β = 0.5
    assert rf.step_threshold({"lr": 0.1}) == pytest.approx(20.0)
    # a damaged value falls back, never raises
    for bad in ("x", True, -1.0, float("nan"), 0):
        assert rf.step_threshold({"lr": 0.1, "threshold": bad}) == pytest.approx(20.0)
    for bad in (None, "x", True, -1.0, float("nan"), 0):
        assert rf.step_threshold({"lr": bad}) is None
    # null is no threshold (eos_tui.Monitor's "no claim"; the engine's at η = 0), never 2/η
    assert rf.step_threshold({"lr": 0.1, "threshold": None}) is None


def test_json_lines_numbers_every_line_and_says_why_one_is_not_json():
    """The one loop that resume, export and the sweep store read JSON lines with: blank lines are
    skipped but counted, a bad line comes with its reason, and the parser is the caller's."""
    lines = [b'{"a": 1}\n', b"\n", b"  \n", b"{not json\n", b"[1, 2]"]
    got = list(json_lines(lines))
    assert [(n, value, why is None) for n, _, value, why in got] == [(1, {"a": 1}, True), (4, None, False), (5, [1, 2], True)]
    assert got[1][1] == b"{not json\n" and got[1][3].startswith("not JSON")
    assert [v for _, _, v, _ in json_lines([b"7\n"], parse=lambda line: int(line) * 2)] == [14]
