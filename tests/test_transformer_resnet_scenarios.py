"""The `transformer` and `resnet` built-ins (issue 22 §3): what they ask for, the threshold each arm
is drawn against, and a few steps of each end to end through the CLI. The transformer's physics (it
reaches Adam's 38/η and hovers) is test_builtin_scenarios.py's test_transformer, at full length.

`resnet` needs CIFAR-10, which CI does not have: tests/cifar_fixture.py writes a few random images
in the official file format, so the scenario's own network, loss and optimizer run in seconds."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from eos_tui.engine.arm import Arm
from eos_tui.scenario import load_scenario
from tests.cifar_fixture import make_batches, write_folder


def eos(*args, cwd, env=None):
    env = dict(os.environ, COLUMNS="120", OMP_NUM_THREADS="1", **(env or {}))
    cmd = [sys.executable, "-m", "eos_tui.cli", *args]
    return subprocess.run(cmd, cwd=cwd, text=True, timeout=300, env=env, stdin=subprocess.DEVNULL, capture_output=True)


def records(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


# ---- transformer --------------------------------------------------------------------------------


def test_transformer_is_adam_on_sort():
    sc = load_scenario("transformer")
    assert "Cohen et al. 2022" in sc.description and "38/η" in sc.description
    assert len(sc.arms) >= 2
    for arm in sc.arms:
        assert (arm.data.kind, arm.model.kind, arm.optimizer.kind, arm.dtype) == ("sort", "transformer", "adam", "float64")
        assert arm.optimizer.beta1 == 0.9
        assert arm.measure.sharpness_every > 0
    assert len({a.optimizer.lr for a in sc.arms}) == len(sc.arms)


def test_transformer_arms_are_drawn_against_adams_threshold():
    """Each arm's line is its own (2 + 2β1)/((1 − β1)η) = 38/η at β1 = 0.9, not GD's 2/η."""
    for spec in load_scenario("transformer").arms:
        arm = Arm(spec, torch.device("cpu"))
        lr = spec.optimizer.lr
        assert arm.threshold(lr) == pytest.approx(38 / lr, rel=1e-12), spec.name


def test_transformer_runs_headless_and_measures_the_preconditioned_sharpness(tmp_path):
    r = eos("run", "transformer", "--headless", "--steps", "12", "--out", str(tmp_path / "t"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    rows = records(tmp_path / "t")
    arms = {a.name: a.optimizer.lr for a in load_scenario("transformer").arms}
    for name, lr in arms.items():
        steps = [x for x in rows if x["type"] == "step" and x["arm"] == name]
        sharp = [x for x in rows if x["type"] == "sharpness" and x["arm"] == name]
        assert [x["step"] for x in steps] == list(range(12)), name
        assert all(x["loss"] < steps[0]["loss"] for x in steps[3:]), name  # Adam trains it
        assert sharp and sharp[0]["step"] == 0, name
        # The unstable start the description promises: at step 0, P = (1 − β1)(|g0| + ε) is tiny,
        # so λ_max(P⁻¹H) is far above 38/η.
        assert sharp[0]["eigenvalues"][0] > 10 * 38 / lr, name


def test_the_builtins_list_and_show_them(tmp_path):
    listed = {s["name"]: s for s in json.loads(eos("list", "--json", cwd=tmp_path).stdout)}
    assert {"transformer", "resnet"} <= set(listed)
    for name in ("transformer", "resnet"):
        r = eos("show", name, cwd=tmp_path)
        assert r.returncode == 0 and "[[arm]]" in r.stdout, r.stderr


# ---- resnet -------------------------------------------------------------------------------------


def test_resnet_is_a_resnet20_on_cifar10_by_full_batch_gd():
    sc = load_scenario("resnet")
    assert "GPU" in sc.description and "eos-tui data fetch cifar10" in sc.description
    assert "CPU" in sc.description and "H100" in sc.description  # the expected times, both
    for arm in sc.arms:
        assert (arm.data.kind, arm.data.classes, arm.loss, arm.dtype) == ("cifar10", 10, "mse", "float32")
        assert (arm.model.kind, arm.model.depth, arm.model.width, arm.model.batchnorm) == ("resnet", 20, 16, True)
        assert arm.optimizer.kind == "gd" and arm.optimizer.momentum == 0
        assert arm.parameter_count() == 269_722  # He et al.'s 0.27M
        assert arm.engine.chunk_size is None  # BatchNorm: the whole batch at once
    assert len({a.optimizer.lr for a in sc.arms}) == len(sc.arms)


def test_resnet_without_the_data_refuses_in_one_line_and_writes_nothing(tmp_path):
    env = {"EOS_TUI_DATA": str(tmp_path / "data")}
    for args in (["run", "resnet", "--headless"], ["run", "resnet", "--headless", "--steps", "2"], ["validate", "resnet"]):
        r = eos(*args, cwd=tmp_path, env=env)
        assert r.returncode == 2, (args, r.stderr)
        assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert str(tmp_path / "data" / "cifar10") in r.stderr and "eos-tui data fetch cifar10" in r.stderr
        assert sorted(p.name for p in tmp_path.iterdir()) == [], args


@pytest.mark.slow  # ~20 s: the full-width ResNet-20's λ_max on 16 images
def test_resnet_trains_a_few_steps_on_cifar_files(tmp_path):
    """The scenario as written (ResNet-20 at width 16, BatchNorm, MSE, GD), on 16 random images in
    CIFAR-10's own file format: every arm completes its steps and its λ_max is measured."""
    write_folder(tmp_path / "data" / "cifar10", make_batches(per_batch=4, test=2, seed=3))
    env = {"EOS_TUI_DATA": str(tmp_path / "data")}
    out = tmp_path / "r"
    r = eos("run", "resnet", "--headless", "--steps", "2", "--set", "data.n=16", "--out", str(out), cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    rows = records(out)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "completed"
    for spec in load_scenario("resnet").arms:
        steps = [x for x in rows if x["type"] == "step" and x["arm"] == spec.name]
        sharp = [x for x in rows if x["type"] == "sharpness" and x["arm"] == spec.name]
        assert [x["step"] for x in steps] == [0, 1], spec.name
        assert sharp and sharp[0]["step"] == 0 and sharp[0]["eigenvalues"][0] > 0, spec.name


def test_bench_gpu_times_the_scenarios_own_networks():
    """bench/gpu.py --model NAME times what the built-in NAME trains: same network, examples, optimizer, dtype."""
    import importlib.util
    from pathlib import Path

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib

    path = Path(__file__).resolve().parent.parent / "bench" / "gpu.py"
    sys.path.insert(0, str(path.parent))
    try:
        spec = importlib.util.spec_from_file_location("bench_gpu", path)
        assert spec is not None and spec.loader is not None
        bench = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(bench)
    finally:
        sys.path.remove(str(path.parent))
    for name, (full, _tiny) in bench.MODELS.items():
        model, _kind, _shape, n, optimizer, dtype = full
        opt = tomllib.loads(optimizer)
        (arm,) = [a for a in load_scenario(name).arms if a.optimizer.lr == opt["lr"]]  # one of its arms
        for key, value in tomllib.loads(model).items():
            assert getattr(arm.model, key) == value, (name, key)
        assert arm.optimizer.kind == opt["kind"], name
        if "beta2" in opt:
            assert arm.optimizer.beta2 == opt["beta2"], name
        assert (arm.data.n, arm.dtype) == (n, dtype), name
