"""[display]: how the app opens on a scenario's runs (sharpness raw or normalized), validated as
strictly as every other key, carried into the run directory's resolved scenario.toml."""

import sys

import pytest

from eos_tui.scenario import ScenarioError
from eos_tui.scenario.loader import load_scenario, load_scenario_text

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

BASE = '[data]\nkind = "none"\n[model]\nkind = "uv"\n[optimizer]\nlr = 0.1\n'


def load(extra: str = "", **kw):
    return load_scenario_text('name = "t"\n' + extra + BASE, source="t.toml", **kw)


def test_default_is_raw_and_normalized_is_kept():
    assert load().display.sharpness == "raw"
    assert load('[display]\nsharpness = "normalized"\n').display.sharpness == "normalized"


@pytest.mark.parametrize(
    "text, message",
    [
        ('[display]\nsharpness = "norm"\n', "t.toml: display.sharpness: must be one of 'raw' or 'normalized'"),
        ("[display]\nsharpness = 1\n", "t.toml: display.sharpness:"),
        ('[display]\nsharpnes = "raw"\n', "t.toml: display.sharpnes: unknown key"),
        ("display = 3\n", "t.toml: display: must be a table"),
    ],
)
def test_bad_display_is_one_clear_line(text, message):
    with pytest.raises(ScenarioError) as err:
        load(text)
    assert str(err.value).startswith(message), str(err.value)
    assert "\n" not in str(err.value)


def test_an_arm_cannot_set_display():
    with pytest.raises(ScenarioError, match=r"display: unknown key"):
        load_scenario_text('name = "t"\n' + BASE + '[[arm]]\nname = "a"\ndisplay = { sharpness = "raw" }\n', source="t.toml")


def test_set_display_from_the_command_line():
    assert load(overrides=["display.sharpness=normalized"]).display.sharpness == "normalized"
    with pytest.raises(ScenarioError, match="display.sharpness"):
        load(overrides=["display.sharpness=sideways"])


def test_the_resolved_scenario_keeps_display_and_loads_again():
    text = load('[display]\nsharpness = "normalized"\n').to_toml()
    assert tomllib.loads(text)["display"] == {"sharpness": "normalized", "steps": "linear", "panel": "eigendirection"}
    assert load_scenario_text(text, source="resolved.toml").display.sharpness == "normalized"


@pytest.mark.parametrize(
    "name, view",
    [
        ("catapult", "normalized"),
        ("eos", "normalized"),
        ("warmup", "normalized"),
        ("adam", "normalized"),
        ("decay", "raw"),
        ("reparam", "raw"),
    ],
)
def test_builtin_views(name, view):
    assert load_scenario(name).display.sharpness == view
