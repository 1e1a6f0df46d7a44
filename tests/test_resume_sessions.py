"""Resume, issue 20 ("nothing lost, nothing replaced"): arms of one batch resume from one common step
(or train apart), never with shifted records; every optimizer resumes bit for bit; one process writes
a run at a time (the session lock); a scenario edited since the run started is refused in one line,
with nothing written; checkpoints honour the umask."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from eos_tui.engine import checkpoint as ck
from eos_tui.engine.resume import ResumeError, prepare
from eos_tui.engine.runner import StopRequest, run_scenario
from eos_tui.rundir import format as rf
from eos_tui.rundir import read_records
from eos_tui.rundir.lock import RunBusy, SessionLock
from eos_tui.rundir.prepare import prepare_run
from eos_tui.scenario import load_scenario_text

from .helpers import by_arm

BASE = """
name = "resume-sessions"
seed = 5
steps = 40
dtype = "float64"
device = "cpu"
[data]
kind = "random-labels"
n = 24
dim = 4
classes = 3
[model]
kind = "mlp"
hidden = [6]
activation = "tanh"
[optimizer]
kind = "gd"
lr = 0.4
[measure]
sharpness_every = 5
eigenvalues = 1
tolerance = 1e-6
"""

# Two same-shape GD arms that train as one vmapped batch, with checkpoint cadences 4 and 6: their
# common checkpoints are at multiples of 12.
PAIR = (
    BASE
    + """
[[arm]]
name = "a"
measure.checkpoint_every = 4
[[arm]]
name = "b"
optimizer.lr = 0.3
measure.checkpoint_every = 6
"""
)

# Every optimizer, tracked arms, one-arm GD (not batched), and cadences that differ arm by arm.
EVERY = (
    BASE
    + """
[[arm]]
name = "gd"
engine.batch_arms = "off"
measure.checkpoint_every = 5
measure.sharpness_every = 9
[[arm]]
name = "momentum"
optimizer.momentum = 0.8
measure.checkpoint_every = 3
[[arm]]
name = "plain"
optimizer.lr = 0.2
measure.checkpoint_every = 3
measure.sharpness_every = 7
[[arm]]
name = "nesterov"
optimizer.momentum = 0.6
optimizer.nesterov = true
measure.checkpoint_every = 4
[[arm]]
name = "adam"
optimizer.kind = "adam"
optimizer.lr = 0.01
measure.checkpoint_every = 6
[[arm]]
name = "rmsprop"
optimizer.kind = "rmsprop"
optimizer.lr = 0.005
measure.checkpoint_every = 7
[[arm]]
name = "sgd"
optimizer.kind = "sgd"
optimizer.batch_size = 8
measure.checkpoint_every = 5
[[arm]]
name = "tracked"
measure.track_every_step = true
measure.sharpness_every = 1
measure.checkpoint_every = 4
"""
)


def sc(text: str):
    return load_scenario_text(text, source="<test>")


def reference_of(text: str, root: Path):
    run_dir = prepare_run(sc(text), out=root / "reference")
    assert run_scenario(sc(text), run_dir)[0] == "completed"
    return by_arm(read_records(run_dir))


@pytest.fixture(scope="module")
def pair_reference(tmp_path_factory):
    return reference_of(PAIR, tmp_path_factory.mktemp("pair"))


@pytest.fixture(scope="module")
def every_reference(tmp_path_factory):
    return reference_of(EVERY, tmp_path_factory.mktemp("every"))


class Crash(Exception):
    pass


def crash_at(arm: str, step: int):
    """A run that dies at once (as under SIGKILL: no checkpoint at the stop), after `arm`'s step `step`."""

    def on_records(recs, arms):
        if any(r["type"] == "step" and r["arm"] == arm and r["step"] == step for r in recs):
            raise Crash

    return on_records


def stop_at(arm: str, step: int):
    stop = StopRequest()

    def on_records(recs, arms):
        if any(r["type"] == "step" and r["arm"] == arm and r["step"] == step for r in recs):
            stop.request()

    return stop, on_records


def resume_to_end(run_dir):
    scenario, res = prepare(run_dir)
    status, _ = run_scenario(scenario, run_dir, resume=res)
    assert status == "completed"
    return res


# ---- arms of one batch ----------------------------------------------------------------------------


def test_a_batch_with_different_checkpoint_cadences_resumes_from_a_common_step(tmp_path, pair_reference):
    """a checkpoints at 4, 8, …, 20, b at 6, 12, 18 when the run dies after step 21. Before, each
    resumed from its own latest (a 20, b 18) in one batch that stepped both with a's t: b's records
    labelled s held step s − 2's numbers, two were missing and two written twice."""
    run_dir = prepare_run(sc(PAIR), out=tmp_path / "run")
    with pytest.raises(Crash):
        run_scenario(sc(PAIR), run_dir, on_records=crash_at("b", 21))
    assert ck.list_steps(run_dir, "a")[-1] == 20 and ck.list_steps(run_dir, "b")[-1] == 18
    res = resume_to_end(run_dir)
    assert res.resumed_from == {"a": 12, "b": 12}
    assert by_arm(read_records(run_dir)) == pair_reference  # labels and values, bit for bit


def test_a_damaged_latest_checkpoint_of_one_arm_moves_the_whole_batch_back(tmp_path, pair_reference):
    text = PAIR.replace("measure.checkpoint_every = 6", "measure.checkpoint_every = 4")
    reference = reference_of(text, tmp_path)
    run_dir = prepare_run(sc(text), out=tmp_path / "run")
    stop, on_records = stop_at("a", 29)
    assert run_scenario(sc(text), run_dir, on_records=on_records, stop=stop)[0] == "interrupted"
    assert ck.list_steps(run_dir, "a")[-2:] == ck.list_steps(run_dir, "b")[-2:] == [28, 30]
    damaged = ck.path_for(run_dir, "b", 30)
    damaged.write_bytes(damaged.read_bytes()[:200])
    res = resume_to_end(run_dir)
    assert res.resumed_from == {"a": 28, "b": 28}
    assert by_arm(read_records(run_dir)) == reference


def test_a_batch_without_a_common_step_trains_apart_with_every_step_once(tmp_path, pair_reference):
    """a has a checkpoint at 4, b none: no common step. a goes on from 4 and b from 0, apart (one
    arm alone differs from the batch by float rounding only): every step label once, in order."""
    run_dir = prepare_run(sc(PAIR), out=tmp_path / "run")
    with pytest.raises(Crash):
        run_scenario(sc(PAIR), run_dir, on_records=crash_at("b", 5))
    assert ck.list_steps(run_dir, "b") == []
    res = resume_to_end(run_dir)
    assert res.resumed_from == {"a": 4, "b": 0}
    got = by_arm(read_records(run_dir))
    for arm in ("a", "b"):
        steps = [r for r in got[arm] if r["type"] == "step"]
        ref = [r for r in pair_reference[arm] if r["type"] == "step"]
        assert [r["step"] for r in steps] == list(range(40))
        for r, q in zip(steps, ref):
            assert r["loss"] == pytest.approx(q["loss"], rel=1e-9, abs=1e-12), (arm, r["step"])
        ends = [r for r in got[arm] if r["type"] == "end"]
        assert len(ends) == 1 and ends[0]["steps_done"] == 40 and ends[0]["status"] == "completed"


def test_a_batch_refuses_arms_at_different_steps():
    from eos_tui.engine.arm import Arm
    from eos_tui.engine.batched import ArmBatch, plan

    arms = [Arm(spec, torch.device("cpu")) for spec in sc(PAIR).arms]
    arms[1].t = 3
    assert [[a.name for a in g] for g in plan(arms)] == [["a"], ["b"]]
    with pytest.raises(ValueError, match="same step"):
        ArmBatch(arms)


# ---- bit for bit, every optimizer --------------------------------------------------------------


@pytest.mark.parametrize("how, arm, step", [("stop", "gd", 13), ("crash", "adam", 17), ("stop", "tracked", 22), ("crash", "sgd", 31)])
def test_every_optimizer_resumes_bit_for_bit(tmp_path, every_reference, how, arm, step):
    """gd alone, momentum and plain GD batched, Nesterov, Adam, RMSprop, SGD, a tracked arm; each
    with its own checkpoint and sharpness cadences; stopped (a checkpoint of every arm where it
    stands) or killed (the periodic ones only). A one-arm GD run resumed between two solves used
    to differ in the last bits of proj and disp: its eigenvector came back at an unaligned address."""
    run_dir = prepare_run(sc(EVERY), out=tmp_path / "run")
    if how == "stop":
        stop, on_records = stop_at(arm, step)
        assert run_scenario(sc(EVERY), run_dir, on_records=on_records, stop=stop)[0] == "interrupted"
    else:
        with pytest.raises(Crash):
            run_scenario(sc(EVERY), run_dir, on_records=crash_at(arm, step))
    res = resume_to_end(run_dir)
    assert res.resumed_from["momentum"] == res.resumed_from["plain"]  # one batch, one step
    got = by_arm(read_records(run_dir))
    for name, records in every_reference.items():
        assert got[name] == records, name


def test_every_tensor_a_checkpoint_loads_is_64_byte_aligned(tmp_path):
    """safetensors' load_file hands out tensors at the byte offsets of its file (data_ptr() % 64 == 12,
    say); the CPU kernels sum in another order there (g @ u != g @ u.clone())."""
    from eos_tui.engine.arm import Arm

    for spec in sc(EVERY).arms:
        arm = Arm(spec, torch.device("cpu"))
        arm.vectors = torch.randn(1, arm.theta.numel(), dtype=arm.dtype)
        arm.raw_vector = torch.randn(1, 3 + arm.theta.numel() - 3, dtype=arm.dtype)
        tensors, meta = ck.arm_state(arm, arm.rule.init(arm.theta), 0)
        tensors["theta"] = torch.randn(arm.theta.numel() - 0, dtype=arm.dtype)
        path = ck.save(tmp_path / f"{spec.name}.safetensors", tensors, meta)
        loaded, _ = ck.load(path)
        assert set(loaded) == set(tensors)
        for key, t in loaded.items():
            assert t.data_ptr() % 64 == 0, (spec.name, key, t.data_ptr() % 64)
            assert torch.equal(t, tensors[key].cpu()), (spec.name, key)


# ---- one process writes a run at a time -----------------------------------------------------------


@pytest.fixture
def stopped(tmp_path):
    run_dir = prepare_run(sc(PAIR), out=tmp_path / "run")
    stop, on_records = stop_at("a", 9)
    assert run_scenario(sc(PAIR), run_dir, on_records=on_records, stop=stop)[0] == "interrupted"
    return run_dir


def contents(run_dir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in sorted(run_dir.rglob("*")) if p.is_file()}


def test_a_resume_is_refused_while_another_process_holds_the_run(stopped):
    """The manifest says "interrupted" (as both of two resumes started at once read it): the lock,
    not the pid in the manifest, refuses the second one, before it writes anything."""
    before = contents(stopped)
    held = subprocess.Popen(
        [sys.executable, "-c", "import sys; from eos_tui.rundir.lock import SessionLock\n"
         "lock = SessionLock(sys.argv[1]).acquire(); print('held', flush=True); sys.stdin.read()", str(stopped)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert held.stdout.readline().strip() == "held"
        with pytest.raises(ResumeError, match="another eos-tui process is writing this run"):
            prepare(stopped)
        with pytest.raises(RunBusy):
            run_scenario(sc(PAIR), stopped)
        assert contents(stopped) == before
    finally:
        held.stdin.close()
        held.wait(timeout=60)
    resume_to_end(stopped)  # the holder gone (its lock with it), the run resumes


def test_two_resumes_started_at_once_one_runs_and_no_record_is_written_twice(tmp_path):
    """Before: both read "interrupted", both trained and appended (1,201 step records per arm for
    1,000 steps, two end records per arm). Now one runs; the other is refused in one line (or, if
    it starts after the first finished, finds the run completed)."""
    text = PAIR.replace("steps = 40", "steps = 400")
    run_dir = prepare_run(sc(text), out=tmp_path / "run")
    stop, on_records = stop_at("a", 5)
    assert run_scenario(sc(text), run_dir, on_records=on_records, stop=stop)[0] == "interrupted"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-c", "from eos_tui.cli import main; main()", "resume", str(run_dir), "--json"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    refused = next(err for code, err in results if code == 2)
    assert len(refused.strip().splitlines()) == 1
    assert "another eos-tui process is writing this run" in refused or "the run completed" in refused
    got = by_arm(read_records(run_dir))
    for arm in ("a", "b"):
        assert [r["step"] for r in got[arm] if r["type"] == "step"] == list(range(400))
        assert [r["status"] for r in got[arm] if r["type"] == "end"] == ["completed"]


def test_a_live_engine_holds_the_lock(tmp_path):
    """The engine a first `run` starts holds the lock for its whole session: a resume is refused by
    it even where the manifest no longer says "running" (the pid check cannot see that engine)."""
    from eos_tui.engine.launch import start_engine, stop_engine

    text = PAIR.replace("steps = 40", "steps = 100000")
    run_dir = prepare_run(sc(text), out=tmp_path / "run")
    engine = start_engine(run_dir)
    try:
        deadline = time.monotonic() + 120
        while not any(r["type"] == "step" for r in read_records(run_dir)):
            assert engine.poll() is None and time.monotonic() < deadline, (run_dir / rf.ENGINE_LOG).read_text()
            time.sleep(0.05)
        manifest = rf.json.loads((run_dir / rf.MANIFEST_FILE).read_text())
        manifest["status"] = "interrupted"
        rf.write_json_atomic(run_dir / rf.MANIFEST_FILE, manifest)
        with pytest.raises(ResumeError, match="another eos-tui process is writing this run"):
            prepare(run_dir)
    finally:
        stop_engine(engine, timeout=60)
    with SessionLock(run_dir):  # given back when the engine ended
        pass


# ---- a scenario edited since the run started ---------------------------------------------------------


@pytest.mark.parametrize("steps", [5, 100])
def test_a_scenario_whose_steps_were_edited_is_refused_in_one_line(stopped, steps):
    """Before: `steps` set to 100 under a run with 310 steps resumed and said "completed at 310/100"."""
    from typer.testing import CliRunner

    from eos_tui.cli import app

    toml = stopped / rf.SCENARIO_FILE
    toml.write_text(toml.read_text().replace("steps = 40", f"steps = {steps}"))
    before = contents(stopped)
    r = CliRunner().invoke(app, ["resume", str(stopped)])
    assert r.exit_code == 2, r.output
    assert len(r.stderr.strip().splitlines()) == 1 and f"steps = {steps}" in r.stderr and "steps = 40" in r.stderr
    assert "Traceback" not in r.output
    assert contents(stopped) == before


def test_records_of_an_arm_the_scenario_no_longer_has_are_not_dropped(stopped):
    toml = stopped / rf.SCENARIO_FILE
    text = toml.read_text()
    toml.write_text(text[: text.index('name = "b"')].rsplit("[[arm]]", 1)[0])
    before = contents(stopped)
    with pytest.raises(ResumeError, match="arm 'b'"):
        prepare(stopped)
    assert contents(stopped) == before


# ---- permissions -------------------------------------------------------------------------------------


def test_checkpoints_and_the_rewritten_metrics_honour_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        run_dir = prepare_run(sc(PAIR), out=tmp_path / "run")
        stop, on_records = stop_at("a", 9)
        run_scenario(sc(PAIR), run_dir, on_records=on_records, stop=stop)
        resume_to_end(run_dir)
    finally:
        os.umask(old)
    files = [p for p in (run_dir / rf.CHECKPOINT_DIR).rglob("*") if p.is_file()]
    assert len(files) > 4
    for p in [*files, run_dir / rf.METRICS_FILE, run_dir / ".lock"]:
        assert p.stat().st_mode & 0o777 == 0o644, p


def test_a_scenario_edited_where_it_decides_the_trajectory_is_refused(stopped):
    """The checkpoints record what decides θ_t (seed, data, model, optimizer, schedule, …): a resume
    under another η would append records of another run under this one's."""
    toml = stopped / rf.SCENARIO_FILE
    text = toml.read_text()
    assert "lr = 0.4\n" in text
    toml.write_text(text.replace("lr = 0.4\n", "lr = 0.45\n", 1))
    before = contents(stopped)
    with pytest.raises(ResumeError, match=r"arm 'a': optimizer.lr is 0.45, was 0.4"):
        prepare(stopped)
    assert contents(stopped) == before
    toml.write_text(text.replace('[arm.engine]\nbatch_arms = "auto"', '[arm.engine]\nbatch_arms = "off"', 1))
    resume_to_end(stopped)  # what only changes how it is computed goes


def test_an_engine_started_on_a_run_another_process_writes_exits_2_writing_nothing(stopped, capsys):
    from eos_tui.engine.runner import main

    before = contents(stopped)
    with SessionLock(stopped):
        assert main([str(stopped)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "another eos-tui process is writing this run" in err
    assert contents(stopped) == before
