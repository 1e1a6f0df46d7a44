"""Damian, Nichani & Lee 2022's two-dimensional model of self-stabilization, without torch: the
predicted map and the four stages, shared by the engine (engine/selfstab.py, which writes them into
the "selfstab" records) and by readers that draw them.

With x the displacement of GD from the constrained trajectory θ† along the top eigenvector u, y its
displacement along the sharpness gradient ∇S, α = −⟨∇L, ∇S⟩ the progressive-sharpening rate and
β = ‖∇S‖², the paper's map is

    x_{t+1} = −(1 + η y_t) x_t,      y_{t+1} = y_t + η(α_t − β_t x_t²/2).

y > 0 makes |x| grow (the step overshoots along u), y < 0 shrinks it; x² above 2α/β makes y fall (the
oscillation's third-order term lowers the sharpness), below it y rises. The four stages are the four
quadrants of that plane.
"""

from __future__ import annotations

import math

# The stages, in the order a cycle visits them (the record's "stage" values: rundir/format.py).
SHARPENING = "sharpening"  # y ≤ 0, x² < 2α/β: |x| shrinks or stays small, y rises
BLOW_UP = "blow-up"  # y > 0, x² < 2α/β: past 2/η, |x| grows, y still rises
STABILIZING = "stabilizing"  # y > 0, x² ≥ 2α/β: |x| large, y falls
RETURNING = "returning"  # y ≤ 0, x² ≥ 2α/β: back below 2/η, |x| shrinks while y still falls
STAGES = (SHARPENING, BLOW_UP, STABILIZING, RETURNING)

# The prediction assumes an isolated top eigenvalue: below this relative gap (λ1 − λ2)/λ1, u and ∇S
# mix with the second eigendirection from step to step, and the map is not to be trusted.
EIGENGAP_TRUST = 0.01


def predicted_step(x: float, y: float, lr: float, alpha: float, beta: float) -> tuple[float, float]:
    """One step of the paper's map from (x_t, y_t) with α_t, β_t at step size η_t."""
    return -(1.0 + lr * y) * x, y + lr * (alpha - beta * x * x / 2.0)


def stage_of(x: float | None, y: float | None, alpha: float | None, beta: float | None) -> str | None:
    """The paper's stage at a measured (x, y), by the signs of y (|x| growing or shrinking) and of
    α − βx²/2 (y rising or falling). None when a value is missing or not finite."""
    values = (x, y, alpha, beta)
    if any(v is None or not math.isfinite(v) for v in values):
        return None
    assert x is not None and y is not None and alpha is not None and beta is not None
    falling = beta * x * x / 2.0 >= alpha
    if y > 0:
        return STABILIZING if falling else BLOW_UP
    return RETURNING if falling else SHARPENING
