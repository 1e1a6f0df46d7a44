"""eos_tui.Monitor against the engine's own numbers on the same problem: the engine's arm of a
small MLP scenario, and the same model as an nn.Module trained by torch.optim in a loop by hand.

Tolerances: the two trajectories are the same arithmetic up to rounding (nn.Linear against the
engine's F.linear on slices of θ, torch.optim against engine/optimizers.py), 40 steps in float64:
losses and gradient norms to 1e-9 relative, thresholds exactly as floats computed two ways (1e-12);
eigenvalues solved to a relative residual of 1e-10 on both sides, so equal to 1e-7.
"""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

import eos_tui
from eos_tui.engine.curvature.hessian import dense_hessian

from .helpers import arm_of, of, train

SCENARIO = """
name = "same"
seed = 3
steps = 40
dtype = "float64"
loss = "mse"
[data]
kind = "random-labels"
n = 48
dim = 6
classes = 3
[model]
kind = "mlp"
hidden = [12]
activation = "tanh"
[optimizer]
{optimizer}
[measure]
sharpness_every = 10
eigenvalues = 2
tolerance = 1e-10
max_iter = 200
"""


def mse(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The engine's "mse": the mean over examples of ½‖f(x) − y‖² (Cohen et al. 2021)."""
    return 0.5 * ((out - y) ** 2).sum(dim=-1).mean()


def module_of(problem) -> nn.Sequential:
    """The engine's MLP as torch.nn layers, with the engine's θ0."""
    layers: list[nn.Module] = []
    for i, sl in enumerate(problem.layers):
        out_f, in_f = sl.shape
        lin = nn.Linear(in_f, out_f, bias=sl.bias is not None).double()
        with torch.no_grad():
            lin.weight.copy_(problem.theta0[sl.weight].view(sl.shape))
            if sl.bias is not None:
                lin.bias.copy_(problem.theta0[sl.bias])
        layers.append(lin)
        if i < len(problem.layers) - 1:
            layers.append(nn.Tanh())
    return nn.Sequential(*layers)


def by_hand(problem, make_opt, run_dir, steps: int = 40) -> list[dict]:
    model = module_of(problem)
    opt = make_opt(model.parameters())
    X, Y = problem.X, problem.Y
    with eos_tui.Monitor(model, mse, (X, Y), run_dir=run_dir, every=10, eigenvalues=2, tol=1e-10, max_iter=200) as mon:
        for _ in range(steps):
            opt.zero_grad()
            loss = mse(model(X), Y)
            loss.backward()
            opt.step()
            mon.step(loss=loss.item(), lr=opt.param_groups[0]["lr"], optimizer=opt)
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def close(a, b, rel: float) -> bool:
    return a is None and b is None or abs(a - b) <= rel * max(abs(a), abs(b), 1e-300)


@pytest.mark.parametrize(
    "optimizer, make_opt",
    [
        ('kind = "gd"\nlr = 0.4', lambda p: torch.optim.SGD(p, lr=0.4)),
        ('kind = "gd"\nlr = 0.1\nmomentum = 0.9', lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9)),
        ('kind = "gd"\nlr = 0.1\nmomentum = 0.8\nnesterov = true', lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.8, nesterov=True)),
    ],
    ids=["gd", "heavy-ball", "nesterov"],
)
def test_the_monitor_writes_the_engines_records_for_the_same_sgd_loop(tmp_path, optimizer, make_opt):
    engine = train(arm_of(SCENARIO.format(optimizer=optimizer)))
    arm = arm_of(SCENARIO.format(optimizer=optimizer))
    mine = by_hand(arm.problem, make_opt, tmp_path / "run")

    steps_e, steps_m = of(engine, "step"), of(mine, "step")
    assert [s["step"] for s in steps_m] == [s["step"] for s in steps_e] == list(range(40))
    for e, m in zip(steps_e, steps_m):
        assert close(e["loss"], m["loss"], 1e-9) and close(e["grad_norm"], m["grad_norm"], 1e-9), (e, m)
        assert m["lr"] == e["lr"]
        assert ("threshold" in m) == ("threshold" in e)
        if "threshold" in e:
            assert close(e["threshold"], m["threshold"], 1e-12)
    # ⟨∇L, u⟩ and ⟨θ_{t+1} − θ_t, u⟩ along each side's own top eigenvector: equal up to u's sign
    # (each solver picks its own), and to u's accuracy at a 1e-10 eigen-residual
    for e, m in zip(steps_e[1:], steps_m[1:]):
        assert close(abs(e["proj"]), abs(m["proj"]), 1e-6) and close(abs(e["disp"]), abs(m["disp"]), 1e-6), (e, m)
        assert (e["proj"] * m["proj"] > 0) == (e["disp"] * m["disp"] > 0)
    sharp_e = {r["step"]: r["eigenvalues"] for r in of(engine, "sharpness")}
    sharp_m = {r["step"]: r["eigenvalues"] for r in of(mine, "sharpness")}
    assert sorted(sharp_e) == [0, 10, 20, 30] and sorted(sharp_m) == [0, 10, 20, 30, 40]
    for step, values in sharp_e.items():
        assert len(sharp_m[step]) == 2
        for a, b in zip(values, sharp_m[step]):
            assert close(a, b, 1e-7), (step, values, sharp_m[step])
    end = of(mine, "end")[-1]
    assert end["status"] == "completed" and end["steps_done"] == 40
    # the final loss is L(θ_40), the engine's final_loss
    assert close(end["final_loss"], of(engine, "end")[-1]["final_loss"], 1e-9)


@pytest.mark.parametrize(
    "optimizer, make_opt",
    [
        (
            'kind = "adam"\nlr = 0.01\nbeta1 = 0.9\nbeta2 = 0.99\neps = 1e-8',
            lambda p: torch.optim.Adam(p, lr=0.01, betas=(0.9, 0.99), eps=1e-8),
        ),
        ('kind = "rmsprop"\nlr = 0.003\nalpha = 0.95\neps = 1e-8', lambda p: torch.optim.RMSprop(p, lr=0.003, alpha=0.95, eps=1e-8)),
        (
            'kind = "rmsprop"\nlr = 0.003\nalpha = 0.95\neps = 1e-8\nmomentum = 0.5',
            lambda p: torch.optim.RMSprop(p, lr=0.003, alpha=0.95, eps=1e-8, momentum=0.5),
        ),
    ],
    ids=["adam", "rmsprop", "rmsprop-momentum"],
)
def test_adaptive_optimizers_measure_the_engines_preconditioned_sharpness(tmp_path, optimizer, make_opt):
    """Monitor's record at step c is λ_max(P⁻¹H(θ_c)) with the P of the update just made (θ_{c−1} →
    θ_c), read from torch's optimizer state. The engine's arm, stepped c times, holds the same θ_c and
    its update rule the same P (engine/optimizers.py): the exact eigenvalues of P^{-1/2}HP^{-1/2}
    from the engine's dense Hessian must equal the monitor's, and the thresholds the engine's."""
    text = SCENARIO.format(optimizer=optimizer)
    arm = arm_of(text)
    mine = by_hand(arm_of(text).problem, make_opt, tmp_path / "run", steps=20)
    sharp = {r["step"]: r for r in of(mine, "sharpness")}
    assert sorted(sharp) == [10, 20], "no P before the first update: no record at step 0"
    engine_steps = {r["step"]: r for r in of(train(arm_of(text)), "step")}
    for m in of(mine, "step"):
        assert close(m["threshold"], engine_steps[m["step"]]["threshold"], 1e-12)
        assert close(m["loss"], engine_steps[m["step"]]["loss"], 1e-9)
    arm.begin()
    for c in range(1, 21):
        arm.step()
        if c not in sharp:
            continue
        P = arm.rule.preconditioner(arm.rule_state)
        D = P.rsqrt()
        H = dense_hessian(arm.problem.loss, arm.theta)
        exact = torch.linalg.eigvalsh(D[:, None] * H * D[None, :]).flip(0)[:2].tolist()
        raw = torch.linalg.eigvalsh(H)[-1].item()
        rec = sharp[c]
        assert rec["operator"] == "preconditioned"
        for a, b in zip(exact, rec["eigenvalues"]):
            assert close(a, b, 1e-7), (c, exact, rec["eigenvalues"])
        assert close(raw, rec["raw_eigenvalues"][0], 1e-7)


def test_the_threshold_rules_match_the_engines_factors():
    """Each optimizer's threshold is engine/optimizers.py's threshold_factor over η (and the exact
    extensions stability.py derives: dampening, coupled weight decay, AdamW's decoupled decay)."""
    from eos_tui.engine.optimizers import threshold_factor
    from eos_tui.monitor.params import FlatParams
    from eos_tui.monitor.stability import read_optimizer

    model = nn.Linear(3, 2)
    flat = FlatParams(model)
    lr = 0.05

    def thr(opt):
        return read_optimizer(opt, flat).threshold(lr)

    p = list(model.parameters())
    assert thr(torch.optim.SGD(p, lr=lr)) == pytest.approx(2 / lr, rel=1e-15)
    assert thr(torch.optim.SGD(p, lr=lr, momentum=0.9)) == pytest.approx(threshold_factor("gd", 0.9) / lr, rel=1e-15)
    assert thr(torch.optim.SGD(p, lr=lr, momentum=0.9, nesterov=True)) == pytest.approx(threshold_factor("gd", 0.9, True) / lr, rel=1e-15)
    assert thr(torch.optim.SGD(p, lr=lr, momentum=0.9, dampening=0.5)) == pytest.approx(2 * 1.9 / (0.5 * lr), rel=1e-15)
    assert thr(torch.optim.SGD(p, lr=lr, weight_decay=0.1)) == pytest.approx(2 / lr - 0.1, rel=1e-15)
    assert thr(torch.optim.Adam(p, lr=lr, betas=(0.8, 0.99))) == pytest.approx(threshold_factor("adam", beta1=0.8) / lr, rel=1e-15)
    assert thr(torch.optim.AdamW(p, lr=lr, weight_decay=0.0)) == pytest.approx(38 / lr, rel=1e-15)
    assert thr(torch.optim.AdamW(p, lr=lr, weight_decay=0.1)) == pytest.approx((2 - lr * 0.1) * 19 / lr, rel=1e-15)
    assert thr(torch.optim.RMSprop(p, lr=lr)) == pytest.approx(2 / lr, rel=1e-15)
    assert thr(torch.optim.RMSprop(p, lr=lr, momentum=0.5)) == pytest.approx(3 / lr, rel=1e-15)
    # no claim: another optimizer, groups that differ, a subset of the parameters, maximize
    for opt in (
        torch.optim.Adagrad(p, lr=lr),
        torch.optim.SGD([{"params": [p[0]], "lr": lr}, {"params": [p[1]], "lr": lr / 2}]),
        torch.optim.SGD([p[0]], lr=lr),
        torch.optim.SGD(p, lr=lr, maximize=True),
    ):
        stab = read_optimizer(opt, flat)
        assert stab.kind is None and stab.threshold(lr) is None and stab.reason


def test_adamw_threshold_is_where_the_frozen_linearization_turns_unstable():
    """(2 − ηw)(1+β1)/((1−β1)η): the spectral radius of AdamW's linear step along an eigenvalue λ of
    P⁻¹H crosses 1 there (checked on the 2×2 companion matrix, not on the formula)."""
    eta, w, b1 = 0.1, 0.5, 0.9

    def radius(lam: float) -> float:
        c, a = 1 - eta * w, eta * (1 - b1) * lam
        M = torch.tensor([[c + b1 - a, -b1 * c], [1.0, 0.0]], dtype=torch.float64)
        return torch.linalg.eigvals(M).abs().max().item()

    lam = (2 - eta * w) * (1 + b1) / ((1 - b1) * eta)
    assert radius(lam * (1 - 1e-6)) < 1 < radius(lam * (1 + 1e-6))
    assert math.isclose(radius(lam), 1.0, rel_tol=1e-9)
