"""Update rules as small (init, update) pairs, optax style, shared by the one-arm path (arm.py) and
the vmapped batch (batched.py).

An update rule turns the gradient g_t into the direction d_t of the step θ_{t+1} = θ_t − η_t·d_t;
the learning rate η_t stays outside (the schedule and lr_relative own it, and the stability
threshold is read from it). `init(θ)` gives the rule's state, `update(g, state)` the direction and
the next state. Both work on one flat θ of shape (n,) and on a stack of arms (B, n): a
hyperparameter may then be a (B, 1) tensor, one value per arm. The state is None, a tensor or a
tuple of tensors whose first dimension, for a stack, is the arm, so `select_rows` can drop the rows
of arms that left the batch. Adam or Nesterov are one more pair each.

Gradient flow (optimizer.kind = "flow") is not an update rule of this kind: it integrates the ODE
over time η_t (Arm._flow).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Union

import torch

State = Any  # None, a tensor, or a tuple of tensors
Hyper = Union[float, torch.Tensor]


class UpdateRule(NamedTuple):
    init: Callable[[torch.Tensor], State]
    update: Callable[[torch.Tensor, State], tuple[torch.Tensor, State]]


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


def from_momentum(beta: Hyper) -> UpdateRule:
    """The rule of optimizer.momentum = β (one arm: a float; a stack: a (B, 1) tensor)."""
    if isinstance(beta, torch.Tensor):
        return heavy_ball(beta) if bool((beta != 0).any()) else gd()
    return heavy_ball(beta) if beta else gd()


def select_rows(state: State, rows: torch.Tensor) -> State:
    """A stacked state restricted to the arms `rows` (those still in the batch)."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(select_rows(s, rows) for s in state)
    return state.index_select(0, rows)
