"""Per-arm summaries computed from metrics records: the headless --json output and the manifest."""

from __future__ import annotations

import math
from array import array
from typing import Any, Iterable, Mapping

from ..rundir.format import (
    END,
    EVENT,
    FLOW,
    SELFSTAB,
    SHARPNESS,
    STEP,
    EndRecord,
    EventRecord,
    FlowRecord,
    SelfStabRecord,
    StepRecord,
    step_threshold,
)
from ..rundir.records import parse_record
from .flips import sign_of

STOPPED = ("interrupted", "failed")


def _finite(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and math.isfinite(x) else None


def summarize_arm(name: str, records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The summary of one arm from its records (records of other arms are ignored).

    One definition: the engine feeds the same `ArmSummarizer` record by record as it trains."""
    summarizer = ArmSummarizer(name)
    for r in records:
        summarizer.add(r)
    return summarizer.result()


def summarize(scenario: str, run_dir: str, arms: list[str], records: list[Mapping[str, Any]]) -> dict[str, Any]:
    """The `--json` summary of a run."""
    return {"scenario": scenario, "run_dir": run_dir, "arms": [summarize_arm(a, records) for a in arms]}


class _HalfTail:
    """The second half of a growing sequence of numbers, in about half its length of memory (8 bytes
    an item for floats, typecode "d"; 1 for signs, "b"): `tail()` is what `values[len(values) // 2:]`
    would be had every value been kept."""

    def __init__(self, typecode: str = "d") -> None:
        self._kept: array[Any] = array(typecode)
        self._dropped = 0  # how many values were appended before _kept[0]
        self.count = 0

    def append(self, x: float | int) -> None:
        self._kept.append(x)
        self.count += 1
        dead = self.count // 2 - self._dropped
        if dead > 1024 and dead * 2 > len(self._kept):  # compact when at least half is dead
            del self._kept[:dead]
            self._dropped += dead

    def tail(self) -> list[Any]:
        return self._kept[self.count // 2 - self._dropped :].tolist()


# central_loss_error: GD's loss averaged over this many steps either side (a centred window of
# 2·CENTRAL_WINDOW + 1 steps), against the central flow's predicted loss at the window's centre.
CENTRAL_WINDOW = 4


# Windows where GD's mean loss is below this fraction of its initial loss are left out of
# central_loss_error: a loss at rounding level (1e-30 after a converged run) is no scale to measure a
# prediction against; it made a relative error of 10^11 % for an arm that merely converged.
CENTRAL_LOSS_FLOOR = 1e-12


def central_loss_error(
    gd: dict[int, float], predicted: dict[int, float], total: int, window: int = CENTRAL_WINDOW, floor: float = 0.0
) -> float | None:
    """Mean relative error |pred_t − ⟨L_GD⟩_t| / ⟨L_GD⟩_t over the steps t of the second half of the
    run whose whole window t − w … t + w has GD losses, ⟨L_GD⟩_t GD's loss averaged over it (and
    above `floor`: the summarizer passes CENTRAL_LOSS_FLOOR × the initial loss). None without such a step."""
    errors = []
    for t, pred in predicted.items():
        if t < total / 2:
            continue
        window_losses = [gd.get(s) for s in range(t - window, t + window + 1)]
        if any(v is None for v in window_losses):
            continue
        mean = sum(window_losses) / len(window_losses)  # type: ignore[arg-type]
        if mean > max(floor, 0.0):
            errors.append(abs(pred - mean) / mean)
    return sum(errors) / len(errors) if errors else None


class ArmSummarizer:
    """`summarize_arm` computed as the records come, without keeping them: what the engine uses,
    so that a long run does not hold every record in memory (a Python dict a step). It keeps the
    last half of the sign comparisons (flips.py) and of the displacements (1 and 8 bytes each, as
    the flip fraction and the oscillation amplitude are taken over the last half: ≈5-9 B a step),
    one (step, ratio) pair per sharpness measurement, the events, and O(1) more. `result()` equals
    `summarize_arm(name, records)` for the same records (tests/test_faults.py checks it on a real run)."""

    _RECENT = 8  # step thresholds kept for a sharpness record that comes after its step record

    def __init__(self, name: str) -> None:
        self.name = name
        self.n_steps = 0
        self.last_step: int | None = None
        self.first_loss: float | None = None
        self.max_loss: float | None = None
        self.last_loss: float | None = None
        self.flip_bits = _HalfTail("b")  # 1 where a comparison of consecutive signs flipped
        self.last_sign = 0
        self.disps = _HalfTail()
        self.recent_threshold: dict[Any, float | None] = {}
        self.pending: dict[Any, list[float]] = {}  # step -> λ_max of sharpness records awaiting it
        self.ratio_steps = array("d")
        self.ratios = array("d")
        self.final_sharpness: float | None = None
        self.events: list[EventRecord] = []
        self.end: EndRecord | None = None
        # The flows (measure.central_flow, stable_flow): GD's and the predicted losses from the first
        # flow record on (second halves kept), and each flow's last distance to GD.
        self.flows = False
        self.gd_losses = (_HalfTail(), _HalfTail())  # (steps, losses)
        self.predicted = (_HalfTail(), _HalfTail())
        self.flow_distance: dict[str, float | None] = {}
        self.selfstab = SelfStabSummarizer()

    def add(self, record: Mapping[str, Any]) -> None:
        if record.get("arm") != self.name:
            return
        r = parse_record(record)
        if r is None:
            return
        if r["type"] == STEP:
            self._step(r)
        elif r["type"] == SHARPNESS:
            eig = r.get("eigenvalues") or []
            top = eig[0] if eig else None
            if top is not None and _finite(top) is not None:
                self.final_sharpness = float(top)
                step = r.get("step")
                if step in self.recent_threshold:
                    self._ratio(step, top, self.recent_threshold[step])
                else:
                    self.pending.setdefault(step, []).append(top)
        elif r["type"] == EVENT:
            self.events.append(r)
        elif r["type"] == END:
            self.end = r
        elif r["type"] == FLOW:
            self._flow(r)
        elif r["type"] == SELFSTAB:
            self.selfstab.add(r)

    def _flow(self, r: FlowRecord) -> None:
        self.flows = True
        name = r.get("flow")
        if isinstance(name, str):
            self.flow_distance[name] = _finite(r.get("distance"))
        pred, step = _finite(r.get("predicted_loss")), r.get("step")
        if name == "central" and pred is not None and isinstance(step, int):
            self.predicted[0].append(step)
            self.predicted[1].append(pred)

    def _step(self, s: StepRecord) -> None:
        self.n_steps += 1
        step = self.last_step = s["step"]
        loss = s.get("loss")
        if loss is not None:
            loss = _finite(loss)
        self.last_loss = loss
        if loss is not None:
            if self.first_loss is None:
                self.first_loss = loss
            if self.max_loss is None or loss > self.max_loss:
                self.max_loss = loss
        # flips.py's one definition, online: a comparison for each pair of consecutive known signs
        sign = sign_of(s.get("proj"))
        if sign:
            if self.last_sign:
                self.flip_bits.append(1 if sign != self.last_sign else 0)
            self.last_sign = sign
        if self.flows and loss is not None and isinstance(step, int):
            self.gd_losses[0].append(step)
            self.gd_losses[1].append(loss)
        disp = s.get("disp")
        if disp is not None and _finite(disp) is not None:
            self.disps.append(abs(disp))
        thr = step_threshold(s)
        recent = self.recent_threshold
        recent[step] = thr
        if len(recent) > self._RECENT:
            del recent[next(iter(recent))]
        if self.pending:
            for eig0 in self.pending.pop(step, ()):
                self._ratio(step, eig0, thr)

    def _ratio(self, step: Any, eig0: float, thr: float | None) -> None:
        if thr:
            self.ratio_steps.append(step if step is not None else 0)
            self.ratios.append(eig0 / thr)

    def result(self) -> dict[str, Any]:
        end = self.end
        total = (end.get("steps_done") if end else None) or (self.last_step + 1 if self.last_step is not None else 0)
        ratios = [v for s, v in zip(self.ratio_steps, self.ratios) if s >= total / 2]
        flips = self.flip_bits.tail()  # the last half of the comparisons: flips.tail_flip_fraction
        disp_tail = self.disps.tail()
        flip_fraction = sum(flips) / len(flips) if flips else None
        end_loss = _finite(end.get("final_loss") if end else None)
        events = self.events
        flows = {}
        if self.flows:
            gd = dict(zip(self.gd_losses[0].tail(), self.gd_losses[1].tail()))
            pred = dict(zip(self.predicted[0].tail(), self.predicted[1].tail()))
            flows = {
                "central_loss_error": central_loss_error(
                    {int(k): v for k, v in gd.items()},
                    {int(k): v for k, v in pred.items()},
                    total,
                    floor=CENTRAL_LOSS_FLOOR * abs(_finite(self.first_loss) or 0.0),
                ),
                "central_distance": self.flow_distance.get("central"),
                "stable_distance": self.flow_distance.get("stable"),
            }
        return {
            "name": self.name,
            "status": end.get("status", "running") if end else "running",
            "steps_done": end.get("steps_done", self.n_steps) if end else self.n_steps,
            "initial_loss": self.first_loss,
            # an arm stopped from outside (Ctrl-C, a failure elsewhere) ends with no final loss of
            # its own: its last recorded loss is where it stood (the progress line shows that too)
            "final_loss": end_loss if end and not (end_loss is None and end.get("status") in STOPPED) else self.last_loss,
            "max_loss": max([v for v in (self.max_loss, end_loss) if v is not None], default=None),
            "final_sharpness": self.final_sharpness,
            "eos_onset_step": next((e["step"] for e in events if e.get("kind") == "eos_onset"), None),
            "eos_ratio": sum(ratios) / len(ratios) if ratios else None,
            "flip_fraction": flip_fraction,
            "oscillation": {"flip_fraction": flip_fraction, "amplitude": sum(disp_tail) / len(disp_tail) if disp_tail else None},
            "catapult": next((e.get("data") for e in events if e.get("kind") == "catapult"), None),
            "catapults": sum(1 for e in events if e.get("kind") == "catapult"),
            "events": [{"kind": e.get("kind"), "step": e.get("step"), "message": e.get("message")} for e in events],
            **flows,
            **self.selfstab.result(total),
        }


class SelfStabSummarizer:
    """The self-stabilization summary (measure.self_stabilization, "selfstab" records), online:

    * selfstab_x2_ratio: mean x² over the steps of the run's second half, over the mean 2α/β there
      (Damian et al. predict ≈ 1: the oscillation settles where its cubic term cancels sharpening);
    * selfstab_y_error: over the first cycle (the first crossing's records up to the next crossing's),
      the mean of |y_pred − y| / (|y_pred| + |y|), the 2-D map's error where it was started from the
      measured (x, y): 0 exact, 1 no relation; a step whose prediction overflowed counts 1. Bounded,
      because the map, run freely, can diverge where GD does not (docs/selfstab.md);
    * selfstab_y_corr: the correlation of y_pred with y over the first cycle (its finite steps);
    * constrained_distance: the last ‖θ_t − θ†_t‖, beside init_distance, the last ‖θ_t − θ_0‖.

    The second half's (step, x², 2α/β) are kept in half the records' length of memory; O(1) more."""

    def __init__(self) -> None:
        self.seen = False
        self.tail = (_HalfTail(), _HalfTail(), _HalfTail())  # steps, x², 2α/β
        self.crossings = 0
        self.cycle_steps = 0  # first-cycle records with a measured y
        self.error = 0.0  # Σ |y_pred − y| / (|y_pred| + |y|) over them
        self.moments = [0.0] * 6  # n, Σy, Σŷ, Σy², Σŷ², Σyŷ over the finite pairs
        self.distance: float | None = None
        self.init_distance: float | None = None

    def add(self, r: SelfStabRecord) -> None:
        self.seen = True
        if r.get("crossing"):
            self.crossings += 1
        x, y, a, b = (_finite(r.get(k)) for k in ("x", "y", "alpha", "beta"))
        y_pred, step = _finite(r.get("y_pred")), r.get("step")
        if x is not None and a is not None and b and isinstance(step, int) and math.isfinite(x * x / b):
            self.tail[0].append(step)
            self.tail[1].append(x * x)
            self.tail[2].append(2.0 * a / b)
        if self.crossings == 1 and y is not None:
            self.cycle_steps += 1
            # |ŷ| + |y| overflows only where ŷ is ~1e308: a miss
            scale = abs(y_pred) + abs(y) if y_pred is not None else math.inf
            self.error += abs(y_pred - y) / scale if y_pred is not None and 0 < scale < math.inf else float(y_pred != y)
            if y_pred is not None and math.isfinite(y_pred * y_pred):
                for i, v in enumerate((1.0, y, y_pred, y * y, y_pred * y_pred, y * y_pred)):
                    self.moments[i] += v
        self.distance = _finite(r.get("distance"))
        self.init_distance = _finite(r.get("init_distance"))

    def correlation(self) -> float | None:
        n, sy, sp, syy, spp, syp = self.moments
        if n < 2:
            return None
        var_y, var_p = syy - sy * sy / n, spp - sp * sp / n
        if not (var_y > 0 and var_p > 0 and math.isfinite(var_y * var_p)):
            return None
        return (syp - sy * sp / n) / math.sqrt(var_y * var_p)

    def result(self, total: int) -> dict[str, Any]:
        if not self.seen:
            return {}
        steps, x2, level = (h.tail() for h in self.tail)
        half = [(v, w) for s, v, w in zip(steps, x2, level) if s >= total / 2]
        mean_level = sum(w for _, w in half) / len(half) if half else 0.0
        return {
            "selfstab_x2_ratio": (sum(v for v, _ in half) / len(half)) / mean_level if half and mean_level > 0 else None,
            "selfstab_y_error": self.error / self.cycle_steps if self.cycle_steps else None,
            "selfstab_y_corr": self.correlation(),
            "constrained_distance": self.distance,
            "init_distance": self.init_distance,
        }
