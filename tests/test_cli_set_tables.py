"""--set one key twice through a table is refused too, as a dotted key twice is (review finding:
`--set data.n=64 --set 'data={n=32, ...}'` ran with n = 32, last-wins, without a word)."""

from __future__ import annotations

import pytest

from eos_tui.scenario import ScenarioError, load_scenario

TABLE = 'data={kind="random-labels", n=32, dim=5, classes=2}'


def error(*overrides: str) -> str:
    with pytest.raises(ScenarioError) as info:
        load_scenario("sgd_vs_gd", overrides=list(overrides))
    return str(info.value)


def test_a_key_set_by_a_dotted_key_and_by_a_table_is_refused_either_way():
    assert "data.n is already set by --set data.n=64; give each key once" in error("data.n=64", TABLE)
    assert f"data.n is already set by --set {TABLE}; give each key once" in error(TABLE, "data.n=64")
    # a key above one already set replaces it: the same mistake
    assert "model.hidden is already set by --set model.hidden=[8]" in error("model.hidden=[8]", 'model={kind="mlp", hidden=[4]}')


def test_tables_that_set_different_keys_still_combine():
    sc = load_scenario("sgd_vs_gd", overrides=["data.n=64", "data={dim=5, classes=2}"])
    assert {(a.data.n, a.data.dim, a.data.classes) for a in sc.arms} == {(64, 5, 2)}


def test_arms_that_already_have_the_set_value_are_not_named_in_the_note():
    # catapult's mlp arms set dtype = "float32" themselves: --set dtype=float32 changes nothing for them
    sc = load_scenario("catapult", overrides=["dtype=float32"])
    assert sc.notes == [] and {a.dtype for a in sc.arms} == {"float32"}
    sc = load_scenario("catapult", overrides=["dtype=float64"])  # they keep float32: named
    assert len(sc.notes) == 1 and "'mlp-small' (\"float32\")" in sc.notes[0] and "'mlp-catapult'" in sc.notes[0]
