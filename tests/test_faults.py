"""Faults leave a true manifest: shared run directories, lost engines, stops during long solves, full
disks, unwritable terminals, and what `runs` reads to say how far a run got."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from eos_tui.rundir import format as rf
from eos_tui.rundir import reader
from eos_tui.rundir.reader import effective_status, list_runs, read_manifest, run_info

ROOT = Path(__file__).resolve().parent.parent

SMALL = """
name = "small"
seed = 0
steps = 40
loss = "mse"
[data]
kind = "random-labels"
n = 32
dim = 4
classes = 2
[model]
kind = "mlp"
hidden = [8]
activation = "tanh"
[optimizer]
lr = 0.1
[measure]
sharpness_every = 5
[[arm]]
name = "a"
[[arm]]
name = "b"
optimizer.lr = 0.2
"""


def small(**kwargs):
    from eos_tui.scenario import load_scenario_text

    return load_scenario_text(textwrap.dedent(SMALL), source="<test>", **kwargs)


def env() -> dict[str, str]:
    return dict(os.environ, COLUMNS="120", OMP_NUM_THREADS="1")


# ---- 6. the final manifest comes after the last metrics ---------------------------------------
def test_final_manifest_is_written_after_the_metrics_are_flushed(tmp_path, monkeypatch):
    from eos_tui.engine.runner import run_scenario

    seen = []
    original = rf.write_json_atomic

    def spy(path, data):
        if path.name == rf.MANIFEST_FILE and data.get("status") != rf.RUNNING:  # the final manifest: every end record must be on disk
            lines = (tmp_path / rf.METRICS_FILE).read_text().splitlines()
            seen.append(sum(json.loads(line)["type"] == "end" for line in lines))
        original(path, data)

    monkeypatch.setattr(rf, "write_json_atomic", spy)
    status, _ = run_scenario(small(), tmp_path)
    assert status == "completed"
    assert seen == [2]


# ---- 9. manifest.json honours the umask --------------------------------------------------------
def test_manifest_mode_is_that_of_the_other_files(tmp_path):
    old = os.umask(0o022)
    try:
        rf.write_json_atomic(tmp_path / rf.MANIFEST_FILE, {"a": 1})
        (tmp_path / "other").write_text("x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / rf.MANIFEST_FILE).stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "other").stat().st_mode) == 0o644


# ---- 1. two runs never share a run directory ------------------------------------------------------
RACE = """
import sys, time
from pathlib import Path
from eos_tui.rundir.prepare import prepare_run
from eos_tui.scenario import load_scenario_text
sc = load_scenario_text(sys.argv[1], source="<test>")
out = None if sys.argv[3] == "-" else sys.argv[3]
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
# Widen the window between looking at a directory and making it, as a busy machine would.
import pathlib
mkdir = pathlib.Path.mkdir
pathlib.Path.mkdir = lambda self, *a, **k: (time.sleep(0.3), mkdir(self, *a, **k))[1]
try:
    print(prepare_run(sc, out=out, root=sys.argv[4]))
except FileExistsError as e:
    print("refused", e)
"""


def _race(tmp_path, n, out):
    """n processes call prepare_run at the same instant; their answers."""
    start = time.time() + 3.0  # after every interpreter has started and imported
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACE, textwrap.dedent(SMALL), str(start), out, str(tmp_path / "runs")],
            env=env(),
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(n)
    ]
    return [p.communicate(timeout=60)[0].strip() for p in procs]


def test_concurrent_runs_never_share_a_run_directory(tmp_path):
    # The default directory: every run gets its own.
    made = _race(tmp_path, 5, "-")
    assert len(set(made)) == 5 and not any(m.startswith("refused") for m in made), made
    # One --out, made by the first run or there (empty) already: exactly one run claims it.
    for i, pre_made in enumerate([False, True]):
        out = tmp_path / f"shared-{i}"
        if pre_made:
            out.mkdir()
        answers = _race(tmp_path, 5, str(out))
        assert sum(not a.startswith("refused") for a in answers) == 1, answers
        # the winner's files are intact: the losers removed nothing of it
        assert sorted(p.name for p in out.iterdir()) == [rf.MANIFEST_FILE, rf.METRICS_FILE, rf.SCENARIO_FILE]


# ---- 2. and 3. the manifest names the engine process ------------------------------------------------
@pytest.fixture
def sleeper(tmp_path) -> str:
    """A `python` for start_engine that just sleeps (same pid through exec)."""
    script = tmp_path / "fake-python"
    script.write_text("#!/bin/sh\nexec sleep 30\n")
    script.chmod(0o755)
    return str(script)


def test_start_engine_records_the_engine_pid_and_start_time(tmp_path, sleeper):
    from eos_tui.engine.launch import start_engine, stop_engine
    from eos_tui.rundir.prepare import prepare_run

    run = prepare_run(small(), out=tmp_path / "run")
    assert read_manifest(run)["pid"] == os.getpid()  # the launcher's, until the engine runs
    proc = start_engine(run, python=sleeper)
    try:
        m = read_manifest(run)
        assert m["pid"] == proc.pid
        if sys.platform.startswith("linux"):
            assert m["pid_start"] == rf.process_start_time(proc.pid) is not None
        assert effective_status(m) == "running"
    finally:
        stop_engine(proc, timeout=2)
    assert effective_status(read_manifest(run)) == "engine lost"  # killed without a word: the truth


def test_start_engine_leaves_a_manifest_the_engine_wrote_alone(tmp_path, sleeper):
    from eos_tui.engine import launch

    run = tmp_path / "run"
    run.mkdir()
    m = rf.new_manifest(scenario="s", seed=0, device="cpu", arms=["a"], versions={}, pid=os.getpid())
    m["status"] = rf.COMPLETED  # the engine finished before the launcher got to the manifest
    rf.write_json_atomic(run / rf.MANIFEST_FILE, m)
    launch._record_engine_pid(run, 12345)
    assert read_manifest(run)["pid"] == os.getpid()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process start times from /proc")
def test_a_reused_pid_is_not_the_engine(tmp_path):
    m = rf.new_manifest(scenario="s", seed=0, device="cpu", arms=["a"], versions={}, pid=os.getpid())
    assert m["pid_start"] == rf.process_start_time(os.getpid())
    assert effective_status(m) == "running"
    m["pid_start"] += 1  # same pid, another process
    assert effective_status(m) == "engine lost"
    run = tmp_path / "r"
    run.mkdir()
    rf.write_json_atomic(run / rf.MANIFEST_FILE, m)
    assert [r.status for r in list_runs(tmp_path)] == ["engine lost"]


def test_kill_9_of_the_engine_reads_engine_lost(tmp_path):
    proc = subprocess.Popen(["sleep", "30"])
    m = rf.new_manifest(scenario="s", seed=0, device="cpu", arms=["a"], versions={}, pid=proc.pid)
    assert effective_status(m) == "running"
    proc.kill()
    proc.wait()
    assert effective_status(m) == "engine lost"


def test_mark_run_ended_writes_down_a_lost_engine_once(tmp_path, sleeper):
    from eos_tui.engine.launch import start_engine
    from eos_tui.rundir.prepare import prepare_run

    run = prepare_run(small(), out=tmp_path / "run")
    proc = start_engine(run, python=sleeper)
    proc.kill()
    proc.wait()
    assert effective_status(read_manifest(run)) == "engine lost"
    assert rf.mark_run_ended(run, rf.FAILED, "the engine was killed (SIGKILL)")
    m = read_manifest(run)
    assert (m["status"], m["error"]) == ("failed", "the engine was killed (SIGKILL)") and m["ended"]
    assert {a["status"] for a in m["arms"].values()} == {"failed"}
    assert not rf.mark_run_ended(run, rf.INTERRUPTED)  # ended already: left alone
    assert read_manifest(run)["status"] == "failed"


# ---- 4. a stop request interrupts a long solve -----------------------------------------------------
def test_stop_request_interrupts_a_long_lanczos_solve():
    import torch

    from eos_tui.engine import interrupt
    from eos_tui.engine.curvature.lanczos import top_eigenpairs
    from eos_tui.engine.runner import StopRequest

    n = 4000
    d = torch.linspace(1.0, 2.0, n, dtype=torch.float64)

    def slow_hvp(v):
        time.sleep(0.01)
        return d * v

    stop = StopRequest()
    stop.install()
    try:
        timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
        timer.start()
        t0 = time.monotonic()
        with pytest.raises(interrupt.Interrupted):
            top_eigenpairs(slow_hvp, n, 1, tol=1e-15, max_iter=n, dtype=torch.float64)
        assert time.monotonic() - t0 < 1.5  # not the ~40 s the full solve would take
    finally:
        stop.restore()
        interrupt.clear()


SLOW_RUN = """
import sys, time, torch
import eos_tui.engine.curvature.hessian as hessian_mod
from eos_tui.engine.runner import run_scenario
from eos_tui.scenario import load_scenario_text
inner = hessian_mod.make_hvp
def make_hvp(loss, theta, parts=None):
    h = inner(loss, theta, parts=parts)
    def slow(v):
        print("solving", flush=True)
        time.sleep(0.02)
        return h(v)
    return slow
hessian_mod.make_hvp = make_hvp  # the Hessian operator's products (engine/curvature/hessian.py)
sc = load_scenario_text(sys.argv[2], source="<test>")
status, manifest = run_scenario(sc, sys.argv[1])
print("status", status, flush=True)
"""


def test_sigint_during_a_long_solve_ends_the_run_interrupted_within_a_second(tmp_path):
    text = SMALL.replace("[measure]\nsharpness_every = 5", "[measure]\nsharpness_every = 1\ntolerance = 1e-15\nmax_iter = 100000")
    text = text.replace("hidden = [8]", "hidden = [64, 64]")  # ~4.5k parameters: a ~90 s solve
    text = text.split("[[arm]]")[0]  # one arm: trained alone, through Arm.eigenpairs
    run = tmp_path / "run"
    run.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_RUN, str(run), text], env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        for _ in range(3):  # well inside the first solve (the first HVP also pays for warm-up)
            assert proc.stdout.readline().strip() == "solving"
        proc.send_signal(signal.SIGINT)
        t0 = time.monotonic()
        line = proc.stdout.readline()
        while line.strip() == "solving":
            line = proc.stdout.readline()
        elapsed = time.monotonic() - t0
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert line.strip() == "status interrupted", err
    # ~0.1 s idle (one HVP, then the final writes); the solve: ~90 s. The bound tells the two apart
    # with room for a loaded machine.
    assert elapsed < 30.0, elapsed
    m = read_manifest(run)
    assert m["status"] == "interrupted"
    assert {a["status"] for a in m["arms"].values()} == {"interrupted"}
    assert [a["steps_done"] for a in m["arms"].values()] == [0]


# ---- 7. double Ctrl-C in headless mode ---------------------------------------------------------------
def test_double_ctrl_c_headless_exits_130_with_the_summary(tmp_path):
    (tmp_path / "long.toml").write_text(textwrap.dedent(SMALL).replace("steps = 40", "steps = 1000000"))
    for _ in range(2):
        proc = subprocess.Popen(
            [sys.executable, "-m", "eos_tui.cli", "run", "long.toml", "--headless", "--json"],
            cwd=tmp_path,
            env=env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 60
            while not list(tmp_path.glob("runs/*/metrics.jsonl")) or not any(
                p.stat().st_size > 2000 for p in tmp_path.glob("runs/*/metrics.jsonl")
            ):
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.05)
            for _ in range(3):
                proc.send_signal(signal.SIGINT)
                time.sleep(0.002)
            out, err = proc.communicate(timeout=60)
        finally:
            proc.kill()
        assert proc.returncode == 130, (proc.returncode, err)
        assert "Traceback" not in err and "KeyboardInterrupt" not in err
        summary = json.loads(out)
        assert {a["status"] for a in summary["arms"]} == {"interrupted"}
        for p in tmp_path.glob("runs/*"):
            assert read_manifest(p)["status"] == "interrupted"
            shutil.rmtree(p)


# ---- 8. progress or results that cannot be written ---------------------------------------------------
@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_stderr_full_does_not_fail_the_run(tmp_path):
    with open("/dev/full", "w") as full:
        r = subprocess.run(
            [sys.executable, "-m", "eos_tui.cli", "run", "quadratic", "--headless", "--json", "--steps", "30"],
            cwd=tmp_path,
            env=env(),
            stdout=subprocess.PIPE,
            stderr=full,
            text=True,
            timeout=120,
        )
    assert r.returncode == 0
    assert {a["status"] for a in json.loads(r.stdout)["arms"]} == {"completed"}


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("as_json", [True, False])
def test_stdout_full_is_one_line_and_exit_1(tmp_path, as_json):
    with open("/dev/full", "w") as full:
        r = subprocess.run(
            [sys.executable, "-m", "eos_tui.cli", "run", "quadratic", "--headless", "--steps", "30", *(["--json"] if as_json else [])],
            cwd=tmp_path,
            env=env(),
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert r.returncode == 1
    assert "Traceback" not in r.stderr and "Exception ignored" not in r.stderr
    assert "cannot write the summary to stdout" in r.stderr
    (run,) = tmp_path.glob("runs/*")
    assert read_manifest(run)["status"] == "completed"  # the run itself is fine


# ---- 5. disk full, file-size limit ------------------------------------------------------------------
class _FullFile:
    """A metrics file on a disk that fills up after `room` bytes."""

    def __init__(self, fh, room):
        self.fh, self.room = fh, room

    def write(self, text):
        self.room -= len(text)
        if self.room < 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return self.fh.write(text)

    def flush(self):
        if self.room < 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.fh.flush()

    def close(self):
        self.fh.close()

    @property
    def closed(self):
        return self.fh.closed


@pytest.mark.parametrize("room", [0, 3000, 14900])  # the whole run writes ~15 kB
def test_disk_full_ends_the_run_failed_once_with_the_reason(tmp_path, monkeypatch, capfd, room):
    from eos_tui.engine.runner import run_scenario

    init = rf.MetricsWriter.__init__

    def full_init(self, *a, **kw):
        init(self, *a, **kw)
        self._fh = _FullFile(self._fh, room)

    monkeypatch.setattr(rf.MetricsWriter, "__init__", full_init)
    with pytest.raises(OSError) as e:
        run_scenario(small(), tmp_path)
    assert e.value.errno == errno.ENOSPC
    m = read_manifest(tmp_path)
    assert m["status"] == "failed"
    assert "No space left on device" in m["error"] and "metrics.jsonl" in m["error"]
    statuses = {name: a["status"] for name, a in m["arms"].items()}
    assert "running" not in statuses.values(), statuses
    assert all(a["summary"]["status"] == a["status"] for a in m["arms"].values())
    captured = capfd.readouterr()
    assert "Traceback" not in captured.err and "Exception in thread" not in captured.err


def _fill_the_disk(tmp_path, monkeypatch, *, reserve_has_room: bool) -> None:
    """Metrics that fill the disk after 3000 characters; from then on a manifest write fails for
    want of room, except (`reserve_has_room`) once the engine gave back its reserve."""
    full = {"on": False}
    init = rf.MetricsWriter.__init__

    class Filling(_FullFile):
        def write(self, text):
            try:
                return super().write(text)
            except OSError:
                full["on"] = True
                raise

    def full_init(self, *a, **kw):
        init(self, *a, **kw)
        self._fh = Filling(self._fh, 3000)

    original = rf.write_json_atomic

    def manifest_write(path, data):
        if full["on"] and (not reserve_has_room or (tmp_path / rf.RESERVE_FILE).exists()):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        original(path, data)

    monkeypatch.setattr(rf.MetricsWriter, "__init__", full_init)
    monkeypatch.setattr(rf, "write_json_atomic", manifest_write)


def test_on_a_full_disk_the_final_manifest_uses_the_reserved_space(tmp_path, monkeypatch):
    from eos_tui.engine.runner import run_scenario

    _fill_the_disk(tmp_path, monkeypatch, reserve_has_room=True)
    with pytest.raises(OSError):
        run_scenario(small(), tmp_path)
    m = read_manifest(tmp_path)
    assert m["status"] == "failed" and "No space left" in m["error"]
    assert not (tmp_path / rf.RESERVE_FILE).exists()


def test_a_finished_run_leaves_no_reserve(tmp_path):
    from eos_tui.engine.runner import run_scenario
    from eos_tui.rundir.lock import LOCK_FILE

    run_scenario(small(steps=3), tmp_path)
    # the session lock's file stays (unlinking a lock file races with the next taker; rundir/lock.py)
    expected = [LOCK_FILE, rf.CHECKPOINT_DIR, rf.MANIFEST_FILE, rf.METRICS_FILE, rf.STATUS_FILE]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(expected)


def test_a_write_failure_in_the_flusher_thread_is_quiet_and_reported(tmp_path, capfd):
    w = rf.MetricsWriter(tmp_path, flush_interval=0.01)
    with w._lock:
        w._fh = _FullFile(w._fh, -1)
        w._dirty = True
    deadline = time.monotonic() + 60
    while w.error is None and time.monotonic() < deadline:  # until the flusher thread meets the error
        time.sleep(0.01)
    assert isinstance(w.error, OSError)
    with pytest.raises(OSError):
        w.write_many([{"type": "step", "arm": "a", "step": 0}])
    w.close()
    assert "Exception in thread" not in capfd.readouterr().err


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_FSIZE semantics")
def test_file_size_limit_headless(tmp_path):
    import resource

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (60_000, 60_000))

    (tmp_path / "long.toml").write_text(textwrap.dedent(SMALL).replace("steps = 40", "steps = 3000"))
    r = subprocess.run(
        [sys.executable, "-m", "eos_tui.cli", "run", "long.toml", "--headless", "--json", "--out", "run"],
        cwd=tmp_path,
        env=env(),
        capture_output=True,
        text=True,
        timeout=180,
        preexec_fn=limit,
    )
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr and "Exception in thread" not in r.stderr
    assert "File too large" in r.stderr
    m = read_manifest(tmp_path / "run")
    assert m["status"] == "failed" and "File too large" in m["error"]
    assert "running" not in {a["status"] for a in m["arms"].values()}


# ---- 10. `runs` reads a bounded tail, and shows true step counts ------------------------------------
def test_runs_reads_only_the_tail_and_shows_true_steps(tmp_path, monkeypatch):
    run = tmp_path / "lost"
    run.mkdir()
    m = rf.new_manifest(scenario="s", seed=0, device="cpu", arms=["a", "b"], versions={}, pid=2**30, total_steps=100000)
    m["arms"]["a"]["steps_done"] = 5  # stale: written long before the engine died
    rf.write_json_atomic(run / rf.MANIFEST_FILE, m)
    line = '{"type":"step","arm":"%s","step":%d,"loss":0.5,"lr":0.1,"grad_norm":1.0,"proj":0.1,"disp":0.01}\n'
    with open(run / rf.METRICS_FILE, "w") as fh:
        for i in range(60000):  # ~5 MB
            fh.write(line % ("a" if i % 2 else "b", i // 2))
        fh.write('{"type":"end","arm":"b","status":"diverged","steps_done":29999,"final_loss":null}\n')
        fh.write('{"type":"step","arm":"a","st')  # torn last line
    parsed = []
    original = reader.parse_line
    monkeypatch.setattr(reader, "parse_line", lambda line: parsed.append(1) or original(line))
    info = run_info(run)
    assert info.status == "engine lost"
    assert info.steps_done == 30000  # arm a's last step 29999, not the manifest's 5
    assert len(parsed) < 5000  # the last 256 KiB, not 60000 lines


# ---- 13. the engine's summaries in bounded space, equal to the full-list ones -------------------------
def _old_summarize_arm(name, records):
    """summarize_arm as it was (kept every record): the reference for the incremental one."""
    import math

    from eos_tui.rundir.format import step_threshold

    def _finite(x):
        return float(x) if isinstance(x, (int, float)) and math.isfinite(x) else None

    steps, sharp, events, end = [], [], [], None
    for r in records:
        if r.get("arm") != name:
            continue
        kind = r.get("type")
        if kind == "step":
            steps.append(r)
        elif kind == "sharpness":
            sharp.append(r)
        elif kind == "event":
            events.append(r)
        elif kind == "end":
            end = r
    losses = [_finite(s.get("loss")) for s in steps]
    finite_losses = [x for x in losses if x is not None]
    threshold_at = {s["step"]: step_threshold(s) for s in steps}
    onset = next((e["step"] for e in events if e.get("kind") == "eos_onset"), None)
    catapult = next((e.get("data") for e in events if e.get("kind") == "catapult"), None)
    total = (end or {}).get("steps_done") or (steps[-1]["step"] + 1 if steps else 0)
    ratios = []
    for r in sharp:
        eig = r.get("eigenvalues") or []
        thr = threshold_at.get(r.get("step"))
        if r.get("step", 0) >= total / 2 and eig and _finite(eig[0]) is not None and thr:
            ratios.append(eig[0] / thr)
    from eos_tui.analysis.flips import tail_flip_fraction  # the one definition of the flip fraction

    disps = [abs(s["disp"]) for s in steps if _finite(s.get("disp")) is not None]
    disp_tail = disps[len(disps) // 2 :]
    flip_fraction = tail_flip_fraction(s.get("proj") for s in steps)
    final_sharpness = None
    for r in reversed(sharp):
        eig = r.get("eigenvalues") or []
        if eig and _finite(eig[0]) is not None:
            final_sharpness = float(eig[0])
            break
    return {
        "name": name,
        "status": (end or {}).get("status", "running"),
        "steps_done": (end or {}).get("steps_done", len(steps)),
        "initial_loss": finite_losses[0] if finite_losses else None,
        "final_loss": _finite((end or {}).get("final_loss")) if end else (losses[-1] if losses else None),
        "max_loss": max(finite_losses + [v for v in [_finite((end or {}).get("final_loss"))] if v is not None], default=None),
        "final_sharpness": final_sharpness,
        "eos_onset_step": onset,
        "eos_ratio": sum(ratios) / len(ratios) if ratios else None,
        "flip_fraction": flip_fraction,
        "oscillation": {"flip_fraction": flip_fraction, "amplitude": sum(disp_tail) / len(disp_tail) if disp_tail else None},
        "catapult": catapult,
        "catapults": sum(1 for e in events if e.get("kind") == "catapult"),
        "events": [{"kind": e.get("kind"), "step": e.get("step"), "message": e.get("message")} for e in events],
    }


@pytest.mark.parametrize("builtin, steps", [("eos", 400), ("catapult", 200), ("warmup", 300)])
def test_incremental_summaries_equal_the_full_list_ones_on_a_real_run(tmp_path, builtin, steps):
    from eos_tui.engine.runner import run_scenario
    from eos_tui.scenario import load_scenario

    sc = load_scenario(builtin, steps=steps)
    records: list = []
    status, manifest = run_scenario(sc, tmp_path, on_records=lambda recs, arms: records.extend(recs))
    for arm in sc.arms:
        assert manifest["arms"][arm.name]["summary"] == _old_summarize_arm(arm.name, records), arm.name
    assert_contract(records, manifest)


RECORD_TYPES = {
    "step": rf.StepRecord,
    "sharpness": rf.SharpnessRecord,
    "reparam": rf.ReparamRecord,
    "event": rf.EventRecord,
    "end": rf.EndRecord,
}


def assert_contract(records, manifest):
    """Every record and the manifest carry exactly the fields their TypedDicts in format.py declare."""
    for r in records:
        td = RECORD_TYPES[r["type"]]
        assert td.__required_keys__ <= r.keys() <= td.__required_keys__ | td.__optional_keys__, r
    td = rf.Manifest
    assert td.__required_keys__ <= manifest.keys() <= td.__required_keys__ | td.__optional_keys__
    for entry in manifest["arms"].values():
        assert entry.keys() <= rf.ArmEntry.__optional_keys__


def test_records_and_manifest_match_their_typed_dicts(tmp_path):
    from eos_tui.engine.runner import run_scenario

    text = (
        textwrap.dedent(SMALL)
        .replace("sharpness_every = 5", "sharpness_every = 5\nreparam_every = 10\ntrack_every_step = true")
        .replace('"tanh"', '"relu"')
    )
    text += "optimizer.momentum = 0.5\n"
    records: list = []
    from eos_tui.scenario import load_scenario_text

    status, manifest = run_scenario(
        load_scenario_text(text, source="<test>", steps=20), tmp_path, on_records=lambda recs, arms: records.extend(recs)
    )
    assert {r["type"] for r in records} >= {"step", "sharpness", "reparam", "end"}  # events: the test below
    assert any("threshold" in r for r in records) and any("sharpness_tracked" in r for r in records)
    assert_contract(records, manifest)
    assert_contract(reader.read_records(tmp_path), read_manifest(tmp_path))


def test_summarizer_memory_is_bounded_per_step():
    import tracemalloc

    from eos_tui.analysis.summary import ArmSummarizer

    s = ArmSummarizer("a")
    tracemalloc.start()
    for t in range(60_000):
        s.add(
            {
                "type": "step",
                "arm": "a",
                "step": t,
                "loss": 1.0 / (t + 1),
                "lr": 0.1,
                "grad_norm": 1.0,
                "proj": (-1) ** t * 0.5,
                "disp": 0.01 * (-1) ** t,
                "extra": "x" * 50,
            }
        )
        if t % 10 == 0:
            s.add({"type": "sharpness", "arm": "a", "step": t, "eigenvalues": [19.0, 3.0], "hvps": 4, "residual": 1e-4})
    current, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert current < 1_500_000  # ≈ 0.5 MB of arrays; the records as dicts would be ~60 MB
    r = s.result()
    assert r["flip_fraction"] == 1.0 and r["steps_done"] == 60_000
    assert r["eos_ratio"] == pytest.approx(19.0 / 20.0)


def test_half_tail_matches_slicing():
    import random

    from eos_tui.analysis.summary import _HalfTail

    rng = random.Random(0)
    for n in (0, 1, 2, 3, 2047, 2048, 2049, 5000, 12345):
        values = [rng.random() for _ in range(n)]
        h = _HalfTail()
        for v in values:
            h.append(v)
        assert h.tail() == values[n // 2 :]


def test_with_no_room_even_for_the_reserve_the_manifest_is_overwritten_in_place(tmp_path, monkeypatch):
    """Review regression: on a 64 KiB tmpfs the engine could write no manifest at all (not even
    with the reserve given back) and left one saying "running" while the CLI pointed at it."""
    from eos_tui.engine.runner import run_scenario

    _fill_the_disk(tmp_path, monkeypatch, reserve_has_room=False)
    with pytest.raises(OSError):
        run_scenario(small(), tmp_path)
    m = read_manifest(tmp_path)
    assert m["status"] == "failed" and "No space left" in m["error"]
    assert "running" not in {a["status"] for a in m["arms"].values()}
