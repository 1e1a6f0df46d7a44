"""Every stateful part of an arm hands out its state (`state_dict`) and takes it back
(`load_state_dict`), and goes on from it bit for bit as if it had never stopped; checkpoints, the
undo of a step cut short and resume use only that (engine/checkpoint.py, engine/resume.py,
engine/runner.py read no other object's private fields)."""

from __future__ import annotations

import ast
import json
import math
import random
from collections import deque
from pathlib import Path

import pytest
import torch

from eos_tui.analysis.detectors import Catapult, EosOnset, Oscillation
from eos_tui.analysis.flips import FlipWindow
from eos_tui.engine.arm import Arm, ArmState
from eos_tui.engine.reparam import ReparamChecks
from eos_tui.engine.tracking import PerStepTracker

from .helpers import CPU, scenario

SCENARIO = """
name = "state-test"
seed = 5
steps = 24
dtype = "float64"
device = "cpu"
[data]
kind = "random-labels"
n = 24
dim = 4
classes = 3
[model]
kind = "mlp"
hidden = [6]
activation = "tanh"
[optimizer]
kind = "gd"
lr = 0.4
[measure]
sharpness_every = 3
eigenvalues = 2
tolerance = 1e-4
[[arm]]
name = "sgd"
optimizer.kind = "sgd"
optimizer.batch_size = 8
optimizer.momentum = 0.5
[[arm]]
name = "adam"
optimizer.kind = "adam"
optimizer.lr = 0.01
[[arm]]
name = "tracked"
measure.track_every_step = true
measure.reparam_every = 5
"""

QUADRATIC = """
name = "state-quadratic"
seed = 2
steps = 20
dtype = "float64"
[data]
kind = "none"
[model]
kind = "quadratic"
eigenvalues = [10.0, 4.0, 1.0, 0.5]
[optimizer]
kind = "gd"
lr_relative = 1.9
[measure]
sharpness_every = 2
"""


def same(x, y) -> bool:
    """Equal to the last bit: tensors (dtype, shape, values, nan where nan), containers, floats."""
    if isinstance(x, torch.Tensor) or isinstance(y, torch.Tensor):
        return (
            isinstance(x, torch.Tensor)
            and isinstance(y, torch.Tensor)
            and x.dtype == y.dtype
            and x.shape == y.shape
            and bool(torch.equal(torch.nan_to_num(x, nan=0.5), torch.nan_to_num(y, nan=0.5)))
            and bool((x.isnan() == y.isnan()).all())
        )
    if isinstance(x, ArmState):
        return isinstance(y, ArmState) and same(vars(x), vars(y))
    if isinstance(x, dict):
        return isinstance(y, dict) and list(x) == list(y) and all(same(x[k], y[k]) for k in x)
    if isinstance(x, (list, tuple, deque)):
        return type(x) is type(y) and len(x) == len(y) and all(same(a, b) for a, b in zip(x, y))
    if isinstance(x, float) and isinstance(y, float) and math.isnan(x):
        return math.isnan(y)
    return type(x) is type(y) and x == y


def records_text(records) -> list[str]:
    return [json.dumps(r, sort_keys=True) for r in records]


def run_on(arm: Arm) -> list[dict]:
    out = []
    while arm.status is None:
        out += arm.step()
    return out


ARMS = {"sgd": (SCENARIO, "sgd"), "adam": (SCENARIO, "adam"), "tracked": (SCENARIO, "tracked"), "quadratic": (QUADRATIC, None)}


@pytest.mark.parametrize(("text", "name"), list(ARMS.values()), ids=list(ARMS))
def test_an_arm_goes_on_from_its_state_bit_for_bit(text, name):
    """The state taken at step 10 (and not copied: the arm that gave it steps on, so a tensor written
    into, or a detector's window shared, would show), loaded into a fresh arm, which then writes the
    records the first one wrote after step 10, bit for bit."""
    spec = next(a for a in scenario(text).arms if name is None or a.name == name)
    arm = Arm(spec, CPU)
    arm.begin()
    for _ in range(10):
        arm.step()
    state = arm.state_dict()
    after = run_on(arm)
    again = Arm(spec, CPU)
    again.load_state_dict(state)
    assert same(again.state_dict(), state)
    assert records_text(run_on(again)) == records_text(after)
    assert same(again.state_dict(), arm.state_dict())
    if name == "tracked":  # the parts that must be in it are in it
        assert state.tracker is not None and state.tracker["updates"] == 10 and state.reparam["warned"]
    if name is None:
        assert state.theory_coords is not None


def test_an_undone_step_leaves_the_arm_as_it_was():
    """StepStart's undo is loading the state the step found: a step taken, then undone, then taken
    again writes what it wrote the first time."""
    from eos_tui.engine.checkpoint import StepStart

    spec = next(a for a in scenario(SCENARIO).arms if a.name == "tracked")
    arm = Arm(spec, CPU)
    arm.begin()
    for _ in range(3):
        arm.step()
    start = StepStart(arm)
    first = arm.step()
    start.undo()
    assert arm.t == 3
    assert records_text(arm.step()) == records_text(first)


def feed(detector, inputs):
    return [detector.update(*x) for x in inputs]


DETECTOR_INPUTS = {
    Oscillation: lambda rng, t: (t, rng.choice([-1.0, 1.0]) * rng.random(), rng.random(), 0.9 + rng.random() / 5),
    Catapult: lambda rng, t: (t, [1.0, 3.0, 0.5][min(t // 10, 2)] + rng.random() / 10, rng.random() * 4, 2.0),
    EosOnset: lambda rng, t: (1.5 + math.sin(t / 3), 2.0),
}


@pytest.mark.parametrize("kind", [Oscillation, Catapult, EosOnset], ids=lambda k: k.__name__)
def test_a_detector_goes_on_from_its_state(kind):
    rng = random.Random(7)
    inputs = [DETECTOR_INPUTS[kind](rng, t) for t in range(60)]
    one = kind()
    feed(one, inputs[:25])
    state = one.state_dict()
    later = feed(one, inputs[25:])  # steps on: the state taken must not move with it
    two = kind()
    two.load_state_dict(state)
    assert same(two.state_dict(), state)
    assert feed(two, inputs[25:]) == later
    assert same(two.state_dict(), one.state_dict())
    with pytest.raises(ValueError, match="'bogus'"):
        kind().load_state_dict({**state, "bogus": 1})


def test_a_flip_window_goes_on_from_its_state():
    one = FlipWindow(5)
    for v in (1.0, -1.0, 0.0, -2.0, 3.0):
        one.update(v)
    two = FlipWindow(5)
    two.load_state_dict(one.state_dict())
    for v in (-1.0, None, 1.0, 1.0):
        one.update(v)
        two.update(v)
        assert two.fraction == one.fraction and two.full == one.full
    assert same(two.state_dict(), one.state_dict())


def test_the_reparameterization_checks_keep_what_they_said():
    r = ReparamChecks("a", None, [2.0], "float64")
    r.load_state_dict({"warned": True, "failed_alphas": {2.0, None}})
    state = r.state_dict()
    state["failed_alphas"].add(3.0)  # a copy: the checks' own set does not change
    assert r.state_dict() == {"warned": True, "failed_alphas": {2.0, None}}


def test_the_tracker_goes_on_from_its_state_bit_for_bit():
    g = torch.Generator().manual_seed(0)
    A = torch.randn(12, 12, generator=g, dtype=torch.float64)
    H = A @ A.T

    def hvp(v):
        return H @ v

    one = PerStepTracker(k=2, generator=torch.Generator().manual_seed(1))
    for _ in range(6):
        one.update(hvp, 12, torch.float64)
    state = one.state_dict()
    later = [one.update(hvp, 12, torch.float64) for _ in range(9)]
    two = PerStepTracker(k=2, generator=torch.Generator().manual_seed(99))  # another generator: its state is set
    two.load_state_dict(state)
    for was in later:
        now = two.update(hvp, 12, torch.float64)
        assert same(now.eigenvalues, was.eigenvalues) and same(now.eigenvectors, was.eigenvectors) and now.hvps == was.hvps
    assert same(two.state_dict(), one.state_dict())


ENGINE = Path(__file__).resolve().parents[1] / "eos_tui" / "engine"


@pytest.mark.parametrize("module", ["checkpoint.py", "resume.py", "runner.py"])
def test_checkpoints_and_resume_read_no_other_objects_private_fields(module):
    """An arm's state goes through state_dict/load_state_dict only: `x._name` on anything but self
    (before: checkpoint.py read the tracker's and the reparameterization checks' private fields)."""
    tree = ast.parse((ENGINE / module).read_text(encoding="utf-8"))
    private = [
        f"{module}:{n.lineno}: {ast.unparse(n)}"
        for n in ast.walk(tree)
        if isinstance(n, ast.Attribute)
        and n.attr.startswith("_")
        and not n.attr.startswith("__")
        and not (isinstance(n.value, ast.Name) and n.value.id in ("self", "cls"))
    ]
    assert private == []


FIXTURES = Path(__file__).resolve().parent / "checkpoints"


@pytest.mark.parametrize("name", ["tracked", "adam"])
def test_a_checkpoint_written_before_arm_state_restores_and_is_written_back_the_same(name, tmp_path):
    """tests/checkpoints/format1-*.safetensors: written by the code before state_dict (b4ef3a2), the
    arm of SCENARIO after 11 steps, 5 records. Restored into a fresh arm and written again: the same
    tensors under the same names, the same metadata (the file format did not change)."""
    from eos_tui.engine import checkpoint as ck

    spec = next(a for a in scenario(SCENARIO).arms if a.name == name)
    tensors, meta = ck.load(FIXTURES / f"format1-{name}.safetensors")
    arm = Arm(spec, CPU)
    ck.restore_arm(arm, tensors, meta)
    again_tensors, again_meta = ck.arm_state(arm, arm.rule_state, meta["records"])
    ck.save(tmp_path / "again.safetensors", again_tensors, again_meta)
    back_tensors, back_meta = ck.load(tmp_path / "again.safetensors")
    assert same(back_tensors, tensors)
    # "spec" is the scenario's trajectory keys as the loader writes them now (a key added since is not a format change)
    assert {k: v for k, v in back_meta.items() if k != "spec"} == {k: v for k, v in meta.items() if k != "spec"}
    assert arm.t == 11 and arm.step()  # and it trains on
