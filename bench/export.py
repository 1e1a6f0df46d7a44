"""Taking a run out: `python bench/export.py`.

Times the commands a person runs on a finished run, each as its own `eos-tui` process (so start-up
is included, as the person waits for it), on a synthetic run (tests/app/synthetic.py: STEPS steps ×
2 arms, no engine): `export` to CSV, JSON lines and Parquet, and `plot` to PNG. Beside them, a bare
`eos-tui --help` in the same run, for the ratio: what the command costs over starting at all.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests" / "app"))
import _common  # noqa: E402
import synthetic  # noqa: E402

COMMANDS = {
    "eos-tui --help": lambda run, out: ["--help"],
    "export csv": lambda run, out: ["export", str(run), "-o", str(out / "run.csv")],
    "export jsonl": lambda run, out: ["export", str(run), "-o", str(out / "run.jsonl")],
    "export parquet": lambda run, out: ["export", str(run), "-o", str(out / "run.parquet")],
    "plot png": lambda run, out: ["plot", str(run), "-o", str(out / "fig.png")],
}
OUTPUTS = {"export csv": "run.csv", "export jsonl": "run.jsonl", "export parquet": "run.parquet", "plot png": "fig.png"}


def timed(args: list[str]) -> float:
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "eos_tui.cli", *args], capture_output=True, text=True)
    elapsed = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {proc.stderr.strip()[-500:]}")
    return elapsed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common.add_common_args(ap, "export")
    ap.add_argument("--steps", type=int, default=20_000, help="steps per arm in the synthetic run")
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    if a.tiny:
        a.steps, a.repeats = 300, 1
    rows, results = [], {}
    with tempfile.TemporaryDirectory(prefix="eos-bench-export-") as tmp:
        run = synthetic.make_run(Path(tmp) / "run", steps=a.steps)
        out = Path(tmp) / "out"
        out.mkdir()
        size = (run / "metrics.jsonl").stat().st_size
        records = sum(1 for _ in open(run / "metrics.jsonl", encoding="utf-8"))
        for name, make in COMMANDS.items():
            times = [timed(make(run, out)) for _ in range(a.repeats)]
            results[name] = statistics.median(times)
        base = results["eos-tui --help"]
        for name, s in results.items():
            written = OUTPUTS.get(name)
            out_size = (out / written).stat().st_size if written else None
            rows.append((name, f"{s:.2f} s", f"{s / base:.1f}×", f"{out_size / 1e6:.2f} MB" if out_size else "—"))
    _common.table(
        f"export and plot of a synthetic run: {a.steps:,} steps × 2 arms, {records:,} records, {size / 1e6:.1f} MB",
        ["command (a process each)", f"median of {a.repeats}", "× --help", "output"],
        rows,
    )
    _common.write_json(
        a.json_out,
        {"rows": [dict(zip(("command", "seconds", "ratio", "output"), r)) for r in rows], "seconds": results, "records": records},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
