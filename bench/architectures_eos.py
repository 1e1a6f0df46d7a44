"""The edge of stability in a built-in architecture, without the scenario engine: full-batch GD on
its flat θ (torch.func.functional_call, as engine/modules.py evaluates it), λ_max by the engine's
Lanczos (engine/curvature/lanczos.py) every steps/20 steps, float64, MSE on one-hot targets.

    python bench/architectures_eos.py KIND LR STEPS [--args '{"channels": [8, 8]}'] [--n 128]

The data: n random 3×8×8 images with 4 random classes, or for the transformer n random sort rows
(length 6, vocabulary 4) with their sorted rows as targets. Expect λ_max to rise to 2/η and hover
there while the loss keeps falling, non-monotonically (docs/architectures.md gives runs).
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F
from torch.func import functional_call

from eos_tui.engine.curvature.lanczos import top_eigenpairs
from eos_tui.models import ARCHITECTURES, factory_of


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=sorted(ARCHITECTURES))
    parser.add_argument("lr", type=float)
    parser.add_argument("steps", type=int)
    parser.add_argument("--args", default="{}", help="the factory's keyword arguments, as JSON")
    parser.add_argument("--n", type=int, default=128)
    a = parser.parse_args()
    torch.set_default_dtype(torch.float64)
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    if a.kind == "transformer":
        shape, out = (6,), 4
        x = torch.randint(0, out, (a.n, *shape), generator=g)
        y = torch.sort(x, dim=1).values
    else:
        shape, out = (3, 8, 8), 4
        x = torch.randn(a.n, *shape, generator=g)
        y = torch.randint(0, out, (a.n,), generator=g)
    net = factory_of(a.kind)(input_shape=shape, outputs=out, **json.loads(a.args)).double()
    names = [name for name, _ in net.named_parameters()]
    shapes = [p.shape for p in net.parameters()]
    sizes = [p.numel() for p in net.parameters()]
    targets = F.one_hot(y.reshape(-1), out).double()

    def loss(theta: torch.Tensor) -> torch.Tensor:
        f = functional_call(net, {k: v.view(s) for k, v, s in zip(names, theta.split(sizes), shapes)}, (x,))
        return 0.5 * (f.reshape(-1, out) - targets).square().sum(-1).mean()

    def sharpness(theta: torch.Tensor) -> float:
        t = theta.clone().requires_grad_()
        (grad,) = torch.autograd.grad(loss(t), t, create_graph=True)

        def hvp(v: torch.Tensor) -> torch.Tensor:
            return torch.autograd.grad(grad, t, v, retain_graph=True)[0]

        return float(top_eigenpairs(hvp, theta.numel(), 1, tol=1e-6, max_iter=200).eigenvalues[0])

    theta = torch.cat([p.detach().reshape(-1) for p in net.parameters()])
    print(f"{a.kind} {a.args}: {theta.numel():,} parameters, 2/η = {2 / a.lr:.3f}", flush=True)
    start = time.perf_counter()
    for step in range(a.steps + 1):
        if step % max(1, a.steps // 20) == 0:
            value = float(loss(theta))
            if value != value:
                print(f"step {step:6d}  diverged")
                return
            print(f"step {step:6d}  loss {value:.5f}  λ_max {sharpness(theta):9.3f}  {time.perf_counter() - start:5.0f} s", flush=True)
        t = theta.clone().requires_grad_()
        (grad,) = torch.autograd.grad(loss(t), t)
        theta = theta - a.lr * grad


if __name__ == "__main__":
    main()
