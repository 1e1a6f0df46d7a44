"""`eos-tui landscape`: paths between end points and the flatness of each (engine/landscape.py),
against theory: a convex bowl has no barrier, the line's ends are the arms' own final losses,
Hutchinson's trace agrees with the dense Hessian's within its standard error, and Dinh et al.'s
rescaling of a ReLU network leaves the path and the adaptive sharpness alone but moves λ_max."""

from __future__ import annotations

import json
import math
import os

import pytest
import torch
from typer.testing import CliRunner

from eos_tui.cli import app
from eos_tui.engine import landscape as ls
from eos_tui.engine.curvature.hessian import dense_hessian
from eos_tui.engine.problems import Quadratic, build_problem
from eos_tui.engine.reparam import scaling
from eos_tui.engine.runner import run_scenario
from eos_tui.rundir import format as rf
from eos_tui.rundir import read_records
from eos_tui.rundir.prepare import prepare_run
from eos_tui.scenario import load_scenario_text

SMALL = """
name = "ls-test"
seed = 0
steps = 60
dtype = "float64"
device = "cpu"
[data]
kind = "teacher"
seed = 0
n = 32
dim = 4
outputs = 1
[model]
kind = "mlp"
hidden = [HIDDEN]
activation = "relu"
[optimizer]
kind = "gd"
lr = 0.2
[measure]
sharpness_every = 0
[[arm]]
name = "a"
seed = 1
[[arm]]
name = "b"
seed = 2
"""


def spec(hidden: int = 8):
    return load_scenario_text(SMALL.replace("HIDDEN", str(hidden)), source="<test>")


def test_grid_holds_zero_and_one_exactly():
    for n in (5, 41, 100):
        ts = ls.grid(n)
        assert len(ts) == n and 0.0 in ts and 1.0 in ts and ts[0] == -0.2 and ts[-1] == pytest.approx(1.2)


def test_no_barrier_inside_one_convex_bowl():
    g = torch.Generator().manual_seed(0)
    A = torch.randn(6, 6, generator=g, dtype=torch.float64)
    H = A @ A.T + 0.1 * torch.eye(6, dtype=torch.float64)
    p = Quadratic(torch.zeros(6, dtype=torch.float64), H=H)
    a, b = torch.randn(6, generator=g, dtype=torch.float64), torch.randn(6, generator=g, dtype=torch.float64)
    ts = ls.grid(41)
    path = ls.line(p, a, b, ts)
    assert path["barrier"] == 0.0
    # ...while outside [0, 1] the bowl rises above both ends (the grid reaches t = -0.2 and 1.2)
    assert max(path["loss"][0], path["loss"][-1]) > max(path["loss"][ts.index(0.0)], path["loss"][ts.index(1.0)])
    assert ls.curve(p, a, b, ts, steps=50)["barrier"] == 0.0
    # a non-convex path does have one: a double well along the line
    assert ls.barrier([0.0, 0.5, 1.0], [1.0, 3.0, 2.0]) == 1.0


def test_hutchinson_matches_the_dense_trace_within_its_standard_error():
    sc = spec(6)
    p = build_problem(sc.arms[0], torch.device("cpu"))
    theta = p.theta0
    exact = float(torch.trace(dense_hessian(p.loss, theta)))
    est, se = ls.hutchinson(p, theta, probes=200, seed=1)
    assert 0 < se < abs(exact)
    assert abs(est - exact) <= 3 * se, (est, exact, se)


def test_dinh_rescaling_keeps_the_path_and_adaptive_sharpness_but_not_lambda_max():
    sc = spec(8)
    p = build_problem(sc.arms[0], torch.device("cpu"))
    a = p.theta0
    b = build_problem(sc.arms[1], torch.device("cpu")).theta0
    d = scaling(p, a, 4.0, 0)  # layer 0's rows and bias ×4, layer 1's columns ×1/4: same function
    ts = ls.grid(21)
    plain, scaled = ls.line(p, a, b, ts), ls.line(p, d * a, d * b, ts)
    assert scaled["loss"] == pytest.approx(plain["loss"], rel=1e-10)
    assert scaled["barrier"] == pytest.approx(plain["barrier"], rel=1e-6, abs=1e-12)
    e0, _ = ls.end_point(p, "a", a, probes=10)
    e1, _ = ls.end_point(p, "a", d * a, probes=10)
    assert e1["loss"] == pytest.approx(e0["loss"], rel=1e-12)
    assert e1["adaptive_sharpness"] == pytest.approx(e0["adaptive_sharpness"], rel=1e-6)
    assert not e1["sharpness"] == pytest.approx(e0["sharpness"], rel=0.1)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("ls")
    sc = spec(8)
    run_dir = prepare_run(sc, out=root / "run")
    assert run_scenario(sc, run_dir)[0] == "completed"
    wide = spec(9)
    other = prepare_run(wide, out=root / "wide")
    assert run_scenario(wide, other)[0] == "completed"
    twin = prepare_run(spec(8), out=root / "twin")
    assert run_scenario(spec(8), twin)[0] == "completed"
    return run_dir, other, twin


def cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_json_output_and_the_line_ends_are_the_arms_final_losses(trained):
    run_dir = trained[0]
    r = cli("landscape", run_dir, "--json", "--points", "15", "--curve")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert set(out) >= {"line", "curve", "ends", "slice"}
    assert set(out["line"]) >= {"t", "loss", "barrier"} and len(out["line"]["t"]) == 15
    assert [e["arm"] for e in out["ends"]] == ["a", "b"]
    for e in out["ends"]:
        assert set(e) >= {"arm", "loss", "sharpness", "adaptive_sharpness", "trace", "trace_stderr"}
    final = {r["arm"]: r["final_loss"] for r in read_records(run_dir) if r["type"] == "end"}
    t = out["line"]["t"]
    assert out["line"]["loss"][t.index(0.0)] == final["a"]  # exactly: θ(0) is the checkpoint's θ bit for bit
    assert out["line"]["loss"][t.index(1.0)] == final["b"]
    assert out["ends"][0]["loss"] == final["a"] and out["ends"][1]["loss"] == final["b"]
    assert out["curve"]["loss"][t.index(0.0)] == final["a"]
    assert len(out["slice"]["s"]) == len(out["slice"]["loss"]) == len(out["slice"]["parabola"])
    i0 = out["slice"]["s"].index(0.0)
    assert out["slice"]["loss"][i0] == out["slice"]["parabola"][i0] == final["a"]
    # written for the app too
    assert json.loads((run_dir / rf.LANDSCAPE_FILE).read_text())["line"]["loss"] == out["line"]["loss"]


def test_terminal_drawing_uses_braille(trained):
    run_dir = trained[0]
    r = cli("landscape", run_dir, "--arms", "b,a", "--points", "11")
    assert r.exit_code == 0, r.output
    assert any(0x2800 < ord(c) <= 0x28FF for c in r.stdout)
    assert "from b (t=0) to a (t=1)" in r.stdout and "λ_max" in r.stdout
    # fits an 80-column terminal without wrapping
    from rich.console import Console

    from eos_tui.cli.landscape import render

    console = Console(width=80, record=True, file=open(os.devnull, "w"))
    for part in render(json.loads((run_dir / rf.LANDSCAPE_FILE).read_text()), 80):
        console.print(part)
    assert max(len(line) for line in console.export_text().splitlines()) <= 80


def test_printed_to_a_pipe_it_takes_columns_when_set(trained, monkeypatch):
    # not a terminal: COLUMNS when set (a CI log, `| less` in an 80-column terminal), else 100
    run_dir = trained[0]
    monkeypatch.setenv("COLUMNS", "80")
    r = cli("landscape", run_dir, "--points", "11")
    assert r.exit_code == 0, r.output
    assert max(len(line) for line in r.stdout.splitlines()) <= 80
    monkeypatch.delenv("COLUMNS")
    r = cli("landscape", run_dir, "--points", "11")
    assert 80 < max(len(line) for line in r.stdout.splitlines()) <= 100


def test_other_run_and_clear_refusals(trained, tmp_path):
    run_dir, wide, twin = trained
    r = cli("landscape", run_dir, "--arms", "b", "--other", f"{twin}:b", "--json", "--points", "7")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["ends"][1]["arm"] == f"{twin}:b"
    assert (
        out["line"]["barrier"] == pytest.approx(0.0, abs=1e-15) and out["ends"][0]["loss"] == out["ends"][1]["loss"]
    )  # one training twice
    cases = [
        (("--arms", "a", "--other", f"{wide}:a"), "different shapes"),
        (("--arms", "a,zz"), "no arm 'zz'"),
        (("--arms", "a,b,a"), "name two arms"),
        (("--other", "nocolon"), "RUN_DIR:ARM"),
    ]
    for args, says in cases:
        r = cli("landscape", run_dir, *args)
        assert r.exit_code == 2, (args, r.output)
        assert says in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    r = cli("landscape", tmp_path)
    assert r.exit_code == 2 and "not a run directory" in r.stderr
    # a diverged end point (θ not finite)
    import shutil

    from eos_tui.engine import checkpoint as ck

    bad = tmp_path / "bad"
    shutil.copytree(run_dir, bad)
    path = ck.path_for(bad, "b", ck.list_steps(bad, "b")[-1])
    tensors, meta = ck.load(path)
    tensors["theta"] = torch.full_like(tensors["theta"], float("nan"))
    ck.save(path, tensors, meta)
    r = cli("landscape", bad)
    assert r.exit_code == 2 and "arm 'b' diverged" in r.stderr and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_connectivity_scenario_line_barrier_high_curve_barrier_near_zero(tmp_path):
    from eos_tui.cli.landscape import compute
    from eos_tui.scenario import load_scenario

    sc = load_scenario("connectivity")
    run_dir = prepare_run(sc, out=tmp_path / "c")
    assert run_scenario(sc, run_dir)[0] == "completed"
    out = compute(run_dir, ["seed-1", "seed-2"], None, points=21, curve=True, probes=20)
    ends = max(e["loss"] for e in out["ends"])
    assert out["line"]["barrier"] > 30 * ends  # a real barrier between the two minima
    assert out["curve"]["barrier"] < 0.05 * out["line"]["barrier"]  # and a path around it
    assert math.isfinite(out["curve"]["barrier"])
