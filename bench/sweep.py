"""Sweep throughput: points a minute with the process pool (--jobs 1, --jobs 2) and with Ray (a local
instance), and the overhead of a pool task and a Ray task over running the point in-process.

    python bench/sweep.py [--tiny] [--no-ray] [--json-out PATH]

Throughput: the catapult-phase sweep at one width (19 points of the uv model, 100 steps each; --tiny:
4 points). For each executor: the wall time from creating it to the last point (start-up included),
the time to the first point (start-up: the fork server importing torch, or Ray starting), and the
steady rate after the first point.
Overhead: 20 points of 1 step on a 2-d quadratic, one at a time (jobs 1, Ray with 1 CPU): the mean
wall per point after the first, minus the same point run in this process.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

QUAD = {
    "name": "q",
    "steps": 1,
    "dtype": "float64",
    "data": {"kind": "none"},
    "model": {"kind": "quadratic", "eigenvalues": [10.0, 1.0]},
    "optimizer": {"kind": "gd", "lr": 0.1},
    "measure": {"sharpness_every": 1, "exact": True},
}


def jobs_for(sweep, root: str) -> list[dict]:
    res = sweep.resolved()
    return [{"index": i, "point": p, "sweep": res, "sweep_dir": root, "run_dir": f"points/p{i:04d}"} for i, p in enumerate(sweep.points())]


def timed(make, jobs: list[dict]) -> dict:
    t0 = time.perf_counter()
    ex = make()
    for j in jobs:
        ex.submit(j)
    times = []
    while ex.pending:
        for _job, rec in ex.wait(0.05):
            assert rec is not None and rec["status"] == "completed", rec
            times.append(time.perf_counter() - t0)
    ex.close()
    total = times[-1]
    steady = (len(times) - 1) / (times[-1] - times[0]) * 60 if len(times) > 1 and times[-1] > times[0] else None
    return {
        "points": len(times),
        "wall_s": round(total, 2),
        "first_point_s": round(times[0], 2),
        "points_per_min": round(len(times) / total * 60, 1),
        "steady_points_per_min": None if steady is None else round(steady, 1),
        "steady_s_per_point": None if steady is None else round(60 / steady, 3),
    }


def in_process(jobs: list[dict]) -> float:
    from eos_tui.sweep.point import run_point

    run_point(jobs[0])  # warm: lazy imports, first calls
    t0 = time.perf_counter()
    for j in jobs[1:]:
        run_point(j)
    return (time.perf_counter() - t0) / (len(jobs) - 1)


def one(kind: str, tiny: bool) -> dict:
    """One measurement in this (fresh) process: "in-process", "jobs 1", "jobs 2", "ray", "overhead pool",
    "overhead ray"."""
    import torch

    torch.set_num_threads(1)
    from eos_tui.sweep.executors import PoolExecutor, RayExecutor
    from eos_tui.sweep.grid import Sweep, load_sweep

    lrs = "optimizer.lr_relative=0.5,2.5,4,5" if tiny else "optimizer.lr_relative=0.5:5:19"
    phase = load_sweep("catapult-phase", grids=[lrs, "model.width=100"])
    n_over = 5 if tiny else 20
    lr_values = [round(0.01 * (i + 1), 2) for i in range(n_over)]
    quad = Sweep(name="q", description="", scenario=QUAD, source="bench", grid=[("optimizer.lr", lr_values)])
    with tempfile.TemporaryDirectory() as root:
        if kind == "in-process":
            return {"phase": round(in_process(jobs_for(phase, root)), 4), "quad": round(in_process(jobs_for(quad, root + "/q")), 4)}
        makers = {
            "jobs 1": lambda: PoolExecutor(1),
            "jobs 2": lambda: PoolExecutor(2),
            "ray": lambda: RayExecutor(None, gpu=False, num_cpus=2),
            "overhead pool": lambda: PoolExecutor(1),
            "overhead ray": lambda: RayExecutor(None, gpu=False, num_cpus=1),
        }
        return timed(makers[kind], jobs_for(quad if kind.startswith("overhead") else phase, root))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tiny", action="store_true")
    ap.add_argument("--no-ray", action="store_true")
    ap.add_argument("--json-out", type=Path)
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    os.environ["OMP_NUM_THREADS"] = "1"
    if args.one:
        print(json.dumps(one(args.one, args.tiny)))
        return
    import subprocess

    kinds = ["in-process", "jobs 1", "jobs 2", "ray", "overhead pool", "overhead ray"]
    if args.no_ray:
        kinds = [k for k in kinds if "ray" not in k]
    out: dict = {"cores": os.cpu_count(), "load_avg_at_start": round(os.getloadavg()[0], 2)}
    for kind in kinds:  # each in a fresh process: no fork server or Ray instance carried over
        cmd = [sys.executable, __file__, "--one", kind, *(["--tiny"] if args.tiny else [])]
        res = subprocess.run(cmd, capture_output=True, text=True, check=True)
        out[kind] = json.loads(res.stdout.strip().splitlines()[-1])
        print(kind, out[kind], file=sys.stderr)
    base = out["in-process"]["quad"]
    for kind in kinds:
        if kind.startswith("overhead") and out[kind]["steady_s_per_point"] is not None:
            out[kind]["overhead_s_per_point"] = round(out[kind]["steady_s_per_point"] - base, 4)
    out["load_avg_at_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(out, indent=2))
    if args.json_out:
        args.json_out.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
