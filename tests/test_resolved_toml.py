"""The resolved scenario.toml a run directory keeps: every arm written out, the description once."""

from __future__ import annotations

from eos_tui.scenario import load_scenario, load_scenario_text


def test_the_description_is_written_once_and_still_loads_back():
    description = "x" * 1_000_000
    arms = "".join(f'[[arm]]\nname = "a{i}"\noptimizer.lr = {0.01 * (i + 1)}\n' for i in range(100))
    text = f'description = "{description}"\n[optimizer]\nlr = 0.1\n' + arms
    sc = load_scenario_text(text, source="t.toml", default_name="t")
    out = sc.to_toml()
    assert len(out) < 1.1e6, len(out)  # was 106 MB: the description in every arm
    again = load_scenario_text(out, source="r.toml")
    assert again.arms == sc.arms and again.description == description
    assert all(a.description == description for a in again.arms)


def test_an_arms_own_description_is_kept():
    text = (
        'description = "top"\n[optimizer]\nlr = 0.1\n[[arm]]\nname = "a"\n'
        '[[arm]]\nname = "b"\ndescription = "its own"\n[[arm]]\nname = "c"\ndescription = ""\n'
    )
    sc = load_scenario_text(text, source="t.toml", default_name="t")
    again = load_scenario_text(sc.to_toml(), source="r.toml")
    assert [a.description for a in again.arms] == ["top", "its own", ""] and again.arms == sc.arms


def test_builtins_still_round_trip():
    for name in ("eos", "catapult", "quadratic", "sgd_vs_gd"):
        sc = load_scenario(name)
        assert load_scenario_text(sc.to_toml(), source="r.toml").arms == sc.arms, name
