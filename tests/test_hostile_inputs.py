"""Inputs that crash (issue 20): a line of 100000 '[' in a run's manifest.json, metrics.jsonl or
scenario.toml, a sweep's points.jsonl or sweep.toml, or a scenario file. Python's parsers recurse
once per level and raised RecursionError, which no reader caught: `runs` lost its whole listing,
`rm`, `export`, `plot`, `resume`, `sweep show` and `run` ended in a traceback, `watch` showed the
run empty. Every reader now parses through eos_tui/rundir/parsing.py: the bad line or file is named
(FILE:LINE) in one line, the good records are read."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from eos_tui.rundir import format as rf
from eos_tui.rundir.reader import MetricsFollower, read_manifest
from tests import helpers
from tests.app import synthetic

DEEP = "[" * 100_000
MAX_DEPTH = 64  # parsing.MAX_DEPTH (imported in the tests that use it: this file also runs on the old code)


def eos(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return helpers.eos(*args, cwd=cwd, timeout=timeout, columns="200")  # the long paths named on one line


def one_line(r: subprocess.CompletedProcess, *words: str) -> str:
    """The line (stderr; `validate` reports on stdout) that names the damage: no traceback, and
    every word in that one line."""
    out = r.stderr + r.stdout
    assert "Traceback" not in out and "RecursionError" not in out, out[-2000:]
    lines = [line for line in out.splitlines() if all(w in line for w in words)]
    assert len(lines) == 1, out[-2000:]
    return lines[0]


def with_deep_line(path: Path, at: int) -> int:
    """Put the hostile line before line `at` (0-based) of a JSON-lines file; the lines it holds after."""
    lines = path.read_text().splitlines()
    lines.insert(at, DEEP)
    path.write_text("\n".join(lines) + "\n")
    return len(lines) - 1


# ---- the parser ----------------------------------------------------------------------------------


def test_deep_json_and_toml_are_a_value_error_with_the_line_and_quick():
    from eos_tui.rundir import parsing
    from eos_tui.rundir.parsing import InputError, loads_json, loads_toml

    assert parsing.MAX_DEPTH == MAX_DEPTH
    for doc in (DEEP, '{"a":' * 100_000, DEEP.encode()):
        t = time.perf_counter()
        with pytest.raises(InputError) as e:
            loads_json(doc)
        assert time.perf_counter() - t < 1.0
        assert isinstance(e.value, ValueError) and e.value.line == 1 and "nested deeper" in str(e.value)
    with pytest.raises(InputError) as e:
        loads_json('{\n "a": 1,\n "b": ' + DEEP + "\n}")
    assert e.value.line == 3 and e.value.at("m.json") == f"m.json:3: nested deeper than {MAX_DEPTH} levels"
    for doc, line in (("a = " + DEEP, 1), ('x = 1\n[t]\n[[arr]]\ns = """\n[[[\n"""\nb = ' + "{c=" * 100_000, 7)):
        with pytest.raises(InputError) as e:
            loads_toml(doc)
        assert e.value.line == line
    # A dotted key nests tables too: tomllib's time and memory grow with the square of its parts
    # (100000 parts: minutes and every gigabyte there was), so it is refused before tomllib sees it.
    for doc in ("x = 1\nmodel." + ".".join(["a"] * 100_000) + " = 1", "x = 1\n[" + ".".join(['"a"'] * 100_000) + "]"):
        t = time.perf_counter()
        with pytest.raises(InputError) as e:
            loads_toml(doc)
        assert time.perf_counter() - t < 1.0 and e.value.line == 2
    assert loads_toml('s = "' + "a." * 100 + '"\nv = [' + "1.5, " * 100 + "]")["v"][0] == 1.5  # dots in strings and numbers
    # As deep as MAX_DEPTH is read; one more is refused even where the parser itself would manage it
    # (what the readers do with a value recurses too: copy.deepcopy, the control-character filter).
    ok = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert loads_json(ok) is not None and loads_toml(f"a = {ok}")["a"] is not None
    with pytest.raises(InputError):
        loads_json("[" + ok + "]")
    with pytest.raises(InputError):
        loads_toml(f"a = [{ok}]")
    # ordinary bad input is the parser's own ValueError, as before
    with pytest.raises(ValueError) as bad:
        loads_json("{nope")
    assert not isinstance(bad.value, InputError)


def test_every_json_and_toml_parse_in_the_package_goes_through_parsing():
    """One place to make safe: a json.loads or tomllib.loads elsewhere would bring the crash back."""
    root = Path(__file__).resolve().parent.parent / "eos_tui"
    found = []
    for path in root.rglob("*.py"):
        if path.name == "parsing.py":
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if any(call in line for call in ("json.loads(", "json.load(", "tomllib.loads(", "tomllib.load(")):
                found.append(f"{path.relative_to(root)}:{n}: {line.strip()}")
    assert not found, found


# ---- the readers, in the app's process (watch) ----------------------------------------------------


def test_the_follower_keeps_the_records_before_and_after_a_deep_line(tmp_path):
    """`watch` showed the run empty: the RecursionError escaped poll() after it had moved past the
    chunk, so the 133 good records before the line were lost with it."""
    run = synthetic.make_run(tmp_path / "r", steps=60)
    total = with_deep_line(run / rf.METRICS_FILE, 133)
    f = MetricsFollower(run / rf.METRICS_FILE)
    records = f.read_all()
    assert len(records) == total
    assert records[132] == json.loads((run / rf.METRICS_FILE).read_text().splitlines()[132])
    assert f.bad_lines == 1 and f.first_bad == f"{run / rf.METRICS_FILE}:134: nested deeper than {MAX_DEPTH} levels"
    assert "metrics.jsonl:134" in (f.skipped_note() or "")


def test_the_app_follower_says_which_line_it_skipped(tmp_path):
    from eos_tui.app.follow import RunFollower

    run = synthetic.make_run(tmp_path / "r", steps=60)
    total = with_deep_line(run / rf.METRICS_FILE, 133)
    follower = RunFollower(run, interval=0.01)
    follower.start()
    try:
        got, deadline = 0, time.monotonic() + 60
        while got < total and time.monotonic() < deadline:
            got += sum(b.records for b in follower.take()[0])
            time.sleep(0.01)
        assert got == total and follower.error is None
        assert follower.skipped() == [f"{run / rf.METRICS_FILE}:134: nested deeper than {MAX_DEPTH} levels"]
    finally:
        follower.stop()


def test_a_deep_manifest_or_status_is_unreadable_not_a_crash(tmp_path):
    from eos_tui.rundir.reader import list_runs, read_status

    run = synthetic.make_run(tmp_path / "runs" / "bad", steps=5)
    (run / rf.MANIFEST_FILE).write_text(DEEP)
    (run / rf.STATUS_FILE).write_text(DEEP)
    assert read_manifest(run) is None and read_status(run) is None
    assert rf.write_status(run, "training", "…")  # the engine replaces a damaged status.json
    assert not rf.mark_run_ended(run, "failed")  # and leaves a damaged manifest alone
    (info,) = list_runs(tmp_path / "runs")
    assert info.status == "unreadable" and info.problem == f"{run / rf.MANIFEST_FILE}:1: nested deeper than {MAX_DEPTH} levels"


# ---- the commands, each in its own process ----------------------------------------------------------


@pytest.fixture
def runs(tmp_path):
    """runs/ok, runs/bad-manifest and runs/bad-metrics (the deep line is line 134)."""
    root = tmp_path / "runs"
    synthetic.make_run(root / "ok", steps=60)
    bad = synthetic.make_run(root / "bad-manifest", steps=60)
    (bad / rf.MANIFEST_FILE).write_text(DEEP + "\n")
    with_deep_line(synthetic.make_run(root / "bad-metrics", steps=60) / rf.METRICS_FILE, 133)
    return root


def test_runs_lists_every_run_and_names_the_damaged_manifest(runs):
    for extra in ([], ["--json"]):
        r = eos("runs", *extra, cwd=runs.parent)
        assert r.returncode == 0, r.stderr
        one_line(r, "runs/bad-manifest/manifest.json:1:", "nested deeper")
        for name in ("ok", "bad-manifest", "bad-metrics"):
            assert name in r.stdout
    listed = {Path(x["run_dir"]).name: x["status"] for x in json.loads(r.stdout)}
    assert listed == {"ok": "completed", "bad-manifest": "unreadable", "bad-metrics": "completed"}


def test_rm_refuses_a_run_whose_manifest_it_cannot_read_in_one_line(runs):
    r = eos("rm", "runs/bad-manifest", cwd=runs.parent)
    assert r.returncode == 2
    one_line(r, "runs/bad-manifest/manifest.json:1: nested deeper")
    assert (runs / "bad-manifest").is_dir()
    assert eos("rm", "runs/bad-metrics", cwd=runs.parent).returncode == 0


def test_export_reads_the_records_around_a_deep_line(runs):
    r = eos("export", "runs/bad-metrics", "--format", "jsonl", cwd=runs.parent)
    assert r.returncode == 0, r.stderr
    one_line(r, "runs/bad-metrics/metrics.jsonl:134:", "nested deeper")
    good = eos("export", "runs/ok", "--format", "jsonl", cwd=runs.parent)
    assert r.stdout == good.stdout  # every record, the ones after the deep line too


def test_plot_reads_the_records_around_a_deep_line(runs):
    pytest.importorskip("matplotlib")
    r = eos("plot", "runs/bad-metrics", "-o", "fig.png", cwd=runs.parent)
    assert r.returncode == 0, r.stderr
    one_line(r, "runs/bad-metrics/metrics.jsonl:134:", "nested deeper")
    assert (runs.parent / "fig.png").stat().st_size > 0


def test_resume_names_a_deep_manifest_or_scenario(runs):
    r = eos("resume", "runs/bad-manifest", cwd=runs.parent)
    assert r.returncode == 2
    one_line(r, "runs/bad-manifest/manifest.json:1: nested deeper")
    run = synthetic.make_run(runs / "bad-scenario", steps=60, status="interrupted")
    (run / rf.SCENARIO_FILE).write_text('name = "x"\nsteps = ' + DEEP + "\n")
    r = eos("resume", "runs/bad-scenario", cwd=runs.parent)
    assert r.returncode == 2
    one_line(r, "runs/bad-scenario/scenario.toml: line 2:", "nested deeper")


QUAD = """\
name = "q"
steps = 20
dtype = "float64"
device = "cpu"
[data]
kind = "none"
[model]
kind = "quadratic"
eigenvalues = [10.0, 1.0]
[optimizer]
kind = "gd"
lr = 0.1
[measure]
sharpness_every = 1
exact = true
checkpoint_every = 5
"""


def test_resume_skips_a_deep_metrics_line_and_finishes(tmp_path):
    from eos_tui.engine.runner import StopRequest, run_scenario
    from eos_tui.rundir import read_records
    from eos_tui.rundir.prepare import prepare_run
    from eos_tui.scenario import load_scenario_text

    def scenario():
        return load_scenario_text(QUAD, source="<test>")

    run = prepare_run(scenario(), out=tmp_path / "run")
    stop = StopRequest()

    def on_records(recs, arms):
        if any(r["type"] == "step" and r["step"] == 12 for r in recs):
            stop.request()

    assert run_scenario(scenario(), run, on_records=on_records, stop=stop)[0] == "interrupted"
    with_deep_line(run / rf.METRICS_FILE, 4)
    r = eos("resume", str(run), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    one_line(r, f"{run / rf.METRICS_FILE}:5:", "nested deeper")
    steps = [rec["step"] for rec in read_records(run) if rec["type"] == "step"]
    assert steps == list(range(20))


def test_sweep_show_reads_the_points_around_a_deep_line_and_names_a_deep_sweep_toml(tmp_path):
    from eos_tui.sweep.grid import Sweep
    from eos_tui.sweep.store import POINTS_FILE, SWEEP_FILE, SweepDir

    sweep = Sweep(name="h", description="", scenario={"name": "h"}, source="<test>", grid=[("optimizer.lr", [0.1, 0.2, 0.3])])
    with SweepDir.open(tmp_path / "s", sweep):
        pass
    points = [
        {"index": i, "point": {"optimizer.lr": lr}, "status": "completed", "outcome": "eos", "arms": []} for i, lr in ((0, 0.1), (2, 0.3))
    ]
    (tmp_path / "s" / POINTS_FILE).write_text(json.dumps(points[0]) + "\n" + DEEP + "\n" + json.dumps(points[1]) + "\n")
    r = eos("sweep", "show", "s", "--csv", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    one_line(r, "s/points.jsonl:2:", "nested deeper")
    assert [row.split(",")[:3] for row in r.stdout.splitlines()[1:]] == [["0.1", "1", "eos"], ["0.3", "1", "eos"]]
    (tmp_path / "s" / SWEEP_FILE).write_text('name = "h"\ndescription = ' + DEEP + "\n")
    r = eos("sweep", "show", "s", cwd=tmp_path)
    assert r.returncode == 2
    one_line(r, "s/sweep.toml: line 2:", "nested deeper")
    # any sweep.toml that is not TOML: one line too (it was a ScenarioError traceback)
    (tmp_path / "s" / SWEEP_FILE).write_text('name = "\n')
    r = eos("sweep", "show", "s", cwd=tmp_path)
    assert r.returncode == 2
    one_line(r, "s/sweep.toml: line 1")


def test_run_and_validate_name_a_deep_scenario_file(tmp_path):
    (tmp_path / "deep.toml").write_text('name = "x"\n\n[model]\nhidden = ' + DEEP + "\n")
    # 3000 parts: tomllib reads it (10000 took 430 MB, 100000 all the memory), copy.deepcopy then
    # recursed 3000 levels: a RecursionError traceback
    (tmp_path / "dotted.toml").write_text('name = "x"\nmodel.' + ".".join(["a"] * 3000) + " = 1\n")
    for name, line in (("deep.toml", 4), ("dotted.toml", 2)):
        for args in (("run", name, "--headless"), ("validate", name)):
            r = eos(*args, cwd=tmp_path)
            assert r.returncode == 2, r.stderr
            one_line(r, f"{name}: line {line}:", "nested deeper")
