"""Per-arm summaries computed from metrics records: the headless --json output and the manifest."""

from __future__ import annotations

import math
from typing import Any, Iterable

from ..rundir.format import step_threshold
from .flips import tail_flip_fraction


def _finite(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and math.isfinite(x) else None


def summarize_arm(name: str, records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The summary of one arm from its records (records of other arms are ignored)."""
    steps: list[dict] = []
    sharp: list[dict] = []
    events: list[dict] = []
    end: dict | None = None
    for r in records:
        if r.get("arm") != name:
            continue
        kind = r.get("type")
        if kind == "step":
            steps.append(r)
        elif kind == "sharpness":
            sharp.append(r)
        elif kind == "event":
            events.append(r)
        elif kind == "end":
            end = r
    losses = [_finite(s.get("loss")) for s in steps]
    finite_losses = [x for x in losses if x is not None]
    threshold_at = {s["step"]: step_threshold(s) for s in steps}  # 2/η, or 2(1+β)/η with momentum

    onset = next((e["step"] for e in events if e.get("kind") == "eos_onset"), None)
    catapult = next((e.get("data") for e in events if e.get("kind") == "catapult"), None)

    # eos_ratio: mean of λ_max / threshold (λ_max·η_t/2 without momentum) over the second half of
    # the run (≈ 1 at the edge of stability).
    total = (end or {}).get("steps_done") or (steps[-1]["step"] + 1 if steps else 0)
    ratios = []
    for r in sharp:
        eig = r.get("eigenvalues") or []
        thr = threshold_at.get(r.get("step"))
        if r.get("step", 0) >= total / 2 and eig and _finite(eig[0]) is not None and thr:
            ratios.append(eig[0] / thr)
    # flip_fraction: over the last half of the sign comparisons (flips.py: the one definition).
    flip_fraction = tail_flip_fraction(s.get("proj") for s in steps)

    disps = [abs(s["disp"]) for s in steps if _finite(s.get("disp")) is not None]
    disp_tail = disps[len(disps) // 2:]

    final_sharpness = None
    for r in reversed(sharp):
        eig = r.get("eigenvalues") or []
        if eig and _finite(eig[0]) is not None:
            final_sharpness = float(eig[0])
            break
    return {
        "name": name,
        "status": (end or {}).get("status", "running"),
        "steps_done": (end or {}).get("steps_done", len(steps)),
        "initial_loss": finite_losses[0] if finite_losses else None,
        "final_loss": _finite((end or {}).get("final_loss")) if end else (losses[-1] if losses else None),
        # The end record's final loss (after the last step) counts too: it can be the largest.
        "max_loss": max(finite_losses + [v for v in [_finite((end or {}).get("final_loss"))] if v is not None],
                        default=None),
        "final_sharpness": final_sharpness,
        "eos_onset_step": onset,
        "eos_ratio": sum(ratios) / len(ratios) if ratios else None,
        "flip_fraction": flip_fraction,
        # the oscillation along u over the last half: how often ⟨∇L, u⟩ flips sign, and the mean
        # step length |⟨θ_{t+1} − θ_t, u⟩| along u
        "oscillation": {"flip_fraction": flip_fraction,
                        "amplitude": sum(disp_tail) / len(disp_tail) if disp_tail else None},
        "catapult": catapult,  # the first one; "catapults" counts them all
        "catapults": sum(1 for e in events if e.get("kind") == "catapult"),
        "events": [{"kind": e.get("kind"), "step": e.get("step"), "message": e.get("message")} for e in events],
    }


def summarize(scenario: str, run_dir: str, arms: list[str], records: list[dict[str, Any]]) -> dict[str, Any]:
    """The `--json` summary of a run."""
    return {"scenario": scenario, "run_dir": run_dir, "arms": [summarize_arm(a, records) for a in arms]}
