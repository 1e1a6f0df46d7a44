"""The run directory: what a run leaves on disk, and how it is written.

A run directory is the contract between the engine (which writes it) and everything that reads it:
the live app, `eos-tui watch`, `eos-tui runs`, and people's own scripts. It holds

    scenario.toml    the resolved scenario, arms expanded (a valid scenario file in its own right)
    manifest.json    versions, device, seed, status, start/end times, per-arm summary
    metrics.jsonl    one JSON object per line, appended and flushed as training goes
    engine.log       the engine process's stdout/stderr when it runs in the background
    status.json      what the engine is doing (importing torch, measuring λ0, training), phase by phase

This module imports neither torch nor textual: readers on a laptop with no torch can use it.

Crash safety: every metrics line is written whole and flushed (at once, or within the writer's
`flush_interval`), so a reader sees either a complete line or a truncated last line (which the
reader tolerates); the manifest is replaced atomically
(write to a temporary file, then os.replace), so it is never half-written.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import math
import os
import re
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Final, Iterable, Iterator, Literal, Mapping, TypedDict, Union

from .parsing import loads_json

SCENARIO_FILE = "scenario.toml"
MANIFEST_FILE = "manifest.json"
METRICS_FILE = "metrics.jsonl"
ENGINE_LOG = "engine.log"
STATUS_FILE = "status.json"  # what the engine is doing now (EngineStatus), replaced at each phase
# Disk space the engine holds while it runs (a file of random bytes, removed at the end), so that on
# a full disk the final manifest can still be written: the engine deletes it, then writes.
RESERVE_FILE = ".reserve"
RESERVE_BYTES = 256 << 10
# Checkpoints: checkpoints/ARM/STEP.safetensors (engine/checkpoint.py); the landscape command's result.
CHECKPOINT_DIR = "checkpoints"
CHECKPOINT_SUFFIX = ".safetensors"
LANDSCAPE_FILE = "landscape.json"

FORMAT_VERSION = 1

# Record types written to metrics.jsonl (more fields are welcome on each; readers ignore unknown ones).
STEP: Final = "step"  # {"arm", "step", "loss", "lr", "grad_norm", "proj", ..., "threshold" unless it is 2/η}
# {"arm", "step", "eigenvalues": [descending], "hvps", "residual", Adam/RMSprop: "operator", "raw_eigenvalues"}
SHARPNESS: Final = "sharpness"
REPARAM: Final = "reparam"  # {"arm", "step", "alpha", "max_output_change", "loss_change", "sharpness_before", "sharpness_after"}
EVENT: Final = "event"  # {"arm", "step", "kind", "message"}
END: Final = "end"  # {"arm", "status", "steps_done", "final_loss"}
FLOW: Final = "flow"  # {"arm", "step", "flow": "central" | "stable", "loss", "distance", central: "predicted_loss", "sharpness", ...}
SELFSTAB: Final = "selfstab"  # {"arm", "step", "x", "y", "sharpness_gap", "alpha", "beta", "x_pred", "y_pred", "distance"}
RECORD_TYPES = (STEP, SHARPNESS, REPARAM, EVENT, END, FLOW, SELFSTAB)


# The records as types: the on-disk contract under the type checker. Each `_…Fields` base holds the
# fields every record of that type has; the total=False `…Extras` class those only some have. README's
# "The run directory" table documents the same fields (tests/test_records.py holds them to it). The
# engine builds every record with rundir/records.py's constructors, and the app and the summaries
# read them through its `parse_record`, so that the type checker sees both sides of the contract.
class _StepFields(TypedDict):
    type: Literal["step"]
    arm: str  # the arm's name (an [[arm]]'s name; "run/arm" only in the app comparing runs)
    step: int  # t: the record is at θ_t, before the update
    loss: float | None  # null when not finite
    lr: float  # η_t
    grad_norm: float | None  # ‖∇L(θ_t)‖ (null on a diverged step)
    proj: float | None  # ⟨∇L(θ_t), u⟩, u the top eigenvector (null until u is known)
    disp: float | None  # ⟨θ_{t+1} − θ_t, u⟩


class StepExtras(TypedDict, total=False):
    # The stability threshold on the sharpness record's eigenvalues[0]: heavy-ball momentum β 2(1+β)/η,
    # Nesterov 2(1+β)/((1+2β)η), Adam (2+2β1)/((1−β1)η), RMSprop 2/η or 2(1+β)/η (the last two on
    # λ_max(P⁻¹H)); absent for plain GD/SGD, where readers take 2/η. Null: no threshold (η = 0, or
    # eos_tui.Monitor on an optimizer whose stability it cannot state), never 2/η.
    threshold: float | None
    sharpness_tracked: float | None  # measure.track_every_step: λ_max at θ_t (a lower bound)
    tracked_hvps: int  # measure.track_every_step: the HVPs the tracker spent at this step
    test_loss: float  # measure.test_every, where the data has a held-out split: the loss on it at θ_t
    test_accuracy: float  # the same, classification only: the fraction of held-out examples right
    loss_theory: float  # the quadratic: the closed-form loss
    f: float  # the uv model: its output f(θ_t)
    ntk: float  # the uv model: the NTK ‖∇f‖² at θ_t
    f_next_theory: float  # the uv model: the exact one-step map's f at θ_{t+1}
    ntk_next_theory: float  # the uv model: the exact one-step map's NTK at θ_{t+1}


class StepRecord(_StepFields, StepExtras):
    pass


class _SharpnessFields(TypedDict):
    type: Literal["sharpness"]
    arm: str
    step: int  # t: the eigenvalues of H(θ_t)
    eigenvalues: list[float | None]  # descending; of P⁻¹H where "operator" is "preconditioned"
    hvps: int  # every HVP of the record's solves (the raw one included)
    residual: float | None  # the solve's largest relative residual ‖Hv − λv‖/|λ| (measure.tolerance)


class SharpnessExtras(TypedDict, total=False):
    # Adam and RMSprop arms: "preconditioned", the eigenvalues are those of P_t⁻¹H(θ_t), P_t the
    # diagonal preconditioner of the step taken from θ_t (solved on P^{-1/2}HP^{-1/2}); absent: of H.
    # P_t as Cohen et al. 2022 define it, θ_{t+1} = θ_t − η·P_t⁻¹·m_t (engine/optimizers.py): Adam's
    # (1−β1^t)(√v̂_t + ε), RMSprop's √v_t + ε. Runs made before this definition lack Adam's 1−β1^t.
    operator: str
    raw_eigenvalues: list[float | None]  # with "operator": the top eigenvalue of H itself, [λ_max]


class SharpnessRecord(_SharpnessFields, SharpnessExtras):
    pass


class ReparamRecord(TypedDict):
    type: Literal["reparam"]
    arm: str
    step: int  # the check is on a copy of θ_t; training goes on unchanged
    alpha: float  # the map T_α: layer l's weights and bias × α, layer l+1's weights × 1/α
    layer: int  # l (0 the first layer)
    neurons: str  # "all" or "every other"
    max_output_change: float  # max |f(T_α θ) − f(θ)| over the training set: round-off, the same function
    loss_change: float  # L(T_α θ) − L(θ): round-off
    sharpness_before: float  # λ_max at θ
    sharpness_after: float  # λ_max at T_α θ: moved at will (Dinh et al. 2017)
    sharpness_predicted: float  # λ_max(D⁻¹HD⁻¹) from the Hessian at θ, D the map's diagonal
    adaptive_before: float  # λ_max(diag|θ| H diag|θ|) (Kwon et al. 2021)
    adaptive_after: float  # the same at T_α θ: unchanged


class _EventFields(TypedDict):
    type: Literal["event"]
    arm: str
    step: int  # where it happened (a catapult: the loss's peak)
    # eos_onset, unstable_start, period2_onset, catapult, lr_change, lr_resolved, diverged, reparam_skipped, device_notice
    kind: str
    message: str  # in words, for the events panel and the headless output


class EventExtras(TypedDict, total=False):
    data: dict[str, Any]  # lr_resolved and catapult: their numbers


class EventRecord(_EventFields, EventExtras):
    pass


class _EndFields(TypedDict):
    type: Literal["end"]
    arm: str
    status: str  # one of ARM_STATUSES: completed, diverged, interrupted, failed
    steps_done: int  # the updates the arm made
    final_loss: float | None  # L after the last update (null when not finite)


class EndExtras(TypedDict, total=False):
    hvps: int  # every Hessian-vector product the arm spent


class EndRecord(_EndFields, EndExtras):
    pass


class _FlowFields(TypedDict):
    type: Literal["flow"]
    arm: str  # the GD arm the flow runs beside (measure.central_flow, measure.stable_flow)
    step: int  # t: the flow at time t (t training steps from θ_0), beside GD's θ_t
    flow: str  # "central" (Cohen, Damian et al. 2024) or "stable" (gradient flow by RK4)
    loss: float | None  # L(θ_flow(t)); null when not finite (the flow then stops)
    distance: float | None  # ‖θ_t − θ_flow(t)‖, θ_t GD's parameters at the same step


class FlowExtras(TypedDict, total=False):
    # the central flow only:
    predicted_loss: float | None  # GD's time-averaged loss it predicts: L(θ_CF) + ½⟨UᵀHU, X⟩ ≈ L + tr(X)/η
    sharpness: float | None  # λ_max(H(θ_CF)), held at 2/η once critical
    critical: int  # k, the critical eigenvalues (above measure.central_critical_factor/η) it holds
    sigma: list[float | None]  # eigenvalues of X (descending): the oscillation's variance along them
    sdcp_residual: float | None  # worst relative KKT residual of the step's SDCP solves (≤ 1e-10: solved)


class FlowRecord(_FlowFields, FlowExtras):
    pass


class _SelfStabFields(TypedDict):
    # measure.self_stabilization (Damian, Nichani & Lee 2022), a full-batch GD arm, at each step
    # from the first crossing of 2/η. θ† is the constrained trajectory: projected GD on the stable
    # set M = {S(θ) ≤ 2/η, ⟨∇L(θ), u(θ)⟩ = 0}, run in lockstep with GD from its iterate at the crossing.
    type: Literal["selfstab"]
    arm: str
    step: int  # t: at GD's θ_t and θ†_t
    x: float | None  # ⟨u, θ_t − θ†_t⟩, u the top eigenvector at θ†_t
    y: float | None  # ⟨∇S, θ_t − θ†_t⟩, ∇S = ∇³L[u, u] the sharpness gradient at θ†_t
    sharpness_gap: float | None  # S(θ_t) − 2/η, for comparison with y
    alpha: float | None  # −⟨∇L, ∇S⟩ at θ†_t: the progressive-sharpening rate
    beta: float | None  # ‖∇S‖² at θ†_t
    x_pred: float | None  # the paper's 2-D map, run from the measured (x, y) at each crossing
    y_pred: float | None  # the map's y (see x_pred)
    distance: float | None  # ‖θ_t − θ†_t‖


class SelfStabExtras(TypedDict, total=False):
    stage: str  # "sharpening", "blow-up", "stabilizing" or "returning" (the paper's four stages)
    crossing: bool  # the map was restarted here (a new crossing of 2/η)
    eigengap: float | None  # (λ1 − λ2)/λ1 at θ_t; the prediction is not trusted below 0.01
    init_distance: float | None  # ‖θ_t − θ_0‖, the scale to judge `distance` by
    # how far the projection onto M missed at θ†_t (engine/selfstab.py, docs/selfstab.md):
    constrained_gap: float | None  # S(θ†_t) − 2/η: ≤ 0, and ≈ 0 while the constraint is active
    constrained_proj: float | None  # ⟨∇L(θ†_t), u⟩: 0 to the projection's tolerance


class SelfStabRecord(_SelfStabFields, SelfStabExtras):
    pass


Record = Union[StepRecord, SharpnessRecord, ReparamRecord, EventRecord, EndRecord, FlowRecord, SelfStabRecord]
# Each record type's TypedDict, for readers that go by the declared fields (export/table.py's column kinds).
RECORD_SCHEMAS: dict[str, Any] = {
    STEP: StepRecord,
    SHARPNESS: SharpnessRecord,
    REPARAM: ReparamRecord,
    EVENT: EventRecord,
    END: EndRecord,
    FLOW: FlowRecord,
    SELFSTAB: SelfStabRecord,
}


class ArmEntry(TypedDict, total=False):
    """manifest["arms"][name]."""

    status: str  # "running" or one of ARM_STATUSES
    steps_done: int  # the updates made so far
    lr: float | None  # η (resolved from lr_relative when that was asked for)
    lambda0: float | None  # λ_max at θ_0 when it was measured
    summary: dict[str, Any]  # analysis.summary.summarize_arm's output, at the end
    parameters: int  # the length of θ, as built (a network built by code is counted only then)
    code: list[UserCode]  # the Python factories the arm ran (model.kind / data.kind = "python")


class UserCode(TypedDict):
    """manifest["arms"][name]["code"][i]: one factory a scenario named (scenario/code.py), as run."""

    key: str  # "model.factory" or "data.factory"
    factory: str  # as resolved: "/abs/path/models.py:make" or "package.module:make"
    file: str | None  # the source file imported (a module's __file__), None where it has none
    sha256: str | None  # that file's SHA-256 as imported, hex


class _ManifestFields(TypedDict):
    format: int  # FORMAT_VERSION
    scenario: str  # the scenario's name
    seed: int  # the scenario's seed (arms may set their own in scenario.toml)
    device: str  # where the engine trains, with the GPU's name on CUDA
    versions: dict[str, str]  # eos-tui, python, torch, numpy, CUDA, cuDNN
    status: str  # one of RUN_STATUSES
    started: str  # ISO 8601, local time with offset
    ended: str | None  # ISO 8601; null while running
    pid: int | None  # the engine's process (the launcher's until the engine has started)
    pid_start: int | None  # that process's start time (process_start_time), None where unknown
    steps: int | None  # the longest arm's steps
    arms: dict[str, ArmEntry]  # per arm: status, steps done, η, λ0, summary (below)


class Manifest(_ManifestFields, total=False):
    arm_steps: dict[str, int]  # each arm's steps where arms differ
    batches: list[list[str]]  # arms trained as one vmapped batch
    # The numerical settings the engine set (engine/precision.py): TF32 off for matmuls and cuDNN,
    # float32 matmul precision "highest", cuDNN deterministic without benchmark, cuBLAS workspace.
    precision: dict[str, Any]
    threads: Threads  # the engine's intra-op thread count and why (engine/threads.py)
    error: str  # a failed run: the exception, one line
    traceback: str  # a failed run: the engine's traceback (engine.log has it too)
    # `eos-tui resume`: the sessions before this one, oldest first, and where this one resumed.
    history: list[Session]
    resumed: Resumed  # this session: {"started", "from": {arm: the checkpoint's step, or its end status}}
    # A run written by eos_tui.Monitor from the user's own training loop (eos_tui/monitor): the
    # model, data, optimizer and the threshold rule it used, or why it makes no claim.
    monitor: dict[str, Any]


class Threads(TypedDict):
    """manifest["threads"]: torch's intra-op threads in the engine process and the reason for that
    count ("--threads 2", "engine.threads = 2 in the scenario", "small matrices (…)")."""

    threads: int
    reason: str


class Session(TypedDict, total=False):
    """manifest["history"][i]: one earlier session of a resumed run."""

    started: str
    ended: str | None
    status: str
    pid: int | None
    resumed_from: dict[str, int | str]  # a resumed session: each arm's step (or "completed"/"diverged")
    error: str


# manifest["resumed"]: when this session started and, per arm, the checkpoint's step it went on from
# (0: started again, no usable checkpoint), or the status of an arm that had already ended.
Resumed = TypedDict("Resumed", {"started": str, "from": dict[str, Union[int, str]]})


class CheckpointMeta(TypedDict, total=False):
    """The JSON under the "eos_tui" metadata key of checkpoints/ARM/STEP.safetensors (engine/checkpoint.py).
    Its tensors: theta, opt.0.. (the optimizer state), vectors, raw_vector, rng.eig, rng.sgd, and with
    measure.track_every_step tracker.rng, tracker.vectors, tracker.next.P; on the quadratic theory.coords."""

    format: int  # 1
    arm: str  # the arm's name (the folder checkpoints/ARM)
    step: int  # θ_step: the state before that step's update
    steps: int  # the arm's steps in all
    records: int  # the arm's metrics records written before this checkpoint
    status: str | None  # None while running; the arm's end status in its final checkpoint
    dtype: str  # θ's dtype: float32 or float64
    numel: int  # θ's length
    optimizer: str  # optimizer.kind
    spec: dict[str, Any]  # what decides the trajectory: seed, steps, dtype, loss, data, model, optimizer, schedule
    opt_layout: str  # "none", "tensor" or "tuple:N"
    scalars: dict[str, Any]  # final_loss, initial_loss, sharpness, base_lr (η), lambda0, hvps_total
    detectors: dict[str, Any]  # the online detectors' state: oscillation, catapult, onset
    reparam: dict[str, Any]  # the reparameterization checks' cadence state
    tracker: dict[str, Any]  # measure.track_every_step: the per-step tracker's state


class LandscapePath(TypedDict, total=False):
    t: list[float]  # −0.2 … 1.2, with 0 and 1 exactly (the end points themselves)
    loss: list[float | None]
    barrier: float | None  # max loss on t ∈ [0, 1] − max(loss at t = 0, loss at t = 1)
    test_loss: list[float | None]  # where the data has a held-out split
    test_barrier: float | None
    steps: int  # the curve: steps of training its middle point


class LandscapeEnd(TypedDict):
    arm: str  # "ARM", or "RUN_DIR:ARM" for --other
    loss: float
    sharpness: float  # λ_max of H
    adaptive_sharpness: float  # λ_max(diag|θ| H diag|θ|)
    trace: float  # Hutchinson's estimate of tr H
    trace_stderr: float


class LandscapeSlice(TypedDict, total=False):
    arm: str
    s: list[float]
    loss: list[float | None]  # L(θ + s·u), u the top eigenvector at θ
    parabola: list[float]  # L(θ) + ½λ_max·s²
    sharpness: float
    lr: float | None  # the arm's η
    step: float | None  # η·‖∇L(θ)‖
    optimizer: str  # the arm's optimizer.kind (" with momentum"): η‖∇L‖ is its step only for plain GD/SGD


class Landscape(TypedDict, total=False):
    """landscape.json, written by `eos-tui landscape` (and its --json output)."""

    line: LandscapePath
    curve: LandscapePath  # --curve
    ends: list[LandscapeEnd]
    slice: LandscapeSlice
    run: str
    data_of: str  # the end point whose problem (data) the losses are computed on
    steps: dict[str, int]  # each end point's checkpoint step


# What the engine is doing, in status.json: one phase after the other, each written as it begins,
# so that a viewer can say so from the first second (importing torch takes seconds, measuring λ0
# for lr_relative as long again) rather than show empty charts.
PHASE_IMPORTING = "importing"  # importing torch (written before the import, by engine/boot.py)
PHASE_BUILDING = "building"  # an arm's data and model (and the device's settings, for the first)
PHASE_LAMBDA0 = "measuring_lambda0"  # λ_max at θ0 of an arm whose η is lr_relative / λ0
PHASE_TRAINING = "training"  # steps are being taken
PHASE_ENDED = "ended"  # the run ended (the manifest says how)
PHASES = (PHASE_IMPORTING, PHASE_BUILDING, PHASE_LAMBDA0, PHASE_TRAINING, PHASE_ENDED)


class PhaseEntry(TypedDict):
    phase: str  # one of PHASES
    message: str  # the phase in words: "measuring λ0 of arm uv-catapult"
    since: float  # when it began, Unix time (seconds)


class _EngineStatusFields(PhaseEntry):
    phases: list[PhaseEntry]  # every phase so far, the current one last: how long each took


class EngineStatus(_EngineStatusFields, total=False):
    arm: str  # the arm the current phase is about (building, measuring λ0)


def write_status(run_dir: str | os.PathLike[str], phase: str, message: str, arm: str | None = None) -> bool:
    """Replace RUN_DIR/status.json with `phase` (appended to the phases already there). Best effort:
    False when it cannot be written (a full disk), which must never stop a run."""
    path = Path(run_dir) / STATUS_FILE
    entry: PhaseEntry = {"phase": phase, "message": message, "since": time.time()}
    phases: list[Any] = []
    try:
        with open(path, "rb") as fh:
            old = loads_json(fh.read())
        if isinstance(old, dict) and isinstance(old.get("phases"), list):
            phases = old["phases"][-50:]
    except (OSError, ValueError):
        pass
    status: EngineStatus = {**entry, "phases": [*phases, entry]}
    if arm is not None:
        status["arm"] = arm
    try:
        write_json_atomic(path, status)
    except OSError:
        return False
    return True


class _SweepPointFields(TypedDict):
    """One line of a sweep directory's points.jsonl (eos_tui/sweep): a finished point."""

    index: int  # the point's place in the grid's product (its run directory is points/pNNNN)
    point: dict[str, Any]  # {grid key: value}
    run_dir: str | None  # relative to the sweep directory; None for a point refused before it ran
    status: str  # "completed" (diverged arms included) or "failed"
    outcome: str  # analysis/outcome.py: lazy, eos, catapult, diverged or failed (the worst of the arms')
    arms: list[dict[str, Any]]  # the arms' summaries (summarize_arm), each with its own "outcome"


class SweepPoint(_SweepPointFields, total=False):
    message: str  # a failed point: why


# Statuses of an arm (in "end" records) and of a run (in the manifest).
RUNNING = "running"
COMPLETED = "completed"
DIVERGED = "diverged"
INTERRUPTED = "interrupted"
FAILED = "failed"
ARM_STATUSES = (COMPLETED, DIVERGED, INTERRUPTED, FAILED)
RUN_STATUSES = (RUNNING, COMPLETED, INTERRUPTED, FAILED)

_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def _positive(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def step_threshold(record: Mapping[str, Any]) -> float | None:
    """The stability threshold on λ_max at a step record: its own "threshold" where the engine
    wrote one (momentum, Nesterov, Adam, RMSprop), else 2/η; None without a usable η. A record
    whose "threshold" is null has none (η = 0, or eos_tui.Monitor on an optimizer it makes no claim
    for): not 2/η. A damaged value (a string, a negative number) falls back to 2/η."""
    if "threshold" in record and record["threshold"] is None:
        return None
    if _positive(record.get("threshold")):
        return float(record["threshold"])
    return 2.0 / record["lr"] if _positive(record.get("lr")) else None


def now_iso() -> str:
    """Local time with offset, to the second: what people read in `eos-tui runs`."""
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")


def is_safe_name(name: str) -> bool:
    """A name that can be a single path component under runs/ (no '/', no '..', no leading dot)."""
    return bool(_SAFE_NAME.fullmatch(name)) and ".." not in name


def default_run_dir(name: str, root: str | os.PathLike[str] = "runs") -> Path:
    """Create and return runs/<name>-<YYYYmmdd-HHMMSS>/, with a -2, -3 ... suffix if that name is
    taken (two runs started in the same second): the `mkdir` itself is the claim, so two runs never
    get the same directory."""
    if not is_safe_name(name):
        raise ValueError(f"scenario name {name!r} cannot name a run directory")
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(root) / f"{name}-{stamp}"
    Path(root).mkdir(parents=True, exist_ok=True)
    candidate, n = base, 1
    while True:
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            n += 1
            candidate = base.with_name(f"{base.name}-{n}")


def json_safe(value: Any) -> Any:
    """JSON has no NaN or infinity: write them as null (a diverged loss is a result, not a crash)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


_ENCODE = json.JSONEncoder(separators=(",", ":"), allow_nan=True, ensure_ascii=True).encode
_STRICT = json.JSONEncoder(separators=(",", ":"), allow_nan=False, ensure_ascii=True).encode


def dumps_record(record: Mapping[str, Any]) -> str:
    """One metrics line (without the newline): compact, strict JSON.

    Fast path first (this runs for every record the engine writes): encode as is, and only when
    the line holds a NaN or infinity token (or a string that looks like one) walk the record and
    write them as null. Same output as always encoding `json_safe(record)`.
    """
    line = _ENCODE(record)
    if "NaN" in line or "Infinity" in line:
        line = _STRICT(json_safe(record))
    return line


def _umask() -> int:
    """The process's umask, read without changing it where /proc tells (Linux), else set and reset."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def new_file_mode() -> int:
    """The mode a new file of the run gets (0666 less the umask): for files made by mkstemp (0600)."""
    return 0o666 & ~_umask()


def write_json_atomic(path: Path, data: Mapping[str, Any]) -> None:
    """Replace `path` with `data` so that a reader never sees a half-written file.

    The file gets the mode any other new file gets (0666 less the umask), not mkstemp's 0600.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, new_file_mode())
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(json_safe(data), fh, indent=2, allow_nan=False)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


@contextlib.contextmanager
def manifest_lock(run_dir: str | os.PathLike[str]) -> Iterator[None]:
    """Hold an exclusive lock on the run directory (flock on the directory itself, no lock file)
    while a read-modify-write of the manifest happens: the engine's writes and the launcher's pid
    update then never overwrite each other. A no-op where flock is not available."""
    try:
        import fcntl
    except ImportError:  # not POSIX
        yield
        return
    fd = os.open(run_dir, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def overwrite_in_place(path: str | os.PathLike[str], data: dict[str, Any]) -> bool:
    """The last resort on a disk with no room left, not even for the atomic write's temporary
    file: write `data` as compact JSON over the existing file, padded with spaces to its present
    size, so that no block is allocated and the file is never cut short. Only when it fits (False
    otherwise, and on any error); not atomic, which is why it is the last resort."""
    text = json.dumps(json_safe(data), separators=(",", ":"), allow_nan=False).encode("utf-8") + b"\n"
    try:
        size = os.path.getsize(path)
        if len(text) > size:
            return False
        with open(path, "r+b") as fh:
            fh.write(text + b" " * (size - len(text)))
            fh.flush()
            os.fsync(fh.fileno())
        return True
    except OSError:
        return False


def mark_run_ended(
    run_dir: str | os.PathLike[str], status: str, error: str | None = None, *, pids: Iterable[int] | None = None, **fields: Any
) -> bool:
    """Write down the end of a run whose engine cannot (it was killed, or died): a manifest that still
    says "running" gets `status` ("interrupted" or "failed"), the end time, `error` if given, and
    every arm still running the same status. Under the manifest lock, so that an engine's own last
    write is never overwritten; a manifest that already ended is left alone. With `pids`, only a
    manifest that names one of these processes: one that names another is a later session's (an
    `eos-tui resume` from elsewhere), alive, and not this caller's to end. `fields` are written
    too (the app adds who wrote the end and why). True if it wrote."""
    path = Path(run_dir) / MANIFEST_FILE
    with manifest_lock(run_dir):
        try:
            with open(path, "rb") as fh:
                manifest = loads_json(fh.read())
        except (OSError, ValueError):
            return False
        if not isinstance(manifest, dict) or manifest.get("status") != RUNNING:
            return False
        if pids is not None and manifest.get("pid") is not None and manifest.get("pid") not in set(pids):
            return False
        manifest["status"], manifest["ended"] = status, now_iso()
        if error is not None:
            manifest["error"] = error
        manifest.update(fields)
        arms = manifest.get("arms")
        for entry in arms.values() if isinstance(arms, dict) else ():
            if isinstance(entry, dict) and entry.get("status", RUNNING) == RUNNING:
                entry["status"] = status
        write_json_atomic(path, manifest)
    return True


def process_start_time(pid: int) -> int | None:
    """When process `pid` started, in clock ticks since boot (Linux: /proc/PID/stat field 22), or
    None where that cannot be read (other systems, a gone process). With the pid in the manifest it
    names the engine process: a later process that reuses the pid has another start time."""
    try:
        with open(f"/proc/{int(pid)}/stat", encoding="ascii", errors="replace") as fh:
            fields = fh.read().rsplit(")", 1)[-1].split()
        return int(fields[19])  # field 22 overall; fields[0] here is field 3 (the state)
    except (OSError, ValueError, IndexError, OverflowError):
        return None


def create_run_dir(path: str | os.PathLike[str], *, exact: bool) -> Path:
    """Make the run directory. With `exact` (the user's --out), refuse one that exists and is not empty.

    Without `exact` the directory must not exist: `mkdir` is the atomic claim, so two runs can never
    share it (`default_run_dir` retries with the next name). An `exact` directory that already
    exists and is empty is claimed by creating its scenario.toml exclusively (`claim_file`), which a
    second run racing for it is refused.
    """
    make_run_dir(path, exact=exact)
    return Path(path)


def make_run_dir(path: str | os.PathLike[str], *, exact: bool) -> bool:
    """`create_run_dir`, returning whether this call made the directory (False: it was there, empty)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    try:
        p.mkdir()
        return True
    except FileExistsError:
        if not p.is_dir():
            raise FileExistsError(f"{p} exists and is not a directory") from None
        if not exact:
            raise
        if any(p.iterdir()):
            raise FileExistsError(f"{p} exists and is not empty; choose another --out") from None
        return False


def claim_file(path: str | os.PathLike[str], text: str) -> None:
    """Create `path` with `text`, failing (FileExistsError) if it exists: the claim on a run directory."""
    p = Path(path)
    try:
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except FileExistsError:
        raise FileExistsError(f"{p.parent} was just claimed by another run; choose another --out") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
    except BaseException:
        p.unlink(missing_ok=True)
        raise


class MetricsWriter:
    """Appends records to metrics.jsonl, whole lines, flushed as they come.

    Flushing keeps the file followable: another process (the live app, `eos-tui watch`) sees the
    lines while the run goes. Two modes:

    * `flush_interval=0` (the default): every `write`/`write_many` is flushed at once;
    * `flush_interval=s` (the engine's, 0.05 s): lines go to the file's buffer and are flushed when
      the last flush is `s` old, by the writer itself on its next write or, if none comes (a long
      eigen-solve, an idle arm), by a small flusher thread that wakes every `s`. A follower then
      sees every line within about `s` (well under a second) while a training step no longer pays
      for a write system call (bench/overhead.py). The thread only ever flushes, under the same
      lock as the writes, so lines stay whole; `close` flushes what is left.
    """

    def __init__(self, run_dir: str | os.PathLike[str], *, flush_interval: float = 0.0):
        self.path = Path(run_dir) / METRICS_FILE
        self.flush_interval = float(flush_interval)
        batched = self.flush_interval > 0
        self._fh = open(self.path, "a", encoding="utf-8", buffering=-1 if batched else 1)
        self._lock = threading.Lock()
        self._dirty = False
        self._last_flush = time.monotonic()
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: OSError | None = None  # the first failed write or flush, if any
        if batched:
            self._thread = threading.Thread(target=self._flusher, name="eos-tui-metrics-flush", daemon=True)
            self._thread.start()

    def write(self, record: Mapping[str, Any]) -> None:
        if record.get("type") not in RECORD_TYPES:
            raise ValueError(f"unknown record type {record.get('type')!r}")
        self.write_many([record])

    def write_many(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Append `records`. A write that fails (disk full, file-size limit) raises OSError, and so
        does every later call: once a line may be lost, the file is not written to again."""
        if self.error is not None:
            raise self.error
        lines = "".join(dumps_record(r) + "\n" for r in records)
        if not lines:
            return
        if self._thread is None:
            with self._failing():
                self._fh.write(lines)
                self._fh.flush()
            return
        with self._lock, self._failing():
            self._fh.write(lines)
            self._dirty = True
            now = time.monotonic()
            if now - self._last_flush >= self.flush_interval:
                self._flush(now)

    @contextlib.contextmanager
    def _failing(self) -> Iterator[None]:
        """Record the first OSError of a write or flush in `error` (and let it through)."""
        try:
            yield
        except OSError as e:
            if self.error is None:
                self.error = e
            raise

    def _flush(self, now: float) -> None:  # with the lock held
        self._fh.flush()
        self._dirty = False
        self._last_flush = now

    def _flusher(self) -> None:
        # A failed flush ends the thread quietly (no thread traceback): the error is kept in
        # `error`, and the writer's next write or its close hands it to the engine.
        while not self._closing.wait(self.flush_interval):
            with self._lock:
                if self._dirty and not self._fh.closed and self.error is None:
                    try:
                        self._flush(time.monotonic())
                    except OSError as e:
                        self.error = e
                        return

    def flush(self) -> None:
        """Push the lines written so far to the file now (before a checkpoint that counts them)."""
        if self.error is not None:
            raise self.error
        with self._lock, self._failing():
            if not self._fh.closed:
                self._flush(time.monotonic())

    def close(self) -> None:
        """Flush what is left and close the file. Never raises for a failed write: check `error`."""
        if self._thread is not None:
            self._closing.set()
            self._thread.join()
            self._thread = None
        with self._lock:
            if self._fh.closed:
                return
            try:
                with self._failing():
                    self._fh.flush()
            except OSError:
                pass
            try:
                self._fh.close()  # after a failed flush this tries again, then closes the file anyway
            except OSError:
                pass

    def __enter__(self) -> MetricsWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def new_manifest(
    *,
    scenario: str,
    seed: int,
    device: str,
    arms: list[str],
    versions: dict[str, str],
    pid: int | None = None,
    total_steps: int | None = None,
) -> Manifest:
    """The manifest at the start of a run; the engine updates `status`, `ended` and `arms` as it goes."""
    return {
        "format": FORMAT_VERSION,
        "scenario": scenario,
        "seed": seed,
        "device": device,
        "versions": versions,
        "status": RUNNING,
        "started": now_iso(),
        "ended": None,
        "pid": pid,
        "pid_start": process_start_time(pid) if pid is not None else None,
        "steps": total_steps,
        "arms": {name: {"status": RUNNING} for name in arms},
    }
