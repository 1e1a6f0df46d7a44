"""The data kinds in scenarios: cifar10 and npz through the schema, the checks before a run, the
CLI (`eos-tui data fetch`, missing files), the engine (problems, held-out metrics), the memory
estimate. Tiny data only: a CIFAR-10 in the exact format with 8 images per batch."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from eos_tui.data import cifar10
from eos_tui.scenario import ScenarioError, load_scenario_text, resources
from eos_tui.scenario.checks import preflight
from tests.cifar_fixture import make_batches, write_archive, write_folder


def load(text: str, **kwargs):
    return load_scenario_text(text, source="t.toml", default_name="t", **kwargs)


def cifar_toml(path, *, n=12, extra="", loss="mse", measure="sharpness_every = 2"):
    where = f'path = "{path}"\n' if path is not None else ""
    return (
        f'steps = 4\ndtype = "float64"\ndevice = "cpu"\nloss = "{loss}"\n[optimizer]\nlr = 0.01\n'
        f'[model]\nhidden = [5]\n[data]\nkind = "cifar10"\n{where}n = {n}\n{extra}[measure]\n{measure}\n'
    )


@pytest.fixture(scope="module")
def cifar_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("c10")
    write_folder(root, make_batches(per_batch=8, test=10, seed=1))
    return root


# ---- schema: parameters, paths, memory -----------------------------------------------------------


def test_cifar10_parameters_and_shapes_match_the_engine(cifar_dir):
    torch = pytest.importorskip("torch")
    from eos_tui.engine.problems import build_problem

    arm = load(cifar_toml(cifar_dir, extra="classes = 3\n")).arms[0]
    assert arm.parameter_count() == 3072 * 5 + 5 + 5 * 3 + 3
    p = build_problem(arm, torch.device("cpu"))
    assert p.dim == arm.parameter_count() and p.image_shape == (3, 32, 32)
    assert p.X.shape == (12, 3072) and p.Y.shape == (12, 3) and set(p.Y.sum(1).tolist()) == {1.0}  # one-hot
    ce = build_problem(load(cifar_toml(cifar_dir, loss="cross-entropy", extra="classes = 3\n")).arms[0], torch.device("cpu"))
    assert ce.Y.dtype == torch.int64 and ce.Y.max() < 3


def test_a_relative_path_is_made_absolute_where_the_scenario_is_loaded(cifar_dir, monkeypatch):
    monkeypatch.chdir(cifar_dir.parent)
    arm = load(cifar_toml(cifar_dir.name)).arms[0]
    assert arm.data.path == str(cifar_dir)
    assert load(cifar_toml("~/x")).arms[0].data.path == os.path.expanduser("~/x")


@pytest.mark.parametrize(
    "extra, key",
    [("n = 50001\n", "data.n"), ("classes = 11\n", "data.classes"), ("test_n = 10001\n", "data.test_n"), ("width = 3\n", "data.width")],
)
def test_cifar10_keys_are_bounded(extra, key):
    text = cifar_toml(None, n=1).replace("n = 1\n", "") + "\n"
    text = text.replace('kind = "cifar10"\n', 'kind = "cifar10"\n' + extra)
    with pytest.raises(ScenarioError, match=key.replace(".", r"\.")):
        load(text)


def test_the_memory_estimate_knows_cifar10():
    arm = load(cifar_toml(None, n=50_000, extra="test_n = 10000\n").replace('dtype = "float64"', 'dtype = "float32"')).arms[0]
    est = resources.estimate_arm(arm)
    data = next(t for t in est.lasting if t.what == "data")
    assert data.bytes >= 60_000 * 3072 * (4 + 8)  # train and test, float64 then float32
    assert est.params == 3072 * 5 + 5 + 5 * 10 + 10


# ---- missing files: one line before anything is written -------------------------------------------


def test_preflight_names_the_path_and_the_fetch_command(tmp_path, monkeypatch):
    monkeypatch.setenv("EOS_TUI_DATA", str(tmp_path / "data"))
    sc = load(cifar_toml(None))
    with pytest.raises(ScenarioError) as e:
        preflight(sc)
    msg = str(e.value)
    assert str(tmp_path / "data" / "cifar10") in msg and "eos-tui data fetch cifar10" in msg and "\n" not in msg


def eos(*args, cwd, env=None):
    env = dict(os.environ, COLUMNS="120", OMP_NUM_THREADS="1", **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "eos_tui.cli", *args],
        cwd=cwd,
        text=True,
        timeout=120,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
    )


def test_run_and_validate_refuse_missing_data_in_one_line_and_write_nothing(tmp_path):
    (tmp_path / "c.toml").write_text(cifar_toml(tmp_path / "nowhere"))
    for args in (["run", "c.toml", "--headless"], ["run", "c.toml", "--detach"], ["validate", "c.toml"]):
        r = eos(*args, cwd=tmp_path)
        assert r.returncode == 2, (args, r.stderr)
        assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert str(tmp_path / "nowhere") in r.stderr and "eos-tui data fetch cifar10 --path" in r.stderr
        assert sorted(p.name for p in tmp_path.iterdir()) == ["c.toml"]


def test_a_headless_run_on_cifar10_with_a_held_out_split(tmp_path, cifar_dir):
    (tmp_path / "c.toml").write_text(cifar_toml(cifar_dir, extra="test_n = 5\n"))
    r = eos("run", "c.toml", "--headless", "--out", "run", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    steps = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    steps = [s for s in steps if s.get("type") == "step"]
    assert [s["step"] for s in steps if "test_loss" in s] == [0, 2]  # with the sharpness measurements
    assert all(0 <= s["test_accuracy"] <= 1 for s in steps if "test_loss" in s)


def test_a_hostile_batch_stops_the_engine_with_one_line(tmp_path):
    import pickle

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'ran'}",))

    folder = tmp_path / "d" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    (folder / "data_batch_1").write_bytes(pickle.dumps({b"data": Evil()}, protocol=2))
    (tmp_path / "c.toml").write_text(cifar_toml(tmp_path / "d"))
    r = eos("run", "c.toml", "--headless", "--out", "run", cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and "refused global" in r.stderr and str(folder / "data_batch_1") in r.stderr
    assert not (tmp_path / "ran").exists()


def test_a_scenario_files_data_path_is_relative_to_its_folder_and_a_sets_to_here(tmp_path):
    """Regression: data.path in a scenario file was read relative to the current directory, so
    `eos-tui validate ../digits/digits.toml` failed. It is the file's folder's (as a sweep file names
    its scenario), in the base and in an arm; a --set path is typed here, so it stays the current
    directory's; the run directory's scenario.toml holds the absolute path."""
    digits, work = tmp_path / "digits", tmp_path / "work"
    digits.mkdir()
    work.mkdir()
    np.savez(digits / "d.npz", X=np.random.default_rng(0).normal(size=(8, 3)), y=np.arange(8) % 2)
    np.savez(work / "mine.npz", X=np.random.default_rng(1).normal(size=(6, 3)), y=np.arange(6) % 2)
    text = npz_toml("d.npz") + '[[arm]]\nname = "a"\n[[arm]]\nname = "b"\ndata = {kind = "npz", path = "./d.npz"}\n'
    (digits / "digits.toml").write_text(text)
    r = eos("validate", "../digits/digits.toml", cwd=work)
    assert r.returncode == 0, r.stderr
    r = eos("run", "../digits/digits.toml", "--headless", "--out", "run", cwd=work)
    assert r.returncode == 0, r.stderr
    resolved = (work / "run" / "scenario.toml").read_text()
    assert resolved.count(f'path = "{digits / "d.npz"}"') == 2, resolved
    r = eos("run", "../digits/digits.toml", "--headless", "--out", "mine", "--set", "data.path=mine.npz", cwd=work)
    assert r.returncode == 0, r.stderr
    resolved = (work / "mine" / "scenario.toml").read_text()
    assert f'path = "{work / "mine.npz"}"' in resolved and f'path = "{digits / "d.npz"}"' in resolved  # arm b keeps its own
    r = eos("validate", "digits/digits.toml", cwd=work)  # no such file from here: one line, exit 2
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1


def test_a_sweep_of_a_scenario_file_reads_its_data_path_from_the_scenarios_folder(tmp_path, monkeypatch):
    from eos_tui.sweep.grid import load_sweep

    (tmp_path / "digits").mkdir()
    (tmp_path / "work").mkdir()
    (tmp_path / "digits" / "digits.toml").write_text(npz_toml("d.npz"))
    (tmp_path / "work" / "grid.toml").write_text('scenario = "../digits/digits.toml"\n[[grid]]\nkey = "seed"\nvalues = [0, 1]\n')
    monkeypatch.chdir(tmp_path / "work")
    for target, grids in (("grid.toml", []), ("../digits/digits.toml", ["seed=0,1"])):
        assert load_sweep(target, grids=grids).scenario["data"]["path"] == str(tmp_path / "digits" / "d.npz"), target


# ---- the engine: held-out metrics ---------------------------------------------------------------


@pytest.mark.parametrize(
    "measure, at",
    [
        ("sharpness_every = 2", [0, 2]),
        ("sharpness_every = 2\ntest_every = 0", []),
        ("sharpness_every = 0\ntest_every = 3", [0, 3]),
        ("sharpness_every = 0", []),
    ],
)
def test_test_every(cifar_dir, measure, at):
    pytest.importorskip("torch")
    from eos_tui.engine.arm import Arm
    from tests.helpers import CPU, of, train

    arm = Arm(load(cifar_toml(cifar_dir, extra="test_n = 4\n", measure=measure)).arms[0], CPU)
    steps = of(train(arm), "step")
    assert [s["step"] for s in steps if "test_loss" in s] == at


def test_the_test_loss_is_the_loss_on_the_test_split(cifar_dir):
    torch = pytest.importorskip("torch")
    from eos_tui.engine.arm import Arm
    from eos_tui.engine.problems import MLP
    from tests.helpers import CPU, of, train

    arm = Arm(load(cifar_toml(cifar_dir, extra="test_n = 4\n", loss="cross-entropy")).arms[0], CPU)
    theta0 = arm.theta.clone()
    first = of(train(arm), "step")[0]
    p = arm.problem
    assert isinstance(p, MLP) and p.X_test is not None
    ref = MLP(theta0, p.layers, p.activation, p.X_test, p.Y_test, "cross-entropy")
    assert first["test_loss"] == pytest.approx(float(ref.loss(theta0)), rel=1e-12)
    right = (ref.outputs(theta0).argmax(1) == p.Y_test).double().mean()
    assert first["test_accuracy"] == pytest.approx(float(right))
    assert torch.is_tensor(p.labels_test)


# ---- npz in scenarios ---------------------------------------------------------------------------


def npz_toml(path, loss="mse", extra=""):
    return (
        f'steps = 3\ndtype = "float64"\ndevice = "cpu"\nloss = "{loss}"\n[optimizer]\nlr = 0.01\n{extra}'
        f'[model]\nhidden = [4]\n[data]\nkind = "npz"\npath = "{path}"\n'
    )


def test_npz_scenarios_classification_and_regression(tmp_path):
    torch = pytest.importorskip("torch")
    from eos_tui.engine.arm import Arm
    from eos_tui.engine.problems import build_problem
    from tests.helpers import CPU, of, train

    rng = np.random.default_rng(0)
    np.savez(
        tmp_path / "c.npz", X=rng.normal(size=(10, 3)), y=np.arange(10) % 3, X_test=rng.normal(size=(4, 3)), y_test=np.array([0, 1, 2, 0])
    )
    np.savez(tmp_path / "r.npz", X=rng.normal(size=(10, 2, 3)), y=rng.normal(size=(10, 2)))
    for name, loss, outputs in (("c.npz", "cross-entropy", 3), ("c.npz", "mse", 3), ("r.npz", "mse", 2)):
        arm = load(npz_toml(tmp_path / name, loss)).arms[0]
        p = build_problem(arm, torch.device("cpu"))
        assert p.dim == arm.parameter_count() == resources.parameter_count(arm)
        assert p.layers[-1].shape[0] == outputs
    recs = of(train(Arm(load(npz_toml(tmp_path / "c.npz", "cross-entropy")).arms[0], CPU)), "step")
    assert "test_accuracy" in recs[0]
    with pytest.raises(ScenarioError, match="'cross-entropy' needs integer class labels"):
        load(npz_toml(tmp_path / "r.npz", "cross-entropy"))
    with pytest.raises(ScenarioError, match=r"optimizer\.batch_size: must be ≤ data\.n = 10"):
        load(npz_toml(tmp_path / "r.npz").replace("lr = 0.01\n", 'lr = 0.01\nkind = "sgd"\nbatch_size = 11\n'))


def test_a_missing_or_bad_npz_is_one_line_naming_the_key_and_file(tmp_path):
    with pytest.raises(ScenarioError) as e:
        load(npz_toml(tmp_path / "nope.npz"))
    assert "data.path" in str(e.value) and str(tmp_path / "nope.npz") in str(e.value) and "\n" not in str(e.value)
    np.savez(tmp_path / "b.npz", X=np.ones((3, 2)), y=np.ones(4))
    with pytest.raises(ScenarioError, match="'y' has shape"):
        load(npz_toml(tmp_path / "b.npz"))
    with pytest.raises(ScenarioError, match="data.path"):
        load('[optimizer]\nlr = 0.1\n[data]\nkind = "npz"\n')  # path is required


# ---- the CLI ------------------------------------------------------------------------------------


def test_data_fetch_cli(tmp_path, monkeypatch):
    from eos_tui.cli import app

    archive = write_archive(tmp_path / "src.tar.gz", make_batches(per_batch=2, test=2))
    body = archive.read_bytes()
    monkeypatch.setattr(cifar10, "URL", archive.as_uri())
    monkeypatch.setattr(cifar10, "MD5", hashlib.md5(body).hexdigest())
    r = CliRunner().invoke(app, ["data", "fetch", "cifar10", "--path", str(tmp_path / "d")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "d" / cifar10.ARCHIVE).read_bytes() == body
    monkeypatch.setattr(cifar10, "MD5", "0" * 32)
    r = CliRunner().invoke(app, ["data", "fetch", "cifar10", "--path", str(tmp_path / "e")])
    assert r.exit_code == 1 and "MD5" in r.output and list((tmp_path / "e").iterdir()) == []
    assert CliRunner().invoke(app, ["data", "fetch", "imagenet"]).exit_code == 2


@pytest.mark.parametrize("argv", [["--help"], ["list"], ["data", "--help"], ["data", "fetch", "--help"]])
def test_the_instant_commands_import_no_numpy(argv):
    code = (
        "import sys, json\nsys.argv = ['eos-tui', *%r]\nfrom eos_tui.cli import app\n"
        "try:\n    app()\nexcept SystemExit:\n    pass\nprint(json.dumps(sorted(sys.modules)))" % (argv,)
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    mods = set(json.loads(out.stdout.strip().splitlines()[-1]))
    assert not {"numpy", "torch", "textual"} & mods
