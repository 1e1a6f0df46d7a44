"""Cohen et al.'s headline problem through the engine itself, on a GPU when there is one.

    python bench/gpu.py                 # CUDA if available, else a smaller CPU run (said in output)
    python bench/gpu.py --device cpu    # force the CPU (the size then defaults to "cpu")
    python bench/gpu.py --tiny          # a few seconds, what tests/test_bench.py runs
    python bench/gpu.py --model resnet  # the `resnet` built-in's per-step costs (also: transformer)

Problem ("cifar" size, the `cifar` built-in's): a tanh MLP 3072→200→200→10 (656,810 parameters) on
5,000 images, MSE (mean over examples of ½‖f(x) − y‖²), full-batch GD, float32. The real CIFAR-10
(the first 5,000 training images, data.kind = "cifar10") when `eos-tui data fetch cifar10` has put
it where the engine looks; else random data of the same shape (5,000 × 3×32×32 inputs of rank n/3,
one-hot random labels) saved as an npz, which is said in the output: random data show the same
mechanism but not the paper's numbers.

Everything runs through eos_tui's own Arm and ArmBatch (engine/arm.py, batched.py), with the
engine's precision settings (engine/precision.py: TF32 off, cuDNN deterministic). Timed phases,
each after a warm-up, with the device synchronized around the clock:
  sharpness every 10   one arm, GD + a warm-started Lanczos λ_max every 10 steps (the physics run);
  tracked every step   one arm with measure.track_every_step (λ_max at every step);
  8 vmapped arms       an η sweep of 8 arms in one ArmBatch, sharpness every 10 steps.
Peak GPU memory (torch.cuda.max_memory_allocated) for each phase on CUDA.

Physics check: η = 2 / (SHARPEN · λ_max(θ₀)) (progressive sharpening must raise λ_max by SHARPEN);
the mean of λ_max·η/2 over the second half of the physics run must be within 5% of 1.

--model resnet | transformer: the `resnet` and `transformer` built-ins' own network, data size and
optimizer (ResNet-20 on 2,000 CIFAR-shaped images, full-batch GD, float32; the 2-layer transformer on
128 sort rows, Adam, float64), each timed per step through the engine: a training step (Arm.step, no λ_max), one
Hessian-vector product (the engine's make_hvp on the full data), one cold λ_max solve (Lanczos, tol
1e-3: seconds and HVPs), and peak GPU memory for each. The real CIFAR-10 when it is where the engine
looks, else random images of its shape. --examples N times N examples instead (the costs are linear
in N: a CPU measures n = 128 and scales). --tiny shrinks both to seconds (ResNet-8 at width 4 on 16
8×8 images; a 1-layer transformer of dim 16 on 32 rows).

Sizes: "cifar" (default on CUDA), "cpu" (3072→64→64→10 on 1,000 images; default without CUDA),
"tiny" (3×4×4 → 16 → 16 → 10 on 128 images). Override with --size, --lr, --steps.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

from eos_tui.data import cifar10  # noqa: E402
from eos_tui.engine import precision  # noqa: E402
from eos_tui.engine.arm import Arm  # noqa: E402
from eos_tui.engine.batched import ArmBatch  # noqa: E402
from eos_tui.engine.curvature.hessian import make_hvp  # noqa: E402
from eos_tui.engine.curvature.lanczos import top_eigenpairs  # noqa: E402
from eos_tui.scenario import load_scenario_text  # noqa: E402

# name: (image shape, hidden widths, classes, examples, steps of the physics run)
SIZES = {
    "cifar": ((3, 32, 32), [200, 200], 10, 5000, 3000),
    "cpu": ((3, 32, 32), [64, 64], 10, 1000, 600),
    "tiny": ((3, 4, 4), [16, 16], 10, 128, 500),
}
SHARPEN = 1.5
BATCH = 8


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


def synthetic(path: Path, shape: tuple[int, ...], classes: int, n: int, seed: int = 0) -> Path:
    """Random data of the problem's shape, of low intrinsic dimension (rank n/3, as natural images
    have far fewer degrees of freedom than pixels): with full-rank noise and more pixels than
    examples the net fits random labels almost linearly, without progressive sharpening."""
    rng = np.random.default_rng(seed)
    d = int(np.prod(shape))
    r = max(4, min(d, n // 3))
    X = (rng.standard_normal((n, r)) @ (rng.standard_normal((r, d)) / r**0.5)).astype(np.float32)
    np.savez(path, X=X.reshape(n, *shape), y=rng.integers(0, classes, n))
    return path


def scenario_text(data: str, hidden: list[int], lr: float, steps: int, device: str, measure: str, arms: str = "") -> str:
    return (
        f'name = "bench"\nsteps = {steps}\ndtype = "float32"\ndevice = "{device}"\nloss = "mse"\n'
        f'{data}[model]\nhidden = {hidden}\nactivation = "tanh"\n[optimizer]\nlr = {lr!r}\n'
        f"[measure]\neigenvalues = 1\ntolerance = 1e-3\n{measure}{arms}"
    )


ADAM = 'kind = "adam"\nlr = 0.01\nbeta2 = 0.99\n'
# The built-ins' networks (scenarios/resnet.toml, transformer.toml), full size and --tiny:
# (model table, data: "cifar" images of `shape` or "sort" rows, examples, optimizer table, dtype).
# tests/test_transformer_resnet_scenarios.py holds the full sizes equal to the scenarios'.
MODELS = {
    "resnet": (
        ('kind = "resnet"\ndepth = 20\nwidth = 16\n', "cifar", (3, 32, 32), 2000, 'kind = "gd"\nlr = 0.01\n', "float32"),
        ('kind = "resnet"\ndepth = 8\nwidth = 4\n', "cifar", (3, 8, 8), 16, 'kind = "gd"\nlr = 0.01\n', "float32"),
    ),
    "transformer": (
        ('kind = "transformer"\ndim = 32\nheads = 4\nlayers = 2\n', "sort", (8,), 128, ADAM, "float64"),
        ('kind = "transformer"\ndim = 16\nheads = 2\nlayers = 1\n', "sort", (8,), 32, ADAM, "float64"),
    ),
}


def model_costs(args, device: torch.device, settings) -> int:
    """Per-step costs of a built-in's network through the engine: a training step, one HVP, one λ_max."""
    model, kind, shape, n_ex, optimizer, dtype = MODELS[args.model][1 if args.tiny else 0]
    n_ex = args.examples or n_ex
    reps = args.time_steps or (2 if args.tiny else 5)
    tmp = tempfile.TemporaryDirectory(prefix="eos-bench-")
    if kind == "sort":
        data = f'[data]\nkind = "sort"\nn = {n_ex}\nlength = {shape[0]}\nvocab = 4\n'
        source = f"sort, {n_ex} rows of {shape[0]} tokens"
    elif not args.tiny and cifar10.locate(None) is not None:
        data = f'[data]\nkind = "cifar10"\nn = {n_ex}\n'
        source = f"CIFAR-10 (the first {n_ex:,} training images)"
    else:
        path = synthetic(Path(tmp.name) / "data.npz", shape, 10, n_ex)
        data = f'[data]\nkind = "npz"\npath = "{path}"\n'
        source = f"random images ({n_ex:,} × {'×'.join(map(str, shape))})"
    text = (
        f'name = "bench"\nsteps = {reps + 10}\ndtype = "{dtype}"\ndevice = "{device}"\nloss = "mse"\n{data}'
        f"[model]\n{model}[optimizer]\n{optimizer}[measure]\nsharpness_every = 0\neigenvalues = 1\ntolerance = 1e-3\n"
    )
    where = f"{device} ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else f"cpu, {torch.get_num_threads()} thread(s)"

    def peak_reset() -> None:
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)

    def peak() -> int | None:
        return int(torch.cuda.max_memory_allocated(device)) if device.type == "cuda" else None

    def clock(fn, times: int) -> float:
        fn()  # warm-up
        sync(device)
        t = time.perf_counter()
        for _ in range(times):
            fn()
        sync(device)
        return (time.perf_counter() - t) / times

    peak_reset()
    arm = Arm(load_scenario_text(text, source="bench.toml").arms[0], device)
    arm.begin()
    s_step = clock(arm.step, reps)
    mem_step = peak()
    problem, theta = arm.problem, arm.theta.detach().clone()

    peak_reset()
    hvp = make_hvp(problem.loss, theta, parts=problem.loss_parts())
    v = torch.randn(theta.shape, generator=torch.Generator().manual_seed(0), dtype=theta.dtype).to(device)
    s_hvp = clock(lambda: hvp(v), reps)
    mem_hvp = peak()
    del hvp

    peak_reset()
    sync(device)
    t = time.perf_counter()
    hvp = make_hvp(problem.loss, theta, parts=problem.loss_parts())
    gen = torch.Generator().manual_seed(0)
    pairs = top_eigenpairs(hvp, theta.numel(), 1, tol=1e-3, max_iter=200, dtype=theta.dtype, device=device, generator=gen)
    sync(device)
    s_lam = time.perf_counter() - t
    mem_lam = peak()
    tmp.cleanup()

    def mb(x: int | None) -> str:
        return "— (CPU)" if x is None else f"{x / 2**20:,.0f} MiB"

    tiny = " (--tiny)" if args.tiny else ""
    print(f"device: {where}; the `{args.model}` built-in's network{tiny}: {problem.dim:,} parameters, {source}, {dtype}")
    C.table(
        f"{args.model} through the engine — {where}",
        ["quantity", "value"],
        [
            ["parameters", f"{problem.dim:,}"],
            ["s per training step (no λ_max)", s_step],
            ["s per Hessian-vector product", s_hvp],
            ["HVP / training step", s_hvp / s_step],
            [f"s per cold λ_max (tol 1e-3, {pairs.hvps} HVPs)", s_lam],
            ["λ_max at the timed θ", float(pairs.eigenvalues[0])],
            ["peak GPU memory: step / HVP / λ_max", f"{mb(mem_step)} / {mb(mem_hvp)} / {mb(mem_lam)}"],
        ],
    )
    C.write_json(
        args.json_out,
        {
            "benchmark": "gpu",
            "model": args.model,
            "tiny": bool(args.tiny),
            "cuda": device.type == "cuda",
            "device": where,
            "data": source,
            "params": problem.dim,
            "examples": n_ex,
            "dtype": dtype,
            "precision": settings,
            "step_s": s_step,
            "hvp_s": s_hvp,
            "lambda_max_s": s_lam,
            "lambda_max_hvps": pairs.hvps,
            "lambda_max": float(pairs.eigenvalues[0]),
            "peak_gpu_memory_bytes": {"step": mem_step, "hvp": mem_hvp, "lambda_max": mem_lam},
        },
    )
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    C.add_common_args(ap, "gpu")
    ap.add_argument("--device", default="auto", help="auto (cuda if available), cuda, cuda:1, cpu")
    ap.add_argument(
        "--size", choices=sorted(SIZES), default=None, help="problem size (default: cifar on CUDA, cpu on the CPU, tiny with --tiny)"
    )
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--steps", type=int, default=None, help="steps of the physics run")
    ap.add_argument("--time-steps", type=int, default=None, help="steps in each timed phase (default 50; tiny 10)")
    ap.add_argument("--model", choices=["mlp", *MODELS], default="mlp", help="mlp (the cifar setup, default) or a built-in's network")
    ap.add_argument("--examples", type=int, default=None, help="with --model: examples instead of the built-in's (a CPU's n=128)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    settings = precision.configure([device])
    if args.model != "mlp":
        return model_costs(args, device, settings)
    size = args.size or ("tiny" if args.tiny else "cifar" if device.type == "cuda" else "cpu")
    shape, hidden, classes, n_ex, steps = SIZES[size]
    steps = args.steps or steps
    time_steps = args.time_steps or (10 if args.tiny else 50)
    dev = str(device)

    tmp = tempfile.TemporaryDirectory(prefix="eos-bench-")
    real = size == "cifar" and cifar10.locate(None) is not None
    if real:
        data = f'[data]\nkind = "cifar10"\nn = {n_ex}\n'
        source = f"CIFAR-10 (the first {n_ex:,} training images, {cifar10.locate(None)})"
    else:
        path = synthetic(Path(tmp.name) / "data.npz", shape, classes, n_ex)
        data = f'[data]\nkind = "npz"\npath = "{path}"\n'
        source = f"random data of CIFAR's shape ({n_ex:,} × {'×'.join(map(str, shape))}, rank n/3, random labels)"

    def arm_of(lr: float, n_steps: int, measure: str) -> Arm:
        spec = load_scenario_text(scenario_text(data, hidden, lr, n_steps, dev, measure), source="bench.toml").arms[0]
        return Arm(spec, device)

    probe = arm_of(0.1, 1, "sharpness_every = 0\n")
    n = probe.problem.dim
    gen0 = torch.Generator().manual_seed(0)
    theta0 = probe.problem.theta0
    hvp0 = make_hvp(probe.problem.loss, theta0, parts=probe.problem.loss_parts())
    lam0 = float(top_eigenpairs(hvp0, n, 1, tol=1e-4, max_iter=200, dtype=theta0.dtype, device=device, generator=gen0).eigenvalues[0])
    del probe
    lr = args.lr or 2 / (SHARPEN * lam0)
    where = f"{device} ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else "cpu"
    note = "" if size == "cifar" else f"  [NOT the headline size: '{size}'; the CUDA figure needs a GPU]"
    print(
        f"device: {where}; size '{size}': MLP {int(np.prod(shape))}→{'→'.join(map(str, hidden))}→{classes} tanh, "
        f"{n:,} parameters, {source}, MSE, full-batch GD, float32, η = {lr:g} "
        f"(2/η = {2 / lr:.4g}; λ_max at init {lam0:.4g}), {steps} steps{note}"
    )

    def peak_reset() -> None:
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)

    def peak() -> int | None:
        return int(torch.cuda.max_memory_allocated(device)) if device.type == "cuda" else None

    def drive(unit, reps: int) -> float:
        """Seconds per step of `reps` steps of an Arm or an ArmBatch, after 3 warm-up steps."""
        for _ in range(3):
            unit.step()
        sync(device)
        t = time.perf_counter()
        for _ in range(reps):
            unit.step()
        sync(device)
        return (time.perf_counter() - t) / reps

    # ---- the physics run: sharpness every 10 steps, timed whole -----------------------------------
    peak_reset()
    arm = arm_of(lr, steps, "sharpness_every = 10\n")
    records = arm.begin()
    sync(device)
    t0 = time.perf_counter()
    while arm.status is None:
        records += arm.step()
    sync(device)
    s_sharp = (time.perf_counter() - t0) / steps
    mem_sharp = peak()
    sharp = [(r["step"], r["eigenvalues"][0]) for r in records if r["type"] == "sharpness"]
    losses = [r["loss"] for r in records if r["type"] == "step"]
    ratio = np.array([lam * lr / 2 for _, lam in sharp])
    second = np.array([lam * lr / 2 for t, lam in sharp if t >= steps // 2])
    mean_second = float(second.mean()) if second.size else float("nan")
    eos_ok = bool(abs(mean_second - 1) <= 0.05)
    onset = next((t for t, lam in sharp if lam * lr / 2 >= 1.0), None)
    del arm

    # ---- λ_max tracked at every step ------------------------------------------------------------
    peak_reset()
    tracked = arm_of(lr, time_steps + 10, "sharpness_every = 0\ntrack_every_step = true\n")
    tracked.begin()
    s_tracked = drive(tracked, time_steps)
    mem_tracked = peak()
    del tracked

    # ---- 8 vmapped arms (an η sweep around the physics run's η) ---------------------------------
    peak_reset()
    arms = [arm_of(lr * (0.6 + 0.4 * i / (BATCH - 1)), time_steps + 10, "sharpness_every = 10\n") for i in range(BATCH)]
    for a in arms:
        a.begin()
    batch = ArmBatch(arms)
    s_batch = drive(batch, time_steps)
    mem_batch = peak()
    del batch, arms
    tmp.cleanup()

    row = {
        "size": size,
        "device": where,
        "real_data": real,
        "data": source,
        "params": n,
        "examples": n_ex,
        "lr": lr,
        "steps": steps,
        "precision": settings,
        "sharpness10_steps_per_s": 1 / s_sharp,
        "tracked_steps_per_s": 1 / s_tracked,
        "batched8_steps_per_s": 1 / s_batch,
        "batched8_arm_steps_per_s": BATCH / s_batch,
        "peak_gpu_memory_bytes": {"sharpness10": mem_sharp, "tracked": mem_tracked, "batched8": mem_batch},
        "lambda_max_init": lam0,
        "eos_onset_step": onset,
        "mean_lr_lambda_over_2_second_half": mean_second,
        "max_lr_lambda_over_2": float(ratio.max()),
        "eos_reached": eos_ok,
        "final_loss": float(losses[-1]),
    }

    def mb(x: int | None) -> str:
        return "— (CPU)" if x is None else f"{x / 2**20:,.0f} MiB"

    C.table(
        f"The cifar setup through the engine — {where}, '{size}'",
        ["quantity", "value"],
        [
            ["parameters", f"{n:,}"],
            ["data", "CIFAR-10" if real else "random, CIFAR's shape"],
            ["steps/s, sharpness every 10 steps", row["sharpness10_steps_per_s"]],
            ["steps/s, λ_max tracked every step", row["tracked_steps_per_s"]],
            [f"steps/s, {BATCH} vmapped arms (arm-steps/s)", f"{row['batched8_steps_per_s']:.3g} ({row['batched8_arm_steps_per_s']:.3g})"],
            ["peak GPU memory: every 10 / tracked / 8 arms", f"{mb(mem_sharp)} / {mb(mem_tracked)} / {mb(mem_batch)}"],
            ["EoS onset (first measurement with ηλ/2 ≥ 1)", onset],
            ["mean ηλ_max/2, 2nd half", mean_second],
            ["max ηλ_max/2", row["max_lr_lambda_over_2"]],
            ["loss first → last", f"{losses[0]:.4g} → {losses[-1]:.4g}"],
        ],
    )
    print(
        f"EoS {'reached' if eos_ok else 'NOT reached'}: mean ηλ_max/2 over the second half is {mean_second:.3f} "
        f"({'within' if eos_ok else 'outside'} 5% of 1){'' if eos_ok else '; raise --lr or --steps'}"
    )
    C.write_json(args.json_out, {"benchmark": "gpu", "cuda": device.type == "cuda", **row, "sharpness": sharp})
    return 0


if __name__ == "__main__":
    sys.exit(main())
