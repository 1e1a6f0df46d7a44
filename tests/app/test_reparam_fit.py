"""The reparameterization panel at 80x24 (7 lines) and 120x40 (12): `reparam` checks 12 maps a step,
of which the table showed 2 (80x24) or 8. Where the step's rows do not all fit, the panel sums them
up (the function unchanged, λ_max's range, the adaptive sharpness unchanged), every line of it
shown, and `r` opens every check's table."""

import pytest
from helpers import run_finished, wait_for
from rich.console import Console
from test_scenario_screens import unpack

from eos_tui.app import EosApp
from eos_tui.app.model import Reparam
from eos_tui.app.screens.reparam import ReparamScreen, by_step
from eos_tui.app.widgets.reparam import ReparamPanel, latest_checks, summary


def panel_text(panel) -> str:
    """What the panel's two Texts show, line by line as drawn."""
    parts = (panel.query_one(f"#reparam-{name}") for name in ("before", "table"))
    return "\n".join(w.render_line(y).text for w in parts for y in range(w.size.height))


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_a_step_too_many_to_list_is_summed_up_whole(tmp_path, size):
    app = EosApp(unpack("reparam", tmp_path))
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: run_finished(app))
        await pilot.pause()
        panel = app.query_one(ReparamPanel)
        checks = app.model.arms["main"].reparams
        latest = latest_checks(checks, len(checks))
        assert len(latest) == 12 and latest[0].step == 300
        text = panel_text(panel)
        assert "step 300: 12 maps T_α" in text
        lam = next(line for line in text.split("\n") if "λ_max" in line)
        lo, hi = min(r.sharpness_after for r in latest), max(r.sharpness_after for r in latest)
        assert hi / lo > 40  # the point: λ_max moves by a factor over 40 ...
        after = lam.split()[-1]
        assert [float(x) for x in after.split("…")] == pytest.approx([lo, hi], rel=1e-3)
        assert "adaptive" in text and "|Δf| ≤" in text  # ... while f and the adaptive sharpness do not
        body = app.query_one("#reparam-table")
        assert body.region.bottom <= panel.content_region.bottom  # no line cut off
        assert panel.border_subtitle.endswith("r: table") and len(panel.border_subtitle) <= panel.size.width - 4


def test_the_summary_counts_its_lines_and_says_one_value_where_all_agree():
    """The adaptive sharpness, which T_α leaves unchanged, reads as one value, not "0.393…0.393"."""
    rows = [
        Reparam(
            step=5,
            alpha=a,
            max_output_change=1e-16,
            loss_change=0.0,
            sharpness_before=2.0,
            sharpness_after=2.0 * a,
            adaptive_before=0.5,
            adaptive_after=0.5,
        )
        for a in (0.1, 1.0, 10.0)
    ]
    head, body, lines = summary(rows, 40)
    assert "step 5: 3 maps" in head and lines == 4
    console = Console(width=40, record=True, color_system=None)
    console.print(body)
    out = console.export_text()
    adaptive = next(line for line in out.split("\n") if line.startswith("adaptive"))
    assert "0.2…20" in out and adaptive.split() == ["adaptive", "0.5", "0.5"]


async def test_r_opens_every_check_and_closes(tmp_path):
    app = EosApp(unpack("reparam", tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: run_finished(app))
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, ReparamScreen))
        screen = app.screen
        assert len(screen.checks) == 48 and [g[0].step for g in by_step(screen.checks)] == [300, 200, 100, 0]
        await pilot.pause()
        scroll = screen.query_one("VerticalScroll")
        assert scroll.size.width >= 60  # the five columns whole, not "λ_…"
        assert "48 checks" in str(scroll.border_title)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, ReparamScreen))


def test_the_summary_says_same_f_only_at_round_off():
    same = dict(loss_change=0.0, sharpness_before=2.0, adaptive_before=0.5, adaptive_after=0.5, sharpness_after=4.0)
    for change, says in ((4.4e-16, True), (3e-7, True), (0.02, False)):
        _, body, _ = summary([Reparam(step=5, alpha=2.0, max_output_change=change, **same)], 40)
        console = Console(width=40, record=True, color_system=None)
        console.print(body)
        assert ("same f" in console.export_text()) == says, change
