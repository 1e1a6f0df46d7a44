"""Gradients, and gradient flow dθ/dτ = −∇L integrated by RK4: the "flow" optimizer (arm.py) and
the stable flow beside a GD arm (central_flow.py) run the same integrator.

Engine code: imports torch, never textual.
"""

from __future__ import annotations

from typing import Callable

import torch


def grad_and_value(fn, theta: torch.Tensor, *args, summed: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(∇fn(θ), fn(θ)) by plain reverse-mode autograd on a detached copy of θ.

    `summed`: fn gives one loss per row of a stacked θ (B, n) (the batched engine's vmapped loss);
    the gradient is then that of their sum, whose row i is arm i's gradient exactly, since arm i's
    loss depends on row i only; the value is the (B,) losses.

    Not torch.func.grad_and_value: the same backward kernels (bit-identical numbers), but functorch
    wraps every tensor of every call, a fixed cost per call as large as a whole training step of the
    small models this engine runs (BENCHMARKS.md, "Engine overhead"). torch.func stays
    where it earns its keep: the dense Hessian and the batched HVP (forward-over-reverse, vmapped).
    """
    with torch.enable_grad():
        th = theta.detach().requires_grad_()
        value = fn(th, *args)
        (g,) = torch.autograd.grad(value.sum() if summed else value, th)
    return g, value.detach()


def grad(fn, theta: torch.Tensor, *args) -> torch.Tensor:
    return grad_and_value(fn, theta, *args)[0]


def rk4_flow(f: Callable[[torch.Tensor], torch.Tensor], theta: torch.Tensor, h: float, substeps: int) -> torch.Tensor:
    """θ after `substeps` classical RK4 steps of size h along dθ/dτ = −f(θ) (f the gradient).

    The callers choose h ≤ α/λ_max, which keeps RK4 stable and accurate (Cohen et al.'s choice)."""
    th = theta
    for _ in range(substeps):
        k1 = f(th)
        k2 = f(th - 0.5 * h * k1)
        k3 = f(th - 0.5 * h * k2)
        k4 = f(th - h * k3)
        th = th - (h / 6.0) * (k1 + 2 * k2 + 2 * k3 + k4)
    return th
