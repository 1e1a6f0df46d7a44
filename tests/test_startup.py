"""Start-up (issue 19 §2): nothing on the way to the first step record imports sympy.

torch.autograd.grad given an output gradient checks its shape through
torch.fx.experimental.symbolic_shapes, whose first import loads sympy (seconds: BENCHMARKS.md,
"Start-up"); the HVPs go through curvature.hessian.vjp instead, which must give the same bits."""

from __future__ import annotations

import subprocess
import sys

import torch

from eos_tui.engine.curvature.hessian import vjp

PROBE = """
import sys, tempfile
from eos_tui.scenario import load_scenario_text
from eos_tui.engine.runner import run_scenario
text = '''
name = "s"
steps = 2
[data]
kind = "random-labels"
n = 32
dim = 5
classes = 3
[model]
kind = "mlp"
hidden = [8]
[optimizer]
kind = "gd"
lr = 0.1
[measure]
sharpness_every = 1
eigenvalues = 2
'''
status, _ = run_scenario(load_scenario_text(text, source="<probe>"), tempfile.mkdtemp())
assert status == "completed", status
print(sorted(m for m in ("sympy", "torch._dynamo", "torch.fx.experimental.symbolic_shapes") if m in sys.modules))
"""


def test_a_measured_single_arm_run_imports_neither_sympy_nor_dynamo():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


def _mlp_graph(dtype):
    g = torch.Generator().manual_seed(0)
    X, Y = torch.randn(40, 6, generator=g, dtype=dtype), torch.randn(40, 2, generator=g, dtype=dtype)
    theta = torch.randn(6 * 16 + 16 * 2, generator=g, dtype=dtype).requires_grad_()

    def loss(t):
        W1, W2 = t[: 6 * 16].view(6, 16), t[6 * 16 :].view(16, 2)
        return 0.5 * ((torch.tanh(X @ W1) @ W2 - Y) ** 2).mean()

    (grad,) = torch.autograd.grad(loss(theta), theta, create_graph=True)
    return theta, grad, torch.randn(theta.shape, generator=g, dtype=dtype)


def test_vjp_is_autograd_grad_bit_for_bit():
    for dtype in (torch.float32, torch.float64):
        theta, grad, v = _mlp_graph(dtype)
        (a,) = torch.autograd.grad(grad, theta, v, retain_graph=True)
        (b,) = vjp(grad, theta, v, retain_graph=True)
        assert torch.equal(a, b)
        # with its own graph (the central flow's third derivatives): the same again one order up
        (ha,) = torch.autograd.grad(grad, theta, v, create_graph=True)
        (hb,) = vjp(grad, theta, v, create_graph=True)
        assert torch.equal(ha, hb)
        (da,) = torch.autograd.grad(v @ ha, theta, retain_graph=True)
        (db,) = torch.autograd.grad(v @ hb, theta, retain_graph=True)
        assert torch.equal(da, db)
