"""How long a full redraw of the app takes with many points: `python bench/redraw.py`.

Loads a synthetic run (tests/app/synthetic.py: STEPS steps × 2 arms, no torch, no engine) into the
app at COLS × ROWS, then times redraws that rebuild every chart (the view changes each time, as on
a key press), and one chart's render alone.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests" / "app"))
import _common  # noqa: E402
import synthetic  # noqa: E402

from eos_tui.app import EosApp  # noqa: E402
from eos_tui.app.widgets.chart import Chart  # noqa: E402


def toggle_loss_log(app) -> None:
    """The loss chart's log axis: one toggle action since issue 21's key table; an older checkout
    (a "before" run with PYTHONPATH) has its own action per toggle."""
    if hasattr(app, "action_toggle_view"):
        app.action_toggle_view("loss_log_y")
    else:
        app.action_toggle_log()


async def measure(run: Path, cols: int, rows: int, redraws: int) -> dict[str, float]:
    app = EosApp(run)
    async with app.run_test(size=(cols, rows)) as pilot:
        t = time.perf_counter()
        while not app.model.arms or app.model.arms["gd"].status == "running":
            await pilot.pause(0.05)
            app.ingest()
        load_s = time.perf_counter() - t
        charts = list(app.query(Chart))
        times = []
        for i in range(redraws):
            t = time.perf_counter()
            app.action_toggle_follow() if i % 2 else toggle_loss_log(app)
            times.append(time.perf_counter() - t)
        points = sum(len(s.xs) for c in charts for s in c._series)
        c = app.query_one("#loss-chart", Chart)
        t = time.perf_counter()
        for _ in range(redraws):
            c.render_strips(*c.size)
        one = (time.perf_counter() - t) / redraws
        return {
            "records": app.model.records,
            "load_s": load_s,
            "charts": len(charts),
            "points": points,
            "full_redraw_ms": {"median": 1e3 * statistics.median(times), "max": 1e3 * max(times)},
            "one_chart_ms": 1e3 * one,
            "one_chart_points": sum(len(s.xs) for s in c._series),
        }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common.add_common_args(ap, "redraw")
    ap.add_argument("--steps", type=int, default=100_000, help="steps per arm in the synthetic run")
    ap.add_argument("--cols", type=int, default=120)
    ap.add_argument("--rows", type=int, default=40)
    ap.add_argument("--redraws", type=int, default=20)
    a = ap.parse_args()
    if a.tiny:
        a.steps, a.cols, a.rows, a.redraws = 2_000, 80, 24, 4
    with tempfile.TemporaryDirectory(prefix="eos-bench-redraw-") as tmp:
        run = synthetic.make_run(Path(tmp) / "run", steps=a.steps)
        r = asyncio.run(measure(run, a.cols, a.rows, a.redraws))
    _common.table(
        f"app redraw at {a.cols}×{a.rows}, {a.steps:,} steps × 2 arms",
        ["measure", "value"],
        [
            ("records loaded", f"{r['records']:,} in {r['load_s']:.2f} s"),
            (
                "full redraw, median / max",
                f"{r['full_redraw_ms']['median']:.1f} / {r['full_redraw_ms']['max']:.1f} ms ({r['charts']} charts, {r['points']:,} points)",
            ),
            ("one chart", f"{r['one_chart_ms']:.2f} ms ({r['one_chart_points']:,} points)"),
        ],
    )
    _common.write_json(a.json_out, {**r, "steps": a.steps, "size": [a.cols, a.rows]})
    return 0


if __name__ == "__main__":
    sys.exit(main())
