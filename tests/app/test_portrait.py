"""The self-stabilization panel (widgets/portrait.py): Damian et al.'s (x, y) portrait in place of the
eigendirection panel, on `p` or the scenario's [display] panel = "portrait".

The run here is synthetic: the "gd" arm's selfstab records follow the paper's 2-D map exactly
(x ← −(1 + ηy)x, y ← y + η(α − βx²/2)), so where each point must land is known in closed form."""

from __future__ import annotations

import json
import math

import numpy as np
from rich.text import Text as RichText

from . import synthetic
from .helpers import run_finished, until, wait_for

ETA, ALPHA, BETA = 0.02, 5.0, 1.0  # cycles of about 120 steps from (1, 0)
CROSSING = 150  # the synthetic gd arm's onset


def stage_of(x: float, y: float, x_prev: float, y_prev: float) -> str:
    if y < 0:
        return "returning" if abs(x) < abs(x_prev) and abs(x) > 0.05 else "sharpening"
    return "blow-up" if y > y_prev else "stabilizing"


def map_records(steps: int) -> list[dict]:
    """selfstab records for "gd" from the crossing on: the paper's map from (x, y) = (1, 0)."""
    out, x, y = [], 1.0, 0.0
    x_prev, y_prev = x, y
    for t in range(CROSSING, steps):
        out.append(
            {
                "type": "selfstab",
                "arm": "gd",
                "step": t,
                "x": x,
                "y": y,
                "sharpness_gap": 1.1 * y,
                "alpha": ALPHA,
                "beta": BETA,
                "x_pred": x,
                "y_pred": y,
                "distance": math.hypot(x, y),
                "stage": stage_of(x, y, x_prev, y_prev),
                "crossing": t == CROSSING,
                "eigengap": 0.005 if t >= 380 else 0.2,
            }
        )
        x_prev, y_prev = x, y
        x, y = -(1 + ETA * y) * x, y + ETA * (ALPHA - BETA * x * x / 2)
    return out


def make_selfstab_run(path, steps: int = 400, display: str | None = None):
    run = synthetic.make_run(path, steps=steps)
    lines = (run / "metrics.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    extra = map_records(steps)
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records + extra))
    if display is not None:
        scenario = run / "scenario.toml"
        text = scenario.read_text() if scenario.exists() else ""
        scenario.write_text(text + f'\n[display]\npanel = "{display}"\n')
    return run, extra


def test_model_reads_the_records(tmp_path):
    from eos_tui.app.model import RunModel

    _, extra = make_selfstab_run(tmp_path / "run")
    model = RunModel()
    model.apply_records(extra + [{"type": "selfstab", "arm": "gd", "step": "bad", "x": 1}])
    series = model.arms["gd"].selfstab
    assert len(series) == len(extra)  # the damaged record skipped, the others all read
    assert series.step.values[0] == CROSSING and series.crossing.values[0] == 1 and series.crossing.values[1:].sum() == 0
    np.testing.assert_array_equal(series.x.values, [r["x"] for r in extra])
    assert series.stages[0] == extra[0]["stage"]
    assert model.arm("sgd").has_selfstab is False


def test_portrait_places_points_where_they_lie():
    """The newest point's glyph sits in the cell its (x, y) maps to, and x = 0, y = 0 are drawn."""
    from eos_tui.braille.portrait import Trace, draw_portrait

    xs, ys, steps = np.array([-1.0, 1.0, 0.5]), np.array([-1.0, 1.0, 0.0]), np.array([0, 1, 2])
    frame = draw_portrait(20, 10, [Trace(xs, ys, steps, [(math.inf, 1)])], (-1.0, 1.0), (-1.0, 1.0), axes_layer=0)
    assert frame.cell_of(-1.0, -1.0) == (9, 0) and frame.cell_of(1.0, 1.0) == (0, 19)
    assert frame.cell_of(0.5, 0.0) == (5, 14)  # dot (29.25, 19.5) of 40 × 40
    assert frame.cell_of(2.0, 0.0) is None  # outside: no cell
    owners = frame.canvas.owner
    assert owners[9, 0] == 1 and owners[0, 19] == 1  # the points
    # Steps 0 and 2 (same parity) are joined; 0 and 1 are not (x flips sign every step: such joins
    # would cross the plane). The join from (−1, −1) to (0.5, 0) passes dot (14.5, 29.5), cell (7, 7);
    # the line from (−1, −1) to (1, 1) would pass dot (19, 19), cell (4, 9), where only it could be.
    assert owners[7, 7] == 1
    assert owners[4, 9] == -1
    assert (owners[:, 10] == 0).any() and (owners[5, :] == 0).any()  # the dashed x = 0 and y = 0


def test_fading_trail_takes_the_newest_colour():
    from eos_tui.braille.portrait import Trace, draw_portrait

    steps = np.arange(10)
    xs = np.zeros(10)
    ys = np.zeros(10)  # every point in one cell: the newest band's layer wins
    frame = draw_portrait(4, 2, [Trace(xs, ys, steps, [(3, 2), (100, 1)])], (-1.0, 1.0), (-1.0, 1.0), axes_layer=0)
    cell = frame.cell_of(0.0, 0.0)
    assert cell is not None and frame.canvas.owner[cell] == 2


def test_x2_ratio_and_stage_since():
    from eos_tui.app.model import RunModel
    from eos_tui.app.widgets.portrait import stage_since, x2_ratio

    extra = map_records(400)
    model = RunModel()
    model.apply_records(extra)
    series = model.arms["gd"].selfstab
    n = len(series)
    xs = np.array([r["x"] for r in extra])
    expected = float(np.mean(xs[n // 2 :] ** 2)) / (2 * ALPHA / BETA)
    assert x2_ratio(series, n) == expected
    stage, since = stage_since(series, n - 1)
    assert stage == extra[-1]["stage"]
    first = max(i for i in range(n) if i == 0 or extra[i - 1]["stage"] != stage)
    assert since == extra[first]["step"]


async def test_p_puts_the_portrait_in_place_of_the_eigendirection(tmp_path):
    from eos_tui.app.app import EosApp
    from eos_tui.app.widgets import EigendirectionPanel
    from eos_tui.app.widgets.panel import Text
    from eos_tui.app.widgets.portrait import NOW_MARK, PhasePortrait, PortraitPanel

    run, extra = make_selfstab_run(tmp_path / "run")
    app = EosApp(run)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: run_finished(app))
        portrait = app.query_one(PortraitPanel)
        assert not portrait.display and app.query_one(EigendirectionPanel).display
        await pilot.press("p")
        await until(pilot, lambda: portrait.display and not app.query_one(EigendirectionPanel).display)
        await until(pilot, lambda: app.query_one(PhasePortrait).frame is not None)
        plot = app.query_one(PhasePortrait)
        await pilot.pause()
        # The current point is the last record, drawn as the bright glyph in its cell.
        text = "\n".join(strip.text for strip in plot.render_strips(*plot.size))
        assert NOW_MARK in text
        summary = str(app.query_one("#portrait-summary", Text)._last)
        assert "λ2≈λ1" in summary  # the synthetic eigengap is 0.005 from step 380
        # Fitted to the panel's width once shown (it was filled while hidden, at width 0).
        assert 0 < RichText.from_markup(summary).cell_len <= portrait.content_size.width
        # The help explains the four stages.
        await pilot.press("question_mark")
        await pilot.pause()
        help_text = str(app.screen.query_one("Markdown").source if app.screen.query("Markdown") else "")
        for stage in ("Progressive sharpening", "Blow-up", "Self-stabilization", "Return to stability"):
            assert stage in help_text, stage
        await pilot.press("escape")
        await pilot.press("p")
        await until(pilot, lambda: not portrait.display and app.query_one(EigendirectionPanel).display)


async def test_the_scenario_opens_on_the_portrait_and_says_why_an_arm_has_none(tmp_path):
    from eos_tui.app.app import EosApp
    from eos_tui.app.widgets.portrait import PortraitPanel

    run, _ = make_selfstab_run(tmp_path / "run", display="portrait")
    app = EosApp(run)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: run_finished(app))
        portrait = app.query_one(PortraitPanel)
        await until(pilot, lambda: portrait.display)
        app.view.arm, app.view.arm_chosen = "sgd", True
        app.view_changed()
        await until(pilot, lambda: "tab to an arm" in str(portrait._message or ""))


def _joins_one_by_one(frame, xs, ys, steps, dotted):
    """segments_mask written plainly, one segment at a time (the reference for the vectorized one)."""
    canvas = frame.canvas
    mask = np.zeros((canvas.height, canvas.width), dtype=bool)
    (x0, x1), (y0, y1) = frame.x_range, frame.y_range
    cols, rows = (xs - x0) / (x1 - x0) * (canvas.width - 1), (y1 - ys) / (y1 - y0) * (canvas.height - 1)
    ok = np.isfinite(cols) & np.isfinite(rows) & (cols > -0.5) & (cols < canvas.width - 0.5) & (rows > -0.5) & (rows < canvas.height - 0.5)
    pts = [(round(c), round(r)) for c, r in zip(cols[ok], rows[ok])]
    where = {int(s): i for i, s in enumerate(steps)}
    for i, s in enumerate(steps):
        j = where.get(int(s) - 2)
        if j is None or not (ok[i] and ok[j]):
            continue
        n = int(max(abs(cols[i] - cols[j]), abs(rows[i] - rows[j]))) + 1
        t = np.linspace(0.0, 1.0, n + 1)[:: 2 if dotted else 1]
        pts += list(zip(np.round(cols[j] + t * (cols[i] - cols[j])).astype(int), np.round(rows[j] + t * (rows[i] - rows[j])).astype(int)))
    for c, r in pts:
        if 0 <= c < canvas.width and 0 <= r < canvas.height:
            mask[r, c] = True
    return mask


def test_the_joins_are_drawn_as_one_segment_at_a_time_would_draw_them():
    from eos_tui.braille.canvas import BrailleCanvas
    from eos_tui.braille.portrait import PortraitFrame, segments_mask

    rng = np.random.default_rng(0)
    for _ in range(100):
        n = int(rng.integers(1, 60))
        steps = np.sort(rng.choice(np.arange(200), n, replace=False)).astype(float)  # with gaps
        xs, ys = rng.normal(size=n) * 1.5, rng.normal(size=n)  # some outside the frame
        xs[rng.random(n) < 0.05] = np.nan
        frame = PortraitFrame(BrailleCanvas(int(rng.integers(2, 40)), int(rng.integers(2, 20))), (-2.0, 2.0), (-2.0, 2.0))
        for dotted in (False, True):
            expected = _joins_one_by_one(frame, xs, ys, steps, dotted)
            np.testing.assert_array_equal(segments_mask(frame, xs, ys, steps, dotted=dotted), expected)
