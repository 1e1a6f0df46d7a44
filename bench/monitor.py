"""eos_tui.Monitor's cost: a plain training loop against the same loop monitored at every=10.

    python bench/monitor.py [--tiny] [--sizes eos,mnist] [--steps N] [--repeats 5] [--every 10] [--json-out PATH]

The loop: a tanh MLP as nn.Sequential, random data, MSE, full-batch torch.optim.SGD at η = 0.5,
float32, one torch thread: `opt.zero_grad(); loss = loss_fn(model(X), y); loss.backward(); opt.step()`.
Two sizes:
  eos     20→64→64→4 on 256 points (5,764 parameters, the eos scenario's): a step of well under a
          millisecond, so the monitor's fixed cost per step weighs most (1000 steps a run)
  mnist   784→200→200→10 on 1,000 points (199,210 parameters, Cohen et al.'s fully-connected
          network at MNIST's input size; 200 steps a run)

Rows, each a whole run of `--steps` steps, interleaved and repeated (medians):
  plain                 the loop alone
  monitor, every=10     the same loop with `mon.step(loss=loss.item(), lr=..., optimizer=opt)` and the
                        Monitor's construction and close (its run directory, its checks, λ_max at
                        θ_0, the final loss) inside the timing
  monitor, no measuring the same with every > steps: only θ_0's measurement, so its time is the
                        bookkeeping of `mon.step` (records, JSON lines, detectors)

Within the monitored run the Monitor times its own measurements (`Monitor.measure_seconds`: the
Lanczos solves and their HVPs), and the loop times each training step and each `mon.step` apart.
The claim checked is "the monitor adds only its HVPs plus ≤ 5%":
    mon.step beyond measurements = (Σ mon.step − its measurements) / Σ training steps, in one loop;
    whole run beyond measurements = (t_monitored − t_measurements − t_plain) / t_plain, across runs
(the second carries the machine's drift between runs; on a shared machine trust the first).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

import eos_tui  # noqa: E402

LR = 0.5


SIZES = {  # examples, input, width, classes, default steps
    "tiny": (64, 8, 16, 2, 40),
    "eos": (256, 20, 64, 4, 1000),
    "mnist": (1000, 784, 200, 10, 200),
}


def problem(size: str):
    """(model factory, X, y): the same initial weights for every row."""
    n, d, width, k, _ = SIZES[size]
    g = torch.Generator().manual_seed(0)
    X, y = torch.randn(n, d, generator=g), torch.randn(n, k, generator=g)

    def make() -> nn.Module:
        torch.manual_seed(1)
        return nn.Sequential(nn.Linear(d, width), nn.Tanh(), nn.Linear(width, width), nn.Tanh(), nn.Linear(width, k))

    return make, X, y


def plain(make, X, y, steps: int) -> dict:
    model, loss_fn = make(), nn.MSELoss()
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    t0 = time.perf_counter()
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(model(X), y)
        loss.backward()
        opt.step()
    return {"seconds": time.perf_counter() - t0, "final_loss": loss.item()}


def monitored(make, X, y, steps: int, every: int) -> dict:
    """The monitored run, timed whole and in parts: the training steps and the `mon.step` calls are
    timed apart, each step, so their ratio compares two things measured microseconds apart (the
    shared machine's load drifts over a run, and a whole-run ratio drifts with it)."""
    model, loss_fn = make(), nn.MSELoss()
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    train = monitor = 0.0
    clock = time.perf_counter
    with tempfile.TemporaryDirectory() as d:
        t0 = clock()
        with eos_tui.Monitor(model, loss_fn, (X, y), run_dir=Path(d) / "run", every=every, steps=steps) as mon:
            t1 = clock()
            at_start = mon.measure_seconds  # λ_max at θ_0, measured by the constructor
            for _ in range(steps):
                a = clock()
                opt.zero_grad()
                loss = loss_fn(model(X), y)
                loss.backward()
                opt.step()
                b = clock()
                mon.step(loss=loss.item(), lr=opt.param_groups[0]["lr"], optimizer=opt)
                train, monitor = train + (b - a), monitor + (clock() - b)
            t2 = clock()
        seconds = clock() - t0
    in_loop = mon.measure_seconds - at_start
    return {
        "seconds": seconds,
        "measure_seconds": mon.measure_seconds,
        "hvps": mon.hvps,
        "start_seconds": t1 - t0,  # the checks, the run directory, λ_max at θ_0
        "close_seconds": seconds - (t2 - t0),  # the final loss, the manifest
        "train_seconds": train,
        "step_seconds": monitor,
        # mon.step beyond its measurements, per second of training steps, in the same loop
        "bookkeeping_fraction": (monitor - in_loop) / train,
        "final_loss": loss.item(),
    }


def bench(size: str, steps: int, repeats: int, every: int) -> dict:
    make, X, y = problem(size)
    n = sum(p.numel() for p in make().parameters())
    rows = {
        "plain": lambda: plain(make, X, y, steps),
        f"monitor, every={every}": lambda: monitored(make, X, y, steps, every),
        "monitor, no measuring": lambda: monitored(make, X, y, steps, steps + 1),
    }
    print(f"{size}: tanh MLP, {n} parameters, {len(X)} examples, {steps} steps per run, {repeats} interleaved repeats")
    for fn in rows.values():  # warm-up: the allocator, autograd's first graphs, imports
        fn()
    runs: dict[str, list[dict]] = {name: [] for name in rows}
    for _ in range(repeats):
        for name, fn in rows.items():
            runs[name].append(fn())
    res = {}
    for name, rs in runs.items():
        t = C.median([r["seconds"] for r in rs])
        res[name] = {
            "seconds": t,
            "ms_per_step": 1e3 * t / steps,
            "measure_seconds": C.median([r.get("measure_seconds", 0.0) for r in rs]),
            "hvps": rs[0].get("hvps", 0),
            "bookkeeping_fraction": C.median([r["bookkeeping_fraction"] for r in rs]) if "bookkeeping_fraction" in rs[0] else None,
            "start_seconds": C.median([r["start_seconds"] for r in rs]) if "start_seconds" in rs[0] else None,
        }
    base = res["plain"]["seconds"]
    for r in res.values():
        r["ratio"] = r["seconds"] / base
        r["overhead_beyond_measurements"] = (r["seconds"] - r["measure_seconds"] - base) / base
    C.table(
        f"eos_tui.Monitor cost, {size} ({n} parameters), {steps} steps, median of {repeats}",
        ["row", "ms/step", "× time vs plain", "HVPs", "measurements s", "whole run beyond measurements", "mon.step beyond measurements"],
        [
            [k, r["ms_per_step"], r["ratio"], r["hvps"], r["measure_seconds"], r["overhead_beyond_measurements"], r["bookkeeping_fraction"]]
            for k, r in res.items()
        ],
    )
    chosen = res[f"monitor, every={every}"]
    hvp_ms = 1e3 * chosen["measure_seconds"] / chosen["hvps"] if chosen["hvps"] else None
    print(
        f"{size}, every={every}: {chosen['ratio']:.3f}× the plain loop's time; its measurements "
        f"{chosen['measure_seconds']:.3f} s for {chosen['hvps']} HVPs ({C.fmt(hvp_ms)} ms each, "
        f"{C.fmt(hvp_ms / res['plain']['ms_per_step'] if hvp_ms else None)} training steps); beyond them, "
        f"mon.step {100 * chosen['bookkeeping_fraction']:+.1f}% of the training steps' time in the same loop (goal ≤ +5%), "
        f"the whole run {100 * chosen['overhead_beyond_measurements']:+.1f}% against the plain run\n"
    )
    return {
        "rows": res,
        "parameters": n,
        "examples": len(X),
        "steps": steps,
        "hvp_ms": hvp_ms,
        "overhead_beyond_measurements": chosen["overhead_beyond_measurements"],
        "bookkeeping_fraction": chosen["bookkeeping_fraction"],
        "per_repeat": runs,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    C.add_common_args(ap, "monitor")
    ap.add_argument("--sizes", default="eos,mnist", help="comma-separated, from eos, mnist (default both; --tiny: tiny)")
    ap.add_argument("--steps", type=int, default=None, help="steps per run (default: eos 1000, mnist 200, tiny 40)")
    ap.add_argument("--repeats", type=int, default=None, help="interleaved repeats (default 5; tiny 1)")
    ap.add_argument("--every", type=int, default=10, help="the monitor's cadence (default 10)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    sizes = ["tiny"] if args.tiny else [s.strip() for s in args.sizes.split(",") if s.strip()]
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        ap.error(f"--sizes: unknown {', '.join(unknown)} (known: eos, mnist)")
    repeats = args.repeats or (1 if args.tiny else 5)
    results = {size: bench(size, args.steps or SIZES[size][4], repeats, args.every) for size in sizes}
    C.write_json(args.json_out, {"sizes": results, "repeats": repeats, "every": args.every})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
