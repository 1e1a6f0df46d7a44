"""Issue 23's chart items: the log step axis (`x`, [display] steps = "log"), the x axis's last tick,
event letters that never run together, a threshold far off the scale drawn at the edge (and a legend
that names only what is drawn), and arm tags that never hide an off-scale arrow."""

import numpy as np
import pytest
from helpers import run_finished, wait_for

from eos_tui.app import EosApp
from eos_tui.app.history import step_at
from eos_tui.app.widgets.chart import Chart, Mark, Series
from eos_tui.app.widgets.chart.chart import place_letters
from eos_tui.app.widgets.sharpness import threshold_legend
from eos_tui.braille.offscale import ABOVE, EDGE_EVERY, end_tags


def chart_of(*series: Series, marks=(), log_x: bool = False) -> Chart:
    chart = Chart()
    chart.set_data(list(series), marks)
    chart.log_x = log_x
    return chart


def steps(n: int) -> np.ndarray:
    return np.arange(float(n))


# ---- the last tick --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "width", "last"),
    [(1000, 46, "1000"), (60, 46, "60"), (800, 46, "800"), (400, 29, "400"), (60, 126, "60"), (1000, 126, "1000")],
)
def test_the_x_axis_ends_in_the_run_s_round_length(n, width, last):
    """A run of 1000 steps ends at step 999: its axis read `0 500` with no 1000 (60 steps: no 60)."""
    chart = chart_of(Series("a", steps(n), np.sin(steps(n) / 50), "#ffffff"))
    strips = chart.render_strips(width, 9)
    axis, labels = strips[-2].text, strips[-1].text
    assert labels.rstrip().endswith(" " + last), labels
    assert axis.rstrip()[-1] == "┬" and len(axis.rstrip()) >= width - 1, axis  # the tick in the last cell
    first = labels.split()
    assert first[0] == "0" and len(first) >= 3


# ---- the log step axis ----------------------------------------------------------------------------


def test_a_log_step_axis_spreads_the_first_steps():
    """The catapult: its spike at step 3 of 60 is a column at the left edge on a linear axis; on a
    log axis the first ten steps get more than half the width, with ticks 0 1 2 5 10 20 60."""
    ys = np.where(steps(60) == 3, 10.0, 1.0)
    cols = 40
    linear = chart_of(Series("a", steps(60), ys, "#ffffff"))
    log = chart_of(Series("a", steps(60), ys, "#ffffff"), log_x=True)

    def spike_cell(chart: Chart) -> int:
        top = chart.render_strips(cols + 7, 10)[0].text[7:]
        return next(i for i, ch in enumerate(top) if ch.strip())

    assert spike_cell(linear) <= 2
    assert cols // 4 <= spike_cell(log) <= cols // 2  # log10(4) / log10(60) of the width
    assert log.render_strips(cols + 7, 10)[-1].text.split() == ["0", "1", "2", "5", "10", "20", "60"]
    assert log.to_step(float(log.to_plot_x(3.0))) == pytest.approx(3.0)
    assert log.frame.x0 == 0.0 and log.frame.x1 == pytest.approx(np.log10(60.0))


def test_event_marks_and_the_cursor_sit_at_their_steps_on_a_log_axis():
    cols = 40
    chart = chart_of(Series("a", steps(60), np.ones(60), "#ffffff"), marks=[Mark(10.0, "C")], log_x=True)
    axis = chart.render_strips(cols + 7, 10)[-2].text[7:]
    cell = axis.index("C")
    assert abs(cell - np.log10(11) / np.log10(60) * (cols - 0.5)) <= 1
    assert abs(step_at(chart, 7 + cell) - 10.0) <= 1.5  # a click on the letter reads back its step


async def test_x_toggles_the_log_step_axis_and_the_scenario_can_open_on_it(finished_run):
    (finished_run / "scenario.toml").write_text('name = "synthetic"\n[display]\nsteps = "log"\n')
    app = EosApp(finished_run)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: run_finished(app))
        charts = [app.query_one(f"#{name}-chart", Chart) for name in ("sharpness", "loss")]
        assert app.view.log_steps and all(c.log_x for c in charts)
        await pilot.press("x")
        await pilot.pause()
        assert not app.view.log_steps and not any(c.log_x for c in charts)
        assert charts[0].frame.x1 >= 599  # linear again: steps, not log10(1 + step)


# ---- event letters --------------------------------------------------------------------------------


def test_event_letters_keep_a_blank_cell_between_them():
    """warmup: three arms' events a few steps apart read `X─E2C─2E─ηC` on the axis."""
    wanted = [
        (2, Mark(10, "E", line=False)),
        (3, Mark(12, "2", line=False)),
        (4, Mark(14, "C", line=True)),
        (6, Mark(20, "2", line=True)),
        (7, Mark(22, "E", line=True)),
        (9, Mark(30, "η", line=False)),
        (10, Mark(31, "C", line=False)),
        (12, Mark(40, "E", line=False)),
        (12, Mark(40, "E", line=False)),  # two arms' onsets at one step: one letter
    ]
    placed = place_letters(wanted, 40)
    cells = sorted(placed)
    assert all(b - a >= 2 for a, b in zip(cells, cells[1:])), cells
    for c, m in placed.items():  # each letter at most a cell from its step
        assert any(abs(c - w) <= 1 and m is wm for w, wm in wanted)
    assert placed[4] is wanted[2][1]  # the highlighted arm's marks go first, the rarer kinds first
    assert sum(m.line for m in placed.values()) == 2  # of its 2 and E a cell apart, one moves
    assert [m.letter for m in placed.values()].count("E") <= 3


# ---- a threshold off the scale --------------------------------------------------------------------


def decay_like() -> Chart:
    """decay: λ_max climbs from 4 to 5.4 while its 2/η jumps from 4 to 16 at step 400 of 1000."""
    xs = steps(1000)
    lam = np.where(xs < 400, 3.9, 4 + 1.4 * (xs - 400) / 600)
    threshold = np.where(xs < 400, 4.0, 16.0)
    return chart_of(
        Series("a/lambda", xs, lam, "#ff0000"),
        Series("a/threshold", xs, threshold, "#888888", kind="dashed", fit="ends", core=False, offscale=True, edge_line=True),
    )


def test_a_threshold_far_above_the_arms_is_drawn_at_the_edge_not_to_scale():
    chart = decay_like()
    strips = chart.render_strips(47, 12)
    assert 5.4 <= chart.frame.y1 < 8  # the climb 4 -> 5.4 fills the chart; 16 does not set it
    top = strips[0].text[7:]
    arrows = [i for i, ch in enumerate(top) if ch == ABOVE]
    assert arrows and min(arrows) >= 15 and max(arrows) >= 35  # from the drop (step 400) to the end
    assert all(b - a <= EDGE_EVERY for a, b in zip(arrows, arrows[1:]))  # a line of arrows, not one
    assert chart.placement["a/threshold"] == (True, True, False)  # on the scale before, above after


def test_the_legend_names_the_threshold_as_drawn():
    chart = decay_like()
    chart.render_strips(47, 12)
    assert threshold_legend(chart, ["a/threshold"], "2/η_t", 16.0) == "╌ 2/η_t ↑16"
    above = chart_of(
        Series("a/lambda", steps(400), np.linspace(2, 4, 400), "#ff0000"),
        Series("a/threshold", steps(400), np.full(400, 40.0), "#888888", kind="dashed", fit="ends", core=False, offscale=True),
    )
    above.render_strips(47, 12)
    assert threshold_legend(above, ["a/threshold"], "2/η_t", 40.0) == "↑ 2/η_t 40"  # reparam: never on the scale
    inside = chart_of(
        Series("a/lambda", steps(400), np.linspace(2, 4, 400), "#ff0000"),
        Series("a/threshold", steps(400), np.full(400, 4.2), "#888888", kind="dashed", fit="ends", core=False, offscale=True),
    )
    inside.render_strips(47, 12)
    assert threshold_legend(inside, ["a/threshold"], "2/η_t") == "╌ 2/η_t"


def test_an_arm_s_tag_never_hides_its_off_scale_arrow():
    """warmup: no-warmup diverges at step 7 of 800, off the top, where its arrow is: the tag `1`
    replaced the arrow, so nothing said the arm went off the scale."""
    overlay = {(0, 0): (ABOVE, "#fff")}
    lo = hi = np.r_[np.full(2, 50.0), np.full(78, np.nan)]
    end_tags(overlay, "1", lo, hi, lambda v: (10.0 - v) * 4, 6, "#fff")
    assert overlay[(0, 0)][0] == ABOVE and overlay[(1, 0)][0] == "1"


# ---- Home, then + ---------------------------------------------------------------------------------


async def test_home_then_zoom_in_shows_the_run_s_start(finished_run):
    """Issue 23: on catapult, `Home` then `+` zoomed onto steps 50-60 of 60, not onto the start."""
    app = EosApp(finished_run)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: run_finished(app))
        chart = app.query_one("#sharpness-chart", Chart)
        full = chart.frame.x1
        await pilot.press("home", "plus")
        await pilot.pause()
        assert chart.frame.x0 == 0 and chart.frame.x1 < 0.75 * full, (chart.frame.x0, chart.frame.x1, full)
        await pilot.press("plus")
        await pilot.pause()
        assert chart.frame.x0 == 0 and chart.frame.x1 < 0.4 * full
