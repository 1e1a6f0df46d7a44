"""The README and docs/: short enough to read, every link resolves, and the README's two commands
are the ones CI runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_the_readme_is_for_the_first_five_minutes():
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 160


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_and_image_resolves(page):
    text = page.read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        path = (page.parent / target.split("#", 1)[0]).resolve()
        assert path.exists(), f"{page.name} links to {target}, which does not exist"


def test_the_readme_gives_the_two_commands_ci_runs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```bash\n(.*?)\n```", readme, re.S)
    assert "pip install torch==2.13.0 . && eos-tui run catapult" in blocks
    assert 'pip install torch==2.13.0 ".[test]" && python -m pytest -n 2' in blocks
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert 'pip install torch==2.13.0 ".[test]"' in ci and "python -m pytest -n 2" in ci


def test_the_readme_says_hvps_are_reverse_over_reverse():
    """A single arm's HVP is the gradient of ⟨∇L, v⟩ (engine/curvature/hessian.py make_hvp)."""
    text = (ROOT / "docs" / "measurement.md").read_text(encoding="utf-8")
    assert "reverse-over-reverse" in text
    assert not re.search(r"HVPs? (are|is) (computed )?forward-over-reverse", text)


@pytest.mark.parametrize("name", ["eos", "catapult", "selfstab"])
def test_the_screenshots_are_the_apps_own_screens_as_tested(name):
    """docs/screens/NAME.svg is the app's own SVG of the built-in's finished run at 80×24, the very
    snapshot tests/app/test_scenario_screens.py checks: when a screen changes, its snapshot is
    regenerated and this copy must follow (cp the snapshot over it), so the README never shows an
    old screen."""
    snapshot = ROOT / "tests/app/__snapshots__/test_scenario_screens" / f"test_finished_screen[{name}-80x24].svg"
    assert (ROOT / "docs/screens" / f"{name}.svg").read_bytes() == snapshot.read_bytes()
