"""Small builders shared by the engine tests."""

from __future__ import annotations

import textwrap

import torch

from eos_tui.engine.arm import Arm
from eos_tui.scenario import load_scenario_text

CPU = torch.device("cpu")


def scenario(text: str, **kwargs):
    return load_scenario_text(textwrap.dedent(text), source="<test>", **kwargs)


def arm_of(text: str, index: int = 0, **kwargs) -> Arm:
    return Arm(scenario(text, **kwargs).arms[index], CPU)


def train(arm: Arm) -> list[dict]:
    """All records of an arm run to its end."""
    records = arm.begin()
    while arm.status is None:
        records += arm.step()
    return records


def of(records: list[dict], kind: str) -> list[dict]:
    return [r for r in records if r.get("type") == kind]
