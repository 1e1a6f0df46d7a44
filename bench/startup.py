"""Start-up: seconds from the command to the first step record and to the first λ_max.

    python bench/startup.py [--tiny] [--repeats 3] [--scenarios eos,adam] [--json-out PATH]

For every built-in but cifar (it needs a download): `eos-tui run NAME --json --steps 200` in a fresh
process, metrics.jsonl polled every 5 ms for the first step record and the first record with a
sharpness, then the run stopped. Idle, and beside one busy-loop process (`python -c 'while True:
pass'`). The median of --repeats runs. A reference row: `python -c 'import torch'` alone.
Goal (issue 19): the first step within 3 s and the first λ_max within 5 s, idle, on 2 cores.
Runs the code on PYTHONPATH: PYTHONPATH=/path/to/old/checkout measures a before.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402
import _runs as R  # noqa: E402


def import_torch_s() -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch"], check=True, env=R.clean_env())
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    C.add_common_args(parser, "startup")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scenarios", default=None, help="comma-separated built-ins (default: all but cifar)")
    parser.add_argument("--loads", default="idle,busy", help="idle, busy or both")
    args = parser.parse_args()
    names = args.scenarios.split(",") if args.scenarios else R.builtins()
    loads = args.loads.split(",")
    if args.tiny:
        names, loads, args.repeats = ["quadratic"], ["idle"], 1
    rows, table = [], []
    for load in loads:
        with R.neighbour(load == "busy"):
            ref = C.median([import_torch_s() for _ in range(args.repeats)])
            rows.append({"scenario": "import torch", "load": load, "step_s": ref})
            table.append(["(python -c 'import torch')", load, ref, None, None, None])
            for name in names:
                runs = [R.first_records(name, 200) for _ in range(args.repeats)]
                row = {"scenario": name, "load": load}
                for key in ("step_s", "sharpness_s", "step_cpu_s", "sharpness_cpu_s"):
                    row[key] = C.median([r[key] for r in runs if r[key] is not None] or [float("nan")])
                rows.append(row)
                table.append([name, load, row["step_s"], row["sharpness_s"], row["step_cpu_s"], row["sharpness_cpu_s"]])
                print(f"{name:<14} {load:<5} " + "  ".join(f"{k} {row[k]:6.2f}" for k in list(row)[2:]), file=sys.stderr)
                C.write_json(args.json_out, {"rows": rows, "repeats": args.repeats})
    C.table(
        "seconds from the command to the first record (wall; CPU seconds of the run's process by then)",
        ["scenario", "load", "first step s", "first λ_max s", "CPU at first step", "CPU at first λ_max"],
        table,
    )
    C.write_json(args.json_out, {"rows": rows, "repeats": args.repeats})


if __name__ == "__main__":
    main()
