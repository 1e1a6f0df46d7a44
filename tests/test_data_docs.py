"""docs/data.md against the schema: each data kind's example lists every key the kind takes, no key it
does not, and the schema's defaults, so the docs cannot drift from what `validate` accepts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import tomllib

from eos_tui.scenario.schema import KINDS

DOCS = (Path(__file__).resolve().parent.parent / "docs" / "data.md").read_text(encoding="utf-8")
EXAMPLES = {t["data"]["kind"]: t["data"] for t in (tomllib.loads(b) for b in re.findall(r"```toml\n(.*?)```", DOCS, re.S))}


@pytest.mark.parametrize("kind", ["mnist", "fashion-mnist", "digits", "sort"])
def test_each_kinds_example_has_its_keys_and_defaults(kind):
    example = EXAMPLES["mnist" if kind == "fashion-mnist" else kind]  # one example, "or fashion-mnist"
    cls = KINDS["data"][kind]
    fields = set(cls.model_fields)
    assert set(example) <= fields, set(example) - fields
    assert fields - {"seed"} <= set(example), fields - {"seed"} - set(example)
    for key, value in example.items():
        if key not in ("kind", "path", "seed"):  # path and seed: examples of a value, not defaults
            assert cls.model_fields[key].default == value, key
    assert f"`{kind}`" in DOCS
