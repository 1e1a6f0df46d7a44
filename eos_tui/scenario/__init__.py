"""Scenario files: the TOML schema, arms, overrides and the built-in catalogue (no torch, no textual)."""

from .loader import (  # noqa: F401
    Scenario,
    ScenarioError,
    builtin_dir,
    deep_merge,
    find_scenario,
    list_builtins,
    load_scenario,
    load_scenario_text,
    parse_override,
)
from .schema import ArmSpec  # noqa: F401
