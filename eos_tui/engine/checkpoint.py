"""Checkpoints: an arm's whole training state in one safetensors file, and back.

`checkpoints/ARM/STEP.safetensors` in the run directory holds, at θ_STEP (before that step's update):

  tensors   theta; the optimizer's state ("opt.0", "opt.1", ...: momentum buffer, Adam's m, v and
            step); the last eigenvectors (the warm start of the next solve, and u of ⟨∇L, u⟩);
            the state of every random generator the arm draws from ("rng.eig", "rng.sgd", the
            per-step tracker's), so that SGD's next mini-batch and the next random Lanczos start
            are the ones an uninterrupted run draws; the tracker's warm starts; the quadratic's
            closed-form coordinates; the self-stabilization measurement's θ† (before its next
            projection), warm starts and generator ("selfstab.*");
  metadata  one JSON string under "eos_tui": the step, the arm's status, its scalars (η resolved
            from lr_relative, λ0, the latest λ_max, the initial loss, HVPs spent), the online
            detectors' state (period-2, catapult, EoS onset: plain numbers and windows) and how
            many of the arm's metrics records precede the checkpoint ("records"), the
            self-stabilization measurement's counters and map point ("selfstab"), which is how
            `resume` cuts metrics.jsonl back to exactly this point.

The state is the arm's own account of it (`Arm.state_dict`, an ArmState: each part, the tracker,
the reparameterization checks and the detectors, gives its `state_dict`), written under the names
above, and set back with `Arm.load_state_dict`; this module reads no other class's private fields.

safetensors stores raw tensors and string metadata only (no pickle): loading a checkpoint can never
run code. Writes go to a temporary file in the same folder, then `os.replace`: a checkpoint is whole
or absent.
"""

from __future__ import annotations

import copy
import json
import math
import os
import sys
import tempfile
from collections import deque
from pathlib import Path
from typing import Any, Callable

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..rundir import format as rf
from ..rundir.parsing import loads_json
from .arm import DETECTORS, SCALARS, ArmState
from .selfstab import STATE_SCALARS as SELFSTAB_SCALARS
from .selfstab import STATE_TENSORS as SELFSTAB_TENSORS

FORMAT = 1
META_KEY = "eos_tui"
# tensors of shape (n,) or (k, n)
VECTORS = ("vectors", "raw_vector", "tracker.vectors", "theory.coords", "selfstab.pending", "selfstab.gd_vectors", "selfstab.vectors")
MAX_OPT_TENSORS = 8  # the largest optimizer state is Adam's (m, v, t)
# The parts of an arm's spec that decide its trajectory θ_0, θ_1, …: a checkpoint records them
# ("spec"), and `resume` refuses a scenario.toml edited in any of them since (engine/resume.py).
# Not measure (what is measured, not where θ goes), engine, device or description; nor data.path
# (the same data moved elsewhere).
TRAJECTORY = ("seed", "steps", "dtype", "loss", "data", "model", "optimizer", "schedule")


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not fit the arm it is meant for."""


def arm_dir(run_dir: str | os.PathLike[str], arm: str) -> Path:
    return Path(run_dir) / rf.CHECKPOINT_DIR / arm


def path_for(run_dir: str | os.PathLike[str], arm: str, step: int) -> Path:
    return arm_dir(run_dir, arm) / f"{int(step)}{rf.CHECKPOINT_SUFFIX}"


def list_steps(run_dir: str | os.PathLike[str], arm: str) -> list[int]:
    """The steps an arm has checkpoints for, ascending (names that are not STEP.safetensors are ignored)."""
    d = arm_dir(run_dir, arm)
    out = []
    try:
        names = os.listdir(d)
    except OSError:
        return []
    for name in names:
        stem = name[: -len(rf.CHECKPOINT_SUFFIX)] if name.endswith(rf.CHECKPOINT_SUFFIX) else ""
        if stem.isdigit() and stem == str(int(stem)):
            out.append(int(stem))
    return sorted(out)


def trajectory(spec) -> dict[str, Any]:
    """The arm's TRAJECTORY keys as plain JSON values (what a checkpoint's "spec" holds)."""
    from ..scenario.loader import arm_to_dict

    d = arm_to_dict(spec)
    out = {k: d[k] for k in TRAJECTORY}
    out["data"] = {k: v for k, v in out["data"].items() if k != "path"}
    return loads_json(json.dumps(out))  # plain JSON values, as a checkpoint's meta reads back


def first_difference(was: Any, now: Any, prefix: str = "") -> str | None:
    """Where two `trajectory` tables differ, in words ("optimizer.lr is 0.3, was 0.5"), or None."""
    if isinstance(was, dict) and isinstance(now, dict):
        for k in sorted(set(was) | set(now)):
            d = first_difference(was.get(k), now.get(k), f"{prefix}{k}.")
            if d:
                return d
        return None
    return None if was == now else f"{prefix[:-1]} is {now!r}, was {was!r}"


# ---- plain-Python state of the detectors (JSON, no pickle) ------------------------------------


def _enc(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return {"float": repr(v)}
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, deque):
        return {"deque": [_enc(x) for x in v], "maxlen": v.maxlen}
    if isinstance(v, (list, tuple)):
        return {"list": [_enc(x) for x in v]}
    if isinstance(v, set):
        return {"set": [_enc(x) for x in v]}
    if isinstance(v, dict):  # a part's own state (a detector's window): written as the object it was
        return {"object": encode_state(v)}
    raise TypeError(f"cannot checkpoint a {type(v).__name__}")


def _dec(v: Any) -> Any:
    if not isinstance(v, dict):
        return v
    if "float" in v:
        return float(v["float"])
    if "deque" in v:
        return deque((_dec(x) for x in v["deque"]), maxlen=v["maxlen"])
    if "list" in v:
        return [_dec(x) for x in v["list"]]
    if "set" in v:
        return {_dec(x) for x in v["set"]}
    if "object" in v:
        return decode_state(v["object"])
    raise CheckpointError(f"unknown value in a checkpoint's state: {sorted(v)}")


def encode_state(state: dict[str, Any]) -> dict[str, Any]:
    """A detector's `state_dict` (plain values, deques, sets, nested states) as JSON-able values."""
    return {k: _enc(v) for k, v in state.items()}


def decode_state(state: dict[str, Any]) -> dict[str, Any]:
    return {k: _dec(v) for k, v in state.items()}


# ---- the optimizer state: None, a tensor or a tuple of tensors --------------------------------


def _flatten_state(state: Any, tensors: dict[str, torch.Tensor]) -> str:
    if state is None:
        return "none"
    if isinstance(state, torch.Tensor):
        tensors["opt.0"] = state
        return "tensor"
    for i, s in enumerate(state):
        tensors[f"opt.{i}"] = s
    return f"tuple:{len(state)}"


def _unflatten_state(layout: str, tensors: dict[str, torch.Tensor], device: torch.device) -> Any:
    if layout == "none":
        return None
    if layout == "tensor":
        return tensors["opt.0"].to(device)
    n = int(layout.split(":", 1)[1])
    return tuple(tensors[f"opt.{i}"].to(device) for i in range(n))


def state_row(state: Any, i: int) -> Any:
    """Row i of a stacked (vmapped batch) optimizer state: one arm's own state."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(state_row(s, i) for s in state)
    return state[i]


# ---- one arm -------------------------------------------------------------------------------------


def arm_state(arm, rule_state: Any, records: int) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(tensors, metadata) of an arm between two steps. `rule_state`: its optimizer state (the arm's
    own, or its row of a vmapped batch's); `records`: how many of its records were written so far."""
    return state_file(arm.state_dict().with_rule_state(rule_state), arm, records)


def state_file(state: ArmState, arm, records: int) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(tensors, metadata) of `arm`'s state `state` (the names and keys of FORMAT 1)."""
    assert state.eig_rng is not None and state.sgd_rng is not None, "a checkpoint holds every generator's state"
    tensors: dict[str, torch.Tensor] = {"theta": state.theta}
    if state.vectors is not None:
        tensors["vectors"] = state.vectors
    if state.raw_vector is not None:
        tensors["raw_vector"] = state.raw_vector
    layout = _flatten_state(state.rule_state, tensors)
    tensors["rng.eig"] = state.eig_rng
    tensors["rng.sgd"] = state.sgd_rng
    meta: dict[str, Any] = {
        "format": FORMAT,
        "arm": arm.name,
        "step": state.t,
        "steps": arm.steps,
        "records": records,
        "status": state.status,
        "dtype": str(arm.dtype).replace("torch.", ""),
        "numel": state.theta.numel(),
        "optimizer": arm.spec.optimizer.kind,
        "spec": trajectory(arm.spec),
        "opt_layout": layout,
        "scalars": {k: _enc(state.scalars[k]) for k in SCALARS},
        "detectors": {k: encode_state(state.detectors[k]) for k in DETECTORS},
        "reparam": {"_warned": state.reparam["warned"], "_failed_alphas": _enc(state.reparam["failed_alphas"])},
    }
    tr = state.tracker
    if tr is not None:
        tensors["tracker.rng"] = tr["rng"]
        if tr["vectors"] is not None:
            tensors["tracker.vectors"] = tr["vectors"]
        for phase, v in tr["next_by_phase"].items():
            tensors[f"tracker.next.{phase}"] = v
        meta["tracker"] = {
            "last_by_phase": {str(k): _enc(v) for k, v in tr["last_by_phase"].items()},
            "since": {str(k): v for k, v in tr["since"].items()},
            "updates": tr["updates"],
            "total_hvps": tr["total_hvps"],
            "refreshes": tr["refreshes"],
        }
    if state.theory_coords is not None:
        tensors["theory.coords"] = state.theory_coords
    ss = state.selfstab
    if ss is not None:
        tensors["selfstab.rng"] = ss["rng"]
        for k in SELFSTAB_TENSORS:
            if ss[k] is not None:
                tensors[f"selfstab.{k}"] = ss[k]
        meta["selfstab"] = {k: _enc(v) for k, v in ss["scalars"].items()}
    return tensors, meta


def save(path: str | os.PathLike[str], tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> Path:
    """Write a checkpoint atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # safetensors wants contiguous tensors that share no memory, on the CPU to be read anywhere
    plain = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(plain, tmp, metadata={META_KEY: json.dumps(meta, allow_nan=False)})
        # The umask's mode, as every other file of the run: mkstemp makes 0600, and save_file sets
        # 0600 again on the file it writes, so the mode is set after it.
        os.chmod(tmp, rf.new_file_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load(path: str | os.PathLike[str]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(tensors, metadata) of a checkpoint; CheckpointError for a file that is not one of ours."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            raw = (fh.metadata() or {}).get(META_KEY)
        # Fresh memory for every tensor: safetensors hands out views into its file buffer at any byte
        # offset (8 mod 64, say), and the CPU kernels take another summation path for memory that is
        # not 64-byte aligned, so `g @ u` on a loaded u differs in the last bit from `g @ u.clone()`,
        # and a resumed run from an uninterrupted one. torch's CPU allocator aligns to 64 bytes.
        tensors = {k: v.clone(memory_format=torch.contiguous_format) for k, v in load_file(str(path)).items()}
    except (OSError, SafetensorError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path}: not a readable checkpoint ({e})") from None
    try:
        meta = loads_json(raw) if raw is not None else None
    except ValueError:
        meta = None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or "theta" not in tensors:
        raise CheckpointError(f"{path}: not an eos-tui checkpoint (format {FORMAT})")
    problem = _problem(tensors, meta)
    if problem:
        raise CheckpointError(f"{path}: a damaged checkpoint ({problem})")
    return tensors, meta


def _encoded(v: Any, depth: int = 0) -> bool:
    """Whether `v` is a value `_enc` writes (so that `_dec` reads it back without an error)."""
    if v is None or isinstance(v, (bool, int, float, str)):
        return True
    if not isinstance(v, dict) or len(v) not in (1, 2) or depth > 8:
        return False
    if "float" in v:
        text = v["float"]
        return len(v) == 1 and text in ("inf", "-inf", "nan")
    if "deque" in v:
        items, maxlen = v["deque"], v.get("maxlen")
        if set(v) - {"deque", "maxlen"} or not isinstance(items, list):
            return False
        return (maxlen is None or (_int(maxlen) and maxlen >= len(items))) and all(_encoded(x, depth + 1) for x in items)
    if len(v) != 1:
        return False
    if "list" in v:
        return isinstance(v["list"], list) and all(_encoded(x, depth + 1) for x in v["list"])
    if "set" in v:  # of plain values (a set holds nothing unhashable)
        return isinstance(v["set"], list) and all(x is None or isinstance(x, (bool, int, float, str)) for x in v["set"])
    if "object" in v:
        return isinstance(v["object"], dict) and all(_encoded(x, depth + 1) for x in v["object"].values())
    return False


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _problem(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> str | None:
    """What in a checkpoint's tensors and metadata does not have the form `arm_state` writes (None: all
    does), so that a damaged or hand-made file is refused as it is read, never half-restored."""
    for key in ("step", "records", "numel"):
        if not _int(meta.get(key)):
            return f"metadata {key!r} is not a count"
    if not isinstance(meta.get("arm"), str) or not (meta.get("status") is None or isinstance(meta.get("status"), str)):
        return "metadata 'arm' or 'status' is not a string"
    theta = tensors["theta"]
    n = meta["numel"]
    if theta.dim() != 1 or not theta.is_floating_point() or theta.numel() != n:
        return f"θ is {tuple(theta.shape)} {theta.dtype}, not a vector of {n} floats"
    layout = meta.get("opt_layout")
    opt = {"none": 0, "tensor": 1}.get(layout) if isinstance(layout, str) else None
    if opt is None and isinstance(layout, str) and layout.startswith("tuple:") and layout[6:].isdigit():
        opt = int(layout[6:])
    if opt is None or opt > MAX_OPT_TENSORS:
        return f"metadata 'opt_layout' {str(layout)[:40]!r} is not an optimizer state's layout"
    if "spec" in meta and not isinstance(meta["spec"], dict):
        return "metadata 'spec' is not a table"
    for key in ("scalars", "detectors", "reparam"):
        if not isinstance(meta.get(key), dict):
            return f"metadata {key!r} is not a table"
    extra = set(meta["scalars"]) - set(SCALARS) or set(meta["detectors"]) - set(DETECTORS)
    if extra:
        return f"metadata names {sorted(extra)[0]!r}, which is not part of an arm's state"
    if not all(isinstance(v, dict) for v in meta["detectors"].values()) or not {"_warned", "_failed_alphas"} <= set(meta["reparam"]):
        return "metadata 'detectors' or 'reparam' is not an arm's"
    values = [*meta["scalars"].values(), *(x for d in meta["detectors"].values() for x in d.values()), meta["reparam"]["_failed_alphas"]]
    if not all(_encoded(v) for v in values):
        return "metadata 'scalars', 'detectors' or 'reparam' holds a value the engine does not write"
    if "tracker" in meta:
        tm = meta["tracker"]
        if not (isinstance(tm, dict) and all(_int(tm.get(k)) for k in ("updates", "total_hvps", "refreshes"))):
            return "metadata 'tracker' is not a tracker's"
        last, since = tm.get("last_by_phase"), tm.get("since")
        if not (isinstance(last, dict) and isinstance(since, dict)) or not all(k.isdigit() for k in [*last, *since]):
            return "metadata 'tracker' is not a tracker's"
        if not all(_encoded(v) for v in last.values()) or not all(_int(v) for v in since.values()):
            return "metadata 'tracker' is not a tracker's"
    if "selfstab" in meta:
        sm = meta["selfstab"]
        if not (isinstance(sm, dict) and set(sm) == set(SELFSTAB_SCALARS) and all(_encoded(v) for v in sm.values())):
            return "metadata 'selfstab' is not a self-stabilization measurement's"
    rngs = ("rng.eig", "rng.sgd") + (("tracker.rng",) if "tracker" in meta else ()) + (("selfstab.rng",) if "selfstab" in meta else ())
    for key in rngs:
        t = tensors.get(key)
        if t is None or t.dtype != torch.uint8 or t.dim() != 1:
            return f"tensor {key!r} is missing or not a generator's state"
    for key, t in tensors.items():
        if key in ("theta", "rng.eig", "rng.sgd", "tracker.rng", "selfstab.rng"):
            continue
        if key.startswith("opt."):
            i = key[4:]
            if not (i.isdigit() and int(i) < opt) or not t.is_floating_point() or (t.dim() and t.shape != theta.shape):
                return f"tensor {key!r} does not fit the optimizer state {layout!r} of θ"
        elif key in VECTORS or (key.startswith("tracker.next.") and key[13:].isdigit()):
            if not t.is_floating_point() or t.dim() not in (1, 2) or t.shape[-1] != n:
                return f"tensor {key!r} is {tuple(t.shape)} {t.dtype}, not vectors of {n} floats"
        else:
            return f"tensor {key!r} is not part of an arm's state"
    missing = [f"opt.{i}" for i in range(opt) if f"opt.{i}" not in tensors]
    return f"tensor {missing[0]!r} is missing" if missing else None


def restore_arm(arm, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    """Put a checkpoint's state into a freshly built Arm of the same spec (see `arm_state`);
    CheckpointError, one line, for a state that does not fit it, with the arm left as it was (every
    value is decoded and tried first, then all are set), so that `resume` can try an earlier one."""
    staged(arm, tensors, meta)()


def staged(arm, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> Callable[[], None]:
    """Decode and try a checkpoint's state against `arm` without changing it; returns what sets it
    (which cannot fail). CheckpointError, one line, for a state that does not fit the arm."""
    try:
        return _staged(arm, tensors, meta)
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError, IndexError) as e:
        raise CheckpointError(
            f"arm {arm.name!r}: the checkpoint of step {meta.get('step')} does not fit the arm ({type(e).__name__}: {e})"
        ) from None


def _generator_state(t: torch.Tensor) -> torch.Tensor:
    """A generator's state, tried on a generator of its own: set_state refuses a state of the wrong
    size (RuntimeError) only when it is set, and the arm's own must not be touched before commit."""
    torch.Generator().set_state(t)
    return t


def _staged(arm, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> Callable[[], None]:
    theta = tensors["theta"]
    if theta.shape != arm.theta.shape or theta.dtype != arm.theta.dtype:
        raise CheckpointError(
            f"arm {arm.name!r}: the checkpoint's θ is {tuple(theta.shape)} {theta.dtype}, the scenario's "
            f"{tuple(arm.theta.shape)} {arm.theta.dtype}"
        )
    dev = arm.device
    detectors = {k: decode_state(d) for k, d in meta["detectors"].items()}
    now = arm.state_dict(eig_rng=False, sgd_rng=False)
    for k, d in detectors.items():
        try:  # tried on a copy: the arm's own stays as it is
            copy.deepcopy(getattr(arm, k)).load_state_dict(d)
        except ValueError as e:
            raise CheckpointError(f"arm {arm.name!r}: {e}") from None
    tracker = None
    if now.tracker is not None and "tracker" in meta:
        tm = meta["tracker"]
        tracker = {
            "rng": _generator_state(tensors["tracker.rng"]),
            "vectors": tensors["tracker.vectors"].to(dev) if "tracker.vectors" in tensors else None,
            "next_by_phase": {int(k.rsplit(".", 1)[1]): v.to(dev) for k, v in tensors.items() if k.startswith("tracker.next.")},
            "last_by_phase": {int(k): _dec(v) for k, v in tm["last_by_phase"].items()},
            "since": {int(k): v for k, v in tm["since"].items()},
            "updates": tm["updates"],
            "total_hvps": tm["total_hvps"],
            "refreshes": tm["refreshes"],
        }
    selfstab = None
    if arm.selfstab is not None and "selfstab" in meta:
        selfstab = {
            "rng": tensors["selfstab.rng"],
            **{k: tensors[f"selfstab.{k}"].to(dev) if f"selfstab.{k}" in tensors else None for k in SELFSTAB_TENSORS},
            "scalars": {k: _dec(v) for k, v in meta["selfstab"].items()},
        }
        try:  # checked, changing nothing
            arm.selfstab.check_state(selfstab)
        except ValueError as e:
            raise CheckpointError(f"arm {arm.name!r}: {e}") from None
    state = ArmState(
        theta=theta.to(dev),
        t=int(meta["step"]),
        status=meta.get("status"),
        rule_state=_unflatten_state(meta["opt_layout"], tensors, dev),
        vectors=tensors["vectors"].to(dev) if "vectors" in tensors else None,
        raw_vector=tensors["raw_vector"].to(dev) if "raw_vector" in tensors else None,
        eig_rng=_generator_state(tensors["rng.eig"]),
        sgd_rng=_generator_state(tensors["rng.sgd"]),
        scalars={k: _dec(v) for k, v in meta["scalars"].items()},
        detectors=detectors,
        reparam={"warned": bool(meta["reparam"]["_warned"]), "failed_alphas": set(_dec(meta["reparam"]["_failed_alphas"]))},
        tracker=tracker,
        theory_coords=tensors["theory.coords"] if now.theory_coords is not None and "theory.coords" in tensors else None,
        selfstab=selfstab,
    )
    return lambda: arm.load_state_dict(state)


# ---- the runner's side -----------------------------------------------------------------------------


def members(unit) -> list[Any]:
    """The arms a unit (an Arm, or an ArmBatch) steps now."""
    arms = getattr(unit, "arms", None)
    return [unit] if arms is None else list(arms)


def unit_states(unit, before: list[Any] | None = None) -> list[tuple[Any, Any]]:
    """(arm, its optimizer state) for each arm of a unit: an Arm's own, an ArmBatch's rows; with
    `before` (the unit's members before a step), also the arms that left the batch in that step
    (ArmBatch leaves each its row in `rule_state` when it goes)."""
    arms = getattr(unit, "arms", None)
    if arms is None:
        return [(unit, unit.rule_state)]
    out = [(a, state_row(unit.rule_state, i)) for i, a in enumerate(arms)]
    return out + [(a, a.rule_state) for a in before or [] if a not in arms]


class StepStart:
    """What a step can change before its last possible stop point (every eigen-solve checks for a
    stop request between HVPs), kept at the start of the step so that a step cut short by a stop
    can be undone and the arm checkpointed where it stood: each arm's `state_dict`. Cheap:
    references to tensors the step replaces (never mutates), a few numbers, and the state of a
    generator only on steps that draw from it (SGD's batch, an eigen-solve's random start)."""

    __slots__ = ("unit", "states")

    def __init__(self, unit) -> None:
        self.unit = unit
        self.states = [(a, self.take(a)) for a in members(unit)]

    @staticmethod
    def take(arm) -> ArmState:
        t, m = arm.t, arm.spec.measure
        kind = arm.spec.optimizer.kind
        solves = arm.measures_at(t) or bool(m.reparam_every and t % m.reparam_every == 0) or kind == "flow"
        return arm.state_dict(eig_rng=solves, sgd_rng=kind == "sgd")

    def undo(self) -> None:
        """Put every arm of the unit back where the step found it."""
        for arm, state in self.states:
            arm.load_state_dict(state)


class Checkpointer:
    """What the runner calls: counts each arm's records (`seen`), writes the periodic and final
    checkpoints after a step (`after_step`) and those of the arms still running when the run stops
    (`at_stop`). `flush` makes the metrics written so far reach the file before a checkpoint that
    counts them is written (so a checkpoint never counts records the file has not got)."""

    def __init__(self, run_dir: str | os.PathLike[str], flush: Callable[[], None], counts: dict[str, int] | None = None):
        self.run_dir = Path(run_dir)
        self.flush = flush
        self.counts: dict[str, int] = dict(counts or {})
        self.written: dict[str, int] = {}  # arm -> the step of its latest checkpoint

    def seen(self, records: list[rf.Record]) -> None:
        for r in records:
            self.counts[r["arm"]] = self.counts.get(r["arm"], 0) + 1

    def save_arm(self, arm, rule_state: Any) -> None:
        if self.written.get(arm.name) == arm.t:
            return
        self.flush()
        tensors, meta = arm_state(arm, rule_state, self.counts.get(arm.name, 0))
        save(path_for(self.run_dir, arm.name, arm.t), tensors, meta)
        self.written[arm.name] = arm.t

    def after_step(self, unit, before: list[Any]) -> None:
        """After a step of `unit` (whose members were `before`): the periodic checkpoints due, and
        the final one of each arm that ended."""
        due = False
        for arm in before:  # the cheap test first: this runs after every step
            every = arm.spec.measure.checkpoint_every
            due = due or (arm.status is not None and self.written.get(arm.name) != arm.t) or bool(every and arm.t % every == 0)
        if not due:
            return
        for arm, state in unit_states(unit, before):
            every = arm.spec.measure.checkpoint_every
            if arm.status is not None or (every and arm.t % every == 0):
                self.save_arm(arm, state)

    def before_step(self, unit) -> StepStart:
        return StepStart(unit)

    def at_stop(self, units: list[Any], cut: StepStart | None = None) -> None:
        """Checkpoint every arm still running. `cut`: the start of the step a stop request cut short
        (inside an eigen-solve), undone first, so that its arms too are saved where they stood."""
        for unit in units:
            if cut is not None and unit is cut.unit:
                cut.undo()
            for arm, state in unit_states(unit):
                if arm.status is None:
                    try:
                        self.save_arm(arm, state)
                    except OSError as e:  # the run still ends "interrupted"; it resumes from an earlier checkpoint
                        print(f"eos-tui engine: cannot write the checkpoint of arm {arm.name!r}: {e}", file=sys.stderr)
