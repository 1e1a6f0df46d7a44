"""λ_max at every training step: PerStepTracker's HVPs/step, its error against the dense Hessian, and
what it costs in time.

    python bench/tracking.py [--tiny] [--repeats 3] [--json-out PATH]

Three float64 tanh-MLP GD trajectories, each with the exact λ_max at every step:
  edge+catapult   tests/test_tracking.py's 6→10→3 MLP (103 parameters, 24 points), η = 0.78, 300 steps:
                  a catapult (ηλ/2 up to 1.49, steps 45–140), then the edge (steps 140–300);
  eos-small       the eos scenario at the bench's "small" size (16→32→32→4, 1,732 parameters, 128
                  points), η = 0.5, 1,000 steps: catapult (ηλ/2 up to 1.88) at steps 80–300, edge 500–1000;
  eos-tiny        the "tiny" size (8→16→4, 212 parameters), η = 1.0, 400 steps: a catapult at steps
                  0–80, then an edge where the top 3 eigenvalues sit within 3% (the hard case).
Exact: the dense Hessian's eigvalsh where it is cheap (edge+catapult, eos-tiny, at every step); for
eos-small a warm Lanczos to residual 1e-9 (6 pairs), checked against the dense Hessian every 100 steps.

Each tracker configuration (the trade-off curve) runs along each trajectory and reports HVPs/step and
the max relative error in the catapult window and at the edge. Timing, in the same process, median
of --repeats: the engine's own arm (eos_tui.engine.arm.Arm, as `eos-tui run` drives it) with
measure.track_every_step off and on, on eos-small, the two arms stepped alternately (one step of each
in turn, so that a shared machine's load weighs on both alike); and one HVP in gradients for
make_hvp (reverse-over-reverse, graph built once per θ), torch.func.jvp(grad) (what make_hvp was) and
torch.autograd.functional.hvp.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

from eos_tui.engine.arm import Arm, grad_and_value  # noqa: E402
from eos_tui.engine.curvature.hessian import dense_hessian, make_hvp  # noqa: E402
from eos_tui.engine.curvature.lanczos import top_eigenpairs  # noqa: E402
from eos_tui.engine.problems import build_problem  # noqa: E402
from eos_tui.engine.tracking import PerStepTracker  # noqa: E402
from eos_tui.scenario import load_scenario_text  # noqa: E402

TEST_MLP = """
name = "track"
seed = 0
steps = 200
dtype = "float64"
loss = "mse"
[data]
kind = "random-labels"
n = 24
dim = 6
classes = 3
[model]
kind = "mlp"
hidden = [10]
activation = "tanh"
[optimizer]
kind = "gd"
lr = 0.78
"""

# (label, kwargs): the default first, then the curve (cheaper / dearer) and the old tracker's rule.
CONFIGS = [
    ("default (tol 2.5e-2, jump 5%, refresh/7 to 3e-3)", {}),
    ("refresh/6 to 5e-3", dict(refresh_every=6, refresh_tol=5e-3)),
    ("refresh/7 to 2e-3", dict(refresh_tol=2e-3)),
    ("refresh/10", dict(refresh_every=10)),
    ("refresh/5", dict(refresh_every=5)),
    ("tol 1.5e-2", dict(tol=1.5e-2)),
    ("tol 3e-2", dict(tol=3e-2)),
    ("no jump rule", dict(jump=None)),
    ("no refresh", dict(refresh_every=10**9)),
    ("tol 1e-2, no refresh, no jump rule", dict(tol=1e-2, refresh_every=10**9, jump=None)),
    ("no kick (noise 0)", dict(noise=0.0)),
    ("period 1", dict(period=1)),
    ("1 HVP + refresh/7, no jump rule", dict(tol=0.0, max_hvps=1, jump=None)),
    ("2 HVPs always, nothing else", dict(tol=0.0, max_hvps=2, refresh_every=10**9, noise=0.0, jump=None)),
]


def trajectory(prob, lr: float, steps: int):
    grad = torch.func.grad(prob.loss)
    theta = prob.theta0.clone()
    out = []
    for _ in range(steps):
        out.append(theta.clone())
        theta = theta - lr * grad(theta)
    return out


def exact_dense(prob, thetas):
    return np.array([float(torch.linalg.eigvalsh(dense_hessian(prob.loss, th))[-1]) for th in thetas])


def exact_lanczos(prob, thetas, checks_every: int):
    gen = torch.Generator().manual_seed(1)
    prev: dict[int, torch.Tensor] = {}
    lam = []
    for t, th in enumerate(thetas):
        r = top_eigenpairs(
            make_hvp(prob.loss, th), th.numel(), 6, v0=prev.get(t % 2), tol=1e-9, max_iter=400, generator=gen, dtype=torch.float64
        )
        prev[t % 2] = r.eigenvectors
        lam.append(float(r.eigenvalues[0]))
    checks = []
    for t in range(0, len(thetas), checks_every):
        d = float(torch.linalg.eigvalsh(dense_hessian(prob.loss, thetas[t]))[-1])
        checks.append({"step": t, "rel_diff": abs(d - lam[t]) / d})
    return np.array(lam), checks


def track(prob, thetas, exact, kw):
    tr = PerStepTracker(generator=torch.Generator().manual_seed(41), **kw)
    errs = []
    for t, th in enumerate(thetas):
        lam = float(tr.update(make_hvp(prob.loss, th), th.numel(), dtype=th.dtype).eigenvalues[0])
        errs.append((exact[t] - lam) / exact[t])  # ≥ 0 up to rounding: Ritz values are lower bounds
    return tr, np.array(errs)


def arm_spec(prob_text: str, track: bool):
    text = prob_text + f"\n[measure]\nsharpness_every = 0\ntrack_every_step = {'true' if track else 'false'}\n"
    return load_scenario_text(text, source="<bench>").arms[0]


def time_arms(plain_spec, tracked_spec) -> tuple[float, float, float]:
    """Seconds spent in the steps of a plain and a tracked arm, stepped alternately (one step of
    each in turn), so that the load of a shared machine weighs on both alike; and the tracked arm's
    HVPs per step."""
    arms = [Arm(plain_spec, torch.device("cpu")), Arm(tracked_spec, torch.device("cpu"))]
    spent = [0.0, 0.0]
    for arm in arms:
        arm.begin()
    while any(a.status is None for a in arms):
        for i, arm in enumerate(arms):
            if arm.status is None:
                t0 = time.perf_counter()
                arm.step()
                spent[i] += time.perf_counter() - t0
    return spent[0], spent[1], arms[1].hvps_total / max(arms[1].t, 1)


def hvp_costs(prob, repeats: int) -> dict[str, float]:
    """Median ms of a gradient and of HVPs (first of a θ, then the next ones) per implementation."""
    th = prob.theta0.clone()
    n = th.numel()
    vs = [torch.randn(n, dtype=th.dtype, generator=torch.Generator().manual_seed(i)) for i in range(3)]
    gf = torch.func.grad(prob.loss)
    impls = {
        "make_hvp (reverse-over-reverse, graph once per θ)": lambda: make_hvp(prob.loss, th),
        "torch.func.jvp(grad) (make_hvp before)": lambda: lambda v: torch.func.jvp(gf, (th,), (v,))[1],
        "torch.autograd.functional.hvp": lambda: lambda v: torch.autograd.functional.hvp(prob.loss, th, v)[1],
    }
    grad_ms, rows = [], {name: ([], []) for name in impls}
    for _ in range(repeats * 20):
        t0 = time.perf_counter()
        grad_and_value(prob.loss, th)
        grad_ms.append(1e3 * (time.perf_counter() - t0))
        for name, mk in impls.items():
            t0 = time.perf_counter()
            h = mk()
            h(vs[0])
            t1 = time.perf_counter()
            h(vs[1])
            h(vs[2])
            t2 = time.perf_counter()
            rows[name][0].append(1e3 * (t1 - t0))
            rows[name][1].append(1e3 * (t2 - t1) / 2)
    g = C.median(grad_ms)
    out: dict[str, float] = {"gradient_ms": g}
    for name, (first, nxt) in rows.items():
        out[name] = {
            "first_ms": C.median(first),
            "next_ms": C.median(nxt),
            "first_in_gradients": C.median(first) / g,
            "next_in_gradients": C.median(nxt) / g,
        }
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    C.add_common_args(ap, "tracking")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    tiny = args.tiny

    # ---- trajectories with their exact λ_max -------------------------------------------------
    cases = []
    p = build_problem(load_scenario_text(TEST_MLP, source="<bench>").arms[0], torch.device("cpu"))
    th = trajectory(p, 0.78, 300 if not tiny else 60)
    cases.append(("edge+catapult", p, th, exact_dense(p, th), (45, 140), (140, 300), 0.78, []))
    p = C.problem("tiny", 1.0, dtype="float64")
    th = trajectory(p, 1.0, 400 if not tiny else 40)
    cases.append(("eos-tiny", p, th, exact_dense(p, th), (0, 80), (200, 400), 1.0, []))
    if not tiny:
        p = C.problem("small", 0.5, dtype="float64")
        th = trajectory(p, 0.5, 1000)
        lam, checks = exact_lanczos(p, th, 100)
        cases.append(("eos-small", p, th, lam, (80, 300), (500, 1000), 0.5, checks))
    if tiny:  # too short for the real windows: first half, second half
        cases = [(c[0], c[1], c[2], c[3], (0, len(c[2]) // 2), (len(c[2]) // 2, len(c[2])), c[6], c[7]) for c in cases]
    for name, prob, _thetas, lam, cat, edge, lr, checks in cases:
        r = lr * lam / 2
        print(
            f"{name}: n = {prob.dim}, ηλ/2 max {r.max():.2f} at step {int(r.argmax())}, "
            f"median at the edge {np.median(r[edge[0] : edge[1]]):.3f}"
            + (f", Lanczos vs dense max rel diff {max(c['rel_diff'] for c in checks):.1e}" if checks else "")
        )

    # ---- the trade-off curve ----------------------------------------------------------------
    rows = []
    for label, kw in CONFIGS if not tiny else CONFIGS[:2]:
        row = {"config": label, "kwargs": kw}
        for name, prob, thetas, lam, cat, edge, _, _ in cases:
            tr, err = track(prob, thetas, lam, kw)
            row[name] = {
                "hvps_per_step": tr.mean_hvps,
                "max_err_catapult": float(err[cat[0] : cat[1]].max()),
                "max_err_edge": float(err[edge[0] : edge[1]].max()),
                "mean_err": float(err.mean()),
                "min_err": float(err.min()),
            }
        rows.append(row)
    names = [c[0] for c in cases]
    C.table(
        "PerStepTracker against the exact λ_max: HVPs/step · max error in the catapult · at the edge",
        ["tracker"] + [f"{n} {col}" for n in names for col in ("HVPs/step", "catapult", "edge")],
        [
            [r["config"]]
            + [
                f"{r[n][c]:.2f}" if c == "hvps_per_step" else f"{r[n][c]:.2%}"
                for n in names
                for c in ("hvps_per_step", "max_err_catapult", "max_err_edge")
            ]
            for r in rows
        ],
    )

    # ---- time: the engine's arm, tracked vs plain; one HVP in gradients ----------------------
    prob = cases[-1][1]
    size_text = (
        TEST_MLP
        if tiny
        else TEST_MLP.replace("n = 24", "n = 128")
        .replace("dim = 6", "dim = 16")
        .replace("classes = 3", "classes = 4")
        .replace("hidden = [10]", "hidden = [32, 32]")
        .replace("lr = 0.78", "lr = 0.5")
        .replace("steps = 200", "steps = 1000")
    )
    costs = hvp_costs(prob, args.repeats)  # first: it also warms up autograd's lazy imports
    plain_s, tracked_s, hvps = [], [], []
    for _ in range(args.repeats):
        a, b, h = time_arms(arm_spec(size_text, False), arm_spec(size_text, True))
        plain_s.append(a)
        tracked_s.append(b)
        hvps.append(h)
    ratio = [b / a for a, b in zip(plain_s, tracked_s)]
    timing = {
        "plain_run_s": plain_s,
        "tracked_run_s": tracked_s,
        "tracked_over_plain": ratio,
        "median_tracked_over_plain": C.median(ratio),
        "hvps_per_step": C.median(hvps),
        "goal_1_plus_3_hvps": 1 + 3 * C.median(hvps),
        "hvp_costs": costs,
    }
    print(
        f"engine arm ({'test MLP' if tiny else 'eos-small, 1000 steps'}): tracked / plain = "
        f"{', '.join(f'{x:.2f}' for x in ratio)} (median {C.median(ratio):.2f}; goal ≤ 1 + 3 × "
        f"{C.median(hvps):.2f} = {1 + 3 * C.median(hvps):.2f})"
    )
    for name, c in costs.items():
        if isinstance(c, dict):
            print(f"  {name}: first {c['first_in_gradients']:.1f}, next {c['next_in_gradients']:.1f} gradients")
    C.write_json(
        args.json_out,
        {
            "benchmark": "tracking",
            "cases": [
                {"name": n, "n": prob_.dim, "lr": lr, "catapult_steps": cat, "edge_steps": edge, "steps": len(ths), "lanczos_vs_dense": chk}
                for n, prob_, ths, _lam, cat, edge, lr, chk in cases
            ],
            "reference_checks": [{"case": c[0], **chk} for c in cases for chk in c[7]],
            "rows": rows,
            "timing": timing,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
