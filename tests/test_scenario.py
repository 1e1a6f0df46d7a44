"""Scenario files: defaults, arms, overrides, round trip, and a clear error for each bad input.

Fast and torch-free: the scenario package is what `eos-tui list/validate` import.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from eos_tui.scenario import (
    ScenarioError,
    find_scenario,
    list_builtins,
    load_scenario,
    load_scenario_text,
    loader,
    parse_override,
)

MINIMAL = "[optimizer]\nlr = 0.1\n"


def load(text: str, **kwargs):
    return load_scenario_text(text, source="t.toml", default_name="t", **kwargs)


def error_of(text: str, **kwargs) -> str:
    with pytest.raises(ScenarioError) as info:
        load(text, **kwargs)
    msg = str(info.value)
    assert msg == info.value.message
    assert "Traceback" not in msg and msg.startswith("t.toml")
    return msg


# ---- defaults and arms -------------------------------------------------------------------------


def test_defaults_and_implicit_main_arm():
    sc = load(MINIMAL)
    assert sc.name == "t" and sc.description == "" and sc.seed == 0 and sc.steps == 1000
    [arm] = sc.arms
    assert arm.name == "main"
    assert (arm.seed, arm.steps, arm.dtype, arm.device, arm.loss) == (0, 1000, "float32", "auto", "mse")
    assert (arm.data.kind, arm.data.n, arm.data.dim, arm.data.classes) == ("random-labels", 128, 16, 4)
    assert arm.data.seed == 0  # None in the file → the arm's seed
    assert (arm.model.kind, arm.model.hidden, arm.model.activation, arm.model.bias) == ("mlp", [64, 64], "tanh", True)
    assert arm.model.init_scale == 1.0
    assert (arm.optimizer.kind, arm.optimizer.lr, arm.optimizer.lr_relative) == ("gd", 0.1, None)
    assert arm.optimizer.momentum == 0.0
    assert not hasattr(arm.optimizer, "flow_alpha")  # one class per kind: only gradient flow has it
    assert arm.schedule.kind == "constant"
    m = arm.measure
    assert (m.sharpness_every, m.eigenvalues, m.tolerance, m.exact, m.max_iter) == (10, 1, 1e-3, False, 100)
    assert (m.reparam_every, m.reparam_alphas, m.on, m.track_every_step) == (0, [0.5, 2.0], "full", False)


def test_data_seed_follows_arm_seed_unless_set():
    sc = load("seed = 5\n" + MINIMAL + '[[arm]]\nname = "a"\n[[arm]]\nname = "b"\nseed = 7\n[[arm]]\nname = "c"\ndata.seed = 1\n')
    assert [(a.seed, a.data.seed) for a in sc.arms] == [(5, 5), (7, 7), (5, 1)]


def test_arms_merge_deeply_over_the_base():
    sc = load("""
name = "cmp"
steps = 50
[data]
n = 64
[model]
hidden = [8]
activation = "relu"
[optimizer]
lr = 0.1
momentum = 0.5

[[arm]]
name = "slow"

[[arm]]
name = "fast"
steps = 80
optimizer.lr = 0.15
model.activation = "gelu"
schedule.kind = "warmup"
schedule.warmup_steps = 10
""")
    slow, fast = sc.arms
    assert (slow.name, fast.name) == ("slow", "fast")
    assert slow.optimizer.lr == 0.1 and fast.optimizer.lr == 0.15
    assert fast.optimizer.momentum == 0.5  # sibling kept
    assert fast.model.hidden == [8] and fast.model.activation == "gelu" and slow.model.activation == "relu"
    assert fast.data.n == 64
    assert fast.schedule.kind == "warmup" and fast.schedule.warmup_steps == 10
    assert slow.schedule.kind == "constant"
    assert (slow.steps, fast.steps, sc.steps) == (50, 80, 80)
    assert "arm" not in sc.raw and sc.raw["steps"] == 50


def test_base_may_leave_lr_to_each_arm():
    sc = load('[[arm]]\nname = "a"\noptimizer.lr = 0.1\n[[arm]]\nname = "b"\noptimizer.lr_relative = 1.5\n')
    assert [(a.optimizer.lr, a.optimizer.lr_relative) for a in sc.arms] == [(0.1, None), (None, 1.5)]


def test_other_kinds_load():
    sc = load(
        '[model]\nkind = "quadratic"\neigenvalues = [4.0, 1.0, -0.5]\n[data]\nkind = "none"\n'
        '[optimizer]\nkind = "flow"\nlr = 0.1\nflow_alpha = 0.25\n'
        '[schedule]\nkind = "cosine"\nwarmup_steps = 5\nfinal_factor = 0.1\n'
    )
    arm = sc.arms[0]
    assert arm.model.eigenvalues == [4.0, 1.0, -0.5] and arm.model.init is None
    assert arm.optimizer.flow_alpha == 0.25 and arm.schedule.final_factor == 0.1
    sc = load('[model]\nkind = "uv"\nwidth = 10\n[data]\nkind = "none"\n[optimizer]\nlr = 0.1\n')
    assert sc.arms[0].model.width == 10
    sc = load('loss = "cross-entropy"\n[data]\nkind = "random-labels"\n' + MINIMAL)
    assert sc.arms[0].loss == "cross-entropy"
    sc = load('[data]\nkind = "teacher"\noutputs = 3\n[schedule]\nkind = "step"\nmilestones = [10, 20]\nfactors = [0.5, 0.5]\n' + MINIMAL)
    assert sc.arms[0].data.outputs == 3 and sc.arms[0].schedule.milestones == [10, 20]


# ---- overrides and flags -----------------------------------------------------------------------


def test_overrides_apply_to_the_base_before_arms():
    text = MINIMAL + '[[arm]]\nname = "a"\n[[arm]]\nname = "b"\noptimizer.lr = 0.3\n'
    sc = load(
        text,
        overrides=[
            "optimizer.lr=0.05",
            "model.activation=relu",
            "model.hidden=[32, 16]",
            'description="two words"',
            "measure.exact=true",
            "data.n=64",
        ],
    )
    a, b = sc.arms
    assert a.optimizer.lr == 0.05 and b.optimizer.lr == 0.3  # the arm still wins over --set
    assert a.model.activation == "relu" and b.model.hidden == [32, 16]
    assert sc.description == "two words" and a.measure.exact is True and b.data.n == 64


def test_parse_override_values():
    assert parse_override("optimizer.lr=1e-3") == {"optimizer": {"lr": 1e-3}}
    assert parse_override("loss=cross-entropy") == {"loss": "cross-entropy"}  # bare word → string
    assert parse_override("device = cuda:1") == {"device": "cuda:1"}
    assert parse_override("measure.reparam_alphas=[0.25, 4]") == {"measure": {"reparam_alphas": [0.25, 4]}}
    assert parse_override('name="x y"') == {"name": "x y"}


@pytest.mark.parametrize("bad", ["noequals", "=1", "a..b=1", "optimizer.lr=oops=", "model.hidden=[1,", "a b=1"])
def test_malformed_override_names_it(bad):
    with pytest.raises(ScenarioError) as info:
        load(MINIMAL, overrides=[bad])
    assert repr(bad) in str(info.value) or bad in str(info.value)


def test_override_to_an_unknown_key_names_the_path():
    assert "optimizer.lrr: unknown key" in error_of(MINIMAL, overrides=["optimizer.lrr=1"])


def test_a_bad_override_is_blamed_on_the_flag_not_on_an_arm():
    # The value reaches every arm; naming the first arm would send the user to the wrong file.
    text = MINIMAL + '[[arm]]\nname = "a"\n[[arm]]\nname = "b"\n'
    assert error_of(text, overrides=["optimizer.lr=abc"]).endswith(
        't.toml: --set optimizer.lr=abc: optimizer.lr: must be a number (got "abc")'
    )
    # An arm's own bad value is still the arm's.
    text = MINIMAL + '[[arm]]\nname = "a"\nmodel.width = -1\n'
    assert "arm 'a'" in error_of(text, overrides=["optimizer.lr=0.1"])


def test_an_override_that_every_arm_overrides_is_refused():
    text = MINIMAL + '[[arm]]\nname = "a"\noptimizer.lr = 0.2\n[[arm]]\nname = "b"\noptimizer.lr = 0.3\n'
    msg = error_of(text, overrides=["optimizer.lr=100"])
    assert "--set optimizer.lr=100: changes no arm" in msg
    # One arm still takes it: allowed, and that arm gets it.
    text = MINIMAL + '[[arm]]\nname = "a"\noptimizer.lr = 0.2\n[[arm]]\nname = "b"\n'
    assert [a.optimizer.lr for a in load(text, overrides=["optimizer.lr=0.05"]).arms] == [0.2, 0.05]


def test_an_out_of_range_seed_is_refused_and_blamed_on_the_flag():
    # torch takes 64-bit seeds; 10^23 used to pass validation and fail inside the engine.
    assert "--seed 100000000000000000000000: seed: must be <" in error_of(MINIMAL, seed=10**23)
    assert "data.seed: must be ≥" in error_of(MINIMAL, overrides=[f"data.seed={-(10**20)}"])


def test_seed_steps_device_flags_beat_arms():
    text = MINIMAL + '[[arm]]\nname = "a"\nseed = 3\nsteps = 7\ndevice = "cpu"\n[[arm]]\nname = "b"\n'
    sc = load(text, seed=11, steps=20, device="cuda:1")
    assert [(a.seed, a.steps, a.device, a.data.seed) for a in sc.arms] == [(11, 20, "cuda:1", 11)] * 2
    assert sc.seed == 11 and sc.steps == 20
    assert "device" in error_of(MINIMAL, device="tpu")
    assert "steps: must be > 0" in error_of(MINIMAL, steps=0)


# ---- round trip ----------------------------------------------------------------------------------

ROUND_TRIP = """
name = "rt"
description = "round trip"
seed = 4
[[arm]]
name = "mlp"
description = "its own words"
optimizer.lr = 0.1
model.activation = "linear"
schedule.kind = "step"
schedule.milestones = [5, 9]
schedule.factors = [0.5, 0.1]
[[arm]]
name = "sgd"
dtype = "float64"
optimizer.kind = "sgd"
optimizer.batch_size = 16
optimizer.lr_relative = 1.9
[[arm]]
name = "quad"
data.kind = "none"
model.kind = "quadratic"
model.eigenvalues = [3, 1]
model.init = [1, -1]
optimizer.lr = 0.2
schedule.kind = "cosine"
"""


def test_to_toml_round_trip_gives_equal_arms():
    sc = load(ROUND_TRIP, seed=9)
    out = sc.to_toml()
    again = load_scenario_text(out, source="run/scenario.toml")
    assert again.arms == sc.arms
    assert (again.name, again.description, again.seed, again.steps) == ("rt", "round trip", 9, sc.steps)
    assert sc.arms[0].description == "its own words" and sc.arms[1].description == "round trip"
    assert sc.arms[2].model.eigenvalues == [3.0, 1.0]
    assert again.to_toml().split("\n", 1)[1] == out.split("\n", 1)[1]  # stable after the header line


def test_builtins_round_trip():
    for name, _ in list_builtins():
        sc = load_scenario(name)
        assert load_scenario_text(sc.to_toml(), source="x.toml").arms == sc.arms, name


# ---- bad input → one clear message with the key path --------------------------------------------

BAD = {
    "toml-syntax": ('name = "x"\nsteps = \n', "line 2, column 9: invalid TOML"),
    "unknown-top": ("colour = 1\n" + MINIMAL, "colour: unknown key"),
    "unknown-section": (MINIMAL + "learning_rate = 2\n", "optimizer.learning_rate: unknown key"),
    "unknown-in-arm": (MINIMAL + '[[arm]]\nname = "a"\nmeasure.every = 3\n', "arm 'a' (arm[0]): measure.every: unknown key"),
    "off-kind-key": (MINIMAL + "[model]\nwidth = 3\n", "model.width: does not apply to kind 'mlp'"),
    "wrong-type": ('steps = "many"\n' + MINIMAL, 'steps: must be an integer (got "many")'),
    "no-coercion": ("seed = true\n" + MINIMAL, "seed: must be an integer"),
    "literal": ('dtype = "float16"\n' + MINIMAL, "dtype: must be one of 'float32' or 'float64'"),
    "kind-literal": ('[model]\nkind = "lstm"\n' + MINIMAL, "model.kind: must be one of"),
    "out-of-range": ("[optimizer]\nlr = -1\n", "optimizer.lr: must be > 0 (got -1)"),
    "momentum": ("[optimizer]\nlr = 0.1\nmomentum = 1.0\n", "optimizer.momentum: must be < 1"),
    "not-finite": ("[optimizer]\nlr = inf\n", "optimizer.lr: must be a finite number"),
    "hidden": ("[model]\nhidden = [8, 0]\n" + MINIMAL, "model.hidden"),
    "table": ("model = 3\n" + MINIMAL, "model: must be a table"),
    "both-lrs": ("[optimizer]\nlr = 0.1\nlr_relative = 2.0\n", "optimizer.lr_relative: set exactly one"),
    "no-lr": ("seed = 1\n", "optimizer.lr: set exactly one"),
    "sgd-no-batch": ('[optimizer]\nkind = "sgd"\nlr = 0.1\n', "optimizer.batch_size: required"),
    "batch-gt-n": (
        '[data]\nn = 10\n[optimizer]\nkind = "sgd"\nlr = 0.1\nbatch_size = 64\n',
        "optimizer.batch_size: must be ≤ data.n = 10 (got 64)",
    ),
    "mlp-no-data": ('[data]\nkind = "none"\n' + MINIMAL, "data.kind: model.kind = 'mlp' needs data"),
    "uv-with-data": ('[model]\nkind = "uv"\n' + MINIMAL, "set data.kind = 'none'"),
    "ce-teacher": ('loss = "cross-entropy"\n[data]\nkind = "teacher"\n' + MINIMAL, "loss: 'cross-entropy' needs"),
    "quad-no-eigs": ('[model]\nkind = "quadratic"\n[data]\nkind = "none"\n' + MINIMAL, "model.eigenvalues: required"),
    "quad-init": (
        '[model]\nkind = "quadratic"\neigenvalues = [1.0, 2.0]\ninit = [1.0]\n[data]\nkind = "none"\n' + MINIMAL,
        "model.init: has 1 entries",
    ),
    "unsafe-dots": ('name = "../x"\n' + MINIMAL, "name: '../x'"),
    "unsafe-slash": ('name = "a/b"\n' + MINIMAL, "name: 'a/b'"),
    "unsafe-arm": (MINIMAL + '[[arm]]\nname = "../up"\n', "name: '../up' is not a safe name"),
    "arm-no-name": (MINIMAL + "[[arm]]\nseed = 1\n", "arm[0]: name: every [[arm]] needs a name"),
    "dup-arms": (MINIMAL + '[[arm]]\nname = "a"\n[[arm]]\nname = "a"\n', "arm[1]: name: 'a' is used by two arms"),
    "arm-not-table": ("arm = 3\n" + MINIMAL, "arm: must be an array of tables"),
    "step-lengths": (
        MINIMAL + '[schedule]\nkind = "step"\nmilestones = [10, 20]\nfactors = [0.5]\n',
        "schedule.factors: needs one factor per milestone",
    ),
    "step-order": (
        MINIMAL + '[schedule]\nkind = "step"\nmilestones = [20, 10]\nfactors = [0.5, 0.5]\n',
        "schedule.milestones: must be non-negative and strictly increasing",
    ),
    "warmup-missing": (MINIMAL + '[schedule]\nkind = "warmup"\n', "schedule.warmup_steps"),
    "cosine-factor": (MINIMAL + '[schedule]\nkind = "cosine"\nfinal_factor = 2.0\n', "schedule.final_factor: must be ≤ 1"),
    "measure-range": (MINIMAL + "[measure]\ntolerance = 0\nmax_iter = 1\n", "measure.tolerance: must be > 0"),
    "track-type": (MINIMAL + '[measure]\ntrack_every_step = "yes"\n', "measure.track_every_step: must be true or false"),
    "track-no-coercion": (MINIMAL + "[measure]\ntrack_every_step = 1\n", "measure.track_every_step: must be true or false"),
    "bad-device": ('device = "tpu"\n' + MINIMAL, "device: 'tpu' is not a device"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_names_the_key(case):
    text, needle = BAD[case]
    msg = error_of(text)
    assert needle in msg, msg


def test_all_errors_of_an_arm_are_reported_with_the_arm():
    msg = error_of(MINIMAL + '[[arm]]\nname = "ok"\n[[arm]]\nname = "fast"\noptimizer.lr = -1\nmeasure.max_iter = 1\n')
    assert msg.startswith("t.toml: arm 'fast' (arm[1]): ")
    assert "optimizer.lr: must be > 0" in msg and "measure.max_iter: must be ≥ 2" in msg


def test_unsafe_file_stem_needs_a_name(tmp_path):
    path = tmp_path / "my scenario.toml"
    path.write_text(MINIMAL)
    with pytest.raises(ScenarioError, match="name"):
        load_scenario(str(path))
    path.write_text('name = "ok"\n' + MINIMAL)
    assert load_scenario(str(path)).name == "ok"


# ---- files and built-ins -------------------------------------------------------------------------


@pytest.fixture
def catalogue(tmp_path, monkeypatch):
    d = tmp_path / "builtin"
    d.mkdir()
    (d / "alpha.toml").write_text('description = "First. Then more."\n' + MINIMAL)
    (d / "beta.toml").write_text('description = """Line one\nline two"""\n' + MINIMAL)
    monkeypatch.setattr(loader, "builtin_dir", lambda: d)
    return d


def test_builtin_lookup(catalogue):
    names = [n for n, _ in list_builtins()]
    assert names == ["alpha", "beta"]
    assert dict(list_builtins())["alpha"] == "First"
    assert find_scenario("alpha") == catalogue / "alpha.toml"
    sc = load_scenario("beta", overrides=["steps=5"])
    assert sc.name == "beta" and sc.steps == 5


def test_unknown_builtin_lists_the_names(catalogue):
    with pytest.raises(ScenarioError) as info:
        find_scenario("gamma")
    assert "gamma" in str(info.value) and "alpha" in str(info.value) and "beta" in str(info.value)
    with pytest.raises(ScenarioError):
        load_scenario("gamma")


def test_path_lookup(tmp_path, catalogue):
    path = tmp_path / "mine.toml"
    path.write_text('description = "mine"\n' + MINIMAL)
    sc = load_scenario(str(path))
    assert sc.name == "mine" and str(path) in sc.source
    with pytest.raises(ScenarioError, match="no such scenario file"):
        find_scenario(str(tmp_path / "missing.toml"))
    bad = tmp_path / "bad.toml"
    bad.write_text("steps = [\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(str(bad))
    assert str(bad) in str(info.value) and "invalid TOML" in str(info.value)


def test_builtin_dir_finds_the_repo_scenarios():
    d = loader.builtin_dir()
    assert d.name == "scenarios"


def test_import_is_light():
    code = "import sys, eos_tui.scenario; assert 'torch' not in sys.modules and 'textual' not in sys.modules, 'heavy import'"
    subprocess.run([sys.executable, "-c", code], check=True)
