"""Learning-rate schedules as small pure functions of the step (optax style), torch-free.

A schedule maps the step t (0-based) to a multiplier of the base step size η; the arm's step size
is η_t = η · schedule(t), and the stability threshold it is compared with is 2/η_t. Because the
threshold moves with the schedule, warmup lets sharpness fall before η is large (Gilmer et al. 2022)
and decay lets sharpness rise above the old 2/η (progressive sharpening resumes).
"""

from __future__ import annotations

import math
from typing import Callable

Schedule = Callable[[int], float]


def constant() -> Schedule:
    return lambda t: 1.0


def warmup(warmup_steps: int) -> Schedule:
    """η_t = η·min(1, (t+1)/warmup_steps): linear from η/warmup_steps to η."""
    w = max(1, int(warmup_steps))
    return lambda t: min(1.0, (t + 1) / w)


def step_decay(milestones: list[int], factors: list[float]) -> Schedule:
    """η_t = η·factors[i] for the last milestone i with milestones[i] ≤ t (η before the first)."""
    pairs = sorted(zip(milestones, factors))

    def f(t: int) -> float:
        out = 1.0
        for m, factor in pairs:
            if t >= m:
                out = factor
        return out

    return f


def cosine(total_steps: int, warmup_steps: int = 0, final_factor: float = 0.0) -> Schedule:
    """Linear warmup, then a half cosine from 1 down to final_factor at the last step."""
    w = max(0, int(warmup_steps))
    span = max(1, total_steps - w - 1)

    def f(t: int) -> float:
        if w and t < w:
            return (t + 1) / w
        progress = min(1.0, (t - w) / span)
        return final_factor + (1 - final_factor) * 0.5 * (1 + math.cos(math.pi * progress))

    return f


def from_spec(spec, total_steps: int) -> Schedule:
    """The schedule of a scenario's [schedule] section."""
    kind = spec.kind
    if kind == "constant":
        return constant()
    if kind == "warmup":
        return warmup(spec.warmup_steps)
    if kind == "step":
        return step_decay(list(spec.milestones), list(spec.factors))
    if kind == "cosine":
        return cosine(total_steps, spec.warmup_steps or 0, spec.final_factor)
    raise ValueError(f"unknown schedule kind {kind!r}")


def changes(spec) -> dict[int, str]:
    """Steps at which the schedule changes regime, with a message: these become "lr_change" events.

    Only discrete changes count (a milestone, the end of warmup): a cosine or warmup ramp changes η
    a little every step and would drown the event list.
    """
    out: dict[int, str] = {}
    if spec.kind == "step":
        for m, factor in sorted(zip(spec.milestones, spec.factors)):
            out[int(m)] = f"learning rate × {factor:g} (step schedule)"
    if spec.kind in ("warmup", "cosine") and (spec.warmup_steps or 0) > 0:
        w = int(spec.warmup_steps)
        out[w - 1] = "warmup ends: full learning rate"
    return out
