"""Checkpoints and `eos-tui resume`: a run interrupted (or killed) and resumed writes the records an
uninterrupted run writes, bit for bit on the CPU (engine/checkpoint.py, engine/resume.py)."""

from __future__ import annotations

import json

import pytest
import torch

from eos_tui.engine import checkpoint as ck
from eos_tui.engine.resume import ResumeError, prepare
from eos_tui.engine.runner import StopRequest, run_scenario
from eos_tui.rundir import read_manifest, read_records
from eos_tui.rundir.prepare import prepare_run
from eos_tui.scenario import load_scenario_text

from .helpers import by_arm, cli

SCENARIO = """
name = "resume-test"
seed = 3
steps = 30
dtype = "float64"
device = "cpu"
[data]
kind = "random-labels"
n = 32
dim = 5
classes = 3
[model]
kind = "mlp"
hidden = [8]
activation = "tanh"
[optimizer]
kind = "gd"
lr = 0.3
[measure]
sharpness_every = 4
eigenvalues = 2
tolerance = 1e-4
checkpoint_every = 7
[[arm]]
name = "sgd"
optimizer.kind = "sgd"
optimizer.batch_size = 8
optimizer.momentum = 0.5
[[arm]]
name = "adam"
optimizer.kind = "adam"
optimizer.lr = 0.01
[[arm]]
name = "gd-a"
optimizer.momentum = 0.9
[[arm]]
name = "gd-b"
optimizer.lr = 0.2
[[arm]]
name = "tracked"
measure.track_every_step = true
"""


def scenario():
    return load_scenario_text(SCENARIO, source="<test>")


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    run_dir = prepare_run(scenario(), out=tmp_path_factory.mktemp("ref") / "run")
    status, _ = run_scenario(scenario(), run_dir)
    assert status == "completed"
    return run_dir, by_arm(read_records(run_dir))


def interrupt_at(step: int, arm: str = "sgd"):
    stop = StopRequest()

    def on_records(recs, arms):
        if any(r["type"] == "step" and r["arm"] == arm and r["step"] == step for r in recs):
            stop.request()

    return stop, on_records


def test_resume_after_an_interruption_equals_an_uninterrupted_run(tmp_path, reference):
    _, ref = reference
    run_dir = prepare_run(scenario(), out=tmp_path / "run")
    stop, on_records = interrupt_at(11)
    status, _ = run_scenario(scenario(), run_dir, on_records=on_records, stop=stop)
    assert status == "interrupted"
    # the stop wrote each running arm's state where it stood
    assert 12 in ck.list_steps(run_dir, "sgd") and 7 in ck.list_steps(run_dir, "sgd")
    sc, res = prepare(run_dir)
    assert res.resumed_from["sgd"] == 12
    res.rewrite_metrics()
    status, manifest = run_scenario(sc, run_dir, resume=res)
    assert status == "completed"
    got = by_arm(read_records(run_dir))
    assert got == ref  # bit for bit, every arm, every record (SGD's batches, Adam's state, the tracker)
    assert manifest["history"][0]["status"] == "interrupted"
    assert manifest["resumed"]["from"]["sgd"] == 12
    assert read_manifest(run_dir)["arms"]["sgd"]["summary"] == read_manifest(reference[0])["arms"]["sgd"]["summary"]
    with pytest.raises(ResumeError, match="completed"):
        prepare(run_dir)


class Crash(Exception):
    pass


def test_resume_after_a_crash_drops_the_records_past_the_last_checkpoint(tmp_path, reference):
    """A run that dies (here: an exception, as a kill leaves it: no checkpoint at the stop) resumes
    from the periodic checkpoints, its later records dropped, and still ends as the reference."""
    _, ref = reference
    run_dir = prepare_run(scenario(), out=tmp_path / "run")

    def on_records(recs, arms):
        if any(r["type"] == "step" and r["arm"] == "gd-b" and r["step"] == 17 for r in recs):
            raise Crash

    with pytest.raises(Crash):
        run_scenario(scenario(), run_dir, on_records=on_records)
    assert read_manifest(run_dir)["status"] == "failed"
    # a damaged latest checkpoint (written as the machine went down) is passed over for an earlier one
    damaged = ck.path_for(run_dir, "sgd", ck.list_steps(run_dir, "sgd")[-1])
    damaged.write_bytes(damaged.read_bytes()[:100])
    sc, res = prepare(run_dir)
    assert res.resumed_from["gd-a"] == res.resumed_from["gd-b"] == 14  # the batch's last periodic checkpoint
    assert res.resumed_from["sgd"] == 7 and "not a readable checkpoint" in res.skipped[0]
    res.rewrite_metrics()
    status, manifest = run_scenario(sc, run_dir, resume=res)
    assert status == "completed"
    assert by_arm(read_records(run_dir)) == ref
    assert manifest["history"][0]["status"] == "failed"


def test_checkpoints_round_trip_bit_exactly(tmp_path, reference):
    run_dir, _ = reference
    for arm in ("sgd", "adam", "gd-a", "tracked"):
        steps = ck.list_steps(run_dir, arm)
        assert steps == [7, 14, 21, 28, 30], arm
        tensors, meta = ck.load(ck.path_for(run_dir, arm, 30))
        assert meta["status"] == "completed" and meta["step"] == 30
        again = tmp_path / f"{arm}.safetensors"
        ck.save(again, tensors, meta)
        t2, m2 = ck.load(again)
        assert m2 == meta and set(t2) == set(tensors)
        for k in tensors:
            assert tensors[k].dtype == t2[k].dtype and torch.equal(tensors[k], t2[k]), (arm, k)
        assert again.read_bytes() == ck.path_for(run_dir, arm, 30).read_bytes()
    # Adam's state (m, v, step) and SGD's generator are in there
    assert ck.load(ck.path_for(run_dir, "adam", 30))[1]["opt_layout"] == "tuple:3"
    assert "rng.sgd" in ck.load(ck.path_for(run_dir, "sgd", 7))[0]


def test_the_final_theta_is_the_trained_one(tmp_path):
    """The final checkpoint's θ gives the arm's final loss exactly."""
    from eos_tui.engine.problems import build_problem

    sc = load_scenario_text(SCENARIO.replace("checkpoint_every = 7", ""), source="<test>")
    sc.arms = sc.arms[3:4]
    run_dir = prepare_run(sc, out=tmp_path / "run")
    run_scenario(sc, run_dir)
    assert ck.list_steps(run_dir, "gd-b") == [30]
    tensors, _ = ck.load(ck.path_for(run_dir, "gd-b", 30))
    end = [r for r in read_records(run_dir) if r["type"] == "end"][0]
    assert float(build_problem(sc.arms[0], torch.device("cpu")).loss(tensors["theta"])) == end["final_loss"]


def test_a_checkpoint_is_never_unpickled(tmp_path):
    bad = tmp_path / "x.safetensors"
    bad.write_bytes(b"\x80\x04\x95not a safetensors file")
    with pytest.raises(ck.CheckpointError, match="not a readable checkpoint"):
        ck.load(bad)


def test_cli_refuses_a_completed_run_and_a_non_run(reference, tmp_path):
    run_dir, _ = reference
    for target, says in ((run_dir, "the run completed"), (tmp_path, "not a run directory")):
        r = cli("resume", str(target))
        assert r.exit_code == 2, r.output
        assert says in r.stderr and r.exception is None or isinstance(r.exception, SystemExit)
        assert len(r.stderr.strip().splitlines()) == 1


def test_cli_resumes(tmp_path, reference):
    _, ref = reference
    run_dir = prepare_run(scenario(), out=tmp_path / "run")
    stop, on_records = interrupt_at(3, "adam")
    run_scenario(scenario(), run_dir, on_records=on_records, stop=stop)
    r = cli("resume", str(run_dir), "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["arms"][1]["status"] == "completed"
    assert by_arm(read_records(run_dir)) == ref


@pytest.mark.slow
def test_a_stop_inside_a_step_is_undone_and_that_arm_resumes_where_the_step_began(tmp_path, reference, monkeypatch):
    """Ctrl-C inside an eigen-solve cuts a step short: Adam has already updated its state for that
    step, SGD drawn its batch, the solve drawn its start. The runner undoes what the step changed
    (engine/checkpoint.StepStart) before checkpointing the arm, which then resumes at that very
    step, and the run still ends as the reference. The same in a vmapped batch's solve."""
    from eos_tui.engine import interrupt
    from eos_tui.engine.arm import Arm
    from eos_tui.engine.batched import ArmBatch

    _, ref = reference
    for who, step, target in (("adam", 12, (Arm, "measure")), ("sgd", 8, (Arm, "measure")), ("gd-a", 16, (ArmBatch, "_solve"))):
        run_dir = prepare_run(scenario(), out=tmp_path / who)
        stop = StopRequest()
        cls, attr = target
        original = getattr(cls, attr)

        def cut(self, *args, _who=who, _step=step, _original=original, **kwargs):
            arms = getattr(self, "arms", [self])
            if any(a.name == _who and a.t == _step for a in arms):
                _original(self, *args, **kwargs)  # draws and solves as the step does, then the stop
                stop.request()
                interrupt.check()  # raises Interrupted, as the solve's next HVP would
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(cls, attr, cut)
        status, _ = run_scenario(scenario(), run_dir, stop=stop)
        monkeypatch.setattr(cls, attr, original)
        assert status == "interrupted"
        assert step in ck.list_steps(run_dir, who)
        sc, res = prepare(run_dir)
        assert res.resumed_from[who] == step
        res.rewrite_metrics()
        assert run_scenario(sc, run_dir, resume=res)[0] == "completed"
        assert by_arm(read_records(run_dir)) == ref, who


def test_resume_whose_data_is_gone_is_refused_in_one_line(tmp_path):
    import numpy as np

    data = tmp_path / "d.npz"
    np.savez(data, X=np.random.default_rng(0).normal(size=(16, 3)), y=np.arange(16) % 2)
    text = SCENARIO.split("[[arm]]")[0].replace(
        '[data]\nkind = "random-labels"\nn = 32\ndim = 5\nclasses = 3', f'[data]\nkind = "npz"\npath = "{data}"'
    )
    sc = load_scenario_text(text, source="<test>")
    run_dir = prepare_run(sc, out=tmp_path / "run")
    stop, on_records = interrupt_at(3, sc.arms[0].name)
    assert run_scenario(sc, run_dir, on_records=on_records, stop=stop)[0] == "interrupted"
    data.unlink()
    r = cli("resume", str(run_dir))
    assert r.exit_code == 2, r.output
    assert "d.npz" in r.stderr and "Traceback" not in r.output


def test_a_relative_data_path_resumes_from_another_directory(tmp_path, monkeypatch):
    """A scenario file whose data.path is relative to its folder: the run directory's scenario.toml
    holds the absolute path, so the run resumes from anywhere."""
    import numpy as np

    from eos_tui.scenario import load_scenario

    (tmp_path / "sc").mkdir()
    np.savez(tmp_path / "sc" / "d.npz", X=np.random.default_rng(0).normal(size=(16, 3)), y=np.arange(16) % 2)
    data = '[data]\nkind = "random-labels"\nn = 32\ndim = 5\nclasses = 3'
    text = SCENARIO.split("[[arm]]")[0].replace(data, '[data]\nkind = "npz"\npath = "d.npz"')
    (tmp_path / "sc" / "s.toml").write_text(text)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    sc = load_scenario("../sc/s.toml")
    run_dir = prepare_run(sc, out=tmp_path / "run")
    stop, on_records = interrupt_at(3, sc.arms[0].name)
    assert run_scenario(sc, run_dir, on_records=on_records, stop=stop)[0] == "interrupted"
    assert f'path = "{tmp_path / "sc" / "d.npz"}"' in (run_dir / "scenario.toml").read_text()
    monkeypatch.chdir(tmp_path / "b")
    r = cli("resume", str(run_dir))
    assert r.exit_code == 0, r.output
    assert read_manifest(run_dir)["status"] == "completed"


def test_a_diverged_arm_writes_its_final_checkpoint(tmp_path):
    """Non-finite numbers (θ, the loss, the tracker's last estimate) go into the checkpoint without
    breaking the run: its JSON metadata encodes them."""
    text = SCENARIO.split("[[arm]]")[0].replace("lr = 0.3", "lr = 1e4").replace("steps = 30", "steps = 80").replace('"tanh"', '"linear"')
    text += '[[arm]]\nname = "blow"\nmeasure.track_every_step = true\nmeasure.diverge_above = 1e300\n'
    sc = load_scenario_text(text, source="<test>")
    run_dir = prepare_run(sc, out=tmp_path / "run")
    status, manifest = run_scenario(sc, run_dir)
    assert status == "completed" and manifest["arms"]["blow"]["status"] == "diverged"
    (step,) = ck.list_steps(run_dir, "blow")
    tensors, meta = ck.load(ck.path_for(run_dir, "blow", step))
    assert meta["status"] == "diverged" and "tracker" in meta
    assert "float" in json.dumps(meta)  # a non-finite number, encoded


def test_non_finite_state_round_trips(tmp_path):
    """A blowing-up arm's numbers (the tracker's last estimate, the detectors' −inf peak) are not JSON;
    they are encoded, and come back as they were."""
    import math

    from eos_tui.engine.arm import Arm

    spec = next(a for a in scenario().arms if a.name == "tracked")
    arm = Arm(spec, torch.device("cpu"))
    arm.tracker._last_by_phase = {0: math.inf, 1: math.nan}
    arm.final_loss = -math.inf
    tensors, meta = ck.arm_state(arm, None, 0)
    ck.save(tmp_path / "x.safetensors", tensors, meta)
    again = Arm(spec, torch.device("cpu"))
    ck.restore_arm(again, *ck.load(tmp_path / "x.safetensors"))
    assert again.tracker._last_by_phase[0] == math.inf and math.isnan(again.tracker._last_by_phase[1])
    assert again.final_loss == -math.inf and again.catapult.peak_loss == -math.inf


def test_a_live_run_is_refused_and_a_lost_one_resumes(tmp_path):
    import os

    from eos_tui.rundir import format as rf

    run_dir = prepare_run(scenario(), out=tmp_path / "run")
    stop, on_records = interrupt_at(2)
    run_scenario(scenario(), run_dir, on_records=on_records, stop=stop)
    m = read_manifest(run_dir)
    m.update(status="running", pid=os.getpid(), pid_start=rf.process_start_time(os.getpid()))
    rf.write_json_atomic(run_dir / rf.MANIFEST_FILE, m)
    with pytest.raises(ResumeError, match="still running"):
        prepare(run_dir)
    m.update(pid=2**22 + 12345, pid_start=None)  # no such process: "engine lost" (kill -9)
    rf.write_json_atomic(run_dir / rf.MANIFEST_FILE, m)
    assert prepare(run_dir)[1].resumed_from["sgd"] == 3


def test_an_arm_with_the_central_flow_is_refused_in_one_line(tmp_path):
    # The flows' own θ is in no checkpoint: resuming would restart them from GD's θ.
    text = SCENARIO.split("[[arm]]")[0].replace("checkpoint_every = 7", "checkpoint_every = 7\ncentral_flow = true")
    sc = load_scenario_text(text, source="<test>")
    run_dir = prepare_run(sc, out=tmp_path / "run")
    stop, on_records = interrupt_at(3, sc.arms[0].name)
    assert run_scenario(sc, run_dir, on_records=on_records, stop=stop)[0] == "interrupted"
    with pytest.raises(ResumeError, match="central or stable flow"):
        prepare(run_dir)
    r = cli("resume", str(run_dir))
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1, r.output
