"""The sharpness chart's views and keys (n normalized, g log, h focus, m event lines), the scenario's
[display] choosing how the app opens, spike-robust ranges with off-scale arrows, arm colours in a
16-colour terminal, NO_COLOR tags, and legends that name every arm at 80 columns."""

import re

import numpy as np
import synthetic
from helpers import run_finished, wait_for
from rich.color import Color as RichColor
from rich.color import ColorSystem
from rich.style import Style
from rich.text import Text
from textual.color import Color as TextualColor

from eos_tui.app import EosApp
from eos_tui.app.widgets import LossPanel, SharpnessPanel
from eos_tui.app.widgets.arms import abbreviate
from eos_tui.app.widgets.chart import Chart
from eos_tui.app.widgets.palette import EVENT_COLORS, MUTED, arm_color
from eos_tui.braille.offscale import ABOVE, BELOW, offscale_arrows
from eos_tui.braille.robust import robust_range

# ---- pure parts --------------------------------------------------------------------------------


def test_a_spike_does_not_set_the_range():
    base = 1 + 0.5 * np.sin(np.arange(200) / 10)
    spiky = base.copy()
    spiky[50] = 1e6  # one column of 200: a divergence or a catapult spike
    lo, hi = robust_range([("all", True, spiky, spiky)], [0.0], spread=3.0)
    assert lo == 0.0 and 1.4 < hi < 8  # the core's 0..1.5, plus a margin; not 1e6
    # the same spike in another (non-core) arm does not stretch it either
    lo, hi = robust_range([("all", True, base, base), ("all", False, spiky, spiky)], [0.0], spread=3.0)
    assert hi < 8


def test_other_arms_within_the_margin_are_shown_whole_beyond_it_cut():
    core = np.full(100, 2.0)  # the highlighted arm's λ_max
    near = np.full(100, 5.0)  # another arm, within 3x its height: in view
    far = np.full(100, 40.0)  # a threshold 20x the highlighted λ_max: cut (an arrow), not squashing
    lo, hi = robust_range([("all", True, core, core), ("all", False, near, near), ("ends", False, far, far)], [0.0], spread=3.0)
    assert (lo, hi) == (0.0, 5.0)


def test_log_axis_keeps_a_catapult_and_cuts_a_divergence():
    decay = np.log10(np.geomspace(1.0, 1e-3, 150))  # the highlighted arm's loss, in decades
    catapult = decay + 2.1 * (np.arange(150) < 5)  # another arm spiking 120x over its start
    diverged = np.r_[np.linspace(0, 7.5, 6), np.full(144, np.nan)]  # another at 3e7
    lo, hi = robust_range(
        [("all", True, decay, decay), ("all", False, catapult, catapult), ("all", False, diverged, diverged)],
        [],
        spread=3.0,
        relative=False,
        trim=False,
    )
    assert hi == 2.1 and lo == -3.0


def test_an_arm_that_diverged_at_once_does_not_set_the_range():
    steady = np.full(800, 1.0)
    blowup = np.r_[np.linspace(1, 6, 7), np.full(793, np.nan)]  # the highlighted arm: 7 steps of 800
    lo, hi = robust_range([("all", True, blowup, blowup), ("all", False, steady, steady)], [0.0], spread=2.0)
    assert hi == 1.0  # set by the arms that trained; the blow-up is cut (and marked)


def test_arrows_mark_where_a_series_leaves_the_range():
    ys = np.r_[np.linspace(0, 1, 20), np.full(40, 5.0), np.full(20, -3.0)]  # 80 dot columns = 40 cells
    overlay = {}
    offscale_arrows(overlay, ys, ys, 0.0, 1.0, 6, "#ffffff")
    above = sorted(c for (r, c), (ch, _) in overlay.items() if r == 0 and ch == ABOVE)
    below = sorted(c for (r, c), (ch, _) in overlay.items() if r == 5 and ch == BELOW)
    assert above[0] == 10 and above == [10, 18, 26]  # where it leaves, then every 8 cells
    assert below == [30, 38]
    overlay = {}
    offscale_arrows(overlay, ys, ys, 0.0, 1.0, 6, "#ffffff", every=None)
    assert sorted(c for (_, c) in overlay) == [10, 30]
    overlay = {}
    ended = np.r_[np.full(10, 5.0), np.full(70, np.nan)]  # 5 cells above, then the arm ended (diverged)
    offscale_arrows(overlay, ended, ended, 0.0, 1.0, 6, "#ffffff")
    assert sorted(c for (_, c) in overlay) == [0]  # no arrows after its last point


# ---- the app ------------------------------------------------------------------------------------


def sharp(app) -> Chart:
    return app.query_one("#sharpness-chart", Chart)


async def test_n_normalizes_every_arm_to_its_threshold(finished_run):
    app = EosApp(finished_run)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: run_finished(app))
        assert not app.view.sharpness_normalized  # the synthetic scenario.toml has no [display]
        assert sharp(app).frame.y1 >= 100  # raw: 2/η = 100
        await pilot.press("n")
        chart = sharp(app)
        assert 1.0 < chart.frame.y1 < 1.5 and chart.frame.y0 == 0  # λη/2 hovers at 1: the edge
        panel = app.query_one(SharpnessPanel)
        assert "η_t/2" in str(panel.border_title) and "edge = 1" in str(panel.border_subtitle)
        gd = next(s for s in chart._series if s.key == "gd/n/lambda")
        assert abs(np.nanmedian(gd.ys[-100:]) - 1) < 0.02
        await pilot.press("n")
        assert sharp(app).frame.y1 >= 100


async def test_the_scenario_chooses_the_view_the_app_opens_in(finished_run):
    (finished_run / "scenario.toml").write_text('name = "synthetic"\n[display]\nsharpness = "normalized"\n')
    app = EosApp(finished_run)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: run_finished(app))
        assert app.view.sharpness_normalized and sharp(app).frame.y1 < 2
        await pilot.press("n")
        assert not app.view.sharpness_normalized


async def test_a_bad_display_in_a_run_directory_opens_raw(finished_run):
    (finished_run / "scenario.toml").write_text('name = "synthetic"\n[display]\nsharpness = "sideways"\n')
    app = EosApp(finished_run)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: run_finished(app))
        assert not app.view.sharpness_normalized and app._display_read


async def test_g_log_scale_h_focus_m_event_lines(finished_run):
    app = EosApp(finished_run)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: run_finished(app))
        await pilot.press("g")
        assert sharp(app).log_y and 1.9 < sharp(app).frame.y1 < 2.5  # log10(2/η = 100) = 2
        await pilot.press("g")
        assert not sharp(app).log_y
        await pilot.press("h")
        keys = {s.key.split("/")[0] for s in sharp(app)._series}
        assert keys == {"gd"}  # the other arm and its threshold line are hidden
        assert "gd only" in str(app.query_one(SharpnessPanel).border_title)
        keys = {s.key.split("/")[0] for s in app.query_one("#loss-chart", Chart)._series}
        assert keys == {"gd"}
        await pilot.press("h")
        assert {s.key.split("/")[0] for s in sharp(app)._series} == {"gd", "sgd"}
        await pilot.press("tab")  # highlight sgd: gd's events keep their letters, lose their lines
        marks = sharp(app)._marks
        assert marks and not any(m.line for m in marks)
        await pilot.press("m")
        assert all(m.line for m in sharp(app)._marks)


async def test_the_highlighted_arm_drives_the_range(tmp_path):
    run = synthetic.make_run(tmp_path / "two-scales", steps=300)
    # sgd's records scaled 30x: an arm far sharper than the highlighted one
    lines = (run / "metrics.jsonl").read_text().splitlines()
    out = []
    for line in lines:
        if '"arm":"sgd"' in line and '"type":"sharpness"' in line:
            line = re.sub(
                r'"eigenvalues":\[([^\]]*)\]',
                lambda m: '"eigenvalues":[' + ",".join(str(30 * float(v)) for v in m[1].split(",")) + "]",
                line,
            )
        out.append(line)
    (run / "metrics.jsonl").write_text("\n".join(out) + "\n")
    app = EosApp(run)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: run_finished(app))
        chart = sharp(app)
        assert chart.frame.y1 < 150  # gd (highlighted) at ~100; sgd's ~2500 is cut ...
        assert ABOVE in "".join(chart.render_line(y).text for y in range(chart.size.height))  # ... and marked
        await pilot.press("tab")
        assert sharp(app).frame.y1 > 1500  # now sgd sets it, and gd fits below


async def test_16_colours_chart_colours_equal_legend_colours(finished_run):
    app = EosApp(finished_run)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: run_finished(app))
        app.console._color_system = ColorSystem.STANDARD  # as on a 16-colour terminal
        await pilot.press("m")  # every event line too: they must not bring in stray colours either
        app.redraw(True)
        await pilot.pause()

        def standard(color) -> int:
            return (
                RichColor.parse(color).downgrade(ColorSystem.STANDARD).number
                if isinstance(color, str)
                else color.downgrade(ColorSystem.STANDARD).number
            )

        legend = {standard(arm_color(i)) for i in range(2)}
        allowed = legend | {standard(c) for c in EVENT_COLORS.values()} | {standard(MUTED)}
        for chart_id in ("#sharpness-chart", "#loss-chart"):
            chart = app.query_one(chart_id, Chart)
            for s in chart._series:  # every trace of arm i is drawn in arm i's legend colour
                i = list(app.model.arms).index(s.key.split("/")[0])
                assert standard(chart._style(s.color, Style()).color) == standard(arm_color(i)), s.key
            used = set()
            background = TextualColor.parse("black")
            for y in range(chart.size.height):
                segments = list(chart.render_line(y))
                for line_filter in app._filters:  # as Textual does on output (it turns `dim` into a blend)
                    segments = line_filter.apply(segments, background)
                for seg in segments:
                    if seg.style and seg.style.color and any("\u2800" < ch <= "\u28ff" for ch in seg.text):
                        used.add(standard(seg.style.color))
            assert standard(arm_color(1)) in used and used <= allowed, (chart_id, used, allowed)


async def test_no_color_tells_arms_apart_by_their_number(finished_run, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = EosApp(finished_run)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: run_finished(app))
        for panel, chart_id in ((SharpnessPanel, "#sharpness-chart"), (LossPanel, "#loss-chart")):
            legend = Text.from_markup(str(app.query_one(panel).border_subtitle)).plain
            assert "━━1 gd" in legend and "━2 sgd" in legend
            chart = app.query_one(chart_id, Chart)
            plot = "".join(chart.render_line(y).text[7:] for y in range(chart.size.height - 2))
            assert "1" in plot and "2" in plot  # each arm's traces end in its number


ARMS5 = ("uv-small", "uv-catapult", "uv-diverge", "mlp-small", "mlp-catapult")


async def test_the_legend_names_every_arm_at_80_columns(tmp_path):
    run = synthetic.make_run(tmp_path / "five", steps=200, arms=ARMS5)
    app = EosApp(run)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: run_finished(app))
        for panel in (app.query_one(SharpnessPanel), app.query_one(LossPanel)):
            legend = Text.from_markup(str(panel.border_subtitle)).plain
            assert len(legend) <= panel.size.width - 6
            names = re.findall(r"━+(?:[0-9a-z] | )?(\S+)", legend)  # the sharpness legend: "━1 u-s", the arm's tag first
            assert len(names) == 5, legend
            for arm, shown in zip(ARMS5, names):  # each its own arm's name, cut part by part
                assert any(abbreviate(arm, k) == shown for k in range(1, 20)), (arm, shown)
