"""Update rules as small (init, update) pairs, optax style, shared by the one-arm path (arm.py) and
the vmapped batch (batched.py).

An update rule turns the gradient g_t into the direction d_t of the step θ_{t+1} = θ_t − η_t·d_t;
the learning rate η_t stays outside (the schedule and lr_relative own it, and the stability
threshold is read from it). `init(θ)` gives the rule's state, `update(g, state)` the direction and
the next state. Both work on one flat θ of shape (n,) and on a stack of arms (B, n): a
hyperparameter may then be a (B, 1) tensor, one value per arm. The state is None, a tensor or a
tuple of tensors whose first dimension, for a stack, is the arm, so `select_rows` can drop the rows
of arms that left the batch.

Adaptive rules (Adam, RMSprop) also give their diagonal preconditioner P (`UpdateRule.preconditioner`,
from the state after an update: the P of that step, θ_{t+1} = θ_t − η_t·P⁻¹·m_t), so that the arm can
measure the preconditioned sharpness λ_max(P⁻¹H) on the symmetric operator P^{-1/2} H P^{-1/2}.

Stability thresholds on λ (of H, or of P⁻¹H for the adaptive rules, P frozen), `threshold_factor`:
threshold = factor/η. Gradient descent 2; heavy ball 2(1+β); Nesterov 2(1+β)/(1+2β); Adam
(2+2β1)/(1−β1) (38 at β1 = 0.9); RMSprop 2, with momentum β 2(1+β) (heavy ball in P-coordinates).

Gradient flow (optimizer.kind = "flow") is not an update rule of this kind: it integrates the ODE
over time η_t (Arm._flow).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional, Union

import torch

State = Any  # None, a tensor, or a tuple of tensors
Hyper = Union[float, torch.Tensor]


class UpdateRule(NamedTuple):
    init: Callable[[torch.Tensor], State]
    update: Callable[[torch.Tensor, State], tuple[torch.Tensor, State]]
    # Adaptive rules: the diagonal preconditioner P of the step just computed, from the state
    # `update` returned (the step is θ − η·P⁻¹·(momentum buffer)); None for the others.
    preconditioner: Optional[Callable[[State], torch.Tensor]] = None


def gd() -> UpdateRule:
    """Plain (full-batch or mini-batch) gradient descent: d_t = g_t, no state."""
    return UpdateRule(init=lambda params: None, update=lambda g, state: (g, None))


def heavy_ball(beta: Hyper) -> UpdateRule:
    """Heavy-ball (Polyak) momentum as PyTorch's SGD writes it: d_0 = g_0, d_t = β·d_{t−1} + g_t.

    Its stability threshold on λ_max is 2(1+β)/η (Arm.threshold). `beta`: a float, or a (B, 1)
    tensor for a stack of arms (β = 0 rows then step along their gradient: 0·d + g = g)."""

    def init(params: torch.Tensor) -> State:
        return None  # the first update starts the buffer at g_0

    def update(g: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        d = g if state is None else beta * state + g
        return d, d

    return UpdateRule(init, update)


def nesterov(beta: Hyper) -> UpdateRule:
    """Nesterov momentum as PyTorch's SGD(nesterov=True) writes it: b_0 = g_0, b_t = β·b_{t−1} + g_t,
    d_t = g_t + β·b_t.

    Linear stability along λ (a = ηλ): the iterate follows z² − (1 + β − a(1 + β))z + β(1 − a) = 0,
    which has a root at z = −1 exactly when a = 2(1+β)/(1+2β); the other boundaries (|z| = 1 complex,
    β(1 − a) = ±1) need a ≤ 0 or a > 1 + 1/β, beyond that. So the threshold is 2(1+β)/((1+2β)η):
    lower than heavy ball's 2(1+β)/η, and 2/η at β = 0."""

    def update(g: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        b = g if state is None else beta * state + g
        return g + beta * b, b

    return UpdateRule(lambda params: None, update)


def from_momentum(beta: Hyper, use_nesterov: bool = False) -> UpdateRule:
    """The rule of optimizer.momentum = β (one arm: a float; a stack: a (B, 1) tensor), Nesterov's
    form with optimizer.nesterov."""
    on = bool((beta != 0).any()) if isinstance(beta, torch.Tensor) else bool(beta)
    if not on:
        return gd()
    return nesterov(beta) if use_nesterov else heavy_ball(beta)


def adam(beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8) -> UpdateRule:
    """Adam as torch.optim.Adam computes it (no weight decay, no amsgrad): at step t = 1, 2, ...
        m_t = β1·m_{t−1} + (1−β1)·g_t,   v_t = β2·v_{t−1} + (1−β2)·g_t²,
        θ_{t+1} = θ_t − η·m_t / P_t,   P_t = (1−β1^t)·(sqrt(v_t)/sqrt(1−β2^t) + ε).
    The direction is m_t/P_t. State: (m, v, t), t a 0-d tensor (1 after the first update).

    `preconditioner` gives P_t as Cohen et al. 2022 ("Adaptive gradient methods at the edge of
    stability", §2) define it: the momentum's bias correction 1−β1^t is part of P, so that the step
    is exactly θ − η·P⁻¹·m with m the plain EMA, the form the threshold below is derived for. Leaving
    the factor out would make λ_max(P⁻¹H) 1/(1−β1^t) times smaller early on (10× at the first step
    for β1 = 0.9), and the onset late; after a few hundred steps it is ≈ 1 either way.

    With P frozen, along an eigenvector of P^{-1/2}HP^{-1/2} with eigenvalue λ (a = ηλ):
    z² − (1 + β1 − a(1−β1))z + β1 = 0, heavy ball with a(1−β1) for a, stable iff
    λ < (2 + 2β1)/((1 − β1)η) (Cohen et al. 2022): 38/η at β1 = 0.9."""

    def init(params: torch.Tensor) -> State:
        z = torch.zeros_like(params)
        return (z, z.clone(), torch.zeros((), dtype=params.dtype, device=params.device))

    def precond(state: State) -> torch.Tensor:
        _m, v, t = state
        return (1 - beta1**t) * (v.sqrt() / (1 - beta2**t).sqrt() + eps)

    def update(g: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        m, v, t = state
        t = t + 1
        m = m.lerp(g, 1 - beta1)  # what torch does: m + (1−β1)(g − m)
        v = v * beta2 + (1 - beta2) * g * g
        new = (m, v, t)
        return m / precond(new), new

    return UpdateRule(init, update, precond)


def rmsprop(alpha: float = 0.99, eps: float = 1e-8, momentum: float = 0.0) -> UpdateRule:
    """RMSprop as torch.optim.RMSprop computes it (not centered, no weight decay):
        v_t = α·v_{t−1} + (1−α)·g_t² (v_0 = 0, no bias correction),   P_t = sqrt(v_t) + ε,
        without momentum: d_t = g_t / P_t;   with momentum β: b_t = β·b_{t−1} + g_t/P_t (b_0 = 0), d_t = b_t.
    State: (v, b). With P frozen this is GD (heavy ball) in the coordinates P^{1/2}θ on the operator
    P^{-1/2}HP^{-1/2}: threshold 2/η, or 2(1+β)/η with momentum β.

    `preconditioner` gives P_t = sqrt(v_t) + ε, with no factor of Adam's kind: torch's RMSprop has
    no bias correction at all, and its momentum buffer sums b_t = β·b_{t−1} + P_t⁻¹g_t (no (1−β)
    weight to correct for), so θ_{t+1} = θ_t − η·b_t is already heavy ball on P⁻¹g, and without
    momentum the step is θ − η·P⁻¹g: P is exactly what the step divides by."""

    def init(params: torch.Tensor) -> State:
        return (torch.zeros_like(params), torch.zeros_like(params))

    def precond(state: State) -> torch.Tensor:
        return state[0].sqrt() + eps

    def update(g: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        v, b = state
        v = v * alpha + (1 - alpha) * g * g
        d = g / (v.sqrt() + eps)
        if momentum:
            b = b * momentum + d
            d = b
        return d, (v, b)

    return UpdateRule(init, update, precond)


def threshold_factor(kind: str, momentum: float = 0.0, use_nesterov: bool = False, beta1: float = 0.9) -> float:
    """c in the stability threshold c/η on λ_max (of H, or of P⁻¹H for adam and rmsprop)."""
    if kind == "adam":
        return (2.0 + 2.0 * beta1) / (1.0 - beta1)
    if use_nesterov and momentum:
        return 2.0 * (1.0 + momentum) / (1.0 + 2.0 * momentum)
    return 2.0 * (1.0 + momentum)


def select_rows(state: State, rows: torch.Tensor) -> State:
    """A stacked state restricted to the arms `rows` (those still in the batch)."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(select_rows(s, rows) for s in state)
    return state.index_select(0, rows)
