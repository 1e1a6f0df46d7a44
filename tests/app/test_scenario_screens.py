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
from helpers import run_finished, wait_for

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
