"""The command line as a user meets it: exit codes, clear errors, nothing half-written."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from eos_tui.rundir import read_manifest, read_records

ROOT = Path(__file__).resolve().parent.parent


def eos(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, COLUMNS="120", OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "eos_tui.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


def test_headless_json_summary(tmp_path):
    r = eos("run", "quadratic", "--headless", "--json", "--steps", "120", "--out", "q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["scenario"] == "quadratic"
    assert Path(summary["run_dir"]) == Path("q")
    arms = {a["name"]: a for a in summary["arms"]}
    assert set(arms) == {"eta-0.19", "eta-0.21"}
    for a in arms.values():
        assert {
            "name",
            "status",
            "steps_done",
            "initial_loss",
            "final_loss",
            "max_loss",
            "final_sharpness",
            "eos_onset_step",
            "events",
        } <= set(a)
        assert a["final_sharpness"] == pytest.approx(10.0, rel=1e-8)
    assert arms["eta-0.19"]["status"] == "completed"
    assert arms["eta-0.19"]["final_loss"] < arms["eta-0.19"]["initial_loss"]
    # η = 0.21: 2/η = 9.52 < λ = 10 from the first measurement on: unstable from the start, which
    # is not an EoS onset (nothing sharpened up to the threshold); η = 0.19 stays below it.
    assert arms["eta-0.21"]["eos_onset_step"] is None and arms["eta-0.19"]["eos_onset_step"] is None
    assert [(e["kind"], e["step"]) for e in arms["eta-0.21"]["events"] if e["kind"] in ("unstable_start", "eos_onset")] == [
        ("unstable_start", 0)
    ]
    assert not any(e["kind"] == "unstable_start" for e in arms["eta-0.19"]["events"])
    run_dir = tmp_path / "q"
    manifest = read_manifest(run_dir)
    assert manifest["status"] == "completed"
    assert (run_dir / "scenario.toml").is_file()
    kinds = {rec["type"] for rec in read_records(run_dir)}
    assert {"step", "sharpness", "end"} <= kinds


def test_diverged_arm_is_a_result_exit_zero(tmp_path):
    r = eos("run", "quadratic", "--headless", "--json", "--out", "q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    arms = {a["name"]: a for a in json.loads(r.stdout)["arms"]}
    assert arms["eta-0.21"]["status"] == "diverged"
    assert any(e["kind"] == "diverged" for e in arms["eta-0.21"]["events"])
    assert arms["eta-0.19"]["status"] == "completed"


def test_default_run_dir_under_runs(tmp_path):
    r = eos("run", "quadratic", "--headless", "--steps", "5", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    made = list((tmp_path / "runs").iterdir())
    assert len(made) == 1 and made[0].name.startswith("quadratic-")
    assert "eta-0.19" in r.stdout  # the summary table


def test_out_refuses_a_non_empty_directory(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    r = eos("run", "quadratic", "--headless", "--steps", "5", "--out", "full", cwd=tmp_path)
    assert r.returncode == 2
    assert "not empty" in r.stderr
    assert "Traceback" not in r.stderr
    assert sorted(p.name for p in (tmp_path / "full").iterdir()) == ["keep.txt"]


BAD = {
    "syntax": ('name = "x"\nsteps = \n', "TOML"),
    "unknown-key": ('name = "x"\n[optimizer]\nlr = 0.1\nlearning_rate = 2\n', "learning_rate"),
    "wrong-type": ('name = "x"\nsteps = "many"\n[optimizer]\nlr = 0.1\n', "steps"),
    "range": ('name = "x"\n[optimizer]\nlr = -1.0\n', "optimizer.lr"),
    "both-lrs": ('name = "x"\n[optimizer]\nlr = 0.1\nlr_relative = 2.0\n', "lr_relative"),
    "no-lr": ('name = "x"\n', "lr"),
    "batch": ('name = "x"\n[data]\nn = 10\n[optimizer]\nkind = "sgd"\nlr = 0.1\nbatch_size = 64\n', "batch_size"),
    "escape": ('name = "../../etc"\n[optimizer]\nlr = 0.1\n', "name"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_scenario_clear_message_exit_2_nothing_left(tmp_path, case):
    text, needle = BAD[case]
    (tmp_path / "bad.toml").write_text(text)
    r = eos("run", "bad.toml", "--headless", cwd=tmp_path)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    assert "bad.toml" in r.stderr
    assert needle in r.stderr
    assert not (tmp_path / "runs").exists()
    v = eos("validate", "bad.toml", cwd=tmp_path)
    assert v.returncode == 2 and needle in v.stderr


def test_bad_override_and_unknown_scenario(tmp_path):
    r = eos("run", "quadratic", "--headless", "--set", "optimizer.lr=oops=", cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    r = eos("run", "no-such-scenario", "--headless", cwd=tmp_path)
    assert r.returncode == 2 and "catapult" in r.stderr  # lists what exists
    assert not (tmp_path / "runs").exists()


def test_unreadable_inputs_are_one_line_errors(tmp_path):
    (tmp_path / "garbage.toml").write_bytes(bytes(range(256)))
    (tmp_path / "folder.toml").mkdir()
    (tmp_path / "afile").write_text("")
    cases = [
        (("show", "garbage.toml"), "cannot read"),
        (("run", "folder.toml", "--headless"), "is a directory"),
        (("show", "folder.toml"), "is a directory"),
        (("runs", "--root", "afile"), "not a directory"),
        (("run", "quadratic", "--headless", "--seed", str(10**23)), "--seed"),
    ]
    for args, needle in cases:
        r = eos(*args, cwd=tmp_path)
        assert r.returncode == 2 and "Traceback" not in r.stderr, (args, r.stderr)
        assert needle in r.stderr and len(r.stderr.strip().splitlines()) == 1, (args, r.stderr)
    assert not (tmp_path / "runs").exists()


def test_unavailable_device_is_a_usage_error(tmp_path):
    r = eos("run", "quadratic", "--headless", "--device", "cuda:7", cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert "cuda" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "runs").exists()


def test_list_show_validate_builtins(tmp_path):
    r = eos("list", "--json", cwd=tmp_path)
    names = {s["name"] for s in json.loads(r.stdout)}
    assert {"eos", "catapult", "warmup", "decay", "sgd_vs_gd", "quadratic", "reparam"} <= names
    r = eos("show", "catapult", cwd=tmp_path)
    assert r.returncode == 0 and "[[arm]]" in r.stdout
    assert {"transformer", "resnet"} <= names
    # cifar and resnet need their data: test_cifar_scenario.py, test_transformer_resnet_scenarios.py
    r = eos("validate", *sorted(names - {"cifar", "resnet"}), cwd=tmp_path)
    assert r.returncode == 0, r.stderr


def test_ctrl_c_leaves_valid_files_and_exit_130(tmp_path):
    """SIGINT mid-run: exit 130, manifest "interrupted", every metrics line parses, arms end "interrupted"."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "eos_tui.cli", "run", "eos", "--headless", "--out", "r", "--steps", "100000"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, OMP_NUM_THREADS="1"),
    )
    metrics = tmp_path / "r" / "metrics.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not metrics.exists() or metrics.stat().st_size < 20_000):
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    manifest = read_manifest(tmp_path / "r")
    assert manifest["status"] == "interrupted"
    lines = metrics.read_text().splitlines()
    records = [json.loads(line) for line in lines]  # every line whole
    ends = [r for r in records if r["type"] == "end"]
    assert {e["status"] for e in ends} == {"interrupted"}
    assert len(ends) == 3


def test_ctrl_c_before_the_engine_takes_its_signals_marks_the_run_interrupted(tmp_path, monkeypatch):
    """The window between laying out the run directory and installing the engine's handlers."""
    from eos_tui.cli import headless
    from eos_tui.engine import runner
    from eos_tui.scenario import load_scenario

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "run_scenario", interrupted)
    with pytest.raises(KeyboardInterrupt):
        headless.run_headless(load_scenario("quadratic"), out=tmp_path / "q", as_json=True)
    m = read_manifest(tmp_path / "q")
    assert m["status"] == "interrupted" and m["ended"] and m["pid"] == os.getpid()
