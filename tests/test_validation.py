"""Validation catches what the engine cannot do, before anything is written: more eigenvalues than
the Lanczos solver resolves, a device this machine lacks, a run directory name the file system
refuses, more memory than the machine has. Each used to pass `validate` and then exit 1 at run
time, leaving a run directory behind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from eos_tui.scenario import ScenarioError, checks, load_scenario_text, resources
from eos_tui.scenario.checks import ResourceError, check_memory, check_run_dir, preflight

from .helpers import eos

GB = 1024**3
MLP = "[optimizer]\nlr = 0.1\n[model]\nhidden = [16]\n"  # 16·16 + 16 + 16·4 + 4 = 340 parameters


def load(text: str, **kwargs):
    return load_scenario_text(text, source="t.toml", default_name="t", **kwargs)


def refused(r: subprocess.CompletedProcess, cwd: Path, *words: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    for w in words:
        assert w in r.stderr, r.stderr
    assert not [p for p in cwd.iterdir() if p.suffix != ".toml"], list(cwd.iterdir())


# ---- the Lanczos limit ---------------------------------------------------------------------------


def test_more_eigenvalues_than_lanczos_resolves_is_refused():
    with pytest.raises(ScenarioError) as info:
        load(MLP + "[measure]\neigenvalues = 101\n")
    msg = str(info.value)
    assert msg.startswith("t.toml: measure.eigenvalues: 101 exceeds measure.max_iter = 100"), msg
    text = MLP + '[[arm]]\nname = "a"\n[[arm]]\nname = "b"\nmeasure.eigenvalues = 20\nmeasure.max_iter = 10\n'
    with pytest.raises(ScenarioError, match=r"arm 'b' \(arm\[1\]\): measure.eigenvalues"):
        load(text)
    # A limit that a --set breaks names the flag, as every schema rule does (the limit is the schema's).
    with pytest.raises(ScenarioError) as info:
        load(MLP, overrides=["measure.eigenvalues=101"])
    assert str(info.value).startswith("t.toml: --set measure.eigenvalues=101: measure.eigenvalues: 101 exceeds"), str(info.value)
    # What the engine can do still loads: a larger max_iter, the dense Hessian, no measurement.
    load(MLP + "[measure]\neigenvalues = 101\nmax_iter = 101\n")
    load(MLP + "[measure]\neigenvalues = 101\nexact = true\n")
    load(MLP + "[measure]\neigenvalues = 101\nsharpness_every = 0\n")


def test_the_limit_is_the_engines():
    torch = pytest.importorskip("torch")
    from eos_tui.engine.arm import Arm

    spec = load(MLP + "[measure]\neigenvalues = 5\n").arms[0]
    spec.measure.max_iter = 4  # past validation, as the file used to get
    arm = Arm(spec, torch.device("cpu"))
    with pytest.raises(ValueError, match="cannot resolve"):
        arm.measure(arm.theta, 0)


# ---- devices -------------------------------------------------------------------------------------


def no_cuda() -> bool:
    torch = pytest.importorskip("torch")
    return not torch.cuda.is_available()


@pytest.mark.skipif(sys.platform == "win32", reason="pty")
def test_a_missing_cuda_is_refused_on_every_path_before_anything_is_written(tmp_path):
    if not no_cuda():
        pytest.skip("this machine has CUDA")
    (tmp_path / "c.toml").write_text('device = "cuda"\nsteps = 3\n' + MLP)
    refused(eos("run", "c.toml", "--detach", cwd=tmp_path), tmp_path, "c.toml: device: 'cuda'", "not available")
    refused(eos("run", "c.toml", "--headless", cwd=tmp_path), tmp_path, "cuda")
    refused(eos("run", "quadratic", "--detach", "--device", "cuda:1", cwd=tmp_path), tmp_path, "device: 'cuda:1'")
    # The app's path: stdin and stdout on a terminal, so that only the device stops it.
    from .test_cli_input import in_pty

    refused(in_pty(["run", "c.toml"], tmp_path, {"TERM": "xterm-256color"}), tmp_path, "device: 'cuda'")
    r = eos("validate", "c.toml", cwd=tmp_path)
    assert r.returncode == 2 and "✗ c.toml: device: 'cuda'" in r.stderr, r.stderr


def test_the_cli_process_never_imports_torch_to_check_cpu_or_auto():
    code = (
        "import sys; from eos_tui.scenario import load_scenario; from eos_tui.scenario.checks import preflight; "
        "[preflight(load_scenario(n)) for n in ('eos', 'quadratic', 'catapult')]; "
        "sc = load_scenario('eos', device='cpu'); preflight(sc); "
        "assert 'torch' not in sys.modules, 'torch imported'; print('ok')"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr


def test_a_failed_probe_is_a_clear_refusal(monkeypatch):
    monkeypatch.setattr(checks, "_probed", {"error": "ModuleNotFoundError: No module named 'torch'"})
    with pytest.raises(ScenarioError, match="t.toml: device: cannot check 'mps'.*No module named"):
        checks.check_devices(load('device = "mps"\n' + MLP))


# ---- the run directory's name ------------------------------------------------------------------


def test_a_name_too_long_for_a_run_directory_is_refused(tmp_path):
    ok, too_long = "n" * (255 - checks.RUN_SUFFIX), "n" * (256 - checks.RUN_SUFFIX)
    check_run_dir(load(f'name = "{ok}"\n' + MLP), root=tmp_path)
    with pytest.raises(ScenarioError, match=r"t.toml: name: 237 bytes is too long .* at most 236 bytes"):
        check_run_dir(load(f'name = "{too_long}"\n' + MLP), root=tmp_path)
    # --out names the directory itself: then the name does not matter, --out's parts do.
    check_run_dir(load(f'name = "{too_long}"\n' + MLP), out=tmp_path / "short")
    with pytest.raises(ScenarioError, match=r"--out: .* is 300 bytes"):
        check_run_dir(load(MLP), out=tmp_path / ("x" * 300))
    with pytest.raises(ScenarioError, match=r"--out: the path is too long"):
        check_run_dir(load(MLP), out=tmp_path.joinpath(*["y" * 200] * 30))


def test_cli_refuses_a_long_name_and_a_long_out_before_writing(tmp_path):
    (tmp_path / "long.toml").write_text(f'name = "{"n" * 250}"\nsteps = 3\n' + MLP)
    refused(eos("run", "long.toml", "--detach", cwd=tmp_path), tmp_path, "long.toml: name: 250 bytes")
    refused(eos("run", "long.toml", "--headless", cwd=tmp_path), tmp_path, "name: 250 bytes")
    refused(eos("run", "quadratic", "--detach", "--out", "z" * 256, cwd=tmp_path), tmp_path, "--out")
    r = eos("validate", "long.toml", cwd=tmp_path)
    assert r.returncode == 2 and "name: 250 bytes" in r.stderr


# ---- memory --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, key",
    [
        ("[data]\nn = 100000000\n", "make data.n smaller"),
        ("[model]\nhidden = [30000, 30000]\n", "make model.hidden smaller"),
        ("[model]\nhidden = [150, 130]\n[measure]\nexact = true\n", "set measure.exact = false"),
    ],
)
def test_scenarios_that_cannot_fit_are_refused_with_the_key(text, key):
    sc = load("[optimizer]\nlr = 0.1\n" + text)
    with pytest.raises(ResourceError) as info:
        check_memory(sc, available=4 * GB)
    msg = str(info.value)
    assert msg.startswith("t.toml: needs about ") and key in msg and "--force" in msg and "4.0 GB available" in msg
    assert info.value.estimate.total > 4 * GB
    assert check_memory(sc, available=4 * GB, force=True) is not None  # --force: no refusal


def test_a_large_quadratic_is_refused_and_small_scenarios_pass():
    eig = ", ".join(["1.0"] * 10_000)
    sc = load(
        f'[optimizer]\nlr = 0.1\n[data]\nkind = "none"\n[model]\nkind = "quadratic"\neigenvalues = [{eig}]\n[measure]\nexact = true\n'
    )
    with pytest.raises(ResourceError, match="model.eigenvalues smaller"):
        check_memory(sc, available=3 * GB)
    for name in ("eos", "quadratic", "catapult", "reparam", "sgd_vs_gd", "warmup", "decay"):
        from eos_tui.scenario import load_scenario

        est = check_memory(load_scenario(name), available=2 * GB)
        assert est is not None and est.total < 2 * GB, name


def test_force_runs_what_the_estimate_refuses(tmp_path, monkeypatch):
    from eos_tui import cli

    monkeypatch.setattr(resources, "available_memory", lambda: (1024, "a test"))
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    r = runner.invoke(cli.app, ["run", "quadratic", "--headless", "--steps", "3", "--out", "q"])
    assert r.exit_code == 2 and "--force" in r.output
    assert not (tmp_path / "q").exists()
    r = runner.invoke(cli.app, ["validate", "quadratic"])
    assert r.exit_code == 2 and "needs about" in r.output
    r = runner.invoke(cli.app, ["run", "quadratic", "--headless", "--steps", "3", "--out", "q", "--force"])
    assert r.exit_code == 0, r.output


def test_a_gpu_arm_is_left_to_the_engine():
    sc = load('device = "cuda"\n[optimizer]\nlr = 0.1\n[data]\nn = 100000000\n')
    assert check_memory(sc, available=GB) is None


def test_available_memory_reads_the_machine():
    avail, source = resources.available_memory()
    assert avail is not None and avail > 0 and source


@pytest.mark.parametrize(
    "text",
    [
        MLP,
        '[optimizer]\nlr = 0.1\n[model]\nhidden = [7, 5, 3]\nbias = false\n[data]\nkind = "teacher"\noutputs = 3\ndim = 4\n',
        'loss = "cross-entropy"\n[optimizer]\nlr = 0.1\n[model]\nhidden = []\n[data]\nclasses = 10\n',
        '[optimizer]\nlr = 0.1\n[data]\nkind = "none"\n[model]\nkind = "uv"\nwidth = 37\n',
        '[optimizer]\nlr = 0.1\n[data]\nkind = "none"\n[model]\nkind = "quadratic"\neigenvalues = [1, 2, 3.5]\n',
    ],
)
def test_parameter_counts_match_the_engine(text):
    torch = pytest.importorskip("torch")
    from eos_tui.engine.problems import build_problem

    arm = load(text).arms[0]
    assert resources.parameter_count(arm) == build_problem(arm, torch.device("cpu")).dim


def test_preflight_is_the_entry_point(tmp_path):
    sc = load(MLP)
    est = preflight(sc, out=tmp_path / "x")
    assert est is not None and est.arms[0].params == 340


def test_the_device_probe_never_imports_from_the_current_directory(tmp_path):
    # torch imports numpy: a numpy.py where the user runs eos-tui must not run in the probe.
    (tmp_path / "numpy.py").write_text("open('PWNED', 'w').close()\nraise SystemExit(3)\n")
    (tmp_path / "c.toml").write_text('device = "cuda"\nsteps = 3\n' + MLP)
    r = eos("validate", "c.toml", cwd=tmp_path)
    assert not (tmp_path / "PWNED").exists()
    assert "torch failed to start" not in r.stderr, r.stderr
