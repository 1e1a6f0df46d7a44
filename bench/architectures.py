"""The built-in architectures' cost per step: one loss + gradient and one Hessian-vector product on a
flat θ (torch.func.functional_call, as engine/modules.py evaluates them), per kind.

    python bench/architectures.py [--n 64] [--repeats 3] [--dtype float32] [--device cpu] [--kinds resnet,vit] [--norms]

Inputs are random: n CIFAR-shaped images (3×32×32, 10 classes) for the image networks, n sort rows
(length 8, vocabulary 4) for the transformer. Each kind at its defaults (the published widths) and
at a small width for a laptop CPU. The table gives the median seconds over repeats, after one
warm-up. `--norms` also times eos_tui's plain-operation BatchNorm and LayerNorm against torch.nn's
(fused, but with wrong third derivatives and torch.func.hessian in torch 2.13: models/layers.py).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from eos_tui.models import factory_of

CIFAR = (3, 32, 32)
CASES: list[tuple[str, dict]] = [
    ("cnn-bn", {}),
    ("resnet", {}),
    ("resnet", {"width": 4}),
    ("resnet", {"depth": 32}),
    ("vgg11", {}),
    ("vgg11", {"width": 8}),
    ("vit", {}),
    ("vit", {"dim": 32, "heads": 4, "layers": 2}),
    ("transformer", {}),
]


def problem(kind: str, args: dict, n: int, dtype: torch.dtype, device: torch.device):
    torch.manual_seed(0)
    if kind == "transformer":
        net = factory_of(kind)(input_shape=(8,), outputs=4, **args).to(device, dtype)
        x = torch.randint(0, 4, (n, 8), device=device)
        y = torch.sort(x, dim=1).values
    else:
        net = factory_of(kind)(input_shape=CIFAR, outputs=10, **args).to(device, dtype)
        x = torch.randn(n, *CIFAR, dtype=dtype, device=device)
        y = torch.randint(0, 10, (n,), device=device)
    names = [name for name, _ in net.named_parameters()]
    shapes = [p.shape for p in net.parameters()]
    sizes = [p.numel() for p in net.parameters()]
    theta = torch.cat([p.detach().reshape(-1) for p in net.parameters()])

    def loss(th: torch.Tensor) -> torch.Tensor:
        params = {k: v.view(s) for k, v, s in zip(names, th.split(sizes), shapes)}
        out = functional_call(net, params, (x,))
        return F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))

    return theta, loss


def timed(fn, repeats: int, device: torch.device = torch.device("cpu")) -> float:
    def synced():
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    synced()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        synced()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def step_costs(theta: torch.Tensor, loss, repeats: int) -> tuple[float, float]:
    device = theta.device
    v = torch.randn_like(theta)

    def gradient():
        th = theta.clone().requires_grad_()
        torch.autograd.grad(loss(th), th)

    def hvp():
        th = theta.clone().requires_grad_()
        (g,) = torch.autograd.grad(loss(th), th, create_graph=True)
        torch.autograd.grad(g @ v, th)

    return timed(gradient, repeats, device), timed(hvp, repeats, device)


def norms(repeats: int, dtype: torch.dtype, device: torch.device) -> None:
    from eos_tui.models.layers import BatchNorm, LayerNorm

    x_bn = torch.randn(256, 32, 16, 16, dtype=dtype, device=device, requires_grad=True)
    x_ln = torch.randn(256, 64, 64, dtype=dtype, device=device, requires_grad=True)
    print("\nnormalization layer, forward + backward (s)   eos_tui      torch.nn")
    for label, ours, theirs, x in (
        ("BatchNorm (256, 32, 16, 16)", BatchNorm(32), nn.BatchNorm2d(32, track_running_stats=False), x_bn),
        ("LayerNorm (256, 64, 64)", LayerNorm(64), nn.LayerNorm(64), x_ln),
    ):
        row = []
        for layer in (ours.to(device, dtype), theirs.to(device, dtype)):
            row.append(timed(lambda layer=layer, x=x: layer(x).square().sum().backward(), repeats, device))
        print(f"{label:<44}{row[0]:>9.4f}{row[1]:>14.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    parser.add_argument("--kinds", default="", help="comma-separated kinds (default: all)")
    parser.add_argument("--norms", action="store_true")
    a = parser.parse_args()
    dtype = getattr(torch, a.dtype)
    device = torch.device(a.device)
    kinds = set(a.kinds.split(",")) if a.kinds else None
    where = f"{torch.get_num_threads()} CPU thread(s)" if device.type == "cpu" else str(device)
    print(f"n = {a.n}, {a.dtype}, {where}, median of {a.repeats}")
    print(f"{'kind':<13}{'args':<36}{'parameters':>12}{'grad (s)':>10}{'HVP (s)':>10}")
    for kind, args in CASES:
        if kinds is not None and kind not in kinds:
            continue
        theta, loss = problem(kind, args, a.n, dtype, device)
        g, h = step_costs(theta, loss, a.repeats)
        shown = ", ".join(f"{k}={v}" for k, v in args.items()) or "defaults"
        print(f"{kind:<13}{shown:<36}{theta.numel():>12,}{g:>10.3f}{h:>10.3f}", flush=True)
    if a.norms:
        norms(a.repeats, dtype, device)


if __name__ == "__main__":
    main()
