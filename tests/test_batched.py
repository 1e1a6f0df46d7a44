"""Arms trained as one vmapped batch give the records of arms trained one at a time.

Every test runs one scenario twice through `run_scenario`, batched (`engine.batch_arms = "auto"`,
the default) and one arm at a time (`"off"`), and compares metrics.jsonl arm by arm, record by
record, field by field:
  * strings, booleans, integers (step, hvps, steps_done, peak_step), statuses, event kinds and
    messages: exactly equal, and the same records in the same order;
  * floats: |a − b| ≤ ATOL + RTOL·max(|a|, |b|), with RTOL = 1e-9 and ATOL = 1e-12, in float64.
Why that tolerance: a batched matmul (bmm) sums in another order than a single one (mm), so each
operation differs by a few ulps (~1e-16 relative); gradient descent at the edge of stability
amplifies a perturbation along the top eigendirection by |1 − ηλ| ≈ 1 per step (more during a
catapult), and over these ≤ 60-step runs we see at most ~1e-10 relative (largest on proj and
disp, which are small differences of larger numbers; hence also the absolute floor, which covers
quantities that pass through zero, e.g. the uv model's output f). A real mismatch (a missed
momentum term, a wrong learning rate, a warm start from the wrong arm) is orders of magnitude
larger. The eigen-solve's HVP counts, being integers that depend on when each residual crosses
the tolerance, must match exactly: each arm stops on its own residual.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict

import pytest

from eos_tui.engine.arm import Arm
from eos_tui.engine.batched import ArmBatch, batch_key, plan
from eos_tui.engine.runner import run_scenario
from eos_tui.scenario import ScenarioError

from .helpers import CPU, scenario

RTOL, ATOL = 1e-9, 1e-12

# An η sweep on a tiny tanh MLP: a stable arm, two at the edge of stability (one with momentum,
# one with a step decay), and one that diverges; sharpness every 2 steps, k = 2.
ETA_SWEEP = """
name = "sweep"
seed = 3
steps = 40
dtype = "float64"
[data]
kind = "random-labels"
n = 24
dim = 6
classes = 3
[model]
kind = "mlp"
hidden = [12]
activation = "tanh"
[optimizer]
lr = 0.5
[measure]
sharpness_every = 2
eigenvalues = 2
tolerance = 1e-3
[[arm]]
name = "small"
optimizer.lr = 0.2
[[arm]]
name = "eos"
optimizer.lr = 1.2  # at 1.0 the flips after the unstable start decay (λη/2 ≈ 0.86): no period-2 onset within 40 steps
[[arm]]
name = "momentum"
optimizer.lr = 0.3
optimizer.momentum = 0.9
[[arm]]
name = "decay"
optimizer.lr = 1.0
schedule = { kind = "step", milestones = [20], factors = [0.25] }
[[arm]]
name = "diverge"
optimizer.lr = 40.0
"""


def run(text: str, tmp_path, mode: str, **kwargs) -> tuple[dict[str, list[dict]], dict]:
    sc = scenario(text, overrides=[f'engine.batch_arms="{mode}"'], **kwargs)
    d = tmp_path / mode
    d.mkdir()
    status, manifest = run_scenario(sc, d)
    assert status == "completed"
    by_arm: dict[str, list[dict]] = defaultdict(list)
    for line in (d / "metrics.jsonl").read_text().splitlines():
        rec = json.loads(line)
        by_arm[rec["arm"]].append(rec)
    return by_arm, manifest


def assert_same(a, b, where: str) -> None:
    if isinstance(a, float) or isinstance(b, float):
        assert isinstance(a, (int, float)) and isinstance(b, (int, float)), f"{where}: {a!r} vs {b!r}"
        assert math.isclose(a, b, rel_tol=RTOL, abs_tol=ATOL), f"{where}: {a!r} vs {b!r}"
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), f"{where}: keys {sorted(a)} vs {sorted(b)}"
        for k in a:
            assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), f"{where}: lengths differ"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} vs {b!r}"


def compare(text: str, tmp_path, **kwargs):
    batched, manifest = run(text, tmp_path, "auto", **kwargs)
    alone, manifest_off = run(text, tmp_path, "off", **kwargs)
    assert manifest_off["batches"] == []
    assert batched.keys() == alone.keys()
    for arm in alone:
        assert len(batched[arm]) == len(alone[arm]), arm
        for i, (x, y) in enumerate(zip(batched[arm], alone[arm])):
            assert_same(x, y, f"{arm} record {i} ({y['type']}, step {y.get('step')})")
    for name, entry in manifest_off["arms"].items():
        assert manifest["arms"][name]["status"] == entry["status"]
        assert manifest["arms"][name]["steps_done"] == entry["steps_done"]
    return batched, manifest


def kinds(records: list[dict]) -> set[str]:
    return {r["kind"] for r in records if r["type"] == "event"}


def test_eta_sweep_matches_arms_run_alone(tmp_path):
    recs, manifest = compare(ETA_SWEEP, tmp_path)
    assert manifest["batches"] == [["small", "eos", "momentum", "decay", "diverge"]]
    # the sweep shows what it should, so the comparison covers those records
    assert "eos_onset" in kinds(recs["eos"]) and "period2_onset" in kinds(recs["eos"])
    assert "lr_change" in kinds(recs["decay"])
    assert recs["diverge"][-1]["status"] == "diverged" and "diverged" in kinds(recs["diverge"])
    assert recs["diverge"][-1]["steps_done"] < 10
    for name in ("small", "eos", "momentum", "decay"):  # the others went on to the end
        assert recs[name][-1] == {**recs[name][-1], "status": "completed", "steps_done": 40}
    assert sum(r["type"] == "sharpness" for r in recs["eos"]) == 20


def test_seeds_sweep_stacked_data_cross_entropy_mixed_cadence(tmp_path):
    """Different seeds: different data per arm (stacked, not shared); different steps, cadence,
    k, tolerance per arm; cross-entropy; one arm without sharpness at all."""
    text = """
    name = "seeds"
    steps = 40
    dtype = "float64"
    loss = "cross-entropy"
    [data]
    kind = "random-labels"
    n = 20
    dim = 5
    classes = 3
    [model]
    kind = "mlp"
    hidden = [8, 8]
    activation = "gelu"
    [optimizer]
    lr = 1.0
    [measure]
    sharpness_every = 3
    [[arm]]
    name = "s0"
    seed = 0
    [[arm]]
    name = "s1"
    seed = 1
    steps = 25
    measure = { sharpness_every = 2, eigenvalues = 3, tolerance = 1e-5 }
    [[arm]]
    name = "s2"
    seed = 2
    measure.sharpness_every = 0
    """
    recs, manifest = compare(text, tmp_path)
    assert manifest["batches"] == [["s0", "s1", "s2"]]
    assert recs["s1"][-1]["steps_done"] == 25 and recs["s0"][-1]["steps_done"] == 40
    assert not any(r["type"] == "sharpness" for r in recs["s2"])


def test_uv_catapult_and_divergence_with_theory_overlays(tmp_path):
    """The uv model at η·λ0 = 1, 3 (catapult) and 4.5 (diverges): lr_relative resolved per arm,
    the one-step map's overlays and the catapult event, batched."""
    text = """
    name = "uv"
    steps = 60
    dtype = "float64"
    [data]
    kind = "none"
    [model]
    kind = "uv"
    width = 50
    [optimizer]
    lr_relative = 1.0
    [measure]
    sharpness_every = 1
    tolerance = 1e-6
    [[arm]]
    name = "lazy"
    [[arm]]
    name = "catapult"
    optimizer.lr_relative = 3.0
    [[arm]]
    name = "diverge"
    optimizer.lr_relative = 4.5
    """
    recs, _ = compare(text, tmp_path)
    assert "catapult" in kinds(recs["catapult"])
    assert recs["diverge"][-1]["status"] == "diverged"
    assert "f_next_theory" in recs["lazy"][-2]


def test_quadratic_exact_sharpness_and_reparam_checks(tmp_path):
    """measure.exact arms (dense Hessian, one by one) and reparameterization checks inside a batch."""
    quad = """
    name = "quad"
    steps = 50
    dtype = "float64"
    [data]
    kind = "none"
    [model]
    kind = "quadratic"
    eigenvalues = [10.0, 4.0, 1.0]
    [optimizer]
    lr = 0.19
    [measure]
    sharpness_every = 1
    exact = true
    [[arm]]
    name = "under"
    [[arm]]
    name = "over"
    optimizer.lr = 0.21
    measure.exact = false
    """
    (tmp_path / "q").mkdir()
    (tmp_path / "r").mkdir()
    recs, manifest = compare(quad, tmp_path / "q")
    assert manifest["batches"] == [["under", "over"]]
    assert "loss_theory" in recs["under"][0] or "loss_theory" in recs["under"][1]
    relu = """
    name = "relu"
    steps = 6
    dtype = "float64"
    [data]
    kind = "random-labels"
    n = 16
    dim = 4
    classes = 2
    [model]
    kind = "mlp"
    hidden = [6, 6]
    activation = "relu"
    [optimizer]
    lr = 0.3
    [measure]
    sharpness_every = 2
    reparam_every = 5
    reparam_alphas = [0.5]
    [[arm]]
    name = "a"
    [[arm]]
    name = "b"
    optimizer.lr = 0.6
    """
    recs, _ = compare(relu, tmp_path / "r")
    assert sum(r["type"] == "reparam" for r in recs["b"]) == 2 * 3  # steps 0 and 5 × 3 maps


def test_batched_runs_are_deterministic(tmp_path):
    a = scenario(ETA_SWEEP, steps=20)
    b = scenario(ETA_SWEEP, steps=20)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    run_scenario(a, tmp_path / "a")
    run_scenario(b, tmp_path / "b")
    assert (tmp_path / "a" / "metrics.jsonl").read_bytes() == (tmp_path / "b" / "metrics.jsonl").read_bytes()


def test_compatibility_rule():
    text = (
        ETA_SWEEP
        + """
    [[arm]]
    name = "sgd"
    optimizer = { kind = "sgd", batch_size = 8, lr = 0.1 }
    [[arm]]
    name = "flow"
    optimizer = { kind = "flow", lr = 0.1 }
    [[arm]]
    name = "alone"
    engine.batch_arms = "off"
    [[arm]]
    name = "f32"
    dtype = "float32"
    [[arm]]
    name = "f32-b"
    dtype = "float32"
    optimizer.lr = 0.1
    [[arm]]
    name = "wider"
    model.hidden = [13]
    [[arm]]
    name = "relu"
    model.activation = "relu"
    """
    )
    import textwrap

    arms = [Arm(spec, CPU) for spec in scenario(textwrap.dedent(text)).arms]
    groups = [[a.name for a in g] for g in plan(arms)]
    assert groups == [["small", "eos", "momentum", "decay", "diverge"], ["sgd"], ["flow"], ["alone"], ["f32", "f32-b"], ["wider"], ["relu"]]
    assert batch_key(arms[5]) is None and batch_key(arms[6]) is None and batch_key(arms[7]) is None
    with pytest.raises(ValueError):
        ArmBatch([arms[0], arms[8]])


def test_shared_and_stacked_data():
    """An η sweep passes its data once; a seeds sweep stacks it."""
    sweep = [Arm(s, CPU) for s in scenario(ETA_SWEEP).arms]
    assert ArmBatch(sweep).data_dims == [None, None]  # the MLP's (X, Y)
    seeds = [Arm(s, CPU) for s in scenario(ETA_SWEEP, overrides=["data.seed=1"]).arms[:2]]
    assert ArmBatch(seeds).data_dims == [None, None]
    text = ETA_SWEEP.replace('name = "eos"\n', 'name = "eos"\nseed = 4\n')
    mixed = [Arm(s, CPU) for s in scenario(text).arms]
    assert ArmBatch(mixed).data_dims == [0, 0]
    assert ArmBatch(mixed).data[0].shape == (5, 24, 6)


@pytest.mark.parametrize(
    "value, message",
    [
        ('"sometimes"', "engine.batch_arms: must be one of 'auto' or 'off' (got \"sometimes\")"),
        ("true", "engine.batch_arms: must be one of 'auto' or 'off'"),
    ],
)
def test_schema_batch_arms(value, message):
    with pytest.raises(ScenarioError) as e:
        scenario(ETA_SWEEP, overrides=[f"engine.batch_arms={value}"])
    assert message in str(e.value)
    with pytest.raises(ScenarioError) as e:
        scenario(ETA_SWEEP, overrides=["engine.batch=1"])
    assert "engine.batch: unknown key" in str(e.value)
    assert scenario(ETA_SWEEP).arms[0].engine.batch_arms == "auto"
    assert 'batch_arms = "auto"' in scenario(ETA_SWEEP).to_toml()


def test_interrupt_mid_batch_ends_every_arm_interrupted(tmp_path):
    from eos_tui.engine.runner import StopRequest

    stop = StopRequest()
    seen = []

    def on_records(recs, arms):
        seen.extend(recs)
        if sum(r["type"] == "step" for r in seen) >= 12:
            stop.event.set()

    status, manifest = run_scenario(scenario(ETA_SWEEP), tmp_path, on_records=on_records, stop=stop)
    assert status == "interrupted"
    ends = {r["arm"]: r for r in seen if r["type"] == "end"}
    # ≥ 12 step records: after the 3rd batched step (the stop is checked between steps, never
    # inside one), in which "diverge" ended by itself (its last step record is the diverged one)
    assert {n: (e["status"], e["steps_done"]) for n, e in ends.items()} == {
        "small": ("interrupted", 3),
        "eos": ("interrupted", 3),
        "momentum": ("interrupted", 3),
        "decay": ("interrupted", 3),
        "diverge": ("diverged", 2),
    }
    assert manifest["status"] == "interrupted"
