"""What the app knows about a run: per-arm growable series, reparam checks, events, statuses.

Records from metrics.jsonl arrive in batches. `Batch.from_records` groups them per arm into
columns (pure Python, done on the follower's thread); `RunModel.apply` appends the columns to
numpy arrays (cheap, done on the UI thread). `version` grows with each change, so the screen
redraws only when there is something new.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, overload

import numpy as np

from ..rundir.format import ARM_STATUSES, DIVERGED, END, EVENT, FLOW, REPARAM, RUNNING, SELFSTAB, SHARPNESS, STEP, EndRecord, step_threshold
from ..rundir.reader import safe_text
from ..rundir.records import parse_record
from .ending import FINALIZED_BY_APP
from .rate import RateMeter

STEP_FIELDS = ("step", "loss", "lr", "grad_norm", "proj", "disp")
# Theory overlays the engine writes into step records where it has a closed form: the quadratic's
# exact loss, and the uv model's exact one-step map (f, λ) ↦ (f_next, λ_next).
THEORY_FIELDS = ("loss_theory", "f_next_theory", "ntk_next_theory")
# Per-step fields only some arms write; each gets a column aligned with `step` once it appears.
# sharpness_tracked: λ_max tracked at every step (measure.track_every_step), a lower bound.
# test_loss: the loss on a held-out split, every measure.test_every steps (NaN between).
OPTIONAL_STEP_FIELDS = ("loss_theory", "sharpness_tracked", "test_loss")


def printable(value: Any) -> str:
    """`value` as one line of text safe to put on the screen. Readers already write every control
    character from a run directory as a visible \\xNN (rundir.reader.safe_text, the one
    definition); this applies it again to what reaches the app by other paths, and turns the
    newlines and tabs a reader keeps into spaces (a header line has no room for them)."""
    text = safe_text(str(value))
    if "\n" in text or "\t" in text:
        text = text.replace("\n", " ").replace("\t", " ")
    return text


def _num(value: Any) -> float:
    """A record's number, or NaN for null (JSON has no NaN: a diverged loss is written as null)."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        return math.nan
    return out


class Column:
    """A float64 series that grows by doubling; `values` is a view of what it holds."""

    def __init__(self) -> None:
        self._data = np.empty(256)
        self.n = 0

    def extend(self, values: Iterable[float] | np.ndarray) -> None:
        arr = np.asarray(values, dtype=np.float64)
        end = self.n + len(arr)
        if end > len(self._data):
            grown = np.empty(max(end, 2 * len(self._data)))
            grown[: self.n] = self._data[: self.n]
            self._data = grown
        self._data[self.n : end] = arr
        self.n = end

    @property
    def values(self) -> np.ndarray:
        return self._data[: self.n]

    def last(self) -> float | None:
        return float(self._data[self.n - 1]) if self.n else None

    def __len__(self) -> int:
        return self.n


class Filled:
    """An arm's flag, whether one of its columns holds a value yet (`has_test_loss`: any held-out loss)."""

    def __init__(self, column: str):
        self.column = column

    @overload
    def __get__(self, arm: None, owner: type) -> Filled: ...
    @overload
    def __get__(self, arm: object, owner: type | None = None) -> bool: ...
    def __get__(self, arm: object | None, owner: type | None = None) -> bool | Filled:
        return self if arm is None else len(getattr(arm, self.column)) > 0


@dataclass(frozen=True)
class Event:
    arm: str
    step: int
    kind: str
    message: str


@dataclass(frozen=True)
class Reparam:
    """One reparameterization check: rescale a layer pair by α (the function is unchanged) and see
    that the loss barely moves while λ_max changes: sharpness is not a property of the function."""

    step: int
    alpha: float
    max_output_change: float
    loss_change: float
    sharpness_before: float
    sharpness_after: float
    adaptive_before: float | None = None
    adaptive_after: float | None = None
    sharpness_predicted: float | None = None  # λ_max(D⁻¹HD⁻¹), what the map should give
    layer: int | None = None  # the layer pair (l, l+1) rescaled
    neurons: str = "all"  # "all", or which units of layer l ("every other")


# The columns of the "selfstab" records (measure.self_stabilization), in the record's field names.
SELFSTAB_FIELDS = ("step", "x", "y", "sharpness_gap", "alpha", "beta", "x_pred", "y_pred", "distance", "eigengap")
SELFSTAB_STAGES = ("sharpening", "blow-up", "stabilizing", "returning")  # the paper's four, in cycle order


class SelfStabSeries:
    """Damian et al.'s displacement (x, y) from the constrained trajectory, step by step from the first
    crossing of 2/η, with the 2-D map's prediction beside it (rundir/format.py SelfStabRecord).
    `eigengap` is (λ1 − λ2)/λ1 (NaN where not written); `crossing` 1 where the map was restarted."""

    def __init__(self) -> None:
        self.step, self.x, self.y, self.sharpness_gap, self.alpha, self.beta = (Column() for _ in range(6))
        self.x_pred, self.y_pred, self.distance, self.eigengap = (Column() for _ in range(4))
        self.crossing = Column()
        self.stages: list[str] = []  # the stage the engine named at each step ("" where none)

    def __len__(self) -> int:
        return len(self.step)

    def extend(self, rows: list[tuple[list[float], float, str]]) -> None:
        columns = list(zip(*(values for values, _, _ in rows)))
        for name, values in zip(SELFSTAB_FIELDS, columns):
            getattr(self, name).extend(values)
        self.crossing.extend([crossing for _, crossing, _ in rows])
        self.stages.extend(stage for _, _, stage in rows)


class ArmSeries:
    """Everything recorded for one arm (e.g. "gd" or "sgd")."""

    def __init__(self, name: str):
        self.name = name
        self.step, self.loss, self.lr, self.grad_norm, self.proj, self.disp = (Column() for _ in STEP_FIELDS)
        # Theory overlays, only for arms that have them (filled as the records come).
        self.loss_theory = Column()  # the quadratic's exact loss, at the same steps as `step`
        self.sharpness_tracked = Column()  # λ_max tracked every step, at the same steps as `step`
        self.test_loss = Column()  # held-out loss, aligned with `step`, NaN where not measured
        self.uv_step = Column()  # step t+1 ...
        self.uv_loss_theory = Column()  # ... ½ f_next² predicted from step t by the exact map
        self.uv_sharpness_theory = Column()  # ... and the predicted λ (the NTK) at t+1
        self.threshold = Column()  # 2/η_t, from the lr of each step: it moves with the schedule
        self.sharpness_step = Column()
        self.eigenvalues: list[Column] = []  # eigenvalues[j]: the (j+1)-th largest, aligned with sharpness_step
        # Adam, RMSprop ("operator": "preconditioned"): eigenvalues are λ(P⁻¹H); raw_sharpness, aligned
        # with sharpness_step, is λ_max(H) beside them (NaN where absent).
        self.preconditioned = False
        self.raw_sharpness = Column()
        self.reparams: list[Reparam] = []
        self.events: list[Event] = []
        # The flows beside a GD arm ("flow" records: measure.central_flow, stable_flow), each aligned
        # with its own steps: the central flow's loss, predicted loss (GD's time average), λ_max and
        # distance to GD; the stable flow's loss and distance.
        self.central_step, self.central_loss, self.central_predicted = Column(), Column(), Column()
        self.central_sharpness, self.central_distance = Column(), Column()
        self.stable_step, self.stable_loss, self.stable_distance = Column(), Column(), Column()
        self.selfstab = SelfStabSeries()  # measure.self_stabilization: the (x, y) phase portrait
        self.status = RUNNING
        self.steps_done: int | None = None
        self.final_loss: float | None = None

    has_loss_theory = Filled("loss_theory")
    has_tracked_sharpness = Filled("sharpness_tracked")
    has_test_loss = Filled("test_loss")
    has_central_flow = Filled("central_step")
    has_stable_flow = Filled("stable_step")
    has_uv_theory = Filled("uv_step")

    @property
    def has_selfstab(self) -> bool:
        return len(self.selfstab) > 0

    def test_loss_points(self) -> tuple[np.ndarray, np.ndarray]:
        """(steps, held-out losses) where one was measured (every measure.test_every steps)."""
        values = self.test_loss.values
        keep = np.isfinite(values)
        return self.step.values[: len(values)][keep], values[keep]

    @property
    def last_step(self) -> int | None:
        last = self.step.last()
        return None if last is None else int(last)

    @property
    def done(self) -> int:
        """Steps done: from the end record, else one past the last step seen."""
        if self.steps_done is not None:
            return self.steps_done
        last = self.last_step
        return 0 if last is None else last + 1

    @property
    def sharpness(self) -> float | None:
        return self.eigenvalues[0].last() if self.eigenvalues else None

    @property
    def threshold_factor(self) -> float | None:
        """η·threshold at the last step that has both: 2 for GD, 2(1+β) for heavy ball, 38 for Adam
        at β1 = 0.9. (A cosine schedule's last step, η = 0, has no threshold: the step before says it.)"""
        thr, lr = self.threshold.last(), self.lr.last()
        if thr is not None and lr is not None and lr > 0 and math.isfinite(thr):
            return thr * lr
        n = min(len(self.threshold), len(self.lr))
        thrs, lrs = self.threshold.values[:n], self.lr.values[:n]
        ok = np.flatnonzero(np.isfinite(thrs) & (lrs > 0))
        return float(thrs[ok[-1]] * lrs[ok[-1]]) if len(ok) else None

    @property
    def with_momentum(self) -> bool:
        """True when the engine wrote a threshold of its own, 2(1+β)/η, rather than 2/η."""
        thr, lr = self.threshold.last(), self.lr.last()
        return thr is not None and lr is not None and lr > 0 and abs(thr * lr / 2 - 1) > 1e-9

    def _extend_eigenvalues(self, rows: list[list[float]]) -> None:
        k = max((len(r) for r in rows), default=0)
        while len(self.eigenvalues) < k:
            col = Column()
            col.extend(np.full(len(self.sharpness_step) - (len(rows)), np.nan))
            self.eigenvalues.append(col)
        for j, col in enumerate(self.eigenvalues):
            col.extend([r[j] if j < len(r) else math.nan for r in rows])


@dataclass
class _ArmBatch:
    steps: dict[str, list[float]] = field(default_factory=lambda: {f: [] for f in STEP_FIELDS})
    theory: dict[str, list[float]] = field(default_factory=lambda: {f: [] for f in (*THEORY_FIELDS, *OPTIONAL_STEP_FIELDS)})
    thresholds: list[float] = field(default_factory=list)  # 2/η, or 2(1+β)/η with momentum; NaN if none
    sharpness_steps: list[float] = field(default_factory=list)
    eigenvalues: list[list[float]] = field(default_factory=list)
    raw_sharpness: list[float] = field(default_factory=list)
    preconditioned: bool = False
    reparams: list[Reparam] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    end: EndRecord | None = None
    # "flow" records: central rows (step, loss, predicted_loss, sharpness, distance), stable rows (step, loss, distance)
    central: list[tuple[float, float, float, float, float]] = field(default_factory=list)
    stable: list[tuple[float, float, float]] = field(default_factory=list)
    # "selfstab" records: (the SELFSTAB_FIELDS' values, crossing 1/0, stage)
    selfstab: list[tuple[list[float], float, str]] = field(default_factory=list)


@dataclass
class Batch:
    """Records grouped per arm into columns, ready to append."""

    arms: dict[str, _ArmBatch] = field(default_factory=dict)
    records: int = 0
    bad: int = 0  # records skipped as malformed
    # Forget the records of the arms named with this prefix ("": every arm) before appending these:
    # metrics.jsonl was rewritten (`eos-tui resume` cut it back to its checkpoints) and is read again
    # from its start, so what was read before is either gone or comes again.
    reset: str | None = None

    @classmethod
    def from_records(cls, records: Iterable[dict[str, Any]], *, reset: str | None = None) -> Batch:
        batch = cls(reset=reset)
        for rec in records:
            batch.records += 1
            try:
                batch._add(rec)
            except (TypeError, ValueError, OverflowError, AttributeError):
                # A hand-damaged record: skipped and counted, like a line that is not JSON. Each
                # kind builds its row before appending anything, so a skip leaves no ragged column.
                batch.bad += 1
        return batch

    def _add(self, record: dict[str, Any]) -> None:
        arm = printable(record.get("arm", ""))
        a = self.arms.get(arm)
        if a is None:
            a = self.arms[arm] = _ArmBatch()
        rec = parse_record(record)
        if rec is None:  # a type of a later version: its arm is known, the record is not read
            return
        if rec["type"] == STEP:
            for f in STEP_FIELDS:
                a.steps[f].append(_num(rec.get(f)))
            a.thresholds.append(_num(step_threshold(rec)))
            for f in a.theory:
                a.theory[f].append(_num(rec.get(f)))
        elif rec["type"] == SHARPNESS:
            eig = [_num(v) for v in rec.get("eigenvalues") or []]
            raw = rec.get("raw_eigenvalues")
            raw_top = _num(raw[0]) if isinstance(raw, list) and raw else math.nan
            a.sharpness_steps.append(_num(rec.get("step")))
            a.eigenvalues.append(eig)
            a.raw_sharpness.append(raw_top)
            a.preconditioned = a.preconditioned or rec.get("operator") == "preconditioned"
        elif rec["type"] == REPARAM:
            a.reparams.append(
                Reparam(
                    step=int(_num(rec.get("step")) if rec.get("step") is not None else -1),
                    alpha=_num(rec.get("alpha")),
                    max_output_change=_num(rec.get("max_output_change")),
                    loss_change=_num(rec.get("loss_change")),
                    sharpness_before=_num(rec.get("sharpness_before")),
                    sharpness_after=_num(rec.get("sharpness_after")),
                    adaptive_before=None if rec.get("adaptive_before") is None else _num(rec.get("adaptive_before")),
                    adaptive_after=None if rec.get("adaptive_after") is None else _num(rec.get("adaptive_after")),
                    sharpness_predicted=(None if rec.get("sharpness_predicted") is None else _num(rec.get("sharpness_predicted"))),
                    layer=rec.get("layer") if isinstance(rec.get("layer"), int) else None,
                    neurons=printable(rec.get("neurons") or "all"),
                )
            )
        elif rec["type"] == EVENT:
            a.events.append(
                Event(
                    arm,
                    int(_num(rec.get("step")) if rec.get("step") is not None else -1),
                    printable(rec.get("kind", "")),
                    printable(rec.get("message", "")),
                )
            )
        elif rec["type"] == END:
            a.end = rec
        elif rec["type"] == FLOW:
            step, loss, dist = _num(rec.get("step")), _num(rec.get("loss")), _num(rec.get("distance"))
            if rec.get("flow") == "central":
                a.central.append((step, loss, _num(rec.get("predicted_loss")), _num(rec.get("sharpness")), dist))
            elif rec.get("flow") == "stable":
                a.stable.append((step, loss, dist))
        elif rec["type"] == SELFSTAB:
            stage = rec.get("stage")
            values = [_num(rec.get(f)) for f in SELFSTAB_FIELDS]
            int(values[0])  # a record without a step cannot be placed in the trail: ValueError skips it
            a.selfstab.append(
                (
                    values,
                    1.0 if rec.get("crossing") is True else 0.0,
                    printable(stage) if isinstance(stage, str) else "",
                )
            )


class RunModel:
    """The run as the app sees it. Not thread-safe: mutate it on the UI thread only."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.arms: dict[str, ArmSeries] = {}
        self.events: list[Event] = []  # all arms, in the order recorded
        self.manifest: dict[str, Any] | None = None
        self.status = "unknown"  # the run's effective status (manifest, or "engine lost")
        self.engine_status: dict[str, Any] | None = None  # status.json: what the engine is doing (app/progress.py)
        self.version = 0
        self.records = 0
        self.rate = RateMeter(clock)  # steps per second, smoothed (rate.py)

    # -- updates -----------------------------------------------------------------------------------

    def set_manifest(self, manifest: dict[str, Any] | None, status: str) -> None:
        if manifest != self.manifest or status != self.status:
            self.manifest, self.status = manifest, printable(status)
            self._arms_from_manifest()
            self.version += 1

    def _arms_from_manifest(self) -> None:
        """The manifest's arms, in its order; where the app wrote the run's end (its engine died), no
        "end" record will ever come: the arms' statuses are the manifest's."""
        manifest = self.manifest or {}
        arms = manifest.get("arms")
        ended_by_app = manifest.get("finalized_by") == FINALIZED_BY_APP
        for name in arms if isinstance(arms, (dict, list)) else ():
            if isinstance(name, str):
                arm = self.arm(printable(name))
                entry = arms[name] if isinstance(arms, dict) else None
                if ended_by_app and arm.status == RUNNING and isinstance(entry, dict) and entry.get("status") in ARM_STATUSES:
                    arm.status = entry["status"]

    def set_engine_status(self, status: dict[str, Any] | None) -> None:
        if status is not None and status != self.engine_status:
            self.engine_status = status
            self.version += 1

    def arm(self, name: str) -> ArmSeries:
        a = self.arms.get(name)
        if a is None:
            a = self.arms[name] = ArmSeries(name)
        return a

    def forget(self, prefix: str = "") -> None:
        """Drop every record of the arms whose name starts with `prefix` (all: ""), keeping the arms
        in their order: the file they came from was rewritten and is read again."""
        kept = {name: arm for name, arm in self.arms.items() if not name.startswith(prefix)}
        order = list(self.arms)
        self.arms = {}
        self._arms_from_manifest()  # the manifest's arms, afresh (an arm only the dropped records named goes)
        fresh, self.arms = self.arms, {}
        for name in order:  # in the order they had
            if name in kept or name in fresh:
                self.arms[name] = kept.get(name) or fresh[name]
        for name, arm in fresh.items():
            self.arms.setdefault(name, arm)
        self.events = [e for e in self.events if not e.arm.startswith(prefix)]
        if not prefix:
            self.records = 0
            self.rate.clear()  # the steps re-read are not this session's rate
        self.version += 1

    def apply(self, batch: Batch) -> bool:
        """Append a batch; True if anything changed."""
        if batch.reset is not None:
            self.forget(batch.reset)
            if not batch.records:
                return True
        if not batch.records:
            return False
        for name, b in batch.arms.items():
            arm = self.arm(name)
            if b.steps["step"]:
                for f in STEP_FIELDS:
                    getattr(arm, f).extend(b.steps[f])
                arm.threshold.extend(b.thresholds)
                self._apply_theory(arm, b)
            if b.sharpness_steps:
                arm.sharpness_step.extend(b.sharpness_steps)
                arm._extend_eigenvalues(b.eigenvalues)
                arm.raw_sharpness.extend(b.raw_sharpness)
                arm.preconditioned = arm.preconditioned or b.preconditioned
            if b.central:
                for col, values in zip(
                    (arm.central_step, arm.central_loss, arm.central_predicted, arm.central_sharpness, arm.central_distance),
                    zip(*b.central),
                ):
                    col.extend(values)
            if b.stable:
                for col, values in zip((arm.stable_step, arm.stable_loss, arm.stable_distance), zip(*b.stable)):
                    col.extend(values)
            if b.selfstab:
                arm.selfstab.extend(b.selfstab)
            arm.reparams.extend(b.reparams)
            arm.events.extend(b.events)
            self.events.extend(b.events)
            if b.end is not None:
                arm.status = printable(b.end.get("status", arm.status))
                if b.end.get("steps_done") is not None:
                    arm.steps_done = int(b.end["steps_done"])
                fl = b.end.get("final_loss")
                arm.final_loss = None if fl is None else _num(fl)
        self.records += batch.records
        self._sample_rate()
        self.version += 1
        return True

    @staticmethod
    def _apply_theory(arm: ArmSeries, b: _ArmBatch) -> None:
        for name in OPTIONAL_STEP_FIELDS:
            values = np.asarray(b.theory[name], dtype=np.float64)
            column = getattr(arm, name)
            if len(column) or np.isfinite(values).any():
                if not len(column):  # align with `step`: the earlier steps had no value
                    column.extend(np.full(len(arm.step) - len(values), np.nan))
                column.extend(values)
        f_next = np.asarray(b.theory["f_next_theory"], dtype=np.float64)
        keep = np.isfinite(f_next)
        if keep.any():
            steps = np.asarray(b.steps["step"], dtype=np.float64)[keep]
            arm.uv_step.extend(steps + 1)
            arm.uv_loss_theory.extend(0.5 * f_next[keep] ** 2)  # MSE on one example with y = 0
            arm.uv_sharpness_theory.extend(np.asarray(b.theory["ntk_next_theory"], dtype=np.float64)[keep])

    def apply_records(self, records: Iterable[dict[str, Any]]) -> bool:
        return self.apply(Batch.from_records(records))

    # -- derived -----------------------------------------------------------------------------------

    @property
    def scenario(self) -> str:
        return printable((self.manifest or {}).get("scenario", "?"))

    @property
    def device(self) -> str:
        return printable((self.manifest or {}).get("device", "?"))

    @property
    def total_steps(self) -> int | None:
        steps = (self.manifest or {}).get("steps")
        return steps if isinstance(steps, int) and not isinstance(steps, bool) and steps > 0 else None

    @property
    def steps_total_done(self) -> int:
        return sum(a.done for a in self.arms.values())

    @property
    def last_step(self) -> int | None:
        steps = [a.last_step for a in self.arms.values() if a.last_step is not None]
        return max(steps) if steps else None

    @property
    def any_diverged(self) -> bool:
        return any(a.status == DIVERGED for a in self.arms.values())

    def _sample_rate(self) -> None:
        self.rate.sample(self.steps_total_done)

    def steps_per_second(self) -> float | None:
        """Steps per second over at least the last RATE_WINDOW_S (rate.py), all arms together (None
        until measurable). The first sample is the history read at start-up: a baseline only."""
        return self.rate.rate()
