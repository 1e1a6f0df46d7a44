"""λ_max at every training step: PerStepTracker's HVPs/step and error along the eos trajectory.

    python bench/tracking.py [--small | --tiny] [--steps 1000] [--json-out PATH]

Trains the eos scenario's lr-0.50 arm (float32, like the scenario) and, at every step, compares
each tracker configuration's λ_max with a converged reference (warm Lanczos, k=3, tol 1e-5,
warm-started from the same step parity; spot-checked against ARPACK tol 1e-10 in float64 every
100 steps). Also times, side by side in one loop, a plain GD step (forward+backward+update) and one
tracker update, and reports their ratio (median over steps).
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

from eos_tui.engine.eigensolver import make_hvp, top_eigenpairs  # noqa: E402
from eos_tui.engine.tracking import PerStepTracker  # noqa: E402

CONFIGS = [  # (label, kwargs)
    ("k=1 refresh/7 tol 1e-2 res 0.05 period 2 (default)",
     dict(k=1, refresh_every=7, tol=1e-2, refresh_residual=0.05, period=2)),
    ("k=1 refresh/6 tol 1e-2 res 0.05 period 2", dict(k=1, refresh_every=6, tol=1e-2, refresh_residual=0.05, period=2)),
    ("k=1 refresh/20 tol 1e-3 period 2", dict(k=1, refresh_every=20, tol=1e-3, refresh_residual=0.1, period=2)),
    ("k=1 refresh/20 tol 1e-3 period 1", dict(k=1, refresh_every=20, tol=1e-3, refresh_residual=0.1, period=1)),
    ("k=1 refresh/10 tol 1e-2 period 2", dict(k=1, refresh_every=10, tol=1e-2, refresh_residual=0.1, period=2)),
    ("k=1 refresh/40 tol 1e-3 period 2", dict(k=1, refresh_every=40, tol=1e-3, refresh_residual=0.1, period=2)),
]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    C.add_common_args(ap, "tracking")
    ap.add_argument("--small", action="store_true")
    ap.add_argument("--steps", type=int, default=None, help="training steps (default 1000; tiny 60)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    size = "tiny" if args.tiny else "small" if args.small else "full"
    steps = args.steps or (60 if args.tiny else 1000)
    lr = 0.5
    prob = C.problem(size, lr)
    n = prob.dim
    traj = C.gd_trajectory(prob, lr, steps - 1, 1)
    print(f"eos lr-0.50 ({size}): n = {n}, {steps} steps, λ_max tracked at every step")

    # Reference, warm from the same parity (the Hessian oscillates with period 2 at EoS).
    gen = torch.Generator().manual_seed(0)
    refs, ref_hvps, prev = [], 0, {}
    for t, th in traj:
        r = top_eigenpairs(make_hvp(prob.loss, th), n, min(3, n), v0=prev.get(t % 2), tol=1e-5, max_iter=300,
                           generator=gen)
        prev[t % 2] = r.eigenvectors
        refs.append(float(r.eigenvalues[0]))
        ref_hvps += r.hvps
    refs = np.array(refs)
    checks = []
    from scipy.sparse.linalg import eigsh
    from solvers import scipy_operator
    prob64 = C.problem(size, lr, dtype="float64")
    for t, th in traj[:: 100 if not args.tiny else 30]:
        lam = float(eigsh(scipy_operator(make_hvp(prob64.loss, th.double()), n, torch.float64), k=1, which="LA",
                          tol=1e-10, ncv=min(n, 60), return_eigenvectors=False)[-1])
        checks.append({"step": t, "rel_diff": abs(lam - refs[t]) / lam})
    print(f"reference: {ref_hvps / len(traj):.1f} HVPs/step; vs ARPACK float64 every 100 steps: "
          f"max rel diff {max(c['rel_diff'] for c in checks):.1e}")
    onset = next((t for t, lam in enumerate(refs) if lam >= 2 / lr), None)

    # Tracker configurations, and the timing of one GD step vs one tracker update, side by side.
    grad_and_value = torch.func.grad_and_value(prob.loss)
    rows = {}
    for label, kw in CONFIGS:
        tr = PerStepTracker(**kw)
        errs, gd_ms, tr_ms, hvps = [], [], [], []
        for t, th in traj:
            t0 = time.perf_counter()
            g, loss = grad_and_value(th)
            _ = th - lr * g
            float(loss)
            t1 = time.perf_counter()
            res = tr.update(make_hvp(prob.loss, th), n)
            lam = float(res.eigenvalues[0])
            t2 = time.perf_counter()
            gd_ms.append(1e3 * (t1 - t0))
            tr_ms.append(1e3 * (t2 - t1))
            hvps.append(res.hvps)
            errs.append(abs(lam - refs[t]) / refs[t])
        errs = np.array(errs)
        late = errs[onset:] if onset is not None else errs[:0]
        rows[label] = {
            "config": kw, "mean_hvps_per_step": tr.mean_hvps, "refreshes": tr.refreshes,
            "max_rel_err": float(errs.max()), "mean_rel_err": float(errs.mean()),
            "frac_steps_err_over_1pct": float((errs > 0.01).mean()),
            "mean_rel_err_after_onset": float(late.mean()) if late.size else None,
            "max_rel_err_last_half": float(errs[len(errs) // 2:].max()),
            "max_rel_err_from_step_300": float(errs[300:].max()) if len(errs) > 300 else None,
            "max_rel_err_steps_100_300": float(errs[100:300].max()) if len(errs) > 300 else None,
            "median_gd_step_ms": C.median(gd_ms), "median_tracker_ms": C.median(tr_ms),
            "mean_tracker_ms": float(np.mean(tr_ms)),
            "tracking_cost_vs_gd_step": float(np.mean(tr_ms)) / C.median(gd_ms),
        }
    C.table(f"per-step λ_max tracking, eos lr-0.50 ({size}, n={n}, {steps} steps, EoS onset at step {onset})",
            ["tracker", "HVPs/step", "refreshes", "max err", "mean err", "steps >1%", "mean err after onset",
             "max err 2nd half", "max err steps 100-300", "max err ≥300", "× GD step (mean/median)"],
            [[k, r["mean_hvps_per_step"], r["refreshes"], r["max_rel_err"], r["mean_rel_err"],
              f"{r['frac_steps_err_over_1pct']:.0%}", r["mean_rel_err_after_onset"], r["max_rel_err_last_half"],
              r["max_rel_err_steps_100_300"], r["max_rel_err_from_step_300"], r["tracking_cost_vs_gd_step"]] for k, r in rows.items()])
    C.write_json(args.json_out, {"benchmark": "tracking", "size": size, "n": n, "steps": steps, "lr": lr,
                                 "eos_onset_step": onset, "reference_hvps_per_step": ref_hvps / len(traj),
                                 "reference_checks": checks, "rows": rows,
                                 "lambda_ref": refs.tolist()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
