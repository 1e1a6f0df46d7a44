"""Checkpoints from outside: a file that is a readable safetensors but not the state `arm_state` writes
(wrong dtypes or shapes, missing tensors, metadata of the wrong types, keys that name other parts of
the arm) is refused as it is read, in one line; `resume` passes it over for an earlier checkpoint (as it
does an unreadable one) instead of a traceback or a run that fails on every resume, and `landscape`
says which file and why (exit 2)."""

from __future__ import annotations

import shutil

import pytest
import torch
from typer.testing import CliRunner

from eos_tui.cli import app
from eos_tui.engine import checkpoint as ck
from eos_tui.engine.resume import prepare
from eos_tui.engine.runner import StopRequest, run_scenario
from eos_tui.rundir import read_manifest
from eos_tui.rundir.prepare import prepare_run
from eos_tui.scenario import load_scenario_text

SCENARIO = """
name = "hostile-ckpt"
seed = 0
steps = 14
dtype = "float64"
device = "cpu"
[data]
kind = "teacher"
n = 16
dim = 3
outputs = 1
[model]
kind = "mlp"
hidden = [4]
activation = "tanh"
[optimizer]
kind = "gd"
lr = 0.1
[measure]
sharpness_every = 3
eigenvalues = 1
checkpoint_every = 4
[[arm]]
name = "a"
optimizer.kind = "adam"
optimizer.lr = 0.01
[[arm]]
name = "b"
seed = 3
"""


def scenario():
    return load_scenario_text(SCENARIO, source="<test>")


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory):
    """A run stopped after step 9 of 14: each arm has checkpoints at 4, 8 and 10 (the stop's)."""
    run_dir = prepare_run(scenario(), out=tmp_path_factory.mktemp("h") / "run")
    stop = StopRequest()

    def on_records(recs, arms):
        if any(r["type"] == "step" and r["step"] == 9 for r in recs):
            stop.request()

    assert run_scenario(scenario(), run_dir, on_records=on_records, stop=stop)[0] == "interrupted"
    assert ck.list_steps(run_dir, "a")[-2:] == [8, 10]
    return run_dir


def edit(path, tensors=None, meta=None):
    """Rewrite a checkpoint with its tensors and metadata changed, as safetensors (so that it reads)."""
    t, m = ck.load(path)
    if tensors:
        tensors(t)
    if meta:
        meta(m)
    import json

    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in t.items()}, str(path), metadata={ck.META_KEY: json.dumps(m)})


def _set(d, k, v):
    d[k] = v


HOSTILE = {
    "theta-int": (lambda t: _set(t, "theta", t["theta"].long()), None, "θ is"),
    "theta-short": (lambda t: _set(t, "theta", t["theta"][:3].clone()), None, "θ is"),
    "rng-float": (lambda t: _set(t, "rng.eig", torch.zeros(5)), None, "'rng.eig'"),
    "rng-missing": (lambda t: t.pop("rng.sgd"), None, "'rng.sgd'"),
    "vectors-shape": (lambda t: _set(t, "vectors", torch.zeros(1, 3, dtype=torch.float64)), None, "'vectors'"),
    "opt-missing": (lambda t: t.pop("opt.1"), None, "'opt.1'"),
    "opt-shape": (lambda t: _set(t, "opt.0", torch.zeros(2, dtype=torch.float64)), None, "'opt.0'"),
    "stray-tensor": (lambda t: _set(t, "evil", torch.zeros(1)), None, "'evil'"),
    "records-str": (None, lambda m: _set(m, "records", "x"), "'records'"),
    "step-str": (None, lambda m: _set(m, "step", "abc"), "'step'"),
    "step-negative": (None, lambda m: _set(m, "step", -5), "'step'"),
    "step-not-its-name": (None, lambda m: _set(m, "step", 8), "says step 8"),
    "scalars-list": (None, lambda m: _set(m, "scalars", [1, 2]), "'scalars'"),
    "scalars-other-attribute": (None, lambda m: _set(m["scalars"], "spec", "boom"), "'spec'"),
    "detectors-other-attribute": (None, lambda m: _set(m["detectors"], "problem", {"X": 1}), "'problem'"),
    "layout-huge": (None, lambda m: _set(m, "opt_layout", "tuple:99999999"), "'opt_layout'"),
    "layout-missing": (None, lambda m: m.pop("opt_layout"), "'opt_layout'"),
    "arm-other": (None, lambda m: _set(m, "arm", "b"), "not of 'a'"),
    # values inside the detectors' state that decode to an error only once restored (after metrics.jsonl was cut)
    "deque-maxlen-negative": (
        None,
        lambda m: _set(m["detectors"]["oscillation"], "amplitudes", {"deque": [], "maxlen": -1}),
        "holds a value",
    ),
    "float-garbage": (None, lambda m: _set(m["scalars"], "sharpness", {"float": "1e999x"}), "holds a value"),
    "set-of-lists": (None, lambda m: _set(m["reparam"], "_failed_alphas", {"set": [[1]]}), "holds a value"),
    "unknown-encoding": (None, lambda m: _set(m["scalars"], "lambda0", {"pickle": "x"}), "holds a value"),
    # well-formed, but not restorable: found as it is restored (before anything is written), then
    # passed over as the unreadable ones are (before: every resume failed, "steps_done: 0" written)
    "rng-3-bytes": (lambda t: _set(t, "rng.eig", torch.zeros(3, dtype=torch.uint8)), None, "does not fit the arm"),
    "detector-unknown-attribute": (None, lambda m: _set(m["detectors"]["oscillation"], "bogus", 1), "'bogus'"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_latest_checkpoint_is_passed_over_for_an_earlier_one(interrupted, tmp_path, case):
    run_dir = tmp_path / "run"
    shutil.copytree(interrupted, run_dir)
    tensors, meta, says = HOSTILE[case]
    edit(ck.path_for(run_dir, "a", 10), tensors, meta)
    _, res = prepare(run_dir)  # before the fix: a traceback (int('x')), or a restore that failed later
    assert res.resumed_from["a"] == 8 and res.resumed_from["b"] == ck.list_steps(run_dir, "b")[-1]
    assert len(res.skipped) == 1 and says in res.skipped[0] and "10.safetensors" in res.skipped[0]


def test_the_resumed_run_completes_past_a_hostile_checkpoint(interrupted, tmp_path):
    """End to end through the CLI: before, `resume` restored the bad file, failed ("KeyError: 'rng.eig'"),
    marked the run failed, and failed the same way on every later resume."""
    run_dir = tmp_path / "run"
    shutil.copytree(interrupted, run_dir)
    edit(ck.path_for(run_dir, "a", 10), lambda t: t.pop("rng.eig"))
    r = CliRunner().invoke(app, ["resume", str(run_dir), "--json"])
    assert r.exit_code == 0, r.output
    assert "skipped" in r.stderr and "'rng.eig'" in r.stderr
    assert read_manifest(run_dir)["status"] == "completed"


def test_a_damaged_final_checkpoint_of_a_finished_arm_is_no_traceback(tmp_path):
    """An arm that ended by itself is not trained again; its final checkpoint is only read for the
    manifest. A damaged one raised CheckpointError out of `prepare` (a traceback from the CLI)."""
    stop = StopRequest()

    def on_records(recs, arms):  # b (5 steps) completes; a (14) is stopped then
        if any(r["type"] == "end" and r["arm"] == "b" for r in recs):
            stop.request()

    sc = load_scenario_text(SCENARIO.replace("seed = 3", "seed = 3\nsteps = 5"), source="<test>")
    run_dir = prepare_run(sc, out=tmp_path / "run")
    assert run_scenario(sc, run_dir, on_records=on_records, stop=stop)[0] == "interrupted"
    final = ck.path_for(run_dir, "b", ck.list_steps(run_dir, "b")[-1])
    final.write_bytes(final.read_bytes()[:50])
    r = CliRunner().invoke(app, ["resume", str(run_dir), "--json"])
    assert r.exit_code == 0, r.output
    assert "not a readable checkpoint" in r.stderr


def test_landscape_refuses_a_hostile_checkpoint_in_one_line(interrupted, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(interrupted, run_dir)
    for tensors, meta, says in (HOSTILE["step-not-its-name"], HOSTILE["records-str"]):
        shutil.copy(interrupted / "checkpoints" / "a" / "10.safetensors", ck.path_for(run_dir, "a", 10))
        edit(ck.path_for(run_dir, "a", 10), tensors, meta)
        r = CliRunner().invoke(app, ["landscape", str(run_dir), "--points", "5"])
        assert r.exit_code == 2, r.output
        assert "10.safetensors" in r.stderr and says in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1


def contents(run_dir):
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in sorted(run_dir.rglob("*")) if p.is_file()}


def test_an_arm_none_of_whose_checkpoints_restores_is_refused_with_nothing_written(interrupted, tmp_path):
    """Before: the resume restored the bad file after metrics.jsonl was cut, failed, and wrote end
    records "steps_done: 0" for an arm with recorded steps; every later resume failed the same way.
    Now the restore is tried first; with no checkpoint left that restores, nothing is written."""
    run_dir = tmp_path / "run"
    shutil.copytree(interrupted, run_dir)
    for step in ck.list_steps(run_dir, "a"):
        edit(ck.path_for(run_dir, "a", step), lambda t: _set(t, "rng.eig", torch.zeros(3, dtype=torch.uint8)))
    before = contents(run_dir)
    r = CliRunner().invoke(app, ["resume", str(run_dir)])
    assert r.exit_code == 2, r.output
    assert len(r.stderr.strip().splitlines()) == 1 and "arm 'a'" in r.stderr and "none can be restored" in r.stderr
    assert contents(run_dir) == before
