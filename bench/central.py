"""The cost of a central-flow step, and of a self-stabilization step, against a GD step
(eos_tui/engine/central_flow.py, eos_tui/engine/selfstab.py).

    python bench/central.py [--tiny] [--steps 40] [--warmup 60] [--repeats 3] [--json-out PATH]

Problems (float64, CPU, one torch thread):
  central    the built-in `central` (teacher data, 64 examples, tanh MLP 8-16-16-16-2, 722 parameters, η = 0.6)
  eos-small  the eos scenario's shape at "small" size (random labels, 128 examples, tanh MLP
             16-32-32-4, 1,732 parameters, η = 0.5), float64

For each, three arms train `--warmup` steps (past the first 2/η crossing, so that the central flow
holds at least one critical eigenvalue) and are then timed over `--steps` steps, `--repeats` times
(median): GD alone (measure.sharpness_every = 0: the update and its records), GD with the stable
flow (RK4 gradient flow, its λ_max solve each step), GD with the central flow (4 Euler substeps,
each: a gradient with its graph, a warm-started Lanczos solve of k + 1 pairs, k HVPs kept for a
third derivative and k(k+1)/2 third-derivative products, the SDCP), GD with the self-stabilization
measurement (a warm Lanczos solve at θ_t, and at θ† one per Newton evaluation of the projection,
each with ∇S = ∇³L[u, u]). The table gives ms a step,
the ratio to GD's step, and what each flow spends a step. Times are CPU time (time.process_time),
which on a shared machine is the step's own cost where wall time would add the waits for a core.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

from eos_tui.engine.arm import Arm  # noqa: E402
from eos_tui.scenario import load_scenario  # noqa: E402

PROBLEMS = {
    "central": ("central", []),
    "eos-small": ("eos", ["model.hidden=[32, 32]", "data.n=128", "data.dim=16", 'dtype="float64"', 'device="cpu"']),
}
VARIANTS = {
    "gd": ["measure.sharpness_every=0", "measure.central_flow=false", "measure.stable_flow=false"],
    "gd + stable flow": ["measure.sharpness_every=0", "measure.stable_flow=true", "measure.central_flow=false"],
    "gd + central flow": ["measure.sharpness_every=0", "measure.central_flow=true", "measure.stable_flow=false"],
    # Damian et al.'s constrained trajectory θ† and (x, y) (eos_tui/engine/selfstab.py, issue 24)
    "gd + self-stabilization": [
        "measure.sharpness_every=0",
        "measure.self_stabilization=true",
        "measure.central_flow=false",
        "measure.stable_flow=false",
    ],
}


def make_arm(problem: str, variant: str) -> Arm:
    name, extra = PROBLEMS[problem]
    sc = load_scenario(name, overrides=[*extra, *VARIANTS[variant]])
    spec = sc.arms[-1]
    return Arm(spec.model_copy(update={"steps": 10**6}), torch.device("cpu"))


def spent(arm: Arm) -> tuple[int, int]:
    """(HVPs, third-derivative products) the flows or the self-stabilization measurement spent so far."""
    if arm.selfstab is not None:
        return arm.selfstab.hvps, arm.selfstab.third
    flows = arm.flows
    return (flows.hvps if flows else 0), (flows.central.third if flows and flows.central else 0)


def time_steps(arm: Arm, steps: int) -> float:
    """CPU seconds a step (process time: on a machine shared with other work, wall time counts the
    waits for a core too; one torch thread, so CPU time is the step's own time)."""
    t0 = time.process_time()
    for _ in range(steps):
        arm.step()
    return (time.process_time() - t0) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    C.add_common_args(parser, "central")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.tiny:
        args.steps, args.warmup, args.repeats = 2, 12, 1
    rows, results = [], []
    for problem in PROBLEMS:
        base = None
        for variant in VARIANTS:
            arm = make_arm(problem, variant)
            arm.begin()
            for _ in range(args.warmup):
                arm.step()
            flows = arm.flows
            hvps0, third0 = spent(arm)
            per = [time_steps(arm, args.steps) for _ in range(args.repeats)]
            ms = 1000 * C.median(per)
            n = args.steps * args.repeats
            hvps1, third1 = spent(arm)
            hvps, third = (hvps1 - hvps0) / n, (third1 - third0) / n
            k = flows.central.k_critical if flows and flows.central else None
            base = ms if variant == "gd" else base
            ratio = ms / base if base else None
            params = arm.theta.numel()
            rows.append((problem, params, variant, ms, ratio, hvps, third, k))
            results.append(
                {
                    "problem": problem,
                    "parameters": params,
                    "variant": variant,
                    "ms_per_step": ms,
                    "ms_min": 1000 * min(per),
                    "ms_max": 1000 * max(per),
                    "ratio_to_gd": ratio,
                    "flow_hvps_per_step": hvps,
                    "third_derivatives_per_step": third,
                    "critical": k,
                }
            )
    C.table(
        f"central flow step cost (float64, CPU time, {args.threads} thread, median {args.repeats}×{args.steps} steps after {args.warmup})",
        ["problem", "params", "variant", "CPU ms/step", "× GD", "flow HVPs/step", "∇(uᵀHu)/step", "critical k"],
        rows,
    )
    ratios = {f"{r['problem']}/{r['variant']}": r["ratio_to_gd"] for r in results}
    C.write_json(args.json_out, {"rows": results, "ratios": ratios, "steps": args.steps, "warmup": args.warmup})


if __name__ == "__main__":
    main()
