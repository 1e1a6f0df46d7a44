"""`eos-tui plot` on a run with a diverged arm: the other arms set the loss and ⟨∇L,u⟩ ranges, the
diverged one is marked off-scale at the edge (review findings; also the threshold's title and a
panel named twice)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.image import imread  # noqa: E402

from eos_tui.cli.plot import build_figure, collect, plot_command, robust_limits  # noqa: E402
from eos_tui.rundir import read_manifest, read_records  # noqa: E402
from tests.app import synthetic  # noqa: E402
from tests.test_plot import colour_near, pixel_of  # noqa: E402

BOOM_STEPS = 20  # the diverged arm: loss ×2.5 a step up to ~1e8, ⟨∇L,u⟩ alternating up to ~1e8


def boom_records() -> list[dict]:
    out: list[dict] = []
    for t in range(BOOM_STEPS):
        out.append({"type": "step", "arm": "boom", "step": t, "loss": 2.5**t, "lr": 0.02, "proj": (-1) ** t * 2.5**t})
        out.append({"type": "sharpness", "arm": "boom", "step": t, "eigenvalues": [60.0 + t], "hvps": 5, "residual": 1e-3})
    out.append({"type": "end", "arm": "boom", "status": "diverged", "steps_done": BOOM_STEPS, "final_loss": 2.5**BOOM_STEPS})
    return out


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    d = synthetic.make_run(tmp_path_factory.mktemp("robust") / "run", steps=200, arms=("gd",))
    synthetic.append(d, boom_records())
    m = synthetic.manifest(status="completed", steps=200, arms=("gd", "boom"))
    m["arms"]["boom"]["status"] = "diverged"
    synthetic.write_manifest(d, m)
    return d


def test_a_diverged_arm_does_not_set_the_loss_and_projection_ranges(run, tmp_path):
    out = tmp_path / "fig.png"
    assert plot_command(run, out=out) == 0
    img = imread(out)
    data = collect(read_records(run), read_manifest(run))
    assert data["boom"].diverged and not data["gd"].diverged
    fig = build_figure(data, ("sharpness", "loss", "proj"), title="synthetic")
    FigureCanvasAgg(fig).draw()
    sharp_ax, loss_ax, proj_ax = fig.axes[:3]
    gd = data["gd"]
    # the loss axis ends within a decade of gd's largest loss (~2.1), not at boom's 1e8
    top = loss_ax.get_ylim()[1]
    assert max(gd.loss) < top < 10 * max(gd.loss), top
    amp = max(abs(p) for p in gd.proj if math.isfinite(p))  # ~0.8
    lo, hi = proj_ax.get_ylim()
    assert -2 * amp < lo < -amp and amp < hi < 2 * amp, (lo, hi)
    # sharpness is not clipped: boom's 60..79 lies within 1.5× of gd's range (its 2/η = 100 line)
    assert sharp_ax.get_ylim()[1] > 79
    # boom's triangle at the top edge of the loss panel, where it leaves (2.5^t > top from t = 1),
    # and at the bottom of the projection panel, in its colour, with its furthest value written
    leave = next(t for t in range(BOOM_STEPS) if 2.5**t > top)
    assert colour_near(img, *pixel_of(fig, loss_ax, leave, top), data["boom"].color, radius=6)
    first_below = next(t for t in range(BOOM_STEPS) if (-1) ** t * 2.5**t < lo)
    assert colour_near(img, *pixel_of(fig, proj_ax, first_below, lo), data["boom"].color, radius=6)
    texts = {t.get_text() for ax in (loss_ax, proj_ax) for t in ax.texts}
    assert "3.6e7" in texts and "-3.6e7" in texts  # 2.5^19, as a reader writes it (not 3.6e+07)


def test_robust_limits_leave_a_plain_run_alone():
    assert robust_limits([1.0, 2.0], [1.0, 2.0, 2.5]) is None  # widened by less than the span
    assert robust_limits([1.0, 2.0], [1.0, 2.0, 100.0]) == pytest.approx((0.95, 2.05))
    assert robust_limits([1e-3, 1.0], [1e-3, 1e1], log=True) is None  # one decade more
    lo, hi = robust_limits([1e-3, 1.0], [1e-3, 1e8], log=True)
    assert lo == pytest.approx(10**-3.15) and hi == pytest.approx(10**0.15)
    assert robust_limits([], [1.0]) is None and robust_limits([math.nan], [1.0]) is None


def test_threshold_title_and_a_panel_named_twice(tmp_path):
    d = synthetic.make_run(tmp_path / "run", steps=50, arms=("gd",))
    fig = build_figure(collect(read_records(d), read_manifest(d)), ("sharpness",))
    assert "2/\\eta_t" in fig.axes[0].get_title()
    # an arm whose threshold is not 2/η (Adam's 38/η, momentum): the title does not call it 2/η_t
    recs = [dict(r, threshold=3800.0) if r["type"] == "step" else r for r in read_records(d)]
    fig = build_figure(collect(recs, read_manifest(d)), ("sharpness",))
    assert fig.axes[0].get_title() == "sharpness and its threshold (dashed)"
    out = tmp_path / "twice.png"
    assert plot_command(d, out=out, panels="loss,loss") == 0
    one = tmp_path / "once.png"
    assert plot_command(d, out=one, panels="loss") == 0
    assert imread(out).shape == imread(one).shape


def test_the_diverged_arms_threshold_stays_in_view(tmp_path):
    # gd alone beside boom: gd's λ runs 8 → ~100 against 2/η = 100; boom's 2/η is 2/1 = 2
    d = synthetic.make_run(tmp_path / "run", steps=100, arms=("gd",))
    boom = boom_records()
    for r in boom:
        if r["type"] == "step":
            r["lr"] = 1.0
        if r["type"] == "sharpness":
            r["eigenvalues"] = [1e4 * r["step"] + 5.0]
    synthetic.append(d, boom)
    m = synthetic.manifest(status="completed", steps=100, arms=("gd", "boom"))
    m["arms"]["boom"]["status"] = "diverged"
    synthetic.write_manifest(d, m)
    fig = build_figure(collect(read_records(d), read_manifest(d)), ("sharpness",))
    lo, hi = fig.axes[0].get_ylim()
    assert lo < 2.0 and hi < 1e3, (lo, hi)  # boom's 2/η = 2 in view, its λ of 1e5 off-scale
    assert any(t.get_text() == "1.9e5" for t in fig.axes[0].texts)  # 1e4 · (BOOM_STEPS − 1) + 5


def test_the_legend_never_covers_a_title(tmp_path):
    # one panel, Adam's long axis label and title: the legend beside the title hid "(dashed)"
    d = synthetic.make_run(tmp_path / "run", steps=50, arms=("gd", "sgd"))
    recs = [
        dict(r, threshold=3800.0) if r["type"] == "step" else dict(r, operator="preconditioned") if r["type"] == "sharpness" else r
        for r in read_records(d)
    ]
    for panels in (("sharpness",), ("sharpness", "loss", "proj")):
        fig = build_figure(collect(recs, read_manifest(d)), panels, title="adam")
        FigureCanvasAgg(fig).draw()
        renderer = fig.canvas.get_renderer()
        legend = fig.legends[0].get_window_extent(renderer)
        for ax in fig.axes:
            assert not legend.overlaps(ax.title.get_window_extent(renderer)), (panels, ax.get_title())
