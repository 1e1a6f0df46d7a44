"""`eos-tui plot`'s self-stabilization panel (issue 24): Damian et al.'s (x, y) plane beside the
panels over steps, read back from the axes of the stored `selfstab` built-in run."""

from __future__ import annotations

import gzip
import math
import shutil
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

from eos_tui.cli.errors import CommandError  # noqa: E402
from eos_tui.cli.plot import PORTRAIT, build_figure, collect, plot_command  # noqa: E402
from eos_tui.rundir import read_manifest, read_records  # noqa: E402

STORED = Path(__file__).parent / "app" / "scenario_runs" / "selfstab"


@pytest.fixture
def run(tmp_path):
    out = tmp_path / "selfstab"
    out.mkdir()
    for f in ("manifest.json", "scenario.toml"):
        shutil.copy(STORED / f, out / f)
    with gzip.open(STORED / "metrics.jsonl.gz", "rb") as src, open(out / "metrics.jsonl", "wb") as dst:
        shutil.copyfileobj(src, dst)
    return out


def test_the_portrait_plots_every_measured_point_in_its_stage(run):
    records = list(read_records(run))
    data = collect(records, read_manifest(run))
    measured = [r for r in records if r.get("type") == "selfstab"]
    assert len(data["gd"].selfstab) == len(measured) > 100
    fig = build_figure(data, ["sharpness", PORTRAIT])
    steps_ax, portrait = fig.axes[0], fig.axes[1]
    assert portrait.get_shared_x_axes().get_siblings(portrait) == [portrait]  # its own x, not steps
    # The dots, per stage, are the records' (x, y), every record in exactly one stage's scatter.
    points = sorted(tuple(p) for c in portrait.collections for p in c.get_offsets().tolist())
    expected = sorted((r["x"], r["y"]) for r in measured if r.get("stage"))
    assert len(points) == len(expected) and all(math.isclose(a, b) for p, q in zip(points, expected) for a, b in zip(p, q))
    labels = {t.get_text() for t in portrait.get_legend().get_texts()}
    assert labels == {"progressive sharpening", "blow-up", "self-stabilization", "return to stability"}
    # The range is the measured points' (symmetric in x), whatever the map does.
    xmax = max(abs(r["x"]) for r in measured)
    assert portrait.get_xlim() == pytest.approx((-1.1 * xmax, 1.1 * xmax))
    assert steps_ax.get_xlabel() == "step"


def test_plot_adds_the_portrait_by_default_where_the_run_measured_it(run, tmp_path, capsys):
    out = tmp_path / "fig.png"
    assert plot_command(run, out=out) == 0
    assert out.stat().st_size > 10_000
    with pytest.raises(CommandError, match="portrait"):
        plot_command(run, out=tmp_path / "x.png", panels="nonsense")  # the choices name it
