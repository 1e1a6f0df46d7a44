"""`eos-tui landscape` on pairs of arms it must judge right: two quadratics that differ only in their
starting point share one parameter space (they were refused as "different shapes"); two arms trained
on different data have no one landscape (the second was measured on the first's data and read
0.509 where it ended at 0.196, with a barrier of 0); a hand-made checkpoint with finite but huge θ
gets one line, not a torch traceback, and no landscape.json."""

from __future__ import annotations

import pytest

from eos_tui.engine import checkpoint as ck
from eos_tui.rundir import format as rf

from .helpers import cli, trained

QUADRATICS = """
name = "two-starts"
seed = 0
steps = 20
dtype = "float64"
device = "cpu"
[data]
kind = "none"
[model]
kind = "quadratic"
eigenvalues = [4.0, 1.0]
[optimizer]
kind = "gd"
lr = 0.1
[measure]
sharpness_every = 0
[[arm]]
name = "left"
model.init = [1.0, -1.0]
[[arm]]
name = "right"
model.init = [-2.0, 3.0]
"""


def test_quadratics_from_different_starts_are_joined(tmp_path):
    run = trained(tmp_path, QUADRATICS)
    r = cli("landscape", run, "--arms", "left,right", "--points", "5", "--json")
    assert r.exit_code == 0, r.stderr
    assert "different shapes" not in r.stderr
    assert (run / rf.LANDSCAPE_FILE).is_file()


MLPS = """
name = "two-data"
seed = 0
steps = 30
dtype = "float64"
device = "cpu"
[data]
kind = "random-labels"
n = 16
dim = 4
classes = 2
[model]
kind = "mlp"
hidden = [8]
[optimizer]
kind = "gd"
lr = 0.1
[measure]
sharpness_every = 0
[[arm]]
name = "seed-0"
[[arm]]
name = "seed-1"
seed = 1
[[arm]]
name = "more-data"
data.n = 24
[[arm]]
name = "init-only"
model.init_scale = 0.5
"""


@pytest.fixture(scope="module")
def mlps(tmp_path_factory):
    return trained(tmp_path_factory.mktemp("lp"), MLPS)


@pytest.mark.parametrize(("pair", "what"), [("seed-0,seed-1", "data.seed 0 and 1"), ("seed-0,more-data", "data.n 16 and 24")])
def test_arms_trained_on_different_data_are_refused_in_one_line(mlps, pair, what):
    r = cli("landscape", mlps, "--arms", pair, "--points", "5")
    assert r.exit_code == 2, r.output
    a, b = pair.split(",")
    line = r.stderr.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in line
    assert f"'{a}'" in line and f"'{b}'" in line and "different problems" in line and what in line, line
    assert not (mlps / rf.LANDSCAPE_FILE).exists()


def test_arms_that_differ_only_in_their_start_are_joined(mlps):
    r = cli("landscape", mlps, "--arms", "seed-0,init-only", "--points", "5", "--json")
    assert r.exit_code == 0, r.stderr


def test_a_hand_made_checkpoint_with_huge_theta_is_one_line(tmp_path):
    """In float32, θ × 1e18 overflows the Hessian-vector products of the adaptive sharpness: Lanczos
    ended in a torch._C._LinAlgError traceback."""
    run = trained(tmp_path, MLPS.replace('dtype = "float64"', 'dtype = "float32"'))
    path = ck.path_for(run, "init-only", ck.list_steps(run, "init-only")[-1])
    tensors, meta = ck.load(path)
    tensors["theta"] = tensors["theta"] * 1e18
    ck.save(path, tensors, meta)
    r = cli("landscape", run, "--arms", "seed-0,init-only", "--points", "5")
    assert r.exit_code in (1, 2), r.output
    assert "Traceback" not in r.stderr and "LinAlgError" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "'init-only'" in r.stderr, r.stderr
    assert not (run / rf.LANDSCAPE_FILE).exists()
