"""Arms in parallel: one vmapped batch (engine.batch_arms = "auto") against one arm after another ("off").

    python bench/arms.py [--small | --tiny] [--arms 6] [--steps 200] [--repeats 3] [--json-out PATH]

Two sweeps of the eos scenario (tanh MLP 20→64→64→4, 256 random-label points, MSE, full-batch GD,
float32; `--small`/`--tiny` shrink it), each run through the engine (`run_scenario` into a fresh
run directory, records and all), batched and sequential, with sharpness measured (the scenario's
own setting: every 10 steps, top 2 eigenvalues, tol 1e-3: Lanczos with one vmapped HVP per
iteration for all arms) and without (sharpness_every = 0):
  eta     --arms learning rates from 0.1 to 0.6, one seed: the data is shared by all arms;
  seeds   --arms seeds at η = 0.5: each arm has its own data and init, so the data is stacked too.
Speed is arm-steps per second (arms × steps / wall time; median of --repeats, interleaved), and the
speed-up is sequential time / batched time. The JSON also holds, per configuration, the largest
relative difference between the batched and the sequential runs' final losses (they should agree
to float32 rounding, amplified a little by the dynamics). CPU always; CUDA too when available.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

from eos_tui.engine.runner import run_scenario  # noqa: E402
from eos_tui.scenario import load_scenario  # noqa: E402


def sweep(kind: str, size: str, arms: int, steps: int, sharpness: bool, batched: bool, device: str):
    """The eos scenario rewritten as an η or seeds sweep of `arms` arms."""
    over = list(C.SIZES[size]) + [f"steps={steps}", f'device="{device}"', f'engine.batch_arms="{"auto" if batched else "off"}"']
    if not sharpness:
        over.append("measure.sharpness_every=0")
    sc = load_scenario("eos", overrides=over)
    base = sc.arms[0]
    specs = []
    for i in range(arms):
        if kind == "eta":
            lr = 0.1 + 0.5 * i / max(1, arms - 1)
            upd = {"name": f"lr-{lr:.2f}", "optimizer": base.optimizer.model_copy(update={"lr": lr})}
        else:
            upd = {
                "name": f"seed-{i}",
                "seed": i,
                "data": base.data.model_copy(update={"seed": i}),
                "optimizer": base.optimizer.model_copy(update={"lr": 0.5}),
            }
        specs.append(base.model_copy(update=upd))
    sc.arms = specs
    return sc


def timed_run(sc) -> tuple[float, dict]:
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        _, manifest = run_scenario(sc, d)
        dt = time.perf_counter() - t0
        finals = {}
        for line in (Path(d) / "metrics.jsonl").read_text().splitlines():
            r = json.loads(line)
            if r["type"] == "end":
                finals[r["arm"]] = r["final_loss"]
    return dt, {"finals": finals, "batches": manifest.get("batches", [])}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    C.add_common_args(ap, "arms")
    ap.add_argument("--small", action="store_true")
    ap.add_argument("--arms", type=int, default=None, help="arms per sweep (default 6; tiny 3)")
    ap.add_argument("--steps", type=int, default=None, help="steps per arm (default 200; tiny 20)")
    ap.add_argument("--repeats", type=int, default=None, help="interleaved repeats (default 3; tiny 1)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    size = "tiny" if args.tiny else "small" if args.small else "full"
    arms = args.arms or (3 if args.tiny else 6)
    steps = args.steps or (20 if args.tiny else 200)
    repeats = args.repeats or (1 if args.tiny else 3)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(f"eos sweeps ({size}): {arms} arms × {steps} steps, {repeats} repeat(s), devices {devices}, {args.threads} torch thread(s)")

    rows = {}
    for device in devices:
        for kind in ("eta", "seeds"):
            for sharp in (True, False):
                label = f"{kind} {'with' if sharp else 'without'} sharpness, {device}"
                scs = {b: sweep(kind, size, arms, steps, sharp, b, device) for b in (True, False)}
                times = {True: [], False: []}
                info = {}
                timed_run(scs[True])  # warm-up: first vmap/functorch calls build their caches
                for _ in range(repeats):
                    for b in (True, False):
                        dt, info[b] = timed_run(scs[b])
                        times[b].append(dt)
                tb, ts = C.median(times[True]), C.median(times[False])
                diffs = [
                    abs(info[True]["finals"][a] - info[False]["finals"][a]) / abs(info[False]["finals"][a])
                    for a in info[False]["finals"]
                    if info[False]["finals"][a]
                ]
                rows[label] = {
                    "sweep": kind,
                    "sharpness": sharp,
                    "device": device,
                    "arms": arms,
                    "steps": steps,
                    "batched_arm_steps_per_s": arms * steps / tb,
                    "sequential_arm_steps_per_s": arms * steps / ts,
                    "speedup": ts / tb,
                    "batched_s": times[True],
                    "sequential_s": times[False],
                    "batches": info[True]["batches"],
                    "max_rel_diff_final_loss": max(diffs) if diffs else None,
                }
                r = rows[label]
                print(
                    f"  {label}: batched {r['batched_arm_steps_per_s']:.0f} arm-steps/s, sequential "
                    f"{r['sequential_arm_steps_per_s']:.0f}, speed-up {r['speedup']:.2f}×",
                    flush=True,
                )
    C.table(
        f"arms in parallel, eos ({size}), {arms} arms × {steps} steps, {args.threads} thread(s), median of {repeats}",
        ["sweep", "batched arm-steps/s", "sequential arm-steps/s", "speed-up", "final-loss rel diff"],
        [
            [k, r["batched_arm_steps_per_s"], r["sequential_arm_steps_per_s"], r["speedup"], r["max_rel_diff_final_loss"]]
            for k, r in rows.items()
        ],
    )
    C.write_json(
        args.json_out,
        {
            "benchmark": "arms",
            "size": size,
            "arms": arms,
            "steps": steps,
            "repeats": repeats,
            "devices": devices,
            "rows": rows,
            "speedups": {k: r["speedup"] for k, r in rows.items()},
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
