"""The flip fraction: how often ⟨∇L, u⟩ changes sign from step to step (pure Python, no torch).

One definition, used by the engine's period-2 detector, the app's eigendirection panel and the run
summary, so the three can never disagree:

* only known signs count: a projection that is missing (None), not finite, or exactly zero
  says nothing about the sign and is skipped, not counted as "no flip";
* each pair of consecutive known signs is one comparison, a flip when the signs differ;
* the flip fraction over a window is the share of flips among the last `window` comparisons.

A period-2 oscillation (the iterate jumping from one wall of the valley to the other at the edge
of stability) flips on every comparison: a fraction ≥ PERIOD2_THRESHOLD over FLIP_WINDOW.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any, Callable, Iterable

FLIP_WINDOW = 20  # comparisons
PERIOD2_THRESHOLD = 0.9

# Flipping is the edge-of-stability oscillation only near the edge. Along u (eigenvalue λ) a GD step
# multiplies the component by r = 1 − ηλ = 1 − 2ρ, ρ = λ/(2/η) the sharpness over its threshold.
# For ρ in (½, 1) r < 0: the sign does flip every step, but the component shrinks by |r| per step,
# a transient that reaches round-off within a few windows (at ρ ≈ ½, r ≈ 0, the flips are
# round-off's own: amplitudes of 1e-17). The oscillation the edge sustains keeps its size over
# the window; asking that it keep at least a tenth, |r|^FLIP_WINDOW ≥ 1/10, gives
# ρ ≥ (1 + 10^(−1/FLIP_WINDOW))/2 ≈ 0.946. Above the edge (ρ ≥ 1, |r| ≥ 1) it grows. With momentum or
# a preconditioner ρ is λ over that arm's own threshold: 1 at the edge there too.
PERIOD2_MIN_RATIO = (1 + 10 ** (-1 / FLIP_WINDOW)) / 2


def near_edge(ratio: float | None) -> bool:
    """Whether sharpness over its threshold (λη/2 for GD) is close enough to 1 for sign flips to be
    the period-2 oscillation of the edge (see PERIOD2_MIN_RATIO); an unknown ratio does not veto."""
    return ratio is None or not math.isfinite(ratio) or ratio >= PERIOD2_MIN_RATIO


def sign_of(value: float | None) -> int:
    """+1 or −1, or 0 where the projection says nothing (None, NaN, ±inf or exactly zero)."""
    if value is None:
        return 0
    try:
        v = float(value)
    except (TypeError, ValueError):
        return 0
    if not math.isfinite(v):
        return 0
    return (v > 0) - (v < 0)


def flips(values: Iterable[float | None]) -> list[int]:
    """1 or 0 for each pair of consecutive known signs: 1 where the sign changed."""
    out: list[int] = []
    last = 0
    for value in values:
        s = sign_of(value)
        if s == 0:
            continue
        if last != 0:
            out.append(1 if s != last else 0)
        last = s
    return out


def flip_fraction(values: Iterable[float | None], window: int | None = FLIP_WINDOW) -> float | None:
    """The share of flips among the last `window` comparisons (all of them with None); None when
    there is no comparison at all."""
    f = flips(values)
    if window is not None:
        f = f[-window:] if window > 0 else []
    return sum(f) / len(f) if f else None


def tail_flip_fraction(values: Iterable[float | None]) -> float | None:
    """The flip fraction over the last half of the comparisons (the run summary's number)."""
    f = flips(values)
    tail = f[len(f) // 2 :]
    return sum(tail) / len(tail) if tail else None


def known(obj: object, state: dict, names: tuple[str, ...]) -> None:
    """ValueError naming the first key of `state` that is none of `obj`'s (a state of another version)."""
    extra = sorted(set(state) - set(names))
    if extra:
        raise ValueError(f"{type(obj).__name__} has no attribute {extra[0]!r} (a checkpoint of another version)")


def restore(obj: object, state: dict, names: tuple[str, ...], convert: dict[str, Callable[[Any], Any]] | None = None) -> None:
    """Load a `state_dict` into obj's attributes `names`, in that order: ValueError for any other key;
    one that is missing is left as it is; `convert[name]` turns a value into the attribute (a deque
    copied, a nested state loaded)."""
    known(obj, state, names)
    convert = convert or {}
    for name in names:
        if name in state:
            value = state[name]
            setattr(obj, name, convert[name](value) if name in convert else value)


def copied(window: deque) -> deque:
    """A deque of its own, with the same bound (a state is never shared with the object it came from)."""
    return deque(window, maxlen=getattr(window, "maxlen", None))


class FlipWindow:
    """The same count, online: feed projections one at a time."""

    def __init__(self, window: int = FLIP_WINDOW):
        self.window = window
        self.flips: deque[int] = deque(maxlen=window)
        self._last = 0

    def update(self, value: float | None) -> None:
        s = sign_of(value)
        if s == 0:
            return
        if self._last != 0:
            self.flips.append(1 if s != self._last else 0)
        self._last = s

    def state_dict(self) -> dict:
        """What the window holds, as plain values (a checkpoint's "signs"; keys: its field names)."""
        return {"window": self.window, "flips": copied(self.flips), "_last": self._last}

    def load_state_dict(self, state: dict) -> None:
        restore(self, state, ("window", "flips", "_last"), {"flips": copied})

    @property
    def full(self) -> bool:
        return len(self.flips) == self.window

    @property
    def fraction(self) -> float | None:
        return sum(self.flips) / len(self.flips) if self.flips else None
