"""Sharpness solvers side by side on snapshots of a real edge-of-stability trajectory.

    python bench/solvers.py [--small | --tiny] [--every 25] [--repeats 2] [--json-out PATH]

The trajectory is the eos scenario's lr-0.50 arm (tanh MLP 20→64→64→4, 256 random-label points,
MSE, full-batch GD, float32 like the scenario); from step ~300 on its top three eigenvalues sit
within ~1% of each other around 2/η = 4, which is the hard case for every solver. At each snapshot
each method estimates λ_max; we count its Hessian-vector products, time it, and compare it with a
converged float64 reference (ARPACK which="LA", tol=1e-10, cross-checked against a dense eigvalsh).

Rows (what each public code does):
  eos-tui warm    top_eigenpairs (Lanczos, full reorthogonalization) warm-started from the previous
                  snapshot's eigenvector; swept over tol, the loosest tol with max error ≤ 1e-3 is
                  the headline row.
  power (PyHessian) power iteration from a random start, stop when the eigenvalue's relative change
                  < 1e-3, ≤ 100 iterations, largest-magnitude eigenvalue. Runs the `pyhessian`
                  package itself when it imports, else a faithful re-implementation (said in output).
  power to 1e-3   the same power iteration (re-implementation, random start) run on with no stopping
                  rule (≤ --power-max-iter HVPs), recording the first iteration whose estimate is
                  within 1e-3 of the reference: the HVPs power iteration *needs* for the target
                  accuracy, given an oracle that knows when to stop (no real stopping rule can do
                  better). From the same runs: where PyHessian's own rule would stop at tol 1e-4 and
                  1e-5, with the error there.
  ARPACK cold     scipy eigsh from ARPACK's random start, default tol (machine precision), float32
                  operator, as Cohen et al.'s code calls it (we ask which="LA", the algebraic top).
  LOBPCG warm     scipy lobpcg, largest=True, warm-started from the previous snapshot's vector, as the
                  central-flows code does; swept over tol like row 1.
The first snapshot only primes the warm starts and is left out of every statistic.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator, eigsh, lobpcg

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

from eos_tui.engine.curvature.hessian import make_hvp  # noqa: E402
from eos_tui.engine.curvature.lanczos import top_eigenpairs  # noqa: E402

TARGET = 1e-3  # relative error the rows are compared at
DENSE_MAX_N = 1500  # dense reference at every snapshot below this size (a 5,764² Hessian takes ~40 s)


class Counted:
    """An HVP that counts how many vectors it was applied to."""

    def __init__(self, hvp):
        self.hvp, self.count = hvp, 0

    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        self.count += 1
        return self.hvp(v)


# ---- the methods ------------------------------------------------------------------------------


def eos_tui_warm(hvp, n, dtype, state, tol, gen):
    r = top_eigenpairs(hvp, n, 1, v0=state.get("v"), tol=tol, max_iter=200, dtype=dtype, generator=gen)
    state["v"] = r.eigenvectors
    return float(r.eigenvalues[0])


def power_iteration(hvp, n, dtype, gen, tol=1e-3, max_iter=100):
    """PyHessian's `hessian.eigenvalues(maxIter=100, tol=1e-3, top_n=1)`, line for line on a flat
    vector: random normal start, v ← Hv/‖Hv‖, stop when |Δλ|/(|λ|+1e-6) < tol. Like PyHessian it
    returns the Rayleigh quotient of the dominant (largest-magnitude) eigenvector."""
    v = torch.randn(n, generator=gen, dtype=dtype)
    v = v / (torch.linalg.vector_norm(v) + 1e-6)
    eig = None
    for _ in range(max_iter):
        hv = hvp(v)
        tmp = float(hv @ v)
        v = hv / (torch.linalg.vector_norm(hv) + 1e-6)
        if eig is not None and abs(eig - tmp) / (abs(eig) + 1e-6) < tol:
            eig = tmp
            break
        eig = tmp
    return eig


def power_sequence(hvp, n, dtype, gen, ref: float, target: float = TARGET, max_iter: int = 1000, rule_tols=(1e-4, 1e-5)) -> dict:
    """Power iteration exactly as `power_iteration` (same start, same update), but without its
    stopping rule. Returns {"oracle": (hvps, λ) at the first estimate with |λ − ref|/|ref| ≤ target
    (None if not reached within max_iter), tol: (hvps, λ) where PyHessian's rule with that tol
    stops (None if not within max_iter)}. Stops as soon as all of these are known."""
    v = torch.randn(n, generator=gen, dtype=dtype)
    v = v / (torch.linalg.vector_norm(v) + 1e-6)
    out: dict = {"oracle": None, **{tol: None for tol in rule_tols}}
    eig = None
    for it in range(1, max_iter + 1):
        hv = hvp(v)
        tmp = float(hv @ v)
        v = hv / (torch.linalg.vector_norm(hv) + 1e-6)
        if out["oracle"] is None and abs(tmp - ref) / abs(ref) <= target:
            out["oracle"] = (it, tmp)
        if eig is not None:
            for tol in rule_tols:
                if out[tol] is None and abs(eig - tmp) / (abs(eig) + 1e-6) < tol:
                    out[tol] = (it, tmp)
        eig = tmp
        if all(x is not None for x in out.values()):
            break
    out["last"] = (max_iter, eig)  # where an unmet criterion leaves it (the loop ran to max_iter)
    return out


def pyhessian_available() -> bool:
    try:
        import pyhessian  # noqa: F401

        return True
    except Exception:  # noqa: BLE001 - any import failure means "use the re-implementation"
        return False


def pyhessian_power(prob, theta, seed):
    """The pyhessian package itself on an nn.Module holding θ; HVPs counted by wrapping its
    hessian_vector_product. Returns (λ, hvps)."""
    import importlib

    # pyhessian/__init__ rebinds the name `pyhessian.hessian` to the class; we need the module,
    # whose global hessian_vector_product the class calls.
    importlib.import_module("pyhessian.hessian")
    ph = sys.modules["pyhessian.hessian"]

    model = to_module(prob, theta)
    crit = lambda out, y: 0.5 * ((out - y) ** 2).sum(dim=-1).mean()  # noqa: E731 - the problem's MSE
    calls = [0]
    orig = ph.hessian_vector_product

    def counted(*a, **k):
        calls[0] += 1
        return orig(*a, **k)

    ph.hessian_vector_product = counted
    try:
        torch.manual_seed(seed)  # PyHessian draws its start from the global generator
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # its backward(create_graph=True) warns about a ref cycle
            h = ph.hessian(model, crit, data=(prob.X, prob.Y), cuda=False)
        vals, _ = h.eigenvalues(maxIter=100, tol=1e-3, top_n=1)
    finally:
        ph.hessian_vector_product = orig
    return float(vals[0]), calls[0]


def to_module(prob, theta) -> torch.nn.Module:
    """The problem's MLP as an nn.Sequential with θ's values (same function, same parameters)."""
    mods = []
    last = len(prob.layers) - 1
    for i, layer in enumerate(prob.layers):
        out_f, in_f = layer.shape
        lin = torch.nn.Linear(in_f, out_f, bias=layer.bias is not None, dtype=theta.dtype)
        with torch.no_grad():
            lin.weight.copy_(theta[layer.weight].view(layer.shape))
            if layer.bias is not None:
                lin.bias.copy_(theta[layer.bias])
        mods.append(lin)
        if i < last:
            mods.append(torch.nn.Tanh())
    return torch.nn.Sequential(*mods)


def scipy_operator(hvp, n, dtype):
    np_dtype = np.float32 if dtype == torch.float32 else np.float64

    def mv(x):
        return hvp(torch.from_numpy(np.ascontiguousarray(x, dtype=np_dtype)).reshape(n)).numpy().astype(np_dtype)

    def mm(X):
        return np.stack([mv(X[:, j]) for j in range(X.shape[1])], axis=1)

    return LinearOperator((n, n), matvec=mv, matmat=mm, dtype=np_dtype)


def arpack_cold(hvp, n, dtype, seed):
    # ARPACK draws its own random start; numpy's seed does not reach it, so the count varies a little.
    vals = eigsh(scipy_operator(hvp, n, dtype), k=1, which="LA", return_eigenvectors=False)
    return float(vals[-1])


def lobpcg_warm(hvp, n, dtype, state, tol, gen):
    X = state.get("X")
    if X is None:
        X = torch.randn(n, 1, generator=gen, dtype=torch.float64).numpy()
    np_dtype = np.float32 if dtype == torch.float32 else np.float64
    # scipy's tol is an absolute residual norm; scale it by the last estimate to make it relative.
    scale = abs(state.get("lam", 1.0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "did not converge" at maxiter is reported via the error
        vals, vecs = lobpcg(scipy_operator(hvp, n, dtype), X.astype(np_dtype), largest=True, tol=tol * scale, maxiter=100)
    state["X"], state["lam"] = vecs, float(vals[0])
    return float(vals[0])


# ---- the reference ----------------------------------------------------------------------------


def reference(prob64, theta, dense: bool) -> tuple[float, float | None]:
    """Converged λ_max in float64: ARPACK tight, and dense eigvalsh when asked. Returns
    (λ_ref, |ARPACK − dense| / dense or None)."""
    th = theta.to(torch.float64)
    hvp = make_hvp(prob64.loss, th)
    n = th.numel()
    ncv = min(n, 60)
    lam = float(eigsh(scipy_operator(hvp, n, torch.float64), k=1, which="LA", tol=1e-10, ncv=ncv, return_eigenvectors=False)[-1])
    if not dense:
        return lam, None
    from eos_tui.engine.curvature.hessian import dense_hessian

    H = dense_hessian(prob64.loss, th).numpy()
    lam_dense = float(np.linalg.eigvalsh(H)[-1])
    return lam_dense, abs(lam - lam_dense) / abs(lam_dense)


# ---- main -------------------------------------------------------------------------------------


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    C.add_common_args(ap, "solvers")
    ap.add_argument("--small", action="store_true", help="eos shape at hidden [32, 32], 128 points")
    ap.add_argument("--steps", type=int, default=None, help="trajectory length (default 1000; tiny 60)")
    ap.add_argument("--every", type=int, default=None, help="snapshot spacing in steps (default 25; tiny 20)")
    ap.add_argument("--repeats", type=int, default=None, help="passes with fresh random starts (default 2)")
    ap.add_argument("--no-dense", action="store_true", help="skip the dense eigvalsh cross-check")
    ap.add_argument("--power-max-iter", type=int, default=None, help="cap on the power-iteration-to-1e-3 runs (default 2000; tiny 300)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    size = "tiny" if args.tiny else "small" if args.small else "full"
    steps = args.steps or (60 if args.tiny else 1000)
    every = args.every or (20 if args.tiny else 25)
    repeats = args.repeats or (1 if args.tiny else 2)
    lr = 0.5
    prob = C.problem(size, lr)
    prob64 = C.problem(size, lr, dtype="float64")
    n, dtype = prob.dim, prob.theta0.dtype
    snaps = C.gd_trajectory(prob, lr, steps, every)
    use_pyhessian = pyhessian_available()
    print(
        f"eos lr-0.50 ({size}): n = {n} parameters, {prob.n_examples} examples, {dtype}; "
        f"{len(snaps)} snapshots every {every} steps up to {steps}; {repeats} repeat(s)"
    )
    print(
        "power iteration row: "
        + (
            "the pyhessian package (0.1) itself"
            if use_pyhessian
            else "pyhessian not importable: faithful re-implementation of its power iteration"
        )
    )

    # References first (they do not depend on the repeat).
    refs, dense_checks = [], []
    for i, (t, th) in enumerate(snaps):
        dense = not args.no_dense and (n <= DENSE_MAX_N or i == len(snaps) - 1)
        lam, disc = reference(prob64, th, dense)
        refs.append(lam)
        if disc is not None:
            dense_checks.append({"step": t, "arpack_vs_dense": disc})
    print(
        f"references: λ_max from {refs[0]:.4g} (step 0) to {refs[-1]:.4g} (step {snaps[-1][0]}); "
        f"2/η = {2 / lr:g}; ARPACK-vs-dense rel. diff: "
        + (", ".join(f"{d['arpack_vs_dense']:.1e} @ {d['step']}" for d in dense_checks) or "not checked")
    )

    tols = [3e-2, 1e-2, 3e-3, 1e-3]
    methods = [(f"eos-tui warm tol={tol:g}", "eos", tol) for tol in tols]
    methods += [
        ("power (PyHessian" + ("" if use_pyhessian else ", re-impl.") + ")", "power", None),
        ("ARPACK cold (Cohen et al.)", "arpack", None),
    ]
    methods += [(f"LOBPCG warm tol={tol:g}", "lobpcg", tol) for tol in tols]
    power_max = args.power_max_iter or (300 if args.tiny else 2000)
    # Derived from one uncapped power-iteration run per snapshot (kind "powerseq").
    seq_rows = {
        "oracle": f"power to rel err ≤{TARGET:g} (oracle stop)",
        1e-4: "power, PyHessian rule tol=1e-4",
        1e-5: "power, PyHessian rule tol=1e-5",
    }

    per = {name: {"hvps": [], "err": [], "ms": []} for name, _, _ in methods}
    per.update({name: {"hvps": [], "err": [], "ms": [], "reached": []} for name in seq_rows.values()})
    for rep in range(repeats):
        states = {name: {} for name, _, _ in methods}
        gen = torch.Generator().manual_seed(1000 + rep)
        for i, (t, th) in enumerate(snaps):
            for name, kind, tol in methods:
                hvp = Counted(make_hvp(prob.loss, th))
                t0 = time.perf_counter()
                if kind == "eos":
                    lam = eos_tui_warm(hvp, n, dtype, states[name], tol, gen)
                elif kind == "power":
                    if use_pyhessian:
                        lam, hvp.count = pyhessian_power(prob, th, seed=7919 * rep + i)
                    else:
                        lam = power_iteration(hvp, n, dtype, gen)
                elif kind == "arpack":
                    lam = arpack_cold(hvp, n, dtype, seed=rep)
                else:
                    lam = lobpcg_warm(hvp, n, dtype, states[name], tol, gen)
                ms = 1e3 * (time.perf_counter() - t0)
                if i == 0:
                    continue  # primes the warm starts
                per[name]["hvps"].append(hvp.count)
                per[name]["err"].append(abs(lam - refs[i]) / abs(refs[i]))
                per[name]["ms"].append(ms)
            if i == 0:
                continue
            hvp = Counted(make_hvp(prob.loss, th))
            t0 = time.perf_counter()
            seq = power_sequence(hvp, n, dtype, gen, refs[i], max_iter=power_max)
            ms = 1e3 * (time.perf_counter() - t0)
            for key, name in seq_rows.items():
                hit = seq[key]
                reached = hit is not None
                its, lam = hit if reached else seq["last"]
                per[name]["hvps"].append(its)
                per[name]["err"].append(abs(lam - refs[i]) / abs(refs[i]))
                per[name]["ms"].append(ms * its / hvp.count)  # its share of the run's time
                per[name]["reached"].append(reached)

    def summary(name):
        d = per[name]
        return {
            "mean_hvps": float(np.mean(d["hvps"])),
            "median_hvps": C.median(d["hvps"]),
            "max_hvps": max(d["hvps"]),
            "max_rel_err": max(d["err"]),
            "median_rel_err": C.median(d["err"]),
            "frac_within_target": float(np.mean(np.array(d["err"]) <= TARGET)),
            "median_ms": C.median(d["ms"]),
            **({"frac_reached": float(np.mean(d["reached"]))} if "reached" in d else {}),
        }

    rows = {name: summary(name) for name in per}

    # Headline rows: for the swept warm methods, the loosest tol that meets the target everywhere.
    def pick(kind):
        ok = [name for name, k, _ in methods if k == kind and rows[name]["max_rel_err"] <= TARGET]
        return ok[0] if ok else [name for name, k, _ in methods if k == kind][-1]

    best_eos, best_lobpcg = pick("eos"), pick("lobpcg")
    base = rows[best_eos]
    for name in rows:
        rows[name]["hvp_ratio_vs_eos_tui"] = rows[name]["mean_hvps"] / base["mean_hvps"]
        rows[name]["time_ratio_vs_eos_tui"] = rows[name]["median_ms"] / base["median_ms"]

    C.table(
        f"λ_max solvers on {len(snaps) - 1} warm snapshots × {repeats} (eos lr-0.50, n={n}); headline rows marked *",
        [
            "method",
            "mean HVPs",
            "max HVPs",
            "× HVPs vs *eos-tui",
            "median ms",
            "× time",
            "max rel err",
            "median rel err",
            f"≤{TARGET:g}",
            "stopped",
        ],
        [
            [
                ("* " if name in (best_eos, best_lobpcg) else "  ") + name,
                r["mean_hvps"],
                r["max_hvps"],
                r["hvp_ratio_vs_eos_tui"],
                r["median_ms"],
                r["time_ratio_vs_eos_tui"],
                r["max_rel_err"],
                r["median_rel_err"],
                f"{r['frac_within_target']:.0%}",
                f"{r['frac_reached']:.0%}" if "frac_reached" in r else None,
            ]
            for name, r in rows.items()
        ],
    )
    print(
        f"stopped: for the power-to-target rows, the share of snapshots where the criterion was met within "
        f"{power_max} HVPs (the others count {power_max} HVPs and the last estimate)"
    )
    power_name = [name for name, k, _ in methods if k == "power"][0]
    arpack_name = [name for name, k, _ in methods if k == "arpack"][0]
    goals = {
        "fewer_hvps_than_power": rows[power_name]["mean_hvps"] / base["mean_hvps"],
        "fewer_hvps_than_arpack": rows[arpack_name]["mean_hvps"] / base["mean_hvps"],
        "fewer_hvps_than_lobpcg": rows[best_lobpcg]["mean_hvps"] / base["mean_hvps"],
        "fewer_hvps_than_power_to_target": rows[seq_rows["oracle"]]["mean_hvps"] / base["mean_hvps"],
        "power_to_target_reached_frac": rows[seq_rows["oracle"]]["frac_reached"],
        "fewer_hvps_than_power_rule_1e-5": rows[seq_rows[1e-5]]["mean_hvps"] / base["mean_hvps"],
    }
    print(
        f"headline eos-tui row: {best_eos}: {goals['fewer_hvps_than_power']:.1f}× fewer HVPs than power "
        f"iteration (goal ≥ 5), {goals['fewer_hvps_than_arpack']:.1f}× fewer than ARPACK (goal ≥ 3), "
        f"{goals['fewer_hvps_than_lobpcg']:.1f}× fewer than warm LOBPCG ({best_lobpcg})"
    )
    print(
        f"power iteration run until its error is ≤ {TARGET:g} (oracle stop, cap {power_max}): "
        f"{rows[seq_rows['oracle']]['mean_hvps']:.1f} HVPs on average, reached at "
        f"{goals['power_to_target_reached_frac']:.0%} of snapshots (unreached count as the cap): "
        f"{goals['fewer_hvps_than_power_to_target']:.1f}× the HVPs of {best_eos} (goal ≥ 5); PyHessian's rule at "
        f"tol 1e-5: {rows[seq_rows[1e-5]]['mean_hvps']:.1f} HVPs, max rel err {rows[seq_rows[1e-5]]['max_rel_err']:.1e}"
    )
    C.write_json(
        args.json_out,
        {
            "benchmark": "solvers",
            "size": size,
            "n": n,
            "dtype": str(dtype),
            "lr": lr,
            "steps": steps,
            "every": every,
            "repeats": repeats,
            "target_rel_err": TARGET,
            "power_max_iter": power_max,
            "pyhessian_package": use_pyhessian,
            "references": [{"step": t, "lambda_max": lam} for (t, _), lam in zip(snaps, refs)],
            "dense_checks": dense_checks,
            "rows": rows,
            "headline": {"eos_tui": best_eos, "lobpcg": best_lobpcg},
            "ratios": goals,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
