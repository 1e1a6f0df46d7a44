"""The engine's thread count (engine/threads.py): chosen from the work, overridden by engine.threads
and --threads, applied to torch and recorded in the manifest, by every way the engine runs."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
import torch

from eos_tui.engine import threads as th
from eos_tui.rundir import format as rf
from eos_tui.rundir.reader import read_manifest
from eos_tui.scenario import ScenarioError, load_scenario
from eos_tui.scenario.loader import list_builtins

from .helpers import scenario

QUADRATIC = """
name = "q"
steps = 3
[model]
kind = "quadratic"
eigenvalues = [4.0, 1.0]
[data]
kind = "none"
[optimizer]
kind = "gd"
lr = 0.1
[measure]
sharpness_every = 1
"""


@pytest.fixture
def torch_threads(monkeypatch):
    """Put torch's thread count and the environment back after a test that lets the engine set them."""
    for var in th.ENV_VARS:
        monkeypatch.setenv(var, "1")  # restored (or removed) by monkeypatch afterwards
    before = torch.get_num_threads()
    yield before
    torch.set_num_threads(before)


@pytest.mark.parametrize("name", [n for n, _ in list_builtins() if n not in ("cifar", "resnet")])
def test_every_small_builtin_gets_one_thread_even_on_many_cores(name):
    sc = load_scenario(name)
    choice = th.resolve(sc.arms, cpus=16)
    assert choice.threads == 1, choice
    assert choice.reason.startswith("small matrices")


def test_cifar_gets_every_core():
    # 5000 images × 3072 inputs × 200 units: three billion multiply-adds, where threads pay.
    sc = load_scenario("cifar")
    assert th.resolve(sc.arms, cpus=4) == (4, th.choose_threads(5000 * 3072 * 200, 4).reason)
    assert th.resolve(sc.arms, cpus=1).threads == 1


def test_choose_threads_threshold():
    assert th.choose_threads(th.MANY_THRESHOLD - 1, 8).threads == 1
    assert th.choose_threads(th.MANY_THRESHOLD, 8).threads == 8
    assert th.choose_threads(10**12, 1) == (1, "one core available")


def test_matrix_work_of_an_mlp_and_a_chunk():
    sc = scenario(
        """
        name = "w"
        [data]
        kind = "random-labels"
        n = 100
        dim = 10
        classes = 3
        [model]
        kind = "mlp"
        hidden = [50]
        [optimizer]
        kind = "gd"
        lr = 0.1
        """
    )
    assert th.matrix_work(sc.arms[0]) == 100 * 10 * 50
    chunked = scenario(sc.to_toml(), overrides=["engine.chunk_size=20"])
    assert th.matrix_work(chunked.arms[0]) == 20 * 10 * 50


def test_precedence_override_then_scenario_then_worker():
    sc = load_scenario("eos", overrides=["engine.threads=3"])
    assert th.resolve(sc.arms) == (3, "engine.threads = 3 in the scenario")
    assert th.resolve(sc.arms, 2) == (2, "--threads 2")
    assert th.resolve(sc.arms, worker=True).threads == 3  # told otherwise: the scenario's count
    plain = load_scenario("cifar")
    assert th.resolve(plain.arms, worker=True, cpus=8).threads == 1  # a sweep worker: one by default


def test_engine_threads_is_validated_and_one_per_run():
    with pytest.raises(ScenarioError, match="engine.threads"):
        load_scenario("eos", overrides=["engine.threads=0"])
    text = QUADRATIC + '[[arm]]\nname = "a"\nengine.threads = 2\n[[arm]]\nname = "b"\n'
    with pytest.raises(ScenarioError, match=r"arm 'b'.*engine.threads: the arms run in one process"):
        scenario(text)


@pytest.mark.parametrize("bad", ["0", "-1", "x", "1.5"])
def test_parse_threads_refuses_what_is_not_a_positive_whole_number(bad):
    with pytest.raises(ValueError, match=rf"^--threads {bad}: must be a positive whole number$"):
        th.parse_threads(bad)
    assert th.parse_threads("2") == 2


@pytest.mark.parametrize("command", [["run", "quadratic", "--headless"], ["resume", "."], ["landscape", "."], ["sweep", "quadratic"]])
def test_cli_threads_refusal_is_one_line(command):
    from typer.testing import CliRunner

    from eos_tui.cli import app

    r = CliRunner().invoke(app, [*command, "--threads", "zero"])
    assert r.exit_code == 2
    assert r.output.strip() == "eos-tui: --threads zero: must be a positive whole number"


def test_run_scenario_applies_and_records_the_choice(tmp_path, torch_threads):
    from eos_tui.engine.runner import run_scenario

    torch.set_num_threads(2)
    status, manifest = run_scenario(scenario(QUADRATIC), tmp_path)
    assert status == rf.COMPLETED
    assert torch.get_num_threads() == 1
    on_disk = json.loads((tmp_path / rf.MANIFEST_FILE).read_text())
    assert on_disk["threads"]["threads"] == 1
    assert on_disk["threads"]["reason"].startswith("small matrices")
    (tmp_path / "b").mkdir()
    status, manifest = run_scenario(scenario(QUADRATIC), tmp_path / "b", threads=th.resolve([], 2))
    assert manifest["threads"] == {"threads": 2, "reason": "--threads 2"}


def _wait_ended(run_dir, proc, deadline=120.0):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        m = read_manifest(run_dir)
        if m and m.get("status") != rf.RUNNING and proc.poll() is not None:
            return m
        time.sleep(0.1)
    raise AssertionError("the engine did not end")


@pytest.mark.slow
def test_the_app_engine_takes_threads_from_the_command_line_not_the_environment(tmp_path, monkeypatch):
    # tests/conftest.py sets OMP_NUM_THREADS=1 for spawned engines: without it (and with a value
    # that disagrees) the engine still runs with the count it chose or was given.
    from eos_tui.engine.launch import start_engine
    from eos_tui.rundir.prepare import prepare_run

    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    monkeypatch.setenv("MKL_NUM_THREADS", "7")
    run_dir = prepare_run(scenario(QUADRATIC), out=tmp_path / "given")
    proc = start_engine(run_dir, threads=2)
    assert _wait_ended(run_dir, proc)["threads"] == {"threads": 2, "reason": "--threads 2"}
    monkeypatch.delenv("OMP_NUM_THREADS")
    run_dir = prepare_run(scenario(QUADRATIC), out=tmp_path / "chosen")
    proc = start_engine(run_dir)
    assert _wait_ended(run_dir, proc)["threads"]["threads"] == 1


@pytest.mark.slow
def test_headless_threads_flag_reaches_the_manifest(tmp_path):
    out = tmp_path / "run"
    env = {k: v for k, v in __import__("os").environ.items() if k not in th.ENV_VARS}
    proc = subprocess.run(
        [sys.executable, "-m", "eos_tui.cli", "run", "quadratic", "--steps", "3", "--json", "--threads", "2", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads((out / rf.MANIFEST_FILE).read_text())["threads"] == {"threads": 2, "reason": "--threads 2"}


TWO_ARMS = QUADRATIC.replace("steps = 3", "steps = 6") + '[[arm]]\nname = "a"\n[[arm]]\nname = "b"\noptimizer.lr = 0.2\n'


def test_resume_and_landscape_take_threads(tmp_path, torch_threads, capsys):
    from eos_tui.cli.landscape import run_landscape
    from eos_tui.cli.resume import run_resume
    from eos_tui.engine.runner import StopRequest, run_scenario
    from eos_tui.rundir.prepare import prepare_run

    run_dir = prepare_run(scenario(TWO_ARMS), out=tmp_path / "run")
    stop = StopRequest()

    def on_records(recs, arms):
        if any(r["type"] == "step" and r["step"] == 2 for r in recs):
            stop.request()

    assert run_scenario(scenario(TWO_ARMS), run_dir, on_records=on_records, stop=stop)[0] == rf.INTERRUPTED
    assert run_resume(run_dir, as_json=True, threads=2) == 0
    assert read_manifest(run_dir)["threads"] == {"threads": 2, "reason": "--threads 2"}
    torch.set_num_threads(1)
    assert run_landscape(run_dir, arms=None, other=None, points=5, curve=False, as_json=True, probes=2, threads=2) == 0
    assert torch.get_num_threads() == 2
    assert run_resume(run_dir, as_json=True) == 2  # nothing left to resume; and the engine's own choice is one thread
    assert run_landscape(run_dir, arms=None, other=None, points=5, curve=False, as_json=True, probes=2) == 0
    assert torch.get_num_threads() == 1
