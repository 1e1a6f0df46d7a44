"""Engine overhead: a whole engine run with measurement off against a minimal hand-written loop.

    python bench/overhead.py [--small | --tiny] [--steps 1000] [--repeats 7] [--profile] [--json-out PATH]

The problem is the eos scenario's lr-0.50 arm (tanh MLP 20→64→64→4, 256 random-label points, MSE,
full-batch GD, float32; `--small`/`--tiny` shrink it), with measure.sharpness_every = 0 and
reparam_every = 0: what is left is the training step and the engine around it.

Rows:
  engine          run_scenario into a fresh run directory: what `python -m eos_tui.engine RUN_DIR`
                  (the app's background engine) does: the arm's step and its records, JSON lines
                  written and flushed as they come, the manifest every 2 s, the summary at the end.
  headless        the same plus the `--headless` progress display (rich, to a null console).
  loop flat θ     the minimal loop on the very same flat parameters, data and loss function
                  (`Problem.loss`): `loss = L(θ); g = torch.autograd.grad(loss, θ); θ = θ − η g`,
                  nothing recorded, no .item(). The baseline the ratio goal (≤ 1.10) is stated against.
  loop flat θ, torch.func  the same with `torch.func.grad_and_value(L)(θ)`, which is how the engine
                  took its gradient before this benchmark (functorch's per-call wrapping costs
                  ~0.25 ms a step; the engine now uses plain autograd, with bit-identical numbers).
  loop nn.Sequential  the same model as nn.Sequential(Linear, Tanh, Linear, Tanh, Linear) with the
                  same initial weights, `loss.backward()` and an in-place `p -= η p.grad`: what most
                  people would write.
Every row runs the same number of steps; rows are interleaved and repeated, and the table gives the
median steps/s over repeats (the machine's noise is in the JSON as min/max). Then the same at 1 and
2 torch threads. `--profile` prints the engine run's top functions by cProfile.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

from eos_tui.engine.runner import run_scenario  # noqa: E402
from eos_tui.scenario.loader import Scenario  # noqa: E402

LR = 0.5


def scenario_for(size: str, steps: int) -> Scenario:
    spec = C.eos_spec(size, LR, extra=["measure.sharpness_every=0", "measure.reparam_every=0", 'device="cpu"'])
    spec = spec.model_copy(update={"name": "lr-0.50", "steps": steps})
    return Scenario(name="overhead", description="", source="bench/overhead.py", arms=[spec])


def run_engine(sc: Scenario, headless: bool = False) -> None:
    with tempfile.TemporaryDirectory() as d:
        if not headless:
            run_scenario(sc, d)
            return
        from rich.console import Console

        from eos_tui.cli.headless import ArmProgress

        progress = ArmProgress(sc, Console(file=io.StringIO(), force_terminal=True, width=120))
        with progress.progress:
            run_scenario(sc, d, on_records=progress)


def loop_flat(prob, steps: int) -> float:
    theta = prob.theta0.clone()
    for _ in range(steps):
        th = theta.detach().requires_grad_()
        loss = prob.loss(th)
        (g,) = torch.autograd.grad(loss, th)
        theta = theta - LR * g
    return float(loss.detach())


def loop_flat_func(prob, steps: int) -> float:
    step = torch.func.grad_and_value(prob.loss)
    theta = prob.theta0.clone()
    for _ in range(steps):
        g, loss = step(theta)
        theta = theta - LR * g
    return float(loss)


def sequential_model(prob) -> torch.nn.Sequential:
    """The problem's MLP as an nn.Sequential with the same initial weights."""
    layers = []
    last = len(prob.layers) - 1
    for i, layer in enumerate(prob.layers):
        lin = torch.nn.Linear(layer.shape[1], layer.shape[0], bias=layer.bias is not None, dtype=prob.theta0.dtype)
        with torch.no_grad():
            lin.weight.copy_(prob.theta0[layer.weight].view(layer.shape))
            if layer.bias is not None:
                lin.bias.copy_(prob.theta0[layer.bias])
        layers.append(lin)
        if i < last:
            layers.append(torch.nn.Tanh())
    return torch.nn.Sequential(*layers)


def loop_sequential(prob, steps: int) -> float:
    model = sequential_model(prob)
    X, Y = prob.X, prob.Y
    params = list(model.parameters())
    for _ in range(steps):
        loss = 0.5 * ((model(X) - Y) ** 2).sum(dim=-1).mean()
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            torch._foreach_add_(params, grads, alpha=-LR)
    return float(loss.detach())


def measure(rows: dict, steps: int, repeats: int) -> dict:
    """Interleaved repeats of every row; steps/s per repeat."""
    times = {name: [] for name in rows}
    for name, fn in rows.items():  # warm-up: first calls build caches (functorch, allocator)
        fn()
    for _ in range(repeats):
        for name, fn in rows.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {
        name: {
            "steps_per_s": steps / C.median(ts),
            "min_steps_per_s": steps / max(ts),
            "max_steps_per_s": steps / min(ts),
            "median_ms_per_step": 1e3 * C.median(ts) / steps,
        }
        for name, ts in times.items()
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    C.add_common_args(ap, "overhead")
    ap.add_argument("--small", action="store_true")
    ap.add_argument("--steps", type=int, default=None, help="steps per run (default 1000; tiny 50)")
    ap.add_argument("--repeats", type=int, default=None, help="interleaved repeats (default 7; tiny 2)")
    ap.add_argument("--profile", action="store_true", help="print the engine run's top functions (cProfile)")
    args = ap.parse_args(argv)
    size = "tiny" if args.tiny else "small" if args.small else "full"
    steps = args.steps or (50 if args.tiny else 1000)
    repeats = args.repeats or (2 if args.tiny else 7)
    sc = scenario_for(size, steps)
    prob = C.problem(size, LR)
    print(f"eos lr-0.50 ({size}): n = {prob.dim}, {steps} steps per run, {repeats} interleaved repeats, measurement off")
    rows = {
        "engine": lambda: run_engine(sc),
        "headless": lambda: run_engine(sc, headless=True),
        "loop flat θ": lambda: loop_flat(prob, steps),
        "loop flat θ, torch.func": lambda: loop_flat_func(prob, steps),
        "loop nn.Sequential": lambda: loop_sequential(prob, steps),
    }
    by_threads = {}
    for threads in sorted({args.threads, 1, 2}):
        torch.set_num_threads(threads)
        by_threads[threads] = measure(rows, steps, repeats)
    torch.set_num_threads(args.threads)
    res = by_threads[args.threads]
    base = res["loop flat θ"]["steps_per_s"]
    for r in res.values():
        r["ratio_vs_flat_loop"] = base / r["steps_per_s"]  # time ratio: > 1 means slower than the loop
    C.table(
        f"engine overhead, eos lr-0.50 ({size}, n={prob.dim}), {steps} steps, {args.threads} thread(s), median of {repeats}",
        ["row", "steps/s", "ms/step", "× time vs flat loop", "min steps/s", "max steps/s"],
        [
            [k, r["steps_per_s"], r["median_ms_per_step"], r["ratio_vs_flat_loop"], r["min_steps_per_s"], r["max_steps_per_s"]]
            for k, r in res.items()
        ],
    )
    C.table(
        "torch threads (steps/s, median)",
        ["row"] + [f"{t} thread(s)" for t in by_threads] + ["2 vs 1"],
        [
            [k]
            + [by_threads[t][k]["steps_per_s"] for t in by_threads]
            + [by_threads[2][k]["steps_per_s"] / by_threads[1][k]["steps_per_s"]]
            for k in rows
        ],
    )
    ratio = res["engine"]["ratio_vs_flat_loop"]
    print(f"engine / flat loop time ratio: {ratio:.3f} (goal ≤ 1.10); headless: {res['headless']['ratio_vs_flat_loop']:.3f}")
    profile = None
    if args.profile:
        pr = cProfile.Profile()
        pr.enable()
        run_engine(sc)
        pr.disable()
        buf = io.StringIO()
        pstats.Stats(pr, stream=buf).sort_stats("tottime").print_stats(20)
        profile = buf.getvalue()
        print(profile)
    C.write_json(
        args.json_out,
        {
            "benchmark": "overhead",
            "size": size,
            "n": prob.dim,
            "steps": steps,
            "repeats": repeats,
            "lr": LR,
            "rows": res,
            "threads": {str(t): r for t, r in by_threads.items()},
            "ratios": {
                "engine_vs_flat_loop": ratio,
                "headless_vs_flat_loop": res["headless"]["ratio_vs_flat_loop"],
                "engine_vs_sequential_loop": res["loop nn.Sequential"]["steps_per_s"] / res["engine"]["steps_per_s"],
            },
            "profile_top": profile,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
