"""Which arm the app highlights until the person picks one (tab): the first to reach the edge, where
the oscillation happens, rather than the first arm listed, often a control arm that never gets
there (its ⟨∇L,u⟩ round-off, amplitudes of 1e-17)."""

from __future__ import annotations

from ..rundir.format import DIVERGED
from .model import RunModel

# Events that say an arm is at the edge: λ_max reached it, started above it, or the period-2 flip began.
EDGE_EVENTS = ("eos_onset", "unstable_start", "period2_onset")


def edge_arm(model: RunModel) -> str | None:
    """The arm with the earliest edge event (ties: the arm listed first), passing over arms that
    diverged while another one reached the edge; None while no arm has."""
    first: dict[str, int] = {}
    for e in model.events:
        if e.kind in EDGE_EVENTS and e.arm in model.arms and e.step >= 0:
            first[e.arm] = min(first.get(e.arm, e.step), e.step)
    names = list(model.arms)
    ranked = sorted(first, key=lambda a: (model.arms[a].status == DIVERGED, first[a], names.index(a)))
    return ranked[0] if ranked else None


def default_arm(model: RunModel) -> str | None:
    """The arm to highlight while the person has not chosen one."""
    return edge_arm(model) or next(iter(model.arms), None)
