"""Sweeps (issue 13): grid parsing and validation, the outcome classes, one failing point, resume
after Ctrl-C, the phase map, and the Ray executor against the process pool.

The sweeps here are tiny: a 2-d quadratic or the uv model, tens of steps a point."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from eos_tui.analysis.outcome import arm_outcome, majority, run_outcome
from eos_tui.sweep.grid import Sweep, SweepError, load_sweep, parse_grid_flag, parse_values, sweep_from_data
from eos_tui.sweep.store import SweepDir, point_dir, read_points

from .helpers import eos, start_eos

QUAD = """\
name = "q"
steps = {steps}
dtype = "float64"
[data]
kind = "none"
[model]
kind = "quadratic"
eigenvalues = [10.0, 1.0]
[optimizer]
kind = "gd"
{opt}
[measure]
sharpness_every = 1
exact = true
"""


def quad(tmp_path: Path, steps: int = 30, opt: str = "lr = 0.1") -> Path:
    path = tmp_path / "q.toml"
    path.write_text(QUAD.format(steps=steps, opt=opt))
    return path


def sorted_points(path: Path) -> list[dict]:
    return sorted(read_points(path), key=lambda r: r["index"])


# ---- grids -------------------------------------------------------------------------------------


def test_values_lists_and_ranges():
    assert parse_values("0.5,1,2") == [0.5, 1, 2]
    assert parse_values("relu, tanh") == ["relu", "tanh"]
    assert parse_values("[10.0, 1.0],[4.0]") == [[10.0, 1.0], [4.0]]
    assert parse_values("1:5:17")[:3] == [1.0, 1.25, 1.5] and len(parse_values("1:5:17")) == 17
    assert parse_values("1:5:5") == [1, 2, 3, 4, 5] and all(isinstance(v, int) for v in parse_values("1:5:5"))
    assert parse_values("0.5:5:19")[6] == 2.0  # no 2.0000000000000004: 2/λ0 must be a grid point
    assert parse_values("1e-3..1e-1:3") == [0.001, 0.01, 0.1]
    assert parse_values("0..4") == [0, 1, 2, 3, 4]
    assert parse_grid_flag("seed=0..2") == ("seed", [0, 1, 2])
    assert parse_grid_flag("optimizer.lr=1e-3..1e-1:9")[1][-1] == 0.1


@pytest.mark.parametrize(
    "text, words",
    [
        ("optimizer.lr=1:5:1", "at least 2 points"),
        ("optimizer.lr=1:5:x", "not a number of points"),
        ("optimizer.lr=0..1:3", "START and STOP > 0"),
        ("optimizer.lr=5..1", "is empty"),
        ("optimizer.lr=1.5..3", "is not a range"),
        ("optimizer.lr=1,1", "comes twice"),
        ("optimizer.lr=", "an empty value"),
        ("optimizer.lr", "expected KEY=VALUES"),
        ("bogus.lr=1,2", "bogus: unknown key"),
        ("optimizer.lr.x=1,2", "is a value, not a table"),
        ("name=a,b", "name"),
    ],
)
def test_bad_grids_are_one_line_errors(text, words):
    with pytest.raises(SweepError) as e:
        parse_grid_flag(text)
    assert words in str(e.value) and "\n" not in str(e.value)
    assert "--grid" in str(e.value)


@pytest.mark.parametrize(
    "data, words",
    [
        ({"scenario": "quadratic", "grid": [{"key": "steps", "values": [1, 2]}], "grids": []}, "grids: unknown key"),
        ({"scenario": "quadratic", "grid": [{"key": "steps", "values": [1, 2], "value": 1}]}, "grid[0].value: unknown key"),
        ({"scenario": "quadratic", "grid": [{"key": "steps", "values": 3}]}, "grid[0].values: required"),
        ({"scenario": "quadratic", "grid": [{"key": "steps", "values": "1:5"}]}, "grid[0].values"),
        ({"scenario": "quadratic", "grid": [{"key": "seed", "values": [1]}, {"key": "seed", "values": [2]}]}, "has a grid already"),
        ({"grid": [{"key": "steps", "values": [1, 2]}]}, "scenario: required"),
        ({"scenario": "no-such-scenario", "grid": []}, "no built-in scenario named"),
        ({"scenario": "quadratic", "set": "steps=3", "grid": []}, "set: must be"),
    ],
)
def test_sweep_files_are_validated_strictly(data, words):
    with pytest.raises(SweepError if "built-in scenario" not in words else Exception) as e:
        sweep_from_data(data, source="s.toml", base_dir=None, default_name="s")
    assert words in str(e.value) and "\n" not in str(e.value)


def test_a_grid_over_a_key_every_arm_sets_is_refused_and_writes_nothing(tmp_path, capsys):
    """The quadratic built-in's two arms each set optimizer.lr: a grid over it would change nothing."""
    from eos_tui.cli.sweep import run_sweep

    sweep = load_sweep("quadratic", grids=["optimizer.lr=0.1,0.2"])
    err = io.StringIO()
    assert run_sweep(sweep, out=tmp_path / "s", jobs=1, err=err) == 2
    assert "every point is refused" in err.getvalue() and "changes no arm" in err.getvalue()
    assert len(err.getvalue().strip().splitlines()) == 1
    assert not (tmp_path / "s").exists()
    with pytest.raises(SweepError, match="Built-in sweeps: catapult-phase, sgd-batch, warmup-phase"):
        load_sweep("no-such-thing", grids=["seed=0..1"])
    r = eos("sweep", "quadratic", "--grid", "model.nonsense=1,2", "--out", "s", cwd=tmp_path)
    assert r.returncode == 2 and "model.nonsense: unknown key" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "s").exists()


MLP = """\
name = "m"
steps = 3
[data]
kind = "random-labels"
n = 16
dim = 4
classes = 2
[model]
kind = "mlp"
hidden = [8]
[optimizer]
kind = "gd"
lr = 0.1
"""


def test_a_point_too_big_for_the_memory_is_refused_before_any_point_runs(tmp_path, monkeypatch):
    """Each point gets `run`'s memory check before any starts (a point of hidden = [40000, 40000]
    went straight to the allocator): one line naming the point and the estimate, exit 2, nothing
    written; --force runs anyway, as `run --force` does."""
    from eos_tui.cli.sweep import run_sweep
    from eos_tui.scenario import resources

    (tmp_path / "m.toml").write_text(MLP)
    monkeypatch.setattr(resources, "available_memory", lambda: (4 * 1024**3, "a test"))
    sweep = load_sweep(str(tmp_path / "m.toml"), grids=["model.hidden=[8, 8],[40000, 40000]"])
    err = io.StringIO()
    assert run_sweep(sweep, out=tmp_path / "s", jobs=1, err=err) == 2
    lines = err.getvalue().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("eos-tui: sweep m: point 1 (model.hidden=[40000, 40000]): ")
    assert "needs about" in lines[0] and "more than the 4.0 GB available" in lines[0] and "--force" in lines[0]
    assert not (tmp_path / "s").exists()
    # --force: the estimate refuses every point of this machine of 1 kB, and the sweep runs anyway
    monkeypatch.setattr(resources, "available_memory", lambda: (1024, "a test"))
    small = load_sweep(str(tmp_path / "m.toml"), grids=["optimizer.lr=0.05"])
    assert run_sweep(small, out=tmp_path / "t", jobs=1, err=io.StringIO()) == 2 and not (tmp_path / "t").exists()
    assert run_sweep(small, out=tmp_path / "t", jobs=1, err=io.StringIO(), force=True) == 0
    # the command line, on this machine's own memory (no machine holds a 1 TB model)
    r = eos("sweep", str(tmp_path / "m.toml"), "--grid", "model.hidden=[8],[400000, 400000]", "--out", "u", cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "point 1 (model.hidden=[400000, 400000])" in r.stderr, r.stderr
    assert not (tmp_path / "u").exists()


def test_builtin_sweeps_load_and_cover_their_grids():
    for name, keys in (
        ("catapult-phase", ["optimizer.lr_relative", "model.width"]),
        ("warmup-phase", ["optimizer.lr_relative", "schedule.warmup_steps"]),
        ("sgd-batch", ["optimizer.batch_size", "seed"]),
    ):
        sweep = load_sweep(name)
        assert sweep.keys == keys
        from eos_tui.sweep.grid import load_point_scenario

        for p in sweep.points():
            load_point_scenario(sweep, p)  # every point a valid scenario
    cat = dict(load_sweep("catapult-phase").grid)["optimizer.lr_relative"]
    assert 2.0 in cat and 4.0 in cat  # the boundaries are grid points


# ---- outcome classes ---------------------------------------------------------------------------


def _summary(**kw):
    base = {"status": "completed", "initial_loss": 1.0, "final_loss": 0.1, "max_loss": 1.0, "catapults": 0, "eos_onset_step": None}
    return {**base, **kw}


def test_outcome_classes_from_summaries():
    assert arm_outcome(_summary()) == "lazy"
    assert arm_outcome(_summary(eos_onset_step=40)) == "eos"
    assert arm_outcome(_summary(catapults=1, eos_onset_step=40, max_loss=50.0)) == "catapult"
    assert arm_outcome(_summary(status="diverged", final_loss=None)) == "diverged"
    assert arm_outcome(_summary(final_loss=30.0, max_loss=31.0)) == "diverged"  # still blowing up at the end
    assert arm_outcome(_summary(final_loss=3.0, max_loss=300.0, catapults=1)) == "catapult"  # inside a later spike
    assert arm_outcome(_summary(status="failed")) == "failed"
    assert arm_outcome(_summary(status="interrupted")) == "failed"
    assert arm_outcome(None) == "failed"
    assert run_outcome(["lazy", "diverged", "catapult"]) == "diverged"
    assert majority(["lazy", "catapult", "lazy"]) == "lazy"
    assert majority(["lazy", "catapult"]) == "catapult"  # a tie goes to the more severe


def test_uv_model_lazy_catapult_diverged_at_2_and_4(tmp_path):
    """Lewkowycz et al. on the uv model (width 1000): ηλ0 = 1.75 lazy, 2.25 and 3.75 catapult, 4.25 diverged,
    each point run in this process by the point runner the executors use."""
    from eos_tui.sweep.point import run_point

    sweep = load_sweep("catapult-phase", grids=["optimizer.lr_relative=1.75,2.25,3.75,4.25", "model.width=1000"])
    got = []
    for i, p in enumerate(sweep.points()):
        job = {"index": i, "point": p, "sweep": sweep.resolved(), "sweep_dir": str(tmp_path), "run_dir": f"points/p{i:04d}"}
        rec = run_point(job)
        assert rec["status"] == "completed" and (tmp_path / rec["run_dir"] / "manifest.json").is_file()
        got.append(rec["outcome"])
    assert got == ["lazy", "catapult", "catapult", "diverged"]


# ---- running -----------------------------------------------------------------------------------


@pytest.mark.slow  # a process pool (and Ray) starting: seconds
def test_one_failing_point_is_recorded_and_the_sweep_goes_on(tmp_path):
    """Two ways a point fails while the others run: the engine fails on it once it runs (a CUDA device
    that is not there), or the schema refuses the combination before it runs (lr_relative with every
    eigenvalue ≤ 0). Each is a failed line with its message."""
    q = quad(tmp_path, steps=10, opt="lr_relative = 0.5")
    r = eos(
        "sweep", str(q), "--grid", "device=cpu,cuda:99", "--grid", "model.eigenvalues=[10.0, 1.0],[-1.0, -2.0]",
        "--jobs", "1", "--out", "s", "--json", cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 1, r.stderr
    out = json.loads(r.stdout)
    assert out["sweep_dir"] == "s"
    good, refused, failed, refused2 = sorted(out["points"], key=lambda p: p["index"])
    assert good["status"] == "completed" and good["outcome"] == "lazy" and good["arms"][0]["outcome"] == "lazy"
    assert failed["status"] == "failed" and failed["outcome"] == "failed" and "cuda:99" in failed["message"]
    assert json.loads((tmp_path / "s" / failed["run_dir"] / "manifest.json").read_text())["status"] == "failed"
    for bad in (refused, refused2):
        assert bad["status"] == "failed" and bad["run_dir"] is None and "every model.eigenvalues is ≤ 0" in bad["message"]
    assert sorted_points(tmp_path / "s") == [good, refused, failed, refused2]
    assert "Traceback" not in r.stderr and "4/4 done" in r.stderr and "3 failed" in r.stderr
    assert 'point 1 (device="cpu", model.eigenvalues=[-1.0, -2.0]) failed: ' in r.stderr


@pytest.mark.slow  # a process pool (and Ray) starting: seconds
def test_ctrl_c_then_resume_gives_the_points_of_an_uninterrupted_sweep(tmp_path):
    from eos_tui.cli.sweep import run_sweep

    q = quad(tmp_path, steps=200)
    grid = "optimizer.lr=0.05,0.1,0.15,0.19"
    # its own process group, as a terminal's Ctrl-C reaches the driver and its workers
    proc = start_eos("sweep", str(q), "--grid", grid, "--jobs", "1", "--out", "s", cwd=tmp_path)
    points = tmp_path / "s" / "points.jsonl"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not (tmp_path / "s" / "points").is_dir():
        time.sleep(0.05)
    assert points.read_text() == ""  # there, and valid, from the start
    while time.monotonic() < deadline and not points.read_text():
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err
    first = [json.loads(line) for line in points.read_text().splitlines()]  # every line whole
    assert 1 <= len(first) < 4
    manifests = [json.loads(m.read_text()) for m in (tmp_path / "s" / "points").glob("*/manifest.json")]
    assert "running" not in {m["status"] for m in manifests}
    assert "interrupted" in {m["status"] for m in manifests}
    # resume (the same sweep on the same directory): the finished points are kept, the others run
    sweep = load_sweep(str(q), grids=[grid])
    err_resume = io.StringIO()
    assert run_sweep(sweep, out=tmp_path / "s", jobs=1, err=err_resume) == 0, err_resume.getvalue()
    assert f"{len(first)} of 4 points already done" in err_resume.getvalue()
    # the same as a sweep never interrupted
    assert run_sweep(sweep, out=tmp_path / "whole", jobs=2, err=io.StringIO()) == 0
    assert sorted_points(tmp_path / "s") == sorted_points(tmp_path / "whole")
    assert {m["status"] for m in (json.loads(p.read_text()) for p in (tmp_path / "s" / "points").glob("*/manifest.json"))} == {"completed"}
    # another grid on the same directory is refused
    assert run_sweep(load_sweep(str(q), grids=["optimizer.lr=0.05"]), out=tmp_path / "s", jobs=1, err=io.StringIO()) == 2


@pytest.mark.slow  # a process pool starting: seconds
def test_workers_of_a_killed_sweep_stop(tmp_path):
    """kill -9 of the driver (a crash): its workers notice, end their points "interrupted" and exit
    instead of training on, orphaned, through the queued points. The directory is then as after a
    Ctrl-C, which a rerun resumes (test_ctrl_c_then_resume_…)."""
    q = quad(tmp_path, steps=100_000)  # never done before the kill
    grid, fast = "optimizer.lr=0.05,0.1,0.15", "measure.sharpness_every=100"
    argv = ("sweep", str(q), "--grid", grid, "--set", fast, "--jobs", "1", "--out", "s")
    proc = start_eos(*argv, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    metrics = tmp_path / "s" / "points" / "p0000" / "metrics.jsonl"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not (metrics.exists() and metrics.stat().st_size > 0):
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)  # any process of the sweep still there?
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail("the workers of a killed sweep ran on")
    assert json.loads((tmp_path / "s" / "points" / "p0000" / "manifest.json").read_text())["status"] == "interrupted"
    assert not (tmp_path / "s" / "points" / "p0001").exists()  # the queued points were not started
    assert read_points(tmp_path / "s") == []


def _completed_point(sweep_dir: Path, index: int, status: str = "completed") -> str:
    """A point's run directory as a finished point leaves it (only its manifest matters to a rerun)."""
    run_dir = point_dir(index)
    (sweep_dir / run_dir).mkdir(parents=True)
    (sweep_dir / run_dir / "manifest.json").write_text(json.dumps({"format": 1, "scenario": "s", "status": status}))
    return run_dir


@pytest.mark.slow  # a process pool starting, points of seconds
def test_a_killed_worker_fails_its_point_only_and_the_others_run_on(tmp_path):
    """kill -9 of one pool worker (the OOM killer): ProcessPoolExecutor fails every point of the pool
    and stops the other workers. Only the point whose worker died is failed (with its run_dir, its
    manifest "failed"); the point the other worker was training (its manifest "interrupted" at its
    step: it had not died) and the one never started run again in a new pool and complete."""
    q = quad(tmp_path, steps=20_000)
    proc = start_eos(
        *("sweep", str(q), "--grid", "optimizer.lr=0.05,0.1,0.15"),
        *("--set", "measure.sharpness_every=100", "--jobs", "2", "--out", "s", "--json"),
        cwd=tmp_path,
    )
    points = tmp_path / "s" / "points"
    try:
        deadline = time.monotonic() + 90
        while not all((m := points / p / "metrics.jsonl").exists() and m.stat().st_size for p in ("p0000", "p0001")):
            assert time.monotonic() < deadline, "the points did not start"
            time.sleep(0.05)
        killed = json.loads((points / "p0000" / "manifest.json").read_text())["pid"]
        os.kill(killed, signal.SIGKILL)
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 1, err
    assert "Traceback" not in err and err.count("failed: ") == 1
    died, *others = sorted(json.loads(out)["points"], key=lambda r: r["index"])
    assert died["status"] == "failed" and died["message"] == "the worker process running this point died"
    assert died["run_dir"] == "points/p0000"
    m = json.loads((points / "p0000" / "manifest.json").read_text())
    assert m["status"] == "failed" and m["error"] == died["message"] and m["pid"] == killed
    assert [r["status"] for r in others] == ["completed", "completed"]
    for r in others:
        m = json.loads((tmp_path / "s" / r["run_dir"] / "manifest.json").read_text())
        assert m["status"] == "completed" and m["arms"]["main"]["steps_done"] == 20_000
    assert sorted_points(tmp_path / "s") == [died, *others]


def test_resume_drops_failed_lines_and_a_cut_off_last_line(tmp_path):
    sweep = Sweep(name="s", description="", scenario={"name": "s"}, source="<test>", grid=[("steps", [1, 2, 3])])
    with SweepDir.open(tmp_path / "d", sweep) as d:
        run_dir = _completed_point(tmp_path / "d", 0)
        d.append({"index": 0, "point": {"steps": 1}, "run_dir": run_dir, "status": "completed", "outcome": "lazy", "arms": []})
        d.append({"index": 1, "point": {"steps": 2}, "status": "failed", "outcome": "failed", "arms": []})
    with open(tmp_path / "d" / "points.jsonl", "a") as fh:
        fh.write('{"index": 2, "point": {"ste')  # a line cut off by a crash
    with SweepDir.open(tmp_path / "d", sweep) as d:
        assert list(d.resume()) == [0]
    assert [r["index"] for r in read_points(tmp_path / "d")] == [0]
    with pytest.raises(SweepError, match="holds another sweep"):
        SweepDir.open(tmp_path / "d", Sweep(name="s", description="", scenario={"name": "s"}, source="<test>", grid=[("steps", [1, 2])]))
    with SweepDir.open(tmp_path / "d", sweep), pytest.raises(SweepError, match="another sweep is running"):
        SweepDir.open(tmp_path / "d", sweep)


def test_resume_reruns_a_completed_point_whose_run_directory_is_gone_or_not_completed(tmp_path):
    """points.jsonl says "completed", but `rm -r points/p0000` took the run, and p0001's manifest says
    it is not done (damaged, edited): both run again; p0002, whole, is kept."""
    sweep = Sweep(name="s", description="", scenario={"name": "s"}, source="<test>", grid=[("steps", [1, 2, 3])])
    d = tmp_path / "d"
    with SweepDir.open(d, sweep) as store:
        for i, status in enumerate(["completed", "running", "completed"]):
            run_dir = _completed_point(d, i, status)
            store.append({"index": i, "point": {"steps": i + 1}, "run_dir": run_dir, "status": "completed", "outcome": "lazy", "arms": []})
    shutil.rmtree(d / point_dir(0))
    with SweepDir.open(d, sweep) as store:
        assert list(store.resume()) == [2]
    assert [r["index"] for r in read_points(d)] == [2]


@pytest.mark.slow  # a process pool starting: seconds
def test_rerun_after_a_point_directory_was_removed_runs_that_point_again(tmp_path):
    from eos_tui.cli.sweep import run_sweep

    sweep = load_sweep(str(quad(tmp_path, steps=10)), grids=["optimizer.lr=0.05,0.1,0.15"])
    assert run_sweep(sweep, out=tmp_path / "s", jobs=1, err=io.StringIO()) == 0
    before = sorted_points(tmp_path / "s")
    shutil.rmtree(tmp_path / "s" / "points" / "p0000")
    err = io.StringIO()
    assert run_sweep(sweep, out=tmp_path / "s", jobs=1, err=err) == 0, err.getvalue()
    assert "2 of 3 points already done" in err.getvalue()
    assert sorted_points(tmp_path / "s") == before
    assert json.loads((tmp_path / "s" / "points" / "p0000" / "manifest.json").read_text())["status"] == "completed"


# ---- the map -----------------------------------------------------------------------------------


def _synthetic(tmp_path: Path) -> Path:
    """A sweep directory with made-up points: lr × width × 2 seeds, one cell missing."""
    sweep = Sweep(
        name="m",
        description="",
        scenario={"name": "m"},
        source="<test>",
        grid=[("optimizer.lr", [0.1, 0.2, 0.3]), ("model.width", [10, 100]), ("seed", [0, 1])],
    )
    classes = {0.1: ["lazy", "lazy"], 0.2: ["catapult", "lazy"], 0.3: ["diverged", "diverged"]}
    with SweepDir.open(tmp_path / "m", sweep) as d:
        for i, p in enumerate(sweep.points()):
            if p["optimizer.lr"] == 0.3 and p["model.width"] == 100:
                continue  # not run yet
            o = classes[p["optimizer.lr"]][p["seed"]]
            ratio = p["optimizer.lr"] * 10 + p["seed"] * 0.1
            arm = {"name": "main", "status": "completed", "eos_ratio": ratio, "outcome": o}
            d.append({"index": i, "point": p, "run_dir": f"points/p{i:04d}", "status": "completed", "outcome": o, "arms": [arm]})
    return tmp_path / "m"


def test_phase_map_classes_seeds_and_csv(tmp_path):
    path = _synthetic(tmp_path)
    r = eos("sweep", "show", str(path), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    rows = {line.split("│")[0].strip(): line.split("│")[1] for line in r.stdout.splitlines() if "│" in line}
    assert rows["100"].split() == ["L", "C", "·"]  # majority of 2 seeds; a tie (catapult, lazy) goes to catapult
    assert rows["10"].split() == ["L", "C", "D"]
    assert "lazy (2)" in r.stdout and "catapult (2)" in r.stdout and "diverged (1)" in r.stdout and "2 seeds a cell" in r.stdout
    assert "model.width ↑" in r.stdout and "optimizer.lr →" in r.stdout
    r = eos("sweep", "show", str(path), "--csv", "--field", "eos_ratio", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "optimizer.lr,model.width,n,outcome,lazy,eos,catapult,diverged,failed,eos_ratio_mean,eos_ratio_std"
    first = lines[1].split(",")
    assert first[:9] == ["0.1", "10", "2", "lazy", "2", "0", "0", "0", "0"]
    assert float(first[9]) == pytest.approx(1.05) and float(first[10]) == pytest.approx(0.05)
    assert len(lines) == 1 + 5
    r = eos("sweep", "show", str(path), "--field", "eos_ratio", cwd=tmp_path)
    assert r.returncode == 0 and "eos_ratio, mean over seeds" in r.stdout and "from 1.05 to 3.05" in r.stdout
    r = eos("sweep", "show", str(path), "--field", "nope", cwd=tmp_path)
    assert r.returncode == 2 and "--field 'nope'" in r.stderr and "eos_ratio" in r.stderr
    r = eos("sweep", "show", str(tmp_path), cwd=tmp_path)
    assert r.returncode == 2 and "not a sweep directory" in r.stderr


def test_sweep_modules_import_no_torch():
    code = "import eos_tui.sweep.grid, eos_tui.sweep.store, eos_tui.sweep.show, eos_tui.cli.sweep, eos_tui.analysis.outcome, sys\n"
    code += "print('torch' in sys.modules, 'textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


# ---- Ray ---------------------------------------------------------------------------------------


@pytest.mark.slow  # a process pool (and Ray) starting: seconds
def test_ray_executor_gives_the_points_of_the_process_pool(tmp_path, capsys):
    """One Ray test (a local instance with 2 CPUs): the same points.jsonl as the local pool."""
    pytest.importorskip("ray")
    from eos_tui.cli.sweep import run_sweep

    q = quad(tmp_path, steps=20)
    sweep = load_sweep(str(q), grids=["optimizer.lr=0.05,0.21"])
    assert run_sweep(sweep, out=tmp_path / "pool", jobs=2, err=io.StringIO()) == 0
    err = io.StringIO()
    assert run_sweep(sweep, out=tmp_path / "ray", jobs=2, ray=True, ray_cpus=2, err=err) == 0, err.getvalue()
    assert sorted_points(tmp_path / "ray") == sorted_points(tmp_path / "pool")
    assert [p["outcome"] for p in sorted_points(tmp_path / "ray")] == ["lazy", "diverged"]
    assert (tmp_path / "ray" / "points" / "p0001" / "metrics.jsonl").stat().st_size > 0  # the task wrote its run directory


@pytest.mark.slow  # a local Ray instance starting: seconds
def test_a_ray_point_whose_worker_is_killed_names_its_run_dir_and_ends_its_manifest(tmp_path):
    """kill -9 of the Ray worker training a point: its record names the run directory (it was null
    though the directory was there), and its manifest, left "running" by the worker, says "failed"
    (engine lost), as `runs` sees an engine that died, instead of "running" forever."""
    pytest.importorskip("ray")
    import threading

    from eos_tui.cli.sweep import run_sweep
    from eos_tui.rundir import read_manifest

    sweep = load_sweep(str(quad(tmp_path, steps=20)), grids=["steps=10000000,20"], sets=["measure.sharpness_every=1000"])
    run_dir = tmp_path / "ray" / "points" / "p0000"
    killed: list[int] = []

    def kill_the_long_point() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            m = read_manifest(run_dir)
            if m is not None and m.get("status") == "running" and (run_dir / "metrics.jsonl").exists():
                if (run_dir / "metrics.jsonl").stat().st_size and m.get("pid") != os.getpid():
                    killed.append(m["pid"])
                    os.kill(m["pid"], signal.SIGKILL)
                    return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_the_long_point, daemon=True)
    killer.start()
    err = io.StringIO()
    assert run_sweep(sweep, out=tmp_path / "ray", jobs=2, ray=True, ray_cpus=2, err=err) == 1, err.getvalue()
    killer.join(timeout=10)
    assert killed, "the long point never started"
    lost, short = sorted_points(tmp_path / "ray")
    assert short["status"] == "completed"
    assert lost["status"] == "failed" and lost["run_dir"] == "points/p0000" and "Error" in lost["message"]
    m = read_manifest(run_dir)
    assert m["status"] == "failed" and m["error"].startswith("engine lost: ") and m["pid"] == killed[0]
    assert {a["status"] for a in m["arms"].values()} == {"failed"}


def test_ray_missing_is_one_clear_line_and_writes_nothing(tmp_path, monkeypatch):
    from eos_tui.cli.sweep import run_sweep

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    err = io.StringIO()
    assert run_sweep(load_sweep(str(quad(tmp_path)), grids=["optimizer.lr=0.05"]), out=tmp_path / "s", jobs=1, ray=True, err=err) == 2
    from eos_tui.cli.extras import install_hint

    assert err.getvalue() == f"eos-tui: sweep --ray needs Ray, which is not installed: {install_hint('ray')}\n"
    assert not (tmp_path / "s").exists()


def test_one_axis_field_map_lists_each_cell_mean_and_spread():
    from eos_tui.sweep.show import render_map

    sweep = Sweep(
        name="b", description="", scenario={"name": "b"}, source="<test>", grid=[("optimizer.batch_size", [8, 32]), ("seed", [0, 1])]
    )
    ratios = {(8, 0): 0.3, (8, 1): 0.5, (32, 0): 0.9, (32, 1): 0.9}
    records = [
        {
            "index": i,
            "point": p,
            "status": "completed",
            "outcome": "lazy",
            "arms": [{"name": "main", "eos_ratio": ratios[p["optimizer.batch_size"], p["seed"]]}],
        }
        for i, p in enumerate(sweep.points())
    ]
    out = io.StringIO()
    render_map(sweep, records, file=out, field="eos_ratio")
    text = out.getvalue()
    assert "8: 0.4±0.1  32: 0.9±0" in text
    assert "from 0.4 to 0.9" in text and "4 of 4 points finished" in text


def test_a_point_of_several_arms_has_each_arms_outcome_and_the_worst(tmp_path):
    from eos_tui.sweep.point import run_point
    from eos_tui.sweep.show import cells

    text = (
        QUAD.format(steps=30, opt="lr = 0.1") + '[[arm]]\nname = "slow"\noptimizer.lr = 0.05\n[[arm]]\nname = "fast"\noptimizer.lr = 0.21\n'
    )
    (tmp_path / "two.toml").write_text(text)
    sweep = load_sweep(str(tmp_path / "two.toml"), grids=["seed=0..1"])
    records = [
        run_point({"index": i, "point": p, "sweep": sweep.resolved(), "sweep_dir": str(tmp_path), "run_dir": f"points/p{i:04d}"})
        for i, p in enumerate(sweep.points())
    ]
    assert [[a["outcome"] for a in r["arms"]] for r in records] == [["lazy", "diverged"]] * 2
    assert [r["outcome"] for r in records] == ["diverged"] * 2
    assert cells(sweep, records)[()]["outcome"] == "diverged"
    assert cells(sweep, records, arm="slow")[()]["outcome"] == "lazy"


def test_a_cuda_scenario_asks_ray_for_a_gpu_per_task():
    from eos_tui.cli.sweep import cuda_device

    assert cuda_device(load_sweep("catapult-phase", grids=["model.width=10"])) is None  # "auto": as the cluster has
    assert cuda_device(load_sweep("catapult-phase", grids=["model.width=10"], sets=["device=cuda"])) is True
    assert cuda_device(load_sweep("catapult-phase", grids=["model.width=10"], sets=["device=cpu"])) is False
