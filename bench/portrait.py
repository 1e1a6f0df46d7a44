"""How long the self-stabilization portrait's drawing takes: `python bench/portrait.py`.

Draws the stored `selfstab` run's last 160 (x, y) records, as the app's portrait panel does on each
redraw that brings new data (braille/portrait.py: the map dotted, the measured points per stage
and age band), at the panel's size at 80×24 and at 120×40. No Textual, no torch.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import _common as C  # noqa: E402

from eos_tui.braille.portrait import Trace, draw_portrait  # noqa: E402

RUN = HERE.parent / "tests" / "app" / "scenario_runs" / "selfstab" / "metrics.jsonl.gz"
STAGES = ("sharpening", "blow-up", "stabilizing", "returning", "")
SIZES = {"80x24": (30, 6), "120x40": (38, 25)}  # the plot's cells inside the panel


def traces(trail: int) -> list[Trace]:
    with gzip.open(RUN, "rt", encoding="utf-8") as f:
        recs = [r for r in map(json.loads, f) if r.get("type") == "selfstab"][-trail:]

    def col(key: str) -> np.ndarray:
        return np.array([np.nan if r.get(key) is None else r[key] for r in recs], dtype=float)

    steps = col("step")
    groups = np.array([STAGES.index(r.get("stage", "")) if r.get("stage", "") in STAGES else 4 for r in recs])
    bands = {g: [(8.0, 2 + 3 * g), (40.0, 3 + 3 * g), (160.0, 4 + 3 * g)] for g in range(len(STAGES))}
    return [
        Trace(col("x_pred"), col("y_pred"), steps, [(np.inf, 1)], level=1, dotted=True),
        Trace(col("x"), col("y"), steps, [(8.0, 0), (40.0, 0), (160.0, 0)], groups=groups, group_layers=bands),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    C.add_common_args(parser, "portrait")
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    repeats = 5 if args.tiny else args.repeats
    drawn = traces(160)
    rows = []
    for name, (cols, lines) in SIZES.items():
        draw_portrait(cols, lines, drawn, (-0.2, 0.2), (-0.5, 0.5), axes_layer=0)  # warm
        t = time.perf_counter()
        for _ in range(repeats):
            draw_portrait(cols, lines, drawn, (-0.2, 0.2), (-0.5, 0.5), axes_layer=0)
        rows.append((name, (time.perf_counter() - t) / repeats * 1e3))
    C.table("portrait drawing (160 points, 5 stages × 3 age bands)", ["terminal", "ms a draw"], [(n, C.fmt(ms)) for n, ms in rows])
    C.write_json(args.json_out, {"rows": [{"terminal": n, "ms": ms} for n, ms in rows]})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
