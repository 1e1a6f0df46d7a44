"""The header keeps to two lines at 80 columns: the top line, then every arm on one line. With 3
or more arms the arms' entries wrapped onto a second line and the header took three, a line less
for the charts at 80x24. They are shortened (λ dropped, the status a mark, the names cut part by
part while they stay distinct) and wrap only where even the shortest do not fit: never cut off."""

from __future__ import annotations

import gzip
import json

import pytest
from rich.text import Text as RichText
from test_scenario_screens import STORE

from eos_tui.app.model import RunModel
from eos_tui.app.view import View
from eos_tui.app.widgets.arms import abbreviate
from eos_tui.app.widgets.header import header_markup

WIDTH = 78  # the header's content at 80 columns


def stored_model(name: str, fraction: float, status: str) -> RunModel:
    """The stored run `name` read up to `fraction` of its records, as the app would mid-run."""
    manifest = json.loads((STORE / name / "manifest.json").read_text())
    with gzip.open(STORE / name / "metrics.jsonl.gz", "rt") as f:
        records = [json.loads(line) for line in f]
    records = [r for r in records if r.get("type") != "end"] if status == "running" else records
    model = RunModel()
    model.set_manifest({**manifest, "status": status}, status)
    model.apply_records(records[: int(len(records) * fraction)])
    return model


def lines_of(markup: str) -> list[str]:
    return [RichText.from_markup(line).plain for line in markup.split("\n")]


@pytest.mark.parametrize("status", ["running", "completed"])
@pytest.mark.parametrize("name", ["adam", "catapult", "eos", "sgd_vs_gd", "warmup"])
def test_three_or_more_arms_keep_to_one_line_at_80_columns(name, status):
    model = stored_model(name, 0.5 if status == "running" else 1.0, status)
    assert len(model.arms) >= 3
    view = View()
    view.arm = list(model.arms)[1]  # a highlighted arm is boxed: two cells wider
    lines = lines_of(header_markup(model, view, run_name=f"{name}-20261207-111111", width=WIDTH))
    assert len(lines) == 2, lines
    assert all(len(line) <= WIDTH for line in lines)
    assert named(lines[1], list(model.arms)), lines[1]


def named(text: str, names: list[str]) -> list[str] | None:
    """The labels under which `text` names every arm: their names, or their names cut part by part
    to one length that keeps them distinct; None where some arm is not named."""
    words = text.split()
    for keep in range(max(map(len, names)), 0, -1):
        labels = [abbreviate(n, keep) for n in names]
        if len(set(labels)) == len(labels) and all(label in words for label in labels):
            return labels
    return None


def test_arms_that_cannot_fit_one_line_wrap_and_none_is_cut():
    model = stored_model("sgd_vs_gd", 0.5, "running")
    lines = lines_of(header_markup(model, View(), run_name="x", width=24))
    assert len(lines) > 2 and all(len(line) <= 24 for line in lines)
    assert all(arm in " ".join(lines[1:]).split() for arm in model.arms)  # wrapped, the names whole


def test_the_full_entries_where_they_fit():
    model = stored_model("sgd_vs_gd", 1.0, "completed")
    arms = lines_of(header_markup(model, View(), run_name="x", width=200))[1]
    assert "gd 1000/1000 completed λ" in arms and "sgd-8 1000/1000 completed λ" in arms
