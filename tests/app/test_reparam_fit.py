"""At 80x24 the reparameterization panel is 7 lines tall: its table shows only the rows that fit
under the (wrapped) `before` line, so the subtitle's count is what the person sees, and the
subtitle itself is never cut ("3 of 48 checks (12 at ste…")."""

import re

import pytest
from helpers import run_finished, wait_for
from test_scenario_screens import unpack

from eos_tui.app import EosApp
from eos_tui.app.widgets.reparam import ReparamPanel


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_the_rows_counted_are_the_rows_shown(tmp_path, size):
    app = EosApp(unpack("reparam", tmp_path))
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: run_finished(app))
        await pilot.pause()
        panel = app.query_one(ReparamPanel)
        table = app.query_one("#reparam-table")
        shown = int(re.match(r"(\d+) of ", panel.border_subtitle).group(1))
        assert table.region.height == shown + 1  # the header, then one line a row
        assert table.region.bottom <= panel.content_region.bottom  # none of them cut off
        assert len(panel.border_subtitle) <= panel.size.width - 4
        assert shown >= (2 if size == (80, 24) else 7)
