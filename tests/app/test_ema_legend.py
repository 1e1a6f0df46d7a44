"""At 80 columns, where the loss legend has room for one note after the arms' names, `e` shows that
it took: the EMA's time constant, before η."""

from helpers import run_finished, wait_for
from test_scenario_screens import unpack

from eos_tui.app import EosApp


async def test_e_is_named_in_the_loss_legend_at_80_columns(tmp_path):
    app = EosApp(unpack("sgd_vs_gd", tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: run_finished(app))
        panel = app.query_one("LossPanel")
        assert "η 0.3" in str(panel.border_subtitle) and "EMA" not in str(panel.border_subtitle)
        await pilot.press("e")
        await pilot.pause()
        subtitle = str(panel.border_subtitle)
        assert "EMA τ" in subtitle and all(a in subtitle for a in ("gd", "sgd-32", "sgd-16", "sgd-8"))
