"""Online detectors of the phenomena, fed one step (or one measurement) at a time by the engine.

Torch-free: each takes plain floats, so they can be tested, and reused by readers, without a model."""

from __future__ import annotations

import math
from collections import deque

# A period-2 oscillation flips the sign of ⟨∇L, u⟩ on (nearly) every step; flips.py counts them.
from .flips import FLIP_WINDOW, PERIOD2_THRESHOLD, FlipWindow, copied, near_edge, restore

# Lewkowycz et al.'s catapult: the loss first grows (here: above twice its start), then falls below
# where it started, ending in a flatter region: λ_max below 2/η and below its value before the spike.
CATAPULT_RISE = 2.0


def threshold_name(factor: float | None) -> str:
    """An arm's stability threshold c/η named by its factor c, as its events say it: "2/η" for GD,
    "3.8/η" for heavy ball at β = 0.9 (2(1+β)/η), "38/η" for Adam at β1 = 0.9 ((2+2β1)/((1−β1)η)).
    A "2/η" on an Adam arm, whose λ_max(P⁻¹H) sits at 38/η, read as a threshold 19 times too low.
    "its threshold" where the factor is unknown (no usable η)."""
    if factor is None or not math.isfinite(factor) or factor <= 0:
        return "its threshold"
    return f"{factor:.3g}/η"


class Oscillation:
    """Sign flips of the projection ⟨∇L(θ_t), u⟩ over a sliding window."""

    def __init__(self, window: int = FLIP_WINDOW):
        self.window = window
        self.signs = FlipWindow(window)
        self.amplitudes: deque[float] = deque(maxlen=window)
        self.onset_step: int | None = None

    def update(self, step: int, proj: float | None, disp: float | None = None, ratio: float | None = None) -> bool:
        """Feed one step; True exactly once, on the first step where the flip fraction passes the
        threshold with λ_max near the edge: `ratio`, λ_max over its threshold (λη/2 for GD), at least
        flips.PERIOD2_MIN_RATIO. Below it a flip decays away (or is round-off's): no onset."""
        if proj is None or not math.isfinite(proj):
            return False
        self.signs.update(proj)
        if disp is not None and math.isfinite(disp):
            self.amplitudes.append(abs(disp))
        if self.onset_step is None and self.signs.full and self.flip_fraction >= PERIOD2_THRESHOLD and near_edge(ratio):
            self.onset_step = step
            return True
        return False

    def state_dict(self) -> dict:
        """Plain values (keys: the field names, which a checkpoint's "detectors" keeps)."""
        signs, amplitudes = self.signs.state_dict(), copied(self.amplitudes)
        return {"window": self.window, "signs": signs, "amplitudes": amplitudes, "onset_step": self.onset_step}

    def load_state_dict(self, state: dict) -> None:
        """ValueError for a key that is not one of `state_dict`'s; one that is missing is left as it is."""
        restore(self, state, ("signs", "window", "amplitudes", "onset_step"), {"signs": self.signs_from, "amplitudes": copied})

    def signs_from(self, state: dict) -> FlipWindow:
        signs = FlipWindow(self.signs.window)
        signs.load_state_dict(state)
        return signs

    @property
    def flip_fraction(self) -> float:
        return self.signs.fraction or 0.0

    @property
    def amplitude(self) -> float:
        return sum(self.amplitudes) / len(self.amplitudes) if self.amplitudes else 0.0


class PlainState:
    """A detector whose whole state is its FIELDS, each a plain value."""

    FIELDS: tuple[str, ...] = ()

    def state_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.FIELDS}

    def load_state_dict(self, state: dict) -> None:
        restore(self, state, self.FIELDS)


class Catapult(PlainState):
    """Loss above CATAPULT_RISE × its start, then back below its start with λ_max lower than before.

    "Before" is the last λ_max measured while the loss had not yet risen, not the one at step 0: after
    progressive sharpening a spike starts from a λ_max well above the initial one, and comparing
    with step 0 would report sharpness *rising* through a catapult.
    """

    def __init__(self):
        self.initial_loss: float | None = None
        self.peak_loss = -math.inf
        self.peak_step: int | None = None
        self.sharpness_before: float | None = None
        self.risen = False
        self.done = False

    FIELDS = ("initial_loss", "peak_loss", "peak_step", "sharpness_before", "risen", "done")

    def update(self, step: int, loss: float, sharpness: float | None, threshold: float | None) -> dict | None:
        """Feed one step; returns a catapult's numbers on the step it completes (each one, once).
        threshold None (η = 0, no stability threshold): the loss is followed, but no catapult can
        complete on that step."""
        if self.done or not math.isfinite(loss):
            return None
        if self.initial_loss is None:
            self.initial_loss = loss
            if loss <= 0:
                # "Twice its start" means nothing for a loss that starts at or below zero (a
                # quadratic with a negative eigenvalue): no catapult can be told from descent.
                self.done = True
                return None
        if loss > self.peak_loss:
            self.peak_loss, self.peak_step = loss, step
        if not self.risen and loss > CATAPULT_RISE * self.initial_loss:
            self.risen = True
        if not self.risen:
            if sharpness is not None:
                self.sharpness_before = sharpness
            return None
        if (
            loss < self.initial_loss
            and sharpness is not None
            and threshold is not None
            and sharpness < threshold
            and (self.sharpness_before is None or sharpness < self.sharpness_before)
        ):
            found = {
                "peak_loss_ratio": self.peak_loss / self.initial_loss if self.initial_loss > 0 else math.inf,
                "peak_step": self.peak_step,
                "sharpness_before": self.sharpness_before,
                "sharpness_after": sharpness,
            }
            # Watch for the next one: during warmup, each time the falling 2/η_t line crosses
            # λ_max the loss spikes again and sharpness drops again (Kalra & Barkeshli 2023).
            self.risen, self.peak_loss, self.peak_step = False, -math.inf, None
            self.sharpness_before = sharpness
            return found
        return None


class EosOnset(PlainState):
    """The edge-of-stability onset: λ_max reaching the stability threshold *from below*.

    Fed after each sharpness measurement. A first measurement already at or above the threshold
    (a catapult or divergence by design, or an overly large η) is an "unstable_start", not an
    onset: nothing sharpened there. The onset then comes later, if λ_max falls below the
    threshold and climbs back to it. Reported once.
    """

    def __init__(self) -> None:
        self.measured_once = False
        self.below_seen = False  # λ_max measured below the threshold at least once
        self.done = False

    FIELDS = ("measured_once", "below_seen", "done")

    def update(self, sharpness: float | None, threshold: float | None) -> str | None:
        """ "unstable_start", "eos_onset" or None. threshold None (η = 0: every λ_max is stable):
        nothing to compare with, and the measurement does not count as the first one."""
        if threshold is None or sharpness is None:
            return None
        first, self.measured_once = not self.measured_once, True
        if sharpness < threshold:
            self.below_seen = True
            return None
        if first:
            return "unstable_start"
        if self.below_seen and not self.done:
            self.done = True
            return "eos_onset"
        return None
