"""Scenarios the engine cannot run are refused with one clear line, never a crash.

Regressions: optimizer.lr_relative on a model whose λ_max at initialization is ≤ 0 exited 1 with a
traceback at run time; reparam_alphas such as 1e-20 / 1e20 in float32 crashed the run
(LinAlgError) although the checks work on a copy of θ.
"""

from __future__ import annotations

import pytest

from eos_tui.cli.exit import ExitCode
from eos_tui.cli.headless import run_headless
from eos_tui.engine.errors import ScenarioRefused
from eos_tui.scenario import ScenarioError

from .helpers import arm_of, of, scenario, train

QUAD = """
name = "q"
steps = 3
dtype = "float64"
[data]
kind = "none"
[model]
kind = "quadratic"
eigenvalues = {eigs}
[optimizer]
lr_relative = 1.0
"""

# init_scale 1e-200: u, v ~ 1e-200, so f = u·v/√n and the Hessian ∇f∇fᵀ + f∇²f underflow to 0.
UV_FLAT = """
name = "flat"
steps = 3
dtype = "float64"
[data]
kind = "none"
[model]
kind = "uv"
width = 4
init_scale = 1e-200
[optimizer]
lr_relative = 2.0
"""


@pytest.mark.parametrize("eigs", [[-1.0, -2.0], [0.0], [0.0, -3.0]])
def test_lr_relative_on_a_quadratic_without_positive_curvature_is_refused_at_validation(eigs):
    with pytest.raises(ScenarioError) as e:
        scenario(QUAD.format(eigs=eigs))
    msg = str(e.value)
    assert "\n" not in msg and "optimizer.lr_relative" in msg and "optimizer.lr" in msg


def test_a_quadratic_with_one_positive_eigenvalue_still_runs():
    recs = train(arm_of(QUAD.format(eigs=[1.0, -2.0])))
    assert of(recs, "end")[0]["status"] == "completed"


def test_init_scale_zero_is_refused_at_validation():
    with pytest.raises(ScenarioError, match="model.init_scale"):
        scenario(UV_FLAT.replace("1e-200", "0.0"))


def test_lr_relative_with_zero_curvature_at_init_is_refused_at_run_time():
    arm = arm_of(UV_FLAT)
    with pytest.raises(ScenarioRefused) as e:
        arm.begin()
    msg = str(e.value)
    assert "\n" not in msg and "'main'" in msg and "optimizer.lr_relative" in msg and "optimizer.lr" in msg


def test_headless_reports_a_refusal_in_one_line_and_exits_2(tmp_path, capsys):
    code = run_headless(scenario(UV_FLAT), out=tmp_path / "run", as_json=True)
    assert code == ExitCode.USAGE
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = [line for line in captured.err.splitlines() if "lr_relative" in line]
    assert len(lines) == 1 and lines[0].startswith("eos-tui: arm 'main'")
    assert "Traceback" not in captured.err
    assert not (tmp_path / "run").exists()  # bad input leaves nothing behind


RELU = """
name = "r"
steps = 3
dtype = "{dtype}"
[data]
n = 16
dim = 4
[model]
hidden = [8, 8]
activation = "relu"
[optimizer]
lr = 0.1
[measure]
sharpness_every = 1
reparam_every = 1
reparam_alphas = {alphas}
"""


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_reparam_checks_that_cannot_be_computed_are_skipped_with_a_reason(dtype):
    recs = train(arm_of(RELU.format(dtype=dtype, alphas=[1e-20, 2.0, 1e20])))
    assert of(recs, "end")[0]["status"] == "completed"
    checks = of(recs, "reparam")
    # α = 2 is computed at every step (3 maps: two layer pairs, and every other unit)
    assert {r["alpha"] for r in checks} >= {2.0}
    assert len([r for r in checks if r["alpha"] == 2.0]) == 3 * 3
    skipped = [e for e in of(recs, "event") if e["kind"] == "reparam_skipped"]
    if dtype == "float32":
        # once per α, whatever the number of checks, each naming α and the reason
        assert len(skipped) in (1, 2)
        assert all("cannot be computed in float32" in e["message"] for e in skipped)
        assert {r["alpha"] for r in checks} <= {1e-20, 2.0, 1e20}
    import math

    for r in checks:
        assert all(math.isfinite(v) for v in r.values() if isinstance(v, float))
