"""The `cifar` built-in (Cohen et al.'s Figure 1 on CIFAR-10): a GPU scenario, so it is exempt from
the built-ins' 60 s rule and never trained here; it validates, asks for exactly the paper's setup,
and without the data refuses in one line (exit 2, nothing written). No download, no GPU."""

from __future__ import annotations

import os
import subprocess
import sys

from eos_tui.scenario import load_scenario
from tests.cifar_fixture import make_batches, write_folder


def eos(*args, cwd, env):
    env = dict(os.environ, COLUMNS="120", OMP_NUM_THREADS="1", **env)
    return subprocess.run(
        [sys.executable, "-m", "eos_tui.cli", *args],
        cwd=cwd,
        text=True,
        timeout=120,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
    )


def test_it_is_cohen_et_al_figure_1():
    sc = load_scenario("cifar")
    assert "GPU" in sc.description and "data.n=1000" in sc.description
    lines = set()
    for arm in sc.arms:
        assert (arm.data.kind, arm.data.n, arm.data.classes, arm.loss) == ("cifar10", 5000, 10, "mse")
        assert (arm.model.kind, arm.model.hidden, arm.model.activation) == ("mlp", [200, 200], "tanh")
        assert arm.optimizer.kind == "gd" and arm.optimizer.momentum == 0
        assert 10 <= arm.measure.sharpness_every <= 20
        assert arm.parameter_count() == 3072 * 200 + 200 + 200 * 200 + 200 + 200 * 10 + 10
        lines.add(round(2 / arm.optimizer.lr))
    assert lines == {30, 50, 70}


def test_without_the_data_it_refuses_in_one_line_and_writes_nothing(tmp_path):
    env = {"EOS_TUI_DATA": str(tmp_path / "data")}
    for args in (["run", "cifar", "--headless"], ["run", "cifar", "--headless", "--set", "data.n=1000"], ["validate", "cifar"]):
        r = eos(*args, cwd=tmp_path, env=env)
        assert r.returncode == 2, (args, r.stderr)
        assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert str(tmp_path / "data" / "cifar10") in r.stderr and "eos-tui data fetch cifar10" in r.stderr
        assert sorted(p.name for p in tmp_path.iterdir()) == [], args


def test_it_validates_where_the_data_is(tmp_path):
    write_folder(tmp_path / "data" / "cifar10", make_batches(per_batch=8, test=4, seed=3))
    r = eos("validate", "cifar", cwd=tmp_path, env={"EOS_TUI_DATA": str(tmp_path / "data")})
    assert r.returncode == 0, r.stderr
