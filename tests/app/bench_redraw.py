"""How long a full redraw takes with many points (not a test; run by hand).

    python tests/app/bench_redraw.py [STEPS] [COLS ROWS]

Loads a synthetic run of STEPS steps x 2 arms into the app at COLS x ROWS, then times redraws
that rebuild every chart (the view changes each time, as on a key press).
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import synthetic  # noqa: E402

from eos_tui.app import EosApp  # noqa: E402
from eos_tui.app.widgets.chart import Chart  # noqa: E402


async def main(steps: int, cols: int, rows: int) -> None:
    run = Path(f"/tmp/eos-bench-{steps}")
    if not (run / "manifest.json").exists():
        synthetic.make_run(run, steps=steps)
    app = EosApp(run)
    async with app.run_test(size=(cols, rows)) as pilot:
        t = time.perf_counter()
        while not app.model.arms or app.model.arms["gd"].status == "running":
            await pilot.pause(0.05)
            app.ingest()
        print(f"loaded {app.model.records} records in {time.perf_counter() - t:.2f} s")
        charts = list(app.query(Chart))
        times = []
        for i in range(20):
            t = time.perf_counter()
            app.action_toggle_follow() if i % 2 else app.action_toggle_log()
            times.append(time.perf_counter() - t)
        n = sum(len(s.xs) for c in charts for s in c._series)
        print(f"full redraw ({len(charts)} charts, {n} points drawn): "
              f"median {sorted(times)[len(times) // 2] * 1e3:.1f} ms, max {max(times) * 1e3:.1f} ms")
        c = app.query_one("#loss-chart", Chart)
        t = time.perf_counter()
        for _ in range(20):
            c.render_strips(*c.size)
        print(f"one chart {tuple(c.size)} with {sum(len(s.xs) for s in c._series)} points: "
              f"{(time.perf_counter() - t) / 20 * 1e3:.2f} ms")


if __name__ == "__main__":
    a = sys.argv[1:]
    asyncio.run(main(int(a[0]) if a else 100_000, int(a[1]) if len(a) > 1 else 120, int(a[2]) if len(a) > 2 else 40))
