"""Synthetic run directories that look like edge-of-stability training, without torch.

Per arm: sharpness λ_max rises (progressive sharpening) to 2/η and then hovers there; the loss falls
non-monotonically (period-2 wiggles once at the edge, a catapult spike on "gd"); the projection of
the gradient on the top eigenvector ⟨∇L,u⟩ flips sign every step at the edge; reparam checks
every 100 steps; events. Everything is a deterministic function of (arm, step), so snapshot tests
are stable, and a file can be grown step by step while the app watches it.
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import Any

ARMS = {"gd": 0.02, "sgd": 0.02}
ONSET = {"gd": 150, "sgd": 10**9}  # sgd stays below the threshold
CATAPULT = {"gd": 330}
SHARPNESS_EVERY = 5
STARTED = "2025-01-01T12:00:00+00:00"


def _noise(t: int, salt: float) -> float:
    """A deterministic pseudo-random number in [-1, 1)."""
    x = math.sin(t * 12.9898 + salt * 78.233) * 43758.5453
    return 2 * (x - math.floor(x)) - 1


def lr_at(arm: str, t: int, warmup: int = 0) -> float:
    eta = ARMS.get(arm, 0.02)
    return eta * min(1.0, (t + 1) / warmup) if warmup else eta


def step_records(arm: str, t: int, *, warmup: int = 0) -> list[dict[str, Any]]:
    """The records the engine would write for step t of `arm`."""
    salt = 1.0 if arm == "gd" else 2.0
    lr = lr_at(arm, t, warmup)
    threshold = 2 / lr
    onset = ONSET.get(arm, 10**9)
    at_edge = t >= onset
    cat = CATAPULT.get(arm)
    if cat is not None and cat <= t < cat + 60:  # after a catapult, sharpness drops and climbs back
        lam = threshold * (0.55 + 0.45 * (t - cat) / 60)
    elif at_edge:
        lam = threshold * (1.0 + 0.03 * _noise(t, salt))
    elif arm == "gd":
        lam = 8 + (threshold - 8) * t / onset
    else:
        lam = 8 + (0.8 * threshold - 8) * min(1.0, t / 400)
    sign = -1 if t % 2 else 1
    loss = 2.0 * math.exp(-t / 120) + 0.02
    if at_edge:
        loss *= 1 + 0.15 * sign
    loss *= 1 + 0.05 * _noise(t, salt + 3)
    if cat is not None and cat <= t < cat + 6:
        loss *= 1 + 20 * math.exp(-(t - cat))
    proj = None
    if t >= 20:
        amp = 0.05 + (0.6 if at_edge else 0.1 * t / max(onset, 1))
        proj = sign * amp * (1 + 0.2 * _noise(t, salt + 5))
    recs: list[dict[str, Any]] = [
        {
            "type": "step",
            "arm": arm,
            "step": t,
            "loss": loss,
            "lr": lr,
            "grad_norm": 1.0 + 0.3 * _noise(t, salt + 7),
            "proj": proj,
        }
    ]
    if t % SHARPNESS_EVERY == 0:
        recs.append(
            {
                "type": "sharpness",
                "arm": arm,
                "step": t,
                "eigenvalues": [lam, 0.6 * lam + 2 * _noise(t, 9), 0.35 * lam + _noise(t, 11)],
                "hvps": 20,
                "residual": 1e-3,
            }
        )
    if t % 100 == 50:
        recs.append(
            {
                "type": "reparam",
                "arm": arm,
                "step": t,
                "alpha": 4.0,
                "max_output_change": 3e-7,
                "loss_change": 1e-8,
                "sharpness_before": lam,
                "sharpness_after": lam * 3.7,
            }
        )
    if t == onset:
        recs.append({"type": "event", "arm": arm, "step": t, "kind": "eos_onset", "message": f"λ_max reached 2/η = {threshold:.1f}"})
    if cat is not None and t == cat:
        recs.append({"type": "event", "arm": arm, "step": t, "kind": "catapult", "message": "loss spiked x20, sharpness dropped"})
    if at_edge and t == onset + 4:
        recs.append({"type": "event", "arm": arm, "step": t, "kind": "period2_onset", "message": "⟨∇L,u⟩ flips sign every step"})
    return recs


def manifest(
    *,
    status: str = "running",
    steps: int = 600,
    arms=tuple(ARMS),
    pid: int | None = None,
    ended: str | None = None,
    scenario: str = "synthetic",
) -> dict[str, Any]:
    return {
        "format": 1,
        "scenario": scenario,
        "seed": 0,
        "device": "cpu",
        "versions": {"eos_tui": "0.1.0"},
        "status": status,
        "started": STARTED,
        "ended": ended,
        "pid": pid,
        "steps": steps,
        "arms": {a: {"status": "running" if status == "running" else status} for a in arms},
    }


def write_manifest(run_dir: Path, data: dict[str, Any]) -> None:
    tmp = run_dir / ".manifest.json.tmp"
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, run_dir / "manifest.json")


def append(run_dir: Path, records: list[dict[str, Any]]) -> None:
    with open(run_dir / "metrics.jsonl", "a", encoding="utf-8") as fh:
        fh.write("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records))


def records_range(arms, start: int, stop: int, *, warmup: int = 0) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for t in range(start, stop):
        for arm in arms:
            out.extend(step_records(arm, t, warmup=warmup))
    return out


def end_records(arms, steps_done: int, status: str = "completed") -> list[dict[str, Any]]:
    return [
        {"type": "end", "arm": a, "status": status, "steps_done": steps_done, "final_loss": step_records(a, steps_done - 1)[0]["loss"]}
        for a in arms
    ]


def make_run(
    run_dir: Path,
    *,
    steps: int = 600,
    done: int | None = None,
    arms=tuple(ARMS),
    status: str = "completed",
    pid: int | None = None,
    warmup: int = 0,
) -> Path:
    """A run directory with `done` steps recorded (all of them by default), ended with `status`."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    done = steps if done is None else done
    (run_dir / "scenario.toml").write_text('name = "synthetic"\n')
    (run_dir / "metrics.jsonl").write_text("")
    append(run_dir, records_range(arms, 0, done, warmup=warmup))
    if status != "running":
        append(run_dir, end_records(arms, done, status))
    write_manifest(
        run_dir,
        manifest(status=status, steps=steps, arms=arms, pid=pid, ended=None if status == "running" else "2025-01-01T12:01:00+00:00"),
    )
    return run_dir


if __name__ == "__main__":  # python tests/app/synthetic.py DIR [STEPS]
    make_run(Path(sys.argv[1]), steps=int(sys.argv[2]) if len(sys.argv) > 2 else 600)
