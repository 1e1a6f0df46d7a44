"""docs/run-directory.md's tables are generated from format.py's TypedDicts and stay so."""

from __future__ import annotations

import pytest

from eos_tui.rundir import format as rf
from eos_tui.rundir import formatdoc


def test_the_docs_hold_what_the_typeddicts_say_now():
    text = formatdoc.DOC.read_text(encoding="utf-8")
    assert formatdoc.render(text) == text, "docs/run-directory.md is stale: run `python -m eos_tui.rundir.formatdoc`"


@pytest.mark.parametrize("td", [*rf.RECORD_SCHEMAS.values(), rf.Manifest, rf.ArmEntry, rf.EngineStatus, rf.CheckpointMeta, rf.SweepPoint])
def test_every_field_is_in_the_table_with_its_type_and_a_meaning(td):
    rows = {line.split("|")[1].strip(" `"): line for line in formatdoc.table(td).splitlines()[2:]}
    assert set(rows) == set(td.__annotations__) - {"type"}
    for name, line in rows.items():
        cells = [c.strip() for c in line.replace("\\|", "¦").split("|")[1:-1]]
        assert cells[1].strip("`"), f"{td.__name__}.{name} has no type"
        assert cells[2] == ("always" if name in td.__required_keys__ else "some")
        assert cells[3], f"{td.__name__}.{name} has no comment in format.py to document it"


def test_a_field_added_to_a_typeddict_shows_up(monkeypatch):
    """The generator reads the source: a new field with its comment appears without a hand edit."""
    import inspect

    source = inspect.getsource(rf) + "\n\nclass Probe(TypedDict):\n    # what it is\n    novel: float  # and more\n"
    monkeypatch.setattr(inspect, "getsource", lambda _m: source)
    assert formatdoc._declared()["Probe"][1]["novel"] == ("float", "what it is and more")


def test_a_missing_block_is_named():
    with pytest.raises(ValueError, match="records"):
        formatdoc.render("no blocks here")
