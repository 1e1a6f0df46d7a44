"""The records of metrics.jsonl, built and read through their TypedDicts (format.py).

Writers: one constructor per record type. Its keyword arguments are the record's fields, typed as
format.py declares them: the fields every record of the type has are required, those only some have
(the `…Extras` TypedDicts) are optional and added in the order they are given, after the required
ones. The key order is part of what is written (the stored runs under tests/app/scenario_runs, and
people's diffs of metrics.jsonl, see it), so each constructor writes its keys in the order the
TypedDict declares them.

Readers: `parse_record` checks a parsed line's type tag and returns it as the `Record` union, which
a comparison of its "type" narrows to the one record type. Only the tag is checked: a line may come
from another version of eos-tui or from a hand's edit, so readers still read the fields with .get and
check what they use (that is their logic, unchanged); the types let the checker hold the names
they read to the contract.

Imports neither torch nor textual (readers on a laptop with no torch use it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from .format import (
    END,
    EVENT,
    FLOW,
    RECORD_TYPES,
    REPARAM,
    SELFSTAB,
    SHARPNESS,
    STEP,
    EndRecord,
    EventRecord,
    FlowRecord,
    Record,
    ReparamRecord,
    SelfStabRecord,
    SharpnessRecord,
    StepRecord,
)

if TYPE_CHECKING:  # PEP 692 for Python 3.10 and 3.11; only the type checker needs it
    from typing_extensions import Unpack

    from .format import EndExtras, EventExtras, FlowExtras, SelfStabExtras, SharpnessExtras, StepExtras


def step_record(
    *,
    arm: str,
    step: int,
    loss: float | None,
    lr: float,
    grad_norm: float | None,
    proj: float | None,
    disp: float | None,
    **extras: Unpack[StepExtras],
) -> StepRecord:
    """The record of step t, at θ_t before the update."""
    rec: StepRecord = {"type": STEP, "arm": arm, "step": step, "loss": loss, "lr": lr, "grad_norm": grad_norm, "proj": proj, "disp": disp}
    if extras:
        rec.update(extras)
    return rec


def sharpness_record(
    *, arm: str, step: int, eigenvalues: list[float | None], hvps: int, residual: float | None, **extras: Unpack[SharpnessExtras]
) -> SharpnessRecord:
    """The top eigenvalues of the Hessian (of P⁻¹H for Adam and RMSprop) at θ_step."""
    rec: SharpnessRecord = {"type": SHARPNESS, "arm": arm, "step": step, "eigenvalues": eigenvalues, "hvps": hvps, "residual": residual}
    if extras:
        rec.update(extras)
    return rec


def reparam_record(
    *,
    arm: str,
    step: int,
    alpha: float,
    layer: int,
    neurons: str,
    max_output_change: float,
    loss_change: float,
    sharpness_before: float,
    sharpness_after: float,
    sharpness_predicted: float,
    adaptive_before: float,
    adaptive_after: float,
) -> ReparamRecord:
    """One reparameterization check (Dinh et al.'s T_α) at θ_step."""
    return {
        "type": REPARAM,
        "arm": arm,
        "step": step,
        "alpha": alpha,
        "layer": layer,
        "neurons": neurons,
        "max_output_change": max_output_change,
        "loss_change": loss_change,
        "sharpness_before": sharpness_before,
        "sharpness_after": sharpness_after,
        "sharpness_predicted": sharpness_predicted,
        "adaptive_before": adaptive_before,
        "adaptive_after": adaptive_after,
    }


def event_record(*, arm: str, step: int, kind: str, message: str, **extras: Unpack[EventExtras]) -> EventRecord:
    """Something that happened at step `step` (eos_onset, catapult, lr_change, diverged, ...)."""
    rec: EventRecord = {"type": EVENT, "arm": arm, "step": step, "kind": kind, "message": message}
    if extras:
        rec.update(extras)
    return rec


def end_record(*, arm: str, status: str, steps_done: int, final_loss: float | None, **extras: Unpack[EndExtras]) -> EndRecord:
    """The arm's last record: how it ended."""
    rec: EndRecord = {"type": END, "arm": arm, "status": status, "steps_done": steps_done, "final_loss": final_loss}
    if extras:
        rec.update(extras)
    return rec


def flow_record(*, arm: str, step: int, flow: str, loss: float | None, distance: float | None, **extras: Unpack[FlowExtras]) -> FlowRecord:
    """A flow (central or stable) at time t, beside the arm's θ_t."""
    rec: FlowRecord = {"type": FLOW, "arm": arm, "step": step, "flow": flow, "loss": loss, "distance": distance}
    if extras:
        rec.update(extras)
    return rec


def selfstab_record(
    *,
    arm: str,
    step: int,
    x: float | None,
    y: float | None,
    sharpness_gap: float | None,
    alpha: float | None,
    beta: float | None,
    x_pred: float | None,
    y_pred: float | None,
    distance: float | None,
    **extras: Unpack[SelfStabExtras],
) -> SelfStabRecord:
    """Damian et al.'s (x, y) displacement from the constrained trajectory θ† at step t, with the
    2-D map's prediction beside it."""
    rec: SelfStabRecord = {
        "type": SELFSTAB,
        "arm": arm,
        "step": step,
        "x": x,
        "y": y,
        "sharpness_gap": sharpness_gap,
        "alpha": alpha,
        "beta": beta,
        "x_pred": x_pred,
        "y_pred": y_pred,
        "distance": distance,
    }
    if extras:
        rec.update(extras)
    return rec


def parse_record(value: Any) -> Record | None:
    """`value` (a parsed metrics line) as a record when it is a JSON object with a known "type",
    else None (a record of a later version's type, or not a record at all: readers skip it). Its
    fields are not checked (see the module's docstring)."""
    if isinstance(value, dict) and value.get("type") in RECORD_TYPES:
        return cast("Record", value)
    return None
