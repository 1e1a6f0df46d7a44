"""Cohen et al.'s headline problem on a GPU: steps per second with λ_max tracked at every step.

    python bench/gpu.py                 # CUDA if available, else a smaller CPU run (said in output)
    python bench/gpu.py --device cpu    # force the CPU (the size then defaults to "cpu")
    python bench/gpu.py --tiny          # a few seconds, what tests/test_bench.py runs

Problem ("cifar" size, the one of Cohen et al. 2021's headline figure, with synthetic data): a tanh
MLP 3072→200→200→10 (656,810 parameters) on 5,000 examples of 32×32×3 Gaussian noise with
one-hot random labels (inputs of rank n/3, see MLP), MSE (mean over examples of ½‖f(x) − y‖²), full-batch gradient descent,
float32. The data are synthetic because nothing may be downloaded; the physics do not need CIFAR:
progressive sharpening drives λ_max up to 2/η, then it hovers there (the edge of stability).

Per step: one gradient (forward+backward) and one `PerStepTracker.update` (≈ 1–2 Hessian-vector
products on average, by forward-over-reverse). Three timed phases, each after a warm-up and with
torch.cuda.synchronize() around the clock:
  plain GD      the training step alone;
  tracked GD    the training step + tracker update every step (the headline steps/s);
  one HVP       for the cost ratios.
Physics check: in the second half of the tracked run, the median of η·λ_max/2 should be near 1
(we call it reached when it is within [0.9, 1.1]).

Sizes: "cifar" (default on CUDA), "cpu" (3072→64→64→10 on 1,000 examples; default without CUDA),
"tiny" (48→16→16→10 on 128 examples). Override with --size, --lr, --steps.
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

# name: (input dim, hidden widths, classes, examples, steps). The learning rate defaults to
# η = 2 / (SHARPEN · λ_max(θ₀)): the run starts below the edge and progressive sharpening has to
# bring λ_max up by SHARPEN to reach 2/η, which random labels do early in the run.
SIZES = {
    "cifar": (3072, [200, 200], 10, 5000, 3000),
    "cpu": (3072, [64, 64], 10, 1000, 600),
    "tiny": (48, [16, 16], 10, 128, 500),
}
SHARPEN = 1.5


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda asked for, but torch.cuda.is_available() is False")
    return dev


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class MLP:
    """The problem on one flat float32 parameter vector (same layout as eos_tui's MLP problems)."""

    def __init__(self, d_in: int, hidden: list[int], classes: int, n: int, device, seed: int = 0):
        gen = torch.Generator().manual_seed(seed)
        sizes = [d_in, *hidden, classes]
        self.shapes, chunks = [], []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            bound = 1.0 / fan_in**0.5  # nn.Linear's default init
            chunks.append((torch.rand(fan_out * fan_in, generator=gen) * 2 - 1) * bound)
            chunks.append((torch.rand(fan_out, generator=gen) * 2 - 1) * bound)
            self.shapes.append((fan_out, fan_in))
        self.theta0 = torch.cat(chunks).to(device)
        # Inputs of CIFAR's shape but low intrinsic dimension (rank n/3, like natural images have far
        # fewer degrees of freedom than pixels): with full-rank noise and d_in ≥ n the net would fit
        # the random labels almost linearly, in a few steps, without any progressive sharpening.
        r = max(4, min(d_in, n // 3))
        A = torch.randn(r, d_in, generator=gen) / r**0.5
        self.X = (torch.randn(n, r, generator=gen) @ A).to(device)
        labels = torch.randint(0, classes, (n,), generator=gen)
        self.Y = torch.nn.functional.one_hot(labels, classes).float().to(device)
        self.dim = self.theta0.numel()

    def loss(self, theta: torch.Tensor) -> torch.Tensor:
        h, off = self.X, 0
        for i, (o, k) in enumerate(self.shapes):
            W = theta[off : off + o * k].view(o, k)
            off += o * k
            b = theta[off : off + o]
            off += o
            h = torch.nn.functional.linear(h, W, b)
            if i < len(self.shapes) - 1:
                h = torch.tanh(h)
        return 0.5 * ((h - self.Y) ** 2).sum(dim=-1).mean()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    C.add_common_args(ap, "gpu")
    ap.add_argument("--device", default="auto", help="auto (cuda if available), cuda, cuda:1, cpu")
    ap.add_argument(
        "--size", choices=sorted(SIZES), default=None, help="problem size (default: cifar on CUDA, cpu on the CPU, tiny with --tiny)"
    )
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--time-steps", type=int, default=None, help="steps in each timed phase (default 50; tiny 10)")
    ap.add_argument("--refresh-every", type=int, default=7, help="PerStepTracker refresh_every (its default)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    size = args.size or ("tiny" if args.tiny else "cifar" if device.type == "cuda" else "cpu")
    d_in, hidden, classes, n_ex, steps = SIZES[size]
    steps = args.steps or steps
    time_steps = args.time_steps or (10 if args.tiny else 50)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False  # true float32: TF32 would blur the HVPs
        torch.backends.cudnn.allow_tf32 = False
    prob = MLP(d_in, hidden, classes, n_ex, device)
    n = prob.dim
    gen0 = torch.Generator(device=device).manual_seed(0) if device.type == "cuda" else torch.Generator().manual_seed(0)
    lam0 = float(
        top_eigenpairs(
            make_hvp(prob.loss, prob.theta0), n, 1, tol=1e-4, max_iter=200, dtype=torch.float32, device=device, generator=gen0
        ).eigenvalues[0]
    )
    lr = args.lr or 2 / (SHARPEN * lam0)
    where = f"{device} ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else "cpu"
    note = "" if size == "cifar" else f"  [NOT the headline size: '{size}'; the CUDA figure needs a GPU]"
    print(
        f"device: {where}; size '{size}': MLP {d_in}→{'→'.join(map(str, hidden))}→{classes} tanh, "
        f"{n:,} parameters, {n_ex:,} synthetic examples, MSE, full-batch GD, float32, η = {lr:g} "
        f"(2/η = {2 / lr:.4g}; λ_max at init {lam0:.4g}), {steps} steps{note}"
    )

    grad_fn = torch.func.grad_and_value(prob.loss)

    def gd_step(theta):
        g, loss = grad_fn(theta)
        return theta - lr * g, loss

    # ---- the tracked run (physics + the tracker's HVP count) ------------------------------------
    tracker = PerStepTracker(k=1, refresh_every=args.refresh_every, generator=gen0)  # tol 1e-2, residual 0.05, period 2
    theta = prob.theta0.clone()
    lams, losses = [], []
    sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        res = tracker.update(make_hvp(prob.loss, theta), n, dtype=theta.dtype, device=device)
        lams.append(res.eigenvalues[0])
        theta, loss = gd_step(theta)
        losses.append(loss)
    sync(device)
    run_s = time.perf_counter() - t0
    lams = torch.stack(lams).cpu().numpy().astype(float)
    losses = torch.stack(losses).cpu().numpy().astype(float)
    ratio = lams * lr / 2
    second = ratio[steps // 2 :]
    onset = next((i for i, r in enumerate(ratio) if r >= 1.0), None)
    eos_ok = bool(0.9 <= float(np.median(second)) <= 1.1)
    # Spot checks of the tracked value against a converged solve (tol 1e-5) at a few steps.
    checks = []
    theta_chk = prob.theta0.clone()
    chk_steps = sorted({steps // 4, steps // 2, 3 * steps // 4, steps - 1})
    for t in range(steps):
        if t in chk_steps:
            ref = top_eigenpairs(
                make_hvp(prob.loss, theta_chk),
                n,
                1,
                tol=1e-5,
                max_iter=300,
                dtype=theta_chk.dtype,
                device=device,
                generator=tracker.generator,
            )
            lam_ref = float(ref.eigenvalues[0])
            checks.append(
                {
                    "step": t,
                    "lambda_ref": lam_ref,
                    "lambda_tracked": float(lams[t]),
                    "rel_err": abs(float(lams[t]) - lam_ref) / abs(lam_ref),
                }
            )
        theta_chk, _ = gd_step(theta_chk)

    # ---- timed phases ---------------------------------------------------------------------------
    def timed(fn, reps):
        for _ in range(3):  # warm-up (CUDA kernels, allocator, cuBLAS handles)
            fn()
        sync(device)
        t = time.perf_counter()
        for _ in range(reps):
            fn()
        sync(device)
        return (time.perf_counter() - t) / reps

    th_t = theta.clone()
    state = {"theta": th_t}

    def plain():
        state["theta"], _ = gd_step(state["theta"])

    tr2 = PerStepTracker(k=1, refresh_every=args.refresh_every, generator=tracker.generator)

    def tracked():
        tr2.update(make_hvp(prob.loss, state["theta"]), n, dtype=th_t.dtype, device=device)
        state["theta"], _ = gd_step(state["theta"])

    v = torch.randn(n, device=device)
    hvp = make_hvp(prob.loss, th_t)
    s_plain = timed(plain, time_steps)
    state["theta"] = th_t.clone()
    s_tracked = timed(tracked, time_steps)
    s_hvp = timed(lambda: hvp(v), time_steps)

    row = {
        "size": size,
        "device": where,
        "params": n,
        "examples": n_ex,
        "lr": lr,
        "steps": steps,
        "plain_steps_per_s": 1 / s_plain,
        "tracked_steps_per_s": 1 / s_tracked,
        "tracked_cost_vs_plain": s_tracked / s_plain,
        "hvp_cost_vs_plain": s_hvp / s_plain,
        "tracker_hvps_per_step": tracker.mean_hvps,
        "lambda_max_init": lam0,
        "tracker_refreshes": tracker.refreshes,
        "tracked_run_s": run_s,
        "eos_onset_step": onset,
        "median_lr_lambda_over_2_second_half": float(np.median(second)),
        "max_lr_lambda_over_2": float(ratio.max()),
        "eos_reached": eos_ok,
        "final_loss": float(losses[-1]),
        "spot_checks": checks,
        "max_spot_check_rel_err": max(c["rel_err"] for c in checks),
    }
    C.table(
        f"Full-batch GD with λ_max tracked every step — {where}, '{size}'",
        ["quantity", "value"],
        [
            ["parameters", f"{n:,}"],
            ["plain GD steps/s", row["plain_steps_per_s"]],
            ["GD + per-step λ_max, steps/s", row["tracked_steps_per_s"]],
            ["tracked step / plain step", row["tracked_cost_vs_plain"]],
            ["one HVP / plain step", row["hvp_cost_vs_plain"]],
            ["tracker HVPs/step (whole run)", row["tracker_hvps_per_step"]],
            ["EoS onset (first step with ηλ/2 ≥ 1)", onset],
            ["median ηλ_max/2, 2nd half", row["median_lr_lambda_over_2_second_half"]],
            ["max ηλ_max/2", row["max_lr_lambda_over_2"]],
            ["tracked vs converged, max rel err at steps " + ",".join(str(c["step"]) for c in checks), row["max_spot_check_rel_err"]],
            ["loss first → last", f"{losses[0]:.4g} → {losses[-1]:.4g}"],
        ],
    )
    print(
        (f"EoS reached: median ηλ_max/2 over the second half is {row['median_lr_lambda_over_2_second_half']:.3f} (within [0.9, 1.1])")
        if eos_ok
        else (
            f"EoS NOT reached: median ηλ_max/2 over the second half is "
            f"{row['median_lr_lambda_over_2_second_half']:.3f}; raise --lr or --steps"
        )
    )
    C.write_json(args.json_out, {"benchmark": "gpu", "cuda": device.type == "cuda", **row, "lambda_trace_every_10": lams[::10].tolist()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
