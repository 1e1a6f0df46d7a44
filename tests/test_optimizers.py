"""Update rules (engine/optimizers.py): one definition for one arm and for a stack of arms."""

from __future__ import annotations

import torch

from eos_tui.engine import optimizers


def run(rule, grads):
    state, out = rule.init(grads[0]), []
    for g in grads:
        d, state = rule.update(g, state)
        out.append(d)
    return out, state


def test_heavy_ball_is_pytorch_sgd_momentum():
    gs = [torch.randn(5, dtype=torch.float64, generator=torch.Generator().manual_seed(i)) for i in range(4)]
    ds, _ = run(optimizers.heavy_ball(0.9), gs)
    buf = gs[0]
    assert torch.equal(ds[0], gs[0])
    for g, d in zip(gs[1:], ds[1:]):
        buf = 0.9 * buf + g
        assert torch.equal(d, buf)


def test_plain_gd_steps_along_the_gradient():
    g = torch.ones(3)
    assert optimizers.from_momentum(0.0).update(g, None) == (g, None)


def test_a_stack_with_per_arm_beta_matches_each_arm_alone_and_drops_rows():
    gen = torch.Generator().manual_seed(0)
    gs = [torch.randn(3, 4, dtype=torch.float64, generator=gen) for _ in range(5)]
    betas = [0.0, 0.5, 0.9]
    stacked, state = run(optimizers.from_momentum(torch.tensor(betas, dtype=torch.float64).unsqueeze(1)), gs)
    for i, b in enumerate(betas):
        alone, _ = run(optimizers.from_momentum(b), [g[i] for g in gs])
        for d, a in zip(stacked, alone):
            assert torch.allclose(d[i], a, rtol=0, atol=1e-15)
    kept = optimizers.select_rows(state, torch.tensor([0, 2]))
    assert kept.shape == (2, 4) and torch.equal(kept[1], state[2])
