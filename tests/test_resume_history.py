"""The manifest's history of a run resumed more than once: each session with its own start. The
manifest's `started` is the run's first start, so a resumed session's start is in `resumed.started`;
history used to copy `started` for every session, losing when each resumed session began."""

from __future__ import annotations

from eos_tui.engine.resume import prepare
from eos_tui.engine.runner import StopRequest, run_scenario
from eos_tui.rundir import format as rf
from eos_tui.rundir import read_manifest
from eos_tui.rundir.prepare import prepare_run
from eos_tui.scenario import load_scenario_text

SCENARIO = """
name = "history"
seed = 0
steps = 12
dtype = "float64"
device = "cpu"
[data]
kind = "none"
[model]
kind = "uv"
width = 6
[optimizer]
kind = "gd"
lr = 0.05
[measure]
sharpness_every = 0
checkpoint_every = 2
[[arm]]
name = "a"
"""


def stop_at(step: int):
    stop = StopRequest()

    def on_records(recs, arms):
        if any(r["type"] == "step" and r["step"] == step for r in recs):
            stop.request()

    return stop, on_records


def test_each_session_keeps_its_own_start(tmp_path):
    sc = load_scenario_text(SCENARIO, source="<test>")
    run_dir = prepare_run(sc, out=tmp_path / "run")
    stop, on = stop_at(3)
    assert run_scenario(sc, run_dir, on_records=on, stop=stop)[0] == "interrupted"
    first = read_manifest(run_dir)["started"]
    sc, res = prepare(run_dir)
    res.rewrite_metrics()
    stop, on = stop_at(7)
    assert run_scenario(sc, run_dir, resume=res, on_records=on, stop=stop)[0] == "interrupted"
    m = read_manifest(run_dir)
    second = m["resumed"]["started"] = "2000-01-02T03:04:05+00:00"  # a start that cannot be the first's by chance
    rf.write_json_atomic(run_dir / rf.MANIFEST_FILE, m)
    sc, res = prepare(run_dir)
    res.rewrite_metrics()
    assert run_scenario(sc, run_dir, resume=res)[0] == "completed"
    m = read_manifest(run_dir)
    assert m["started"] == first
    assert [s["started"] for s in m["history"]] == [first, second]
    assert [s["status"] for s in m["history"]] == ["interrupted", "interrupted"]
    assert m["history"][1]["resumed_from"] == {"a": 4}
