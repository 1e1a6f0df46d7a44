"""Colours live in one palette (eos_tui/app/widgets/palette.py), named by role; no other file of the
app spells a colour, so a colour is changed in one place."""

import re
from pathlib import Path

from eos_tui.app.widgets import palette

APP = Path(palette.__file__).resolve().parent.parent
HEX = re.compile(r"#[0-9a-fA-F]{6}\b|#[0-9a-fA-F]{3}\b(?![0-9a-fA-F])")
SPELLED = re.compile(r"\bColor\(\s*\d|\brgb\(|\bhsl\(")


def test_no_colour_is_spelled_outside_the_palette():
    offenders = []
    for path in sorted(APP.rglob("*.py")) + sorted(APP.rglob("*.tcss")):
        if path.name == "palette.py":
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("# ", 1)[0] if path.suffix == ".py" else line
            if HEX.search(code) or SPELLED.search(code):
                offenders.append(f"{path.relative_to(APP)}:{n}: {line.strip()}")
    assert not offenders, "colours outside palette.py:\n" + "\n".join(offenders)


def test_the_palette_maps_every_status_and_event_and_has_a_fallback():
    assert palette.status_color("no such status") == palette.MUTED
    assert palette.event_color("no such kind") == palette.EVENT_DEFAULT
    assert set(palette.EVENT_COLORS) == set(palette.EVENT_LETTERS) == set(palette.EVENT_NAMES)
    for status in ("running", "completed", "diverged", "interrupted", "failed", "engine lost"):
        assert status in palette.STATUS_COLORS
    assert all(HEX.fullmatch(c) for c in palette.ARM_COLORS)
