"""`eos-tui plot` on every built-in (issue 23, Figures): no threshold sets the sharpness panel's range.

The runs are the app's stored ones (tests/app/scenario_runs/NAME, made by tests/app/make_scenario_runs.py:
every built-in but cifar, at its own size). Each figure is drawn as `plot` draws it by default, and its
sharpness panel is read back from the axes: the λ_max line of each arm (solid, in the arm's colour)
and the panel's y range. Before: warmup's panel ran to 2600 (2/η_t at step 0 under warmup) and every
λ_max was a line at the bottom (under 1% of the height); the catapult's uv arm fell from 2 to 0.15 on
an axis running to 35 (the MLP arms' 2/η), 5% of the height.
"""

from __future__ import annotations

import gzip
import math
import shutil
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.image import imread  # noqa: E402

from eos_tui.cli.plot import (  # noqa: E402
    DPI,
    HEIGHT_IN,
    PANEL_WIDTH_IN,
    PANELS,
    ArmData,
    build_figure,
    collect,
    normalized_sharpness,
    plot_command,
    sharpness_form,
    sharpness_limits,
)
from eos_tui.rundir import read_manifest, read_records  # noqa: E402
from tests.app import synthetic  # noqa: E402

STORE = Path(__file__).parent / "app" / "scenario_runs"
BUILTINS = sorted(p.name for p in STORE.iterdir() if (p / "metrics.jsonl.gz").is_file())

# An arm's λ_max "moves" where its range is at least half its largest value (a catapult, progressive
# sharpening, a warmup); such an arm must span at least SPAN of the panel's height. Every built-in's
# smallest is 0.195 (adam's lr-0.003, beside lr-0.01's 60000 at step 0); before, warmup's were 0.006.
MOVES, SPAN = 0.5, 0.15
# The λ_max drawn (every arm's values within the range) fill at least FILL of the height, unless they
# are flat (the quadratic's 10): a threshold widens the range by at most half the data's scale on each
# side, plus a 5% margin, 1/(1 + 2·0.5)/(1 + 2·0.05) = 0.4545.
FILL = 0.45


def unpack(name: str, root: Path) -> Path:
    run = root / name
    run.mkdir(parents=True)
    for f in ("manifest.json", "scenario.toml"):
        shutil.copy(STORE / name / f, run / f)
    with gzip.open(STORE / name / "metrics.jsonl.gz", "rb") as src, open(run / "metrics.jsonl", "wb") as dst:
        shutil.copyfileobj(src, dst)
    return run


def sharpness_lines(ax, data) -> dict[str, list[float]]:
    """Each arm's λ_max as drawn: the solid line in its colour (its threshold is the dashed one)."""
    out = {}
    for a in data.values():
        solid = [ln for ln in ax.get_lines() if ln.get_color() == a.color and ln.get_linestyle() == "-" and len(ln.get_xdata()) > 1]
        assert len(solid) == 1, (a.name, len(solid))
        out[a.name] = [float(y) for y in solid[0].get_ydata()]
    return out


def test_every_builtin_is_here():
    from eos_tui.scenario.loader import list_builtins

    assert set(BUILTINS) == {n for n, _ in list_builtins() if n not in ("cifar", "resnet")}  # these need the CIFAR-10 files


@pytest.mark.parametrize("name", BUILTINS)
def test_each_arms_sharpness_spans_its_panel(name, tmp_path):
    run = unpack(name, tmp_path)
    out = tmp_path / f"{name}.png"
    assert plot_command(run, out=out) == 0
    data = collect(read_records(run), read_manifest(run))
    panels = len(PANELS) + any(a.selfstab for a in data.values())  # and the portrait where it was measured
    assert imread(out).shape[:2] == (round(HEIGHT_IN * DPI), round(panels * PANEL_WIDTH_IN * DPI))
    fig = build_figure(data, PANELS, title=name)
    FigureCanvasAgg(fig).draw()
    ax = fig.axes[0]
    lo, hi = ax.get_ylim()
    height = hi - lo
    drawn = sharpness_lines(ax, data)
    shown = []
    for a in data.values():
        ys = [y for y in drawn[a.name] if math.isfinite(y)]
        inside = [y for y in ys if lo <= y <= hi]
        shown += inside
        if a.diverged:
            continue  # cut at the edge where it leaves, and marked there (test_plot_robust.py)
        assert len(inside) == len(ys), (a.name, "a λ_max that did not diverge is cut")
        top = max(abs(y) for y in ys)
        if (max(ys) - min(ys)) / top >= MOVES:
            span = (max(ys) - min(ys)) / height
            assert span >= SPAN, f"{name}: {a.name}'s λ_max spans {span:.1%} of the panel"
    if (max(shown) - min(shown)) / max(abs(y) for y in shown) >= MOVES:
        fill = (max(shown) - min(shown)) / height
        assert fill >= FILL, f"{name}: λ_max fills {fill:.1%} of the panel ({lo:.3g} to {hi:.3g})"


def test_the_paper_figures_stay_raw_and_the_catapult_is_normalized(tmp_path):
    """eos, sgd_vs_gd and adam were good as they were: λ_max against dashed thresholds. The catapult's
    arms (uv at λ0 = 2, MLP at 17) share one scale only over their thresholds: λ_max·η/2, edge at 1."""
    form = {}
    for name in ("eos", "sgd_vs_gd", "adam", "warmup", "catapult"):
        run = unpack(name, tmp_path)
        form[name] = sharpness_form(list(collect(read_records(run), read_manifest(run)).values()))
    assert form == {"eos": "raw", "sgd_vs_gd": "raw", "adam": "raw", "warmup": "raw", "catapult": "normalized"}
    fig = build_figure(collect(read_records(tmp_path / "catapult"), read_manifest(tmp_path / "catapult")), PANELS)
    assert "edge at 1" in fig.axes[0].get_title()
    assert any(ln.get_ydata()[0] == 1.0 and ln.get_linestyle() == "--" for ln in fig.axes[0].get_lines())


def test_warmups_thresholds_are_cut_and_marked_with_their_value(tmp_path):
    run = unpack("warmup", tmp_path)
    data = collect(read_records(run), read_manifest(run))
    fig = build_figure(data, ("sharpness",))
    ax = fig.axes[0]
    lo, hi = ax.get_ylim()
    arm = data["warmup-600"]
    assert max(arm.threshold) > 20 * hi  # 2/η_t at step 0, far above
    texts = [t.get_text() for t in ax.texts]
    assert [max(arm.threshold), max(data["warmup-200"].threshold)] == [pytest.approx(2600, rel=0.02), pytest.approx(870, rel=0.02)]
    assert "2600" in texts and "870" in texts  # written as a reader writes them, not 2.6e+03
    # the two marks at step 0 do not write their values over each other
    FigureCanvasAgg(fig).draw()
    boxes = [t.get_window_extent() for t in ax.texts if t.get_text() in ("2600", "870")]
    assert len(boxes) == 2 and not boxes[0].overlaps(boxes[1])
    # nor draw one triangle over the other: the second 7 points under the first (5-point markers)
    hollow = [ln for ln in ax.get_lines() if ln.get_marker() == "^" and ln.get_markerfacecolor() == "white"]
    at = sorted(tuple(ln.get_transform().transform((ln.get_xdata()[0], ln.get_ydata()[0]))) for ln in hollow)
    assert len(at) == 2 and at[0][0] == pytest.approx(at[1][0])
    assert abs(at[1][1] - at[0][1]) == pytest.approx(7 * fig.dpi / 72)


def test_sharpness_limits():
    # a threshold far above is cut; one within half the data's scale is held; a flat line gets room
    assert sharpness_limits([17.0, 18.0, 2.0], [2600.0, 4.0]) == pytest.approx((2.0 - 0.8, 18.0 + 0.8))
    lo, hi = sharpness_limits([2.0, 4.0], [4.5, 5.0, 5.1])
    assert lo == pytest.approx(2.0 - 0.15) and hi == pytest.approx(5.0 + 0.15)  # 5.1 is beyond 4 + 0.5·2
    lo, hi = sharpness_limits([10.0, 10.0], [10.5, 9.5, 40.0])  # the quadratic: reach 0.5·(0.2·10)
    assert lo == pytest.approx(9.45) and hi == pytest.approx(10.55)
    lo, hi = sharpness_limits([10.0], [])
    assert lo == pytest.approx(10.0 - 0.55) and hi == pytest.approx(10.0 + 0.55)
    assert sharpness_limits([math.nan], [1.0]) is None and sharpness_limits([], [1.0]) is None


def test_normalized_is_sharpness_times_eta_t_over_2(tmp_path):
    """Under warmup η_t changes every step: λ_max at step s over 2/η_s, to rounding (1e-12)."""
    run = synthetic.make_run(tmp_path / "run", steps=120, arms=("gd",), warmup=50)
    data = collect(read_records(run), read_manifest(run))
    gd = data["gd"]
    for s, lam, norm in zip(gd.sharpness_step, gd.sharpness, normalized_sharpness(gd)):
        assert norm == pytest.approx(lam * synthetic.lr_at("gd", int(s), warmup=50) / 2, rel=1e-12)
    for panels, title in (("normalized,loss", "edge at 1"), ("raw", r"$2/\eta_t$")):
        out = tmp_path / f"{panels}.png"
        assert plot_command(run, out=out, panels=panels) == 0
        fig = build_figure(data, panels.split(","))
        assert title in fig.axes[0].get_title()


def test_the_normalized_edge_is_marked_where_it_is_off_the_scale():
    """Arms far below their edge (λ_max·η/2 from 0.01 to 0.02): the range is theirs, and the edge at 1,
    off it, gets the open triangle at the top with its value, as a threshold does."""
    arm = ArmData("far", "#1f77b4", step=[0.0, 1.0, 2.0], threshold=[10.0] * 3, sharpness_step=[0.0, 1.0, 2.0], sharpness=[0.1, 0.15, 0.2])
    fig = build_figure({"far": arm}, ("normalized",))
    lo, hi = fig.axes[0].get_ylim()
    assert 0.0 < lo < 0.01 and 0.02 < hi < 0.03
    assert [t.get_text() for t in fig.axes[0].texts] == ["1"]
    fig = build_figure({"far": arm}, ("raw",))  # raw: the threshold 10 is the one marked
    assert [t.get_text() for t in fig.axes[0].texts] == ["10"]
