"""--set as a user meets it: unsetting a key, one value per key, arms that keep their own value named
with the key, and command-line flags named as flags in errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from eos_tui.scenario import ScenarioError, checks, load_scenario, load_scenario_text

UV = '[data]\nkind = "none"\n[model]\nkind = "uv"\n[optimizer]\nkind = "gd"\nlr = 0.1\n'
ONE_ARM_OWN = UV + '[[arm]]\nname = "a"\n[[arm]]\nname = "b"\noptimizer.lr = 0.2\n'


def error(name: str, **kwargs) -> str:
    with pytest.raises(ScenarioError) as info:
        load_scenario(name, **kwargs)
    msg = str(info.value)
    assert "\n" not in msg
    return msg


def test_an_empty_value_unsets_a_key_so_lr_relative_can_become_lr():
    sc = load_scenario("warmup", overrides=["optimizer.lr_relative=", "optimizer.lr=0.05"])
    assert [(a.optimizer.lr, a.optimizer.lr_relative) for a in sc.arms] == [(0.05, None)] * 3
    sc = load_scenario("warmup", overrides=["optimizer.lr=0.05", " optimizer.lr_relative = "])  # order and spaces do not matter
    assert [a.optimizer.lr for a in sc.arms] == [0.05] * 3
    assert "optimizer.lr_relative" not in sc.raw["optimizer"]


def test_unsetting_what_the_base_does_not_set_is_refused():
    msg = error("eos", overrides=["optimizer.lr_relative="])
    assert "--set optimizer.lr_relative=: the scenario does not set optimizer.lr_relative, so there is nothing to unset" in msg
    # adam's base sets lr too: unsetting it there changes no arm, as each sets its own
    assert "changes no arm: every arm sets optimizer.lr" in error("adam", overrides=["optimizer.lr="])


def test_setting_lr_where_the_base_has_lr_relative_says_how_to_unset_it():
    msg = error("warmup", overrides=["optimizer.lr=0.05"])
    assert msg.startswith("warmup.toml (built-in): --set optimizer.lr=0.05: in arm 'no-warmup': optimizer.lr_relative: set exactly one")
    assert "(the scenario sets optimizer.lr_relative = 8.0; remove it with --set optimizer.lr_relative=)" in msg


def test_setting_lr_where_each_arm_has_lr_relative_names_the_arm_and_its_key():
    msg = error("catapult", overrides=["optimizer.lr=0.1"])
    assert "--set optimizer.lr=0.1: in arm 'uv-small': optimizer.lr_relative: set exactly one" in msg
    assert "arm 'uv-small' sets optimizer.lr_relative = 1.0 itself, which --set cannot change" in msg
    assert "(arm[0])" not in msg  # not read as the scenario's own fault


def test_a_key_given_twice_is_refused_not_last_wins():
    msg = error("quadratic", overrides=["measure.eigenvalues=2", "measure.eigenvalues=3"])
    assert "--set measure.eigenvalues=3: measure.eigenvalues is already set by --set measure.eigenvalues=2; give each key once" in msg
    assert "already set by --set optimizer.lr_relative=" in error("warmup", overrides=["optimizer.lr_relative=", "optimizer.lr_relative=2"])


def test_arms_that_keep_their_own_value_are_named_with_the_key():
    sc = load_scenario_text(ONE_ARM_OWN, source="t.toml", default_name="t", overrides=["optimizer.lr=0.05"])
    assert [a.optimizer.lr for a in sc.arms] == [0.05, 0.2]
    assert sc.notes == ["--set optimizer.lr=0.05: arm 'b' (0.2) sets optimizer.lr itself and keeps it; the --set applies to the other arms"]
    assert load_scenario_text(ONE_ARM_OWN, source="t.toml", default_name="t", overrides=["measure.eigenvalues=2"]).notes == []
    three = ONE_ARM_OWN + '[[arm]]\nname = "c"\noptimizer.lr = 0.3\n'
    sc = load_scenario_text(three, source="t.toml", default_name="t", overrides=["optimizer.lr=0.05"])
    assert sc.notes == [
        "--set optimizer.lr=0.05: arms 'b' (0.2), 'c' (0.3) set optimizer.lr themselves and keep it; the --set applies to the other arms"
    ]


def test_run_prints_the_note_before_anything_else(tmp_path):
    (tmp_path / "t.toml").write_text(ONE_ARM_OWN)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run(
        [sys.executable, "-m", "eos_tui.cli", "run", "t.toml", "--set", "optimizer.lr=0.05"],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert r.returncode == 2  # no terminal for the app; the note came first
    first = r.stderr.splitlines()[0]
    assert first == (
        "eos-tui: note: --set optimizer.lr=0.05: arm 'b' (0.2) sets optimizer.lr itself and keeps it; the --set applies to the other arms"
    )
    assert sorted(p.name for p in Path(tmp_path).iterdir()) == ["t.toml"]


def test_a_set_that_fails_in_one_arm_only_names_that_arm():
    msg = error("sgd_vs_gd", overrides=["optimizer.batch_size=64"])
    assert "--set optimizer.batch_size=64: in arm 'gd': optimizer.batch_size: does not apply to kind 'gd'" in msg


def test_device_flag_is_named_as_the_flag_not_as_the_scenario_key():
    msg = error("catapult", device="mps")
    assert msg.startswith("catapult.toml (built-in): --device mps: in arm 'uv-small': device: 'mps' has no float64"), msg
    assert "(arm[0])" not in msg


def test_unavailable_device_from_the_flag_says_how_to_change_the_flag(monkeypatch):
    monkeypatch.setattr(checks, "probe_devices", lambda: {"cuda": False, "count": 0, "mps": False, "torch": "2.x"})
    with pytest.raises(ScenarioError) as info:
        checks.check_devices(load_scenario("quadratic", device="cuda:1"))
    assert str(info.value) == (
        "quadratic.toml (built-in): --device cuda:1: device: 'cuda:1' asked for, but CUDA is not available here (torch 2.x);"
        " use --device auto or cpu"
    )
    with pytest.raises(ScenarioError) as info:  # the file's own key: named as the key, as before
        checks.check_devices(load_scenario_text('device = "mps"\ndtype = "float32"\n' + UV, source="t.toml", default_name="t"))
    assert str(info.value) == 't.toml: device: \'mps\' asked for, but MPS is not available here; use device = "auto" or "cpu"'
