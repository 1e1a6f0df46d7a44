"""Sections with a `kind` are pydantic discriminated unions (one class per kind), and their errors
still name the key as written in the file (pydantic's union tag is not part of the location)."""

from __future__ import annotations

import pytest

from eos_tui.scenario import ScenarioError
from eos_tui.scenario.schema import (
    CosineSchedule,
    FlowOptimizer,
    MLPModel,
    NoData,
    QuadraticModel,
    SGDOptimizer,
    UVModel,
)

from .helpers import scenario as _scenario

BASE = "[optimizer]\nlr = 0.1\n"


def scenario(text, **kwargs):
    return _scenario('name = "t"\n' + text, **kwargs)


def error_of(text: str) -> str:
    with pytest.raises(ScenarioError) as e:
        scenario(text)
    return str(e.value)


def test_each_kind_is_its_own_class():
    arm = scenario(
        '[model]\nkind = "uv"\nwidth = 3\n[data]\nkind = "none"\n[optimizer]\nkind = "flow"\nlr = 0.1\n[schedule]\nkind = "cosine"\n'
    ).arms[0]
    assert isinstance(arm.model, UVModel) and isinstance(arm.data, NoData)
    assert isinstance(arm.optimizer, FlowOptimizer) and arm.optimizer.flow_alpha == 0.5
    assert isinstance(arm.schedule, CosineSchedule) and arm.schedule.warmup_steps == 0
    assert isinstance(scenario(BASE).arms[0].model, MLPModel)  # `kind` omitted: the section's default


@pytest.mark.parametrize(
    "text, needle",
    [
        (
            '[model]\nkind = "uv"\nhidden = [3]\n[data]\nkind = "none"\n' + BASE,
            "model.hidden: does not apply to kind 'uv' (keys of that kind: width)",
        ),
        (
            '[model]\nkind = "quadratic"\neigenvalues = [1.0]\nwidth = 2\n[data]\nkind = "none"\n' + BASE,
            "model.width: does not apply to kind 'quadratic' (keys of that kind: eigenvalues, init)",
        ),
        (
            "[model]\nkind = 5\n" + BASE,
            "model.kind: must be one of 'mlp', 'cnn', 'uv', 'quadratic', 'python', 'cnn-bn', 'resnet', 'vgg11', 'vit' "
            "or 'transformer' (got 5)",
        ),
        ('[optimizer]\nkind = "lion"\nlr = 0.1\n', "optimizer.kind: must be one of 'gd', 'sgd', 'flow', 'adam' or 'rmsprop'"),
        ('[model]\nhidden = ["a"]\n' + BASE, "model.hidden[0]: must be an integer"),
        ('[optimizer]\nkind = "sgd"\nlr = 0.1\nbatch_size = 0\n', "optimizer.batch_size: must be > 0 (got 0)"),
        ('[schedule]\nkind = "warmup"\nwarmup_steps = 0\n' + BASE, "schedule.warmup_steps: must be ≥ 1 (got 0)"),
        ('[schedule]\nkind = "cosine"\nmilestones = [3]\n' + BASE, "schedule.milestones: does not apply to kind 'cosine'"),
        ('[data]\nkind = "none"\nn = 3\n' + BASE, "data.n: does not apply to kind 'none' (keys of that kind: none)"),
        ('[model]\nkind = "quadratic"\neigenvalues = []\n[data]\nkind = "none"\n' + BASE, "model.eigenvalues: required"),
    ],
)
def test_errors_name_the_key_in_one_line(text, needle):
    msg = error_of(text)
    assert needle in msg and "\n" not in msg, msg
    assert ".mlp." not in msg and ".uv." not in msg and ".sgd." not in msg


def test_a_set_naming_a_key_of_another_kind_is_refused():
    with pytest.raises(ScenarioError) as e:
        scenario(BASE, overrides=["optimizer.batch_size=4"])
    assert "optimizer.batch_size: does not apply to kind 'gd'" in str(e.value)


def test_quadratic_and_sgd_keys_are_typed():
    arm = scenario('[model]\nkind = "quadratic"\neigenvalues = [2.0]\n[data]\nkind = "none"\n' + BASE).arms[0]
    assert isinstance(arm.model, QuadraticModel) and arm.model.eigenvalues == [2.0]
    arm = scenario('[optimizer]\nkind = "sgd"\nlr = 0.1\nbatch_size = 8\n').arms[0]
    assert isinstance(arm.optimizer, SGDOptimizer) and arm.optimizer.batch_size == 8
