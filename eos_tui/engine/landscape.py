"""The landscape around what training found: paths between end points and the curvature at each.

Given two parameter vectors θ_a, θ_b of one problem (two arms' final checkpoints):

  * the loss along the straight line θ(t) = (1 − t)·θ_a + t·θ_b, t from −0.2 to 1.2 (t = 0 and 1 on
    the grid exactly, where θ(t) is θ_a and θ_b bit for bit), and its barrier: the highest loss on
    t ∈ [0, 1] minus the higher of the two end losses (zero on any path inside one convex bowl);
  * a quadratic Bézier curve φ(t) = (1 − t)²·θ_a + 2t(1 − t)·c + t²·θ_b whose middle point c is
    trained to lower the loss along it (Garipov et al. 2018: minimize E_{t∼U[0,1]} L(φ(t)) by
    stochastic gradient on c, t drawn afresh each step), and its barrier;
  * at each end point: λ_max (Lanczos on Hessian-vector products), the adaptive sharpness
    λ_max(diag|θ| H diag|θ|) (Kwon et al. 2021; invariant under Dinh et al.'s rescalings of a ReLU
    network, which move λ_max at will; see reparam.py), and the Hessian trace by Hutchinson's
    estimator, tr H = E[zᵀHz] over Rademacher z, with its standard error (sample std / √probes);
  * a one-dimensional slice L(θ_a + s·u) along the top eigenvector u at θ_a, beside the parabola
    L(θ_a) + ½λ_max·s² that "sharpness" describes, over a window that shows where the valley walls
    leave the parabola, with the step η·‖∇L‖ of the arm's optimizer marked.

Engine code: torch, never textual. The command (eos_tui/cli/landscape.py) draws and writes the result.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from . import interrupt
from .curvature.flow import grad
from .curvature.hessian import HessianOperator
from .curvature.lanczos import top_eigenpairs
from .problems import Problem

T_RANGE = (-0.2, 1.2)


def grid(points: int) -> list[float]:
    """`points` values of t over T_RANGE, with 0 and 1 in them exactly (replacing their nearest)."""
    lo, hi = T_RANGE
    points = max(int(points), 5)
    ts = [lo + (hi - lo) * i / (points - 1) for i in range(points)]
    for exact in (0.0, 1.0):
        i = min(range(points), key=lambda j: abs(ts[j] - exact))
        ts[i] = exact
    return ts


def _loss(problem: Problem, theta: torch.Tensor) -> float:
    with torch.no_grad():
        return float(problem.loss(theta))


def _test_loss(problem: Problem, theta: torch.Tensor) -> float | None:
    if getattr(problem, "X_test", None) is None:
        return None
    with torch.no_grad():
        return problem.test_metrics(theta).get("test_loss")


def barrier(ts: list[float], losses: list[float]) -> float:
    """The highest loss on t ∈ [0, 1] minus the higher end loss (L at t = 0 and t = 1)."""
    inside = [v for t, v in zip(ts, losses) if 0.0 <= t <= 1.0]
    ends = [v for t, v in zip(ts, losses) if t in (0.0, 1.0)]
    if not inside or len(ends) != 2 or not all(math.isfinite(v) for v in inside):
        return math.inf
    return max(inside) - max(ends)


def _path(problem: Problem, ts: list[float], at) -> dict[str, Any]:
    losses, tests = [], []
    for t in ts:
        interrupt.check()
        th = at(t)
        losses.append(_loss(problem, th))
        tests.append(_test_loss(problem, th))
    out: dict[str, Any] = {"t": ts, "loss": losses, "barrier": barrier(ts, losses)}
    if any(v is not None for v in tests):
        out["test_loss"] = tests
        out["test_barrier"] = barrier(ts, [v if v is not None else math.inf for v in tests])
    return out


def line(problem: Problem, a: torch.Tensor, b: torch.Tensor, ts: list[float]) -> dict[str, Any]:
    """The loss along (1 − t)·a + t·b (exactly a at t = 0 and b at t = 1), and its barrier."""
    return _path(problem, ts, lambda t: a if t == 0.0 else b if t == 1.0 else (1.0 - t) * a + t * b)


def bezier(a: torch.Tensor, c: torch.Tensor, b: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
    return (1 - t) ** 2 * a + 2 * t * (1 - t) * c + t**2 * b


def train_curve(
    problem: Problem,
    a: torch.Tensor,
    b: torch.Tensor,
    *,
    steps: int = 300,
    lr: float = 0.01,
    samples: int = 4,
    seed: int = 0,
) -> torch.Tensor:
    """The middle point c of a quadratic Bézier curve from a to b, trained (Adam on c) to lower
    E_{t∼U[0,1]} L(φ_c(t)) (Garipov et al. 2018). Each step averages the loss at `samples` values
    of t, one drawn in each of `samples` equal parts of [0, 1] (stratified). Starts from the
    midpoint (a + b)/2, i.e. the straight line."""
    gen = torch.Generator().manual_seed(int(seed))
    c = ((a + b) / 2).detach().clone().requires_grad_()
    opt = torch.optim.Adam([c], lr=lr)
    for _ in range(int(steps)):
        interrupt.check()
        u = (torch.arange(samples, dtype=torch.float64) + torch.rand(samples, generator=gen, dtype=torch.float64)) / samples
        opt.zero_grad()
        with torch.enable_grad():
            loss = sum(problem.loss(bezier(a, c, b, float(t))) for t in u) / samples
            loss.backward()  # type: ignore[union-attr]
        opt.step()
    return c.detach()


def curve(problem: Problem, a: torch.Tensor, b: torch.Tensor, ts: list[float], **train: Any) -> dict[str, Any]:
    c = train_curve(problem, a, b, **train)
    out = _path(problem, ts, lambda t: a if t == 0.0 else b if t == 1.0 else bezier(a, c, b, t))
    out["steps"] = int(train.get("steps", 300))
    return out


def lambda_max(problem: Problem, theta: torch.Tensor, transform: torch.Tensor | None = None, *, seed: int = 0, tol: float = 1e-6):
    """Top eigenpair (value, vector) of H(θ), or of D H D with D = diag(transform)."""
    hvp = HessianOperator(problem.loss, theta, parts=problem.loss_parts(), precond=transform)
    n = theta.numel()
    pairs = top_eigenpairs(
        hvp, n, 1, tol=tol, max_iter=min(n, 300), dtype=theta.dtype, device=theta.device, generator=torch.Generator().manual_seed(seed)
    )
    return float(pairs.eigenvalues[0]), pairs.eigenvectors[0]


def hutchinson(problem: Problem, theta: torch.Tensor, probes: int = 100, seed: int = 0) -> tuple[float, float]:
    """tr H(θ) ≈ mean of zᵀHz over Rademacher z (each an unbiased sample), with its standard error."""
    hvp = HessianOperator(problem.loss, theta, parts=problem.loss_parts())
    gen = torch.Generator().manual_seed(int(seed))
    vals = []
    for _ in range(int(probes)):
        interrupt.check()
        z = (torch.randint(0, 2, (theta.numel(),), generator=gen) * 2 - 1).to(dtype=theta.dtype, device=theta.device)
        vals.append(float(z @ hvp(z)))
    m = len(vals)
    mean = sum(vals) / m
    var = sum((v - mean) ** 2 for v in vals) / (m - 1) if m > 1 else math.inf
    return mean, math.sqrt(var / m)


def end_point(problem: Problem, name: str, theta: torch.Tensor, *, probes: int = 100, seed: int = 0) -> tuple[dict[str, Any], torch.Tensor]:
    """The numbers at one end point, and its top eigenvector (for the slice)."""
    lam, u = lambda_max(problem, theta, seed=seed)
    adaptive, _ = lambda_max(problem, theta, theta.abs(), seed=seed)
    trace, stderr = hutchinson(problem, theta, probes, seed=seed)
    return {
        "arm": name,
        "loss": _loss(problem, theta),
        "sharpness": lam,
        "adaptive_sharpness": adaptive,
        "trace": trace,
        "trace_stderr": stderr,
    }, u


def slice_along(
    problem: Problem, theta: torch.Tensor, u: torch.Tensor, lam: float, *, lr: float | None, points: int = 41
) -> dict[str, Any]:
    """L(θ + s·u) for s in [−S, S], with the parabola L(θ) + ½λ s². S: where the parabola has risen by
    max(L(θ), 0.1)·4 (a window scaled to the valley that λ describes), at least twice the step η‖∇L‖."""
    loss0 = _loss(problem, theta)
    g = grad(problem.loss, theta)
    step = lr * float(torch.linalg.vector_norm(g)) if lr else None
    rise = 4 * max(loss0, 0.1)
    half = math.sqrt(2 * rise / lam) if lam > 0 else 1.0
    if step:
        half = max(half, 2 * step)
    points = max(int(points), 5) | 1  # odd: s = 0 on the grid
    ss = [-half + 2 * half * i / (points - 1) for i in range(points)]
    ss[points // 2] = 0.0
    losses = []
    for s in ss:
        interrupt.check()
        losses.append(loss0 if s == 0.0 else _loss(problem, theta + s * u))
    return {
        "s": ss,
        "loss": losses,
        "parabola": [loss0 + 0.5 * lam * s * s for s in ss],
        "sharpness": lam,
        "lr": lr,
        "step": step,
    }


def landscape(
    problem: Problem,
    ends: list[tuple[str, torch.Tensor, float | None]],
    *,
    points: int = 41,
    with_curve: bool = False,
    curve_steps: int = 300,
    curve_lr: float = 0.01,
    probes: int = 100,
    seed: int = 0,
) -> dict[str, Any]:
    """Everything `eos-tui landscape` reports, for two end points (name, θ, the arm's η) of `problem`."""
    (na, a, lra), (nb, b, _) = ends
    if a.shape != b.shape:
        raise ValueError(f"arms {na!r} and {nb!r} have different shapes ({a.numel()} and {b.numel()} parameters)")
    for name, theta, _lr in ends:  # a finite θ can still overflow the loss (a checkpoint edited by hand, float32)
        if not math.isfinite(value := _loss(problem, theta)):
            raise ValueError(f"arm {name!r}: the loss at its end point is {value}, not a number to measure a landscape around")
    ts = grid(points)
    out: dict[str, Any] = {"line": line(problem, a, b, ts)}
    if with_curve:
        out["curve"] = curve(problem, a, b, ts, steps=curve_steps, lr=curve_lr, seed=seed)
    rows, vectors = [], []
    for name, theta, _lr in ends:
        try:
            row, u = end_point(problem, name, theta, probes=probes, seed=seed)
        except torch.linalg.LinAlgError:  # Lanczos on Hessian-vector products that overflowed (inf, NaN)
            raise ValueError(
                f"arm {name!r}: the Hessian at its end point cannot be measured (its products overflow: is θ that large?)"
            ) from None
        rows.append(row)
        vectors.append(u)
    out["ends"] = rows
    out["slice"] = {"arm": na, **slice_along(problem, a, vectors[0], rows[0]["sharpness"], lr=lra, points=points)}
    return out
