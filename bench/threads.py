"""Threads: every built-in headless with the engine's own thread count against 1 and 2 threads,
alone and beside one busy process; and where more threads start to pay on a bare matrix product.

    python bench/threads.py [--tiny] [--steps 100] [--scenarios eos,adam] [--loads idle,busy] [--json-out PATH]

1. For every built-in but cifar (a download): `eos-tui run NAME --json --steps N` with no --threads
   (the engine's choice, engine/threads.py), --threads 1 and --threads 2, wall seconds of the whole
   command; idle, then beside `python -c 'while True: pass'`. Ratios: each over the best of the three.
   The summaries of the three must agree (same numbers whatever the thread count, to rounding).
2. tanh(A @ B) at 1 and 2 threads for products from 1e6 to 3e9 multiply-adds (the eos MLP's largest,
   up to CIFAR's 5000×3072×200): where two threads start to pay, the engine's MANY_THRESHOLD.
Goal (issue 19): the default no more than 10% slower than the best thread count, idle or loaded.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402
import _runs as R  # noqa: E402

CONFIGS = {"default": None, "1": 1, "2": 2}
PRODUCTS = [(256, 64, 64), (1000, 200, 200), (1000, 1000, 200), (2000, 1000, 500), (5000, 3072, 200)]


def matmul_rows(products, repeats: int) -> list[dict]:
    rows = []
    before = torch.get_num_threads()
    for m, k, n in products:
        a, b = torch.randn(m, k), torch.randn(k, n)
        row = {"work": m * k * n, "shape": f"{m}×{k}×{n}"}
        for t in (1, 2):
            torch.set_num_threads(t)
            torch.tanh(a @ b)
            reps = max(1, int(3e8 // (m * k * n)))
            best = float("inf")
            for _ in range(repeats):
                t0 = time.perf_counter()
                for _ in range(reps):
                    torch.tanh(a @ b)
                best = min(best, (time.perf_counter() - t0) / reps)
            row[f"t{t}_ms"] = best * 1e3
        row["speedup_2"] = row["t1_ms"] / row["t2_ms"]
        rows.append(row)
    torch.set_num_threads(before)
    return rows


def agree(a: dict, b: dict) -> bool:
    """The same final losses and λ_max, to float32 rounding across thread counts."""
    for x, y in zip(a["arms"], b["arms"]):
        for key in ("final_loss", "final_sharpness"):
            u, v = x.get(key), y.get(key)
            if (u is None) != (v is None) or (u is not None and abs(u - v) > 1e-3 * max(1.0, abs(u))):
                return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    C.add_common_args(parser, "threads")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--scenarios", default=None, help="comma-separated built-ins (default: all but cifar)")
    parser.add_argument("--loads", default="idle,busy")
    parser.add_argument("--repeats", type=int, default=3, help="of each matrix product")
    args = parser.parse_args()
    names = args.scenarios.split(",") if args.scenarios else R.builtins()
    loads = args.loads.split(",")
    products = PRODUCTS
    if args.tiny:
        names, loads, args.steps, products, args.repeats = ["quadratic"], ["idle"], 3, PRODUCTS[:1], 1
    mm = matmul_rows(products, args.repeats)
    C.table(
        "tanh(A @ B): ms at 1 and 2 threads",
        ["product", "multiply-adds", "1 thread ms", "2 threads ms", "speedup"],
        [[r["shape"], float(r["work"]), r["t1_ms"], r["t2_ms"], r["speedup_2"]] for r in mm],
    )
    rows, ratios, table = [], {}, []
    # Each scenario idle then loaded, the JSON rewritten after each: a run cut short keeps what it measured.
    for name in names:
        for load in loads:
            with R.neighbour(load == "busy"):
                runs = {label: R.headless(name, args.steps, threads=t) for label, t in CONFIGS.items()}
            best = min(r["wall_s"] for r in runs.values())
            same = all(agree(runs["default"]["summary"], r["summary"]) for r in runs.values())
            row = {
                "scenario": name,
                "load": load,
                "default_threads": (runs["default"]["threads"] or {}).get("threads"),
                **{f"{label}_s": r["wall_s"] for label, r in runs.items()},
                **{f"{label}_ratio": r["wall_s"] / best for label, r in runs.items()},
                "summaries_agree": same,
            }
            rows.append(row)
            ratios[f"{name}/{load}"] = row["default_ratio"]
            table.append(
                [name, load, row["default_threads"], *(row[f"{k}_s"] for k in CONFIGS), *(row[f"{k}_ratio"] for k in CONFIGS), same]
            )
            print(f"{name:<13} {load:<5} " + "  ".join(f"{k}: {row[f'{k}_s']:.1f} s" for k in CONFIGS), file=sys.stderr)
            C.write_json(args.json_out, {"rows": rows, "ratios": ratios, "matmul": mm, "steps": args.steps})
    C.table(
        f"eos-tui run NAME --json --steps {args.steps}: wall seconds, and over the best",
        ["scenario", "load", "chosen", "default s", "1 thread s", "2 threads s", "default/best", "1/best", "2/best", "same"],
        table,
    )
    C.write_json(args.json_out, {"rows": rows, "ratios": ratios, "matmul": mm, "steps": args.steps})


if __name__ == "__main__":
    main()
