"""Every built-in scenario's finished screen, at 80x24 and 120x40, where a reviewer sees the
phenomenon: the uv catapult's drop under its line, decay's climb above the old 2/η, the edge at 1.

The run directories are real runs of the built-ins (`cifar` and `resnet` aside: they need the CIFAR-10 files),
made once by make_scenario_runs.py (how to regenerate: its docstring) and stored under
scenario_runs/NAME/ with metrics.jsonl gzipped; each test unzips one into a run directory named
after the scenario and opens the app on it, as `eos-tui watch` does."""

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers import run_finished, until, wait_for

from eos_tui.app import EosApp
from eos_tui.app.widgets.chart import Chart
from eos_tui.braille.offscale import ABOVE, BELOW

STORE = Path(__file__).parent / "scenario_runs"
SCENARIOS = sorted(p.name for p in STORE.iterdir() if p.is_dir())


def unpack(name: str, root: Path) -> Path:
    run = root / name
    run.mkdir()
    for f in ("manifest.json", "scenario.toml"):
        shutil.copy(STORE / name / f, run / f)
    with gzip.open(STORE / name / "metrics.jsonl.gz", "rb") as src, open(run / "metrics.jsonl", "wb") as dst:
        shutil.copyfileobj(src, dst)
    return run


def test_every_builtin_but_the_cifar_ones_is_stored():
    from eos_tui.scenario.loader import list_builtins

    assert SCENARIOS == sorted(n for n, _ in list_builtins() if n not in ("cifar", "resnet"))


def _settled(app):
    async def run_before(pilot):
        await wait_for(pilot, lambda: run_finished(app))

    return run_before


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
@pytest.mark.parametrize("name", SCENARIOS)
def test_finished_screen(name, size, tmp_path, snap_compare):
    app = EosApp(unpack(name, tmp_path))
    assert snap_compare(app, terminal_size=size, run_before=_settled(app))


def plot_text(chart: Chart) -> str:
    return "\n".join(chart.render_line(y).text for y in range(chart.size.height - 2))


async def test_catapult_opens_normalized_with_the_drop_under_the_line_in_view(tmp_path):
    app = EosApp(unpack("catapult", tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: run_finished(app))
        assert app.view.sharpness_normalized
        sharp = app.query_one("#sharpness-chart", Chart)
        ys = next(s for s in sharp._series if s.key == "uv-catapult/n/lambda").ys
        assert ys[0] > 1.2 and ys[-1] < 0.2  # λη/2 from 1.5, above the edge, to under 0.1 of it
        assert sharp.frame.y0 <= 0 and 1.5 < sharp.frame.y1 < 6  # both in view, the line at 1 too
        assert ABOVE in plot_text(sharp)  # uv-diverge's spike: cut and marked, not flattening it
        loss = app.query_one("#loss-chart", Chart)
        text = plot_text(loss)
        assert ABOVE in text and BELOW in text  # the diverged arm at 3e7; losses under 12 decades
        peak = np.nanmax(next(s for s in loss._series if s.key == "uv-catapult/loss").ys)
        assert np.log10(peak) < loss.frame.y1  # the catapult's spike stays readable


async def test_decay_opens_raw_with_the_climb_above_the_old_line_in_view(tmp_path):
    app = EosApp(unpack("decay", tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: run_finished(app))
        assert not app.view.sharpness_normalized
        sharp = app.query_one("#sharpness-chart", Chart)
        lam = next(s for s in sharp._series if s.key == "step-decay/lambda").ys
        assert lam[-1] > 5 and 5.1 < sharp.frame.y1 < 8  # λ 4 → 5.2 above the old 2/η = 4 fills the chart
        assert ABOVE in plot_text(sharp)  # the new 2/η = 16 is cut and marked


# ---- issue 23: what each first screen at 80x24 says ----------------------------------------------


def legend_of(app, panel: str) -> str:
    from rich.text import Text

    return Text.from_markup(str(app.query_one(panel).border_subtitle)).plain


def axis_of(chart: Chart) -> str:
    return chart.render_line(chart.size.height - 2).text[7:]


async def test_catapult_opens_on_a_log_step_axis_with_its_first_ten_steps_spread(tmp_path):
    app = EosApp(unpack("catapult", tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: run_finished(app))
        sharp = app.query_one("#sharpness-chart", Chart)
        assert app.view.log_steps and sharp.log_x
        s = next(s for s in sharp._series if s.key == "uv-catapult/n/lambda")
        under = float(s.xs[np.flatnonzero(np.asarray(s.ys) < 1)[0]])  # λ_max falls under 2/η
        cols = sharp.size.width - 7
        cell = (float(sharp.to_plot_x(under)) - sharp.frame.x0) / (sharp.frame.x1 - sharp.frame.x0) * cols
        assert cell >= cols / 4  # on the linear axis: the first 6 cells
        assert axis_of(sharp).count("┬") >= 5  # 0 1 2 5 10 … ticks
        labels = sharp.render_line(sharp.size.height - 1).text.split()
        assert labels[:3] == ["0", "1", "2"] and labels[-1] == "60"


async def test_decay_names_its_threshold_above_the_scale(tmp_path):
    app = EosApp(unpack("decay", tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: run_finished(app))
        sharp = app.query_one("#sharpness-chart", Chart)

        def last_tick() -> str:
            return sharp.render_line(sharp.size.height - 1).text.rstrip()

        # The layout settles a frame after the run is read (the short screen drops the η chart):
        # wait for it, then check, rather than read the first frame's sizes.
        await until(pilot, lambda: "2/η_t ↑16" in legend_of(app, "SharpnessPanel") and last_tick().endswith("1000"))
        assert "2/η_t ↑16" in legend_of(app, "SharpnessPanel")
        assert last_tick().endswith("1000")


async def test_reparam_s_legend_names_the_off_scale_threshold_by_its_arrow(tmp_path):
    app = EosApp(unpack("reparam", tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: run_finished(app))
        legend = legend_of(app, "SharpnessPanel")
        assert "↑ 2/η_t 40" in legend and "╌" not in legend  # no line at 40 is drawn


async def test_sgd_vs_gd_tells_its_four_plateaus_apart_without_colour(tmp_path):
    app = EosApp(unpack("sgd_vs_gd", tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: run_finished(app))
        sharp = app.query_one("#sharpness-chart", Chart)
        assert sharp.size.height - 2 >= 6  # rows for four plateaus a fraction of the edge apart
        ends = {}  # each arm's tag at the end of its trace, on rows in the order of its plateau
        for y in range(sharp.size.height - 2):
            text = sharp.render_line(y).text.rstrip()
            if text and text[-1] in "1234":
                ends[text[-1]] = y
        assert sorted(ends) == ["1", "2", "3", "4"] and ends["1"] < ends["2"] < ends["3"] < ends["4"], ends
        assert "━━1 gd" in legend_of(app, "SharpnessPanel")


async def test_central_draws_the_flow_s_lambda_solid_and_names_it(tmp_path):
    app = EosApp(unpack("central", tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: run_finished(app))
        assert "─ central flow" in legend_of(app, "SharpnessPanel")
        sharp = app.query_one("#sharpness-chart", Chart)
        assert next(s for s in sharp._series if s.key.endswith("central-lambda")).kind == "line"


async def test_warmup_s_event_letters_do_not_run_together(tmp_path):
    app = EosApp(unpack("warmup", tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: run_finished(app))
        axis = axis_of(app.query_one("#sharpness-chart", Chart))
        letters = [i for i, ch in enumerate(axis) if ch not in "─┬"]
        assert len(letters) >= 4 and all(b - a >= 2 for a, b in zip(letters, letters[1:])), axis
