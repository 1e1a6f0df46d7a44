"""Adam, RMSprop and Nesterov momentum (engine/optimizers.py) against torch.optim, step by step, and
the preconditioned sharpness λ_max(P⁻¹H) the one-arm path measures for the adaptive rules."""

from __future__ import annotations

import pytest
import torch

from eos_tui.engine import optimizers
from eos_tui.engine.curvature.hessian import dense_hessian

from .helpers import arm_of, of

MLP = """
    name = "a"
    steps = {steps}
    dtype = "float64"
    seed = 3
    [data]
    kind = "random-labels"
    n = 24
    dim = 5
    classes = 3
    [model]
    kind = "mlp"
    hidden = [7]
    activation = "tanh"
    [optimizer]
    {optimizer}
    [measure]
    sharpness_every = {every}
    eigenvalues = 2
    tolerance = 1e-10
    max_iter = 200
"""


def mlp_arm(optimizer: str, steps: int = 30, every: int = 0):
    return arm_of(MLP.format(optimizer=optimizer, steps=steps, every=every))


def compare_with_torch(arm, torch_opt, steps: int) -> None:
    """Step the arm and torch.optim side by side from the same θ0 on the same loss: θ_t agree to
    1e-12 relative at every step (float64; the only differences are the order of roundings)."""
    p = torch.nn.Parameter(arm.theta.clone())
    opt = torch_opt([p])
    arm.begin()
    for t in range(steps):
        opt.zero_grad()
        arm.problem.loss(p).backward()
        opt.step()
        arm.step()
        assert arm.status in (None, "completed")
        err = float(torch.linalg.vector_norm(arm.theta - p.detach()) / torch.linalg.vector_norm(p.detach()))
        assert err < 1e-12, f"step {t}: relative difference {err:.3g}"
    # and the run went somewhere: the parameters moved well beyond rounding
    assert float(torch.linalg.vector_norm(arm.theta - arm.problem.theta0)) > 1e-3


@pytest.mark.parametrize(
    "keys, make",
    [
        ("kind = 'adam'\n    lr = 0.01", lambda ps: torch.optim.Adam(ps, lr=0.01)),
        (
            "kind = 'adam'\n    lr = 0.003\n    beta1 = 0.8\n    beta2 = 0.95\n    eps = 1e-6",
            lambda ps: torch.optim.Adam(ps, lr=0.003, betas=(0.8, 0.95), eps=1e-6),
        ),
        ("kind = 'rmsprop'\n    lr = 0.002", lambda ps: torch.optim.RMSprop(ps, lr=0.002)),
        (
            "kind = 'rmsprop'\n    lr = 0.001\n    alpha = 0.9\n    eps = 1e-5\n    momentum = 0.6",
            lambda ps: torch.optim.RMSprop(ps, lr=0.001, alpha=0.9, eps=1e-5, momentum=0.6),
        ),
        (
            "kind = 'gd'\n    lr = 0.2\n    momentum = 0.7\n    nesterov = true",
            lambda ps: torch.optim.SGD(ps, lr=0.2, momentum=0.7, nesterov=True),
        ),
    ],
    ids=["adam-defaults", "adam-custom", "rmsprop-defaults", "rmsprop-momentum", "sgd-nesterov"],
)
def test_update_equals_torch_optim(keys, make):
    compare_with_torch(mlp_arm(keys, steps=25), make, 25)


def test_adam_preconditioner_is_the_one_torch_steps_with():
    """P_t = (1−β1^t)·(sqrt(v_t)/sqrt(1−β2^t) + ε) with v_t including g_t (Cohen et al. 2022's P, the
    momentum's bias correction inside it): the step is −η·m_t/P_t, torch's −η/(1−β1^t)·m_t/(√v̂_t + ε)."""
    g1, g2 = torch.tensor([1.0, -2.0], dtype=torch.float64), torch.tensor([0.5, 3.0], dtype=torch.float64)
    rule = optimizers.adam(0.9, 0.99, 1e-8)
    s = rule.init(g1)
    d1, s = rule.update(g1, s)
    assert torch.allclose(rule.preconditioner(s), 0.1 * (g1.abs() + 1e-8), rtol=1e-14)  # (1−β1)·|g_0|
    assert torch.allclose(d1, g1 / (g1.abs() + 1e-8), rtol=1e-14)  # Adam's first step: η·sign(g)
    d2, s = rule.update(g2, s)
    v = 0.99 * 0.01 * g1**2 + 0.01 * g2**2
    P = (1 - 0.9**2) * (v.sqrt() / (1 - 0.99**2) ** 0.5 + 1e-8)
    m = 0.9 * 0.1 * g1 + 0.1 * g2
    assert torch.allclose(rule.preconditioner(s), P, rtol=1e-14)
    assert torch.allclose(d2, m / P, rtol=1e-14)


def paper_preconditioner(kind: str, state, beta1: float = 0.9, beta2: float = 0.999, alpha: float = 0.99, eps: float = 1e-8):
    """P_t written out by hand from the optimizer's state, as Cohen et al. 2022 define it for Adam,
    (1−β1^t)·diag(sqrt(v_t/(1−β2^t)) + ε), and as torch's RMSprop divides by, diag(sqrt(v_t) + ε)."""
    if kind == "adam":
        _m, v, t = state
        t = float(t)
        return (1 - beta1**t) * ((v / (1 - beta2**t)).sqrt() + eps)
    v, _b = state
    return v.sqrt() + eps


@pytest.mark.parametrize("kind", ["adam", "rmsprop"])
def test_preconditioned_sharpness_follows_the_papers_p(kind):
    """Regression (Adam's P lacked the factor 1−β1^t): the recorded λ_max(P⁻¹H) at step 0 and step 5
    equals λ_max(P^{-1/2} H P^{-1/2}) from a dense Hessian (eigvalsh) with P built by hand from the
    optimizer's state after the step taken from θ_t, to 1e-8 relative (float64, eigensolver tolerance
    1e-10). At step 0 Adam's P_0 is (1−β1)(|g_0| + ε): the record is 10× what P = |g_0| + ε gives."""
    arm = mlp_arm(f"kind = '{kind}'\n    lr = 0.01", steps=6, every=5)
    arm.begin()
    for t in range(6):
        theta = arm.theta.clone()
        g = torch.func.grad(arm.problem.loss)(theta)
        records = arm.step()
        if t not in (0, 5):
            continue
        P = paper_preconditioner(kind, arm.rule_state)
        if kind == "adam" and t == 0:
            assert torch.allclose(P, 0.1 * (g.abs() + 1e-8), rtol=1e-12)
        d = P.rsqrt()
        H = dense_hessian(arm.problem.loss, theta)
        want = float(torch.linalg.eigvalsh(d[:, None] * H * d[None, :])[-1])
        (rec,) = of(records, "sharpness")
        assert rec["step"] == t
        assert rec["eigenvalues"][0] == pytest.approx(want, rel=1e-8), (kind, t)


@pytest.mark.parametrize("kind", ["adam", "rmsprop"])
def test_preconditioned_sharpness_is_lambda_max_of_p_inverse_h(kind):
    """The sharpness record of an Adam/RMSprop arm holds the eigenvalues of P_t⁻¹H(θ_t) (P_t the
    preconditioner of the step taken from θ_t), marked "operator": "preconditioned", with the raw
    λ_max(H) beside them; the step record carries the threshold. Checked against dense eigenvalues."""
    arm = mlp_arm(f"kind = '{kind}'\n    lr = 0.01", steps=6, every=5)
    arm.begin()
    for _ in range(5):
        arm.step()
    theta5 = arm.theta.clone()
    records = arm.step()
    P = arm.rule.preconditioner(arm.rule_state)  # the state after the step from θ_5
    H = dense_hessian(arm.problem.loss, theta5)
    want = torch.linalg.eigvals(torch.linalg.solve(torch.diag(P), H)).real.sort(descending=True).values
    (rec,) = of(records, "sharpness")
    assert rec["operator"] == "preconditioned"
    assert rec["eigenvalues"] == pytest.approx(want[:2].tolist(), rel=1e-8)
    assert rec["raw_eigenvalues"] == pytest.approx([float(torch.linalg.eigvalsh(H)[-1])], rel=1e-8)
    assert rec["raw_eigenvalues"][0] < 0.1 * rec["eigenvalues"][0]  # P ≪ 1: preconditioning amplifies
    (step,) = of(records, "step")
    factor = 38.0 if kind == "adam" else 2.0
    assert step["threshold"] == pytest.approx(factor / 0.01, rel=1e-12)


def test_plain_gd_sharpness_records_are_unchanged():
    """No preconditioner, no new fields: GD's records stay as they were (and carry no threshold)."""
    arm = mlp_arm("lr = 0.1", steps=1, every=1)
    arm.begin()
    records = arm.step()
    (rec,) = of(records, "sharpness")
    assert "operator" not in rec and "raw_eigenvalues" not in rec
    assert "threshold" not in of(records, "step")[0]


@pytest.mark.parametrize(
    "optimizer, needle",
    [
        (
            "kind = 'adam'\n    lr = 0.1\n    momentum = 0.9",
            "optimizer.momentum: does not apply to kind 'adam' (keys of that kind: beta1, beta2, eps)",
        ),
        ("kind = 'adam'\n    lr = 0.1\n    beta1 = 1.0", "optimizer.beta1: must be < 1"),
        ("kind = 'rmsprop'\n    lr = 0.1\n    beta2 = 0.9", "optimizer.beta2: does not apply to kind 'rmsprop'"),
        ("kind = 'gd'\n    lr = 0.1\n    nesterov = true", "optimizer.nesterov: needs optimizer.momentum > 0"),
        ("kind = 'flow'\n    lr = 0.1\n    nesterov = true", "optimizer.nesterov: does not apply to kind 'flow'"),
    ],
)
def test_bad_optimizer_keys_are_named(optimizer, needle):
    from eos_tui.scenario import ScenarioError

    with pytest.raises(ScenarioError) as e:
        mlp_arm(optimizer)
    assert needle in str(e.value) and "\n" not in str(e.value), str(e.value)


def test_batches_keep_nesterov_apart_and_adaptive_arms_alone():
    """batched.plan: Nesterov arms batch with Nesterov arms (one rule, β per arm) and give the numbers
    they give alone; heavy-ball arms form their own batch; Adam and RMSprop arms train alone."""
    from eos_tui.engine.arm import Arm
    from eos_tui.engine.batched import ArmBatch, plan

    from .helpers import CPU, scenario

    text = MLP.format(optimizer="lr = 0.1", steps=20, every=5) + "".join(
        f"\n[[arm]]\nname = '{n}'\n{keys}\n"
        for n, keys in [
            ("nag-a", "optimizer.momentum = 0.5\noptimizer.nesterov = true"),
            ("hb", "optimizer.momentum = 0.5"),
            ("nag-b", "optimizer.lr = 0.05\noptimizer.momentum = 0.8\noptimizer.nesterov = true"),
            ("adam", "optimizer = {kind = 'adam', lr = 0.01}"),
            ("rms", "optimizer = {kind = 'rmsprop', lr = 0.01}"),
        ]
    )
    specs = scenario(text).arms
    groups = plan([Arm(s, CPU) for s in specs])
    assert [[a.name for a in g] for g in groups] == [["nag-a", "nag-b"], ["hb"], ["adam"], ["rms"]]
    batched = [Arm(s, CPU) for s in specs if s.name.startswith("nag")]
    alone = [Arm(s, CPU) for s in specs if s.name.startswith("nag")]
    together = ArmBatch(batched)
    for a in batched + alone:
        a.begin()
    while together.running:
        together.step()
    for a in alone:
        while a.status is None:
            a.step()
    for b, a in zip(batched, alone):
        assert a.status == b.status == "completed"
        assert torch.allclose(b.theta, a.theta, rtol=1e-10, atol=1e-12), a.name
        assert float(torch.linalg.vector_norm(a.theta - a.problem.theta0)) > 1e-2
