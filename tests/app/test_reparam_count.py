"""The reparameterization panel says how many checks it shows, of how many."""

from helpers import run_finished, wait_for

from eos_tui.app import EosApp
from eos_tui.app.model import Reparam
from eos_tui.app.widgets.reparam import latest_checks, shown_of


def check(step: int, alpha: float) -> Reparam:
    return Reparam(step=step, alpha=alpha, max_output_change=0.0, loss_change=0.0, sharpness_before=1.0, sharpness_after=alpha)


def test_shown_of_counts_the_rows_the_step_and_the_run():
    checks = [check(s, a) for s in (10, 20) for a in (0.5, 2.0, 4.0, 8.0, 16.0)]
    rows = latest_checks(checks, 3)
    assert shown_of(rows, checks) == "3 of 10 checks (5 at step 20)"
    assert shown_of(latest_checks(checks, 5), checks) == "5 of 10 checks"


async def test_the_panel_subtitle_says_it(finished_run):
    app = EosApp(finished_run)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: run_finished(app))
        panel = app.query_one("ReparamPanel")
        assert panel.border_subtitle == "1 of 6 checks"  # one check every 100 steps, the latest shown
