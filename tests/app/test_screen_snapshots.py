"""Issue 23's screens at 80x24, from the stored runs (scenario_runs/, landscape/): the landscape's
title with its path, the reparameterization table behind `r`, and Adam's unstable starts named
against its own threshold (the events scrolled to the end). The header's one line of arms, the
reparameterization summary and the no-events placeholder are in test_scenario_screens.py's
finished screens."""

from __future__ import annotations

import shutil
from pathlib import Path

from helpers import run_finished, wait_for
from test_scenario_screens import unpack

from eos_tui.app import EosApp
from eos_tui.app.landscape_screen import LandscapeScreen
from eos_tui.app.screens.reparam import ReparamScreen

LANDSCAPE = Path(__file__).parent / "landscape" / "connectivity.json"
# Longer than the part of the path the title has room for at 80 columns, so that what shows of it
# does not depend on where pytest's temporary directory is.
LONG_NAME = "connectivity-seed-1-and-seed-2-20261207-111111"


def test_landscape_80x24(tmp_path, snap_compare):
    run = unpack("connectivity", tmp_path).rename(tmp_path / LONG_NAME)
    shutil.copy(LANDSCAPE, run / "landscape.json")
    app = EosApp(run)

    async def open_it(pilot):
        await wait_for(pilot, lambda: run_finished(app))
        await pilot.press("L")
        await wait_for(pilot, lambda: isinstance(app.screen, LandscapeScreen))

    assert snap_compare(app, terminal_size=(80, 24), run_before=open_it)


def test_reparam_table_80x24(tmp_path, snap_compare):
    app = EosApp(unpack("reparam", tmp_path))

    async def open_it(pilot):
        await wait_for(pilot, lambda: run_finished(app))
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, ReparamScreen))

    assert snap_compare(app, terminal_size=(80, 24), run_before=open_it)


def test_adam_events_scrolled_to_the_unstable_starts_80x24(tmp_path, snap_compare):
    app = EosApp(unpack("adam", tmp_path))

    async def scroll_down(pilot):
        await wait_for(pilot, lambda: run_finished(app))
        await pilot.press("pagedown", "pagedown", "pagedown", "pagedown")

    assert snap_compare(app, terminal_size=(80, 24), run_before=scroll_down)
