"""Continue an interrupted run directory from its checkpoints (`eos-tui resume RUN_DIR`).

For each arm of the run's resolved scenario:
  * an arm that ended by itself (completed, diverged: its "end" record is in metrics.jsonl) stays
    as it is, records and all;
  * any other arm continues from its latest checkpoint whose records are all in the file (a
    checkpoint counts the arm's records written before it, and the metrics are flushed before a
    checkpoint is written, so only a checkpoint written as the file was damaged can fail this);
    its records after that point (the rest of a step cut short, the "end" of the interruption)
    are dropped from metrics.jsonl, and the run goes on appending;
  * an arm without a usable checkpoint starts again from step 0 (its records are dropped).
The arm's state comes back whole (θ, optimizer state, eigenvectors, every random generator's state,
the detectors'), so the records a resumed run appends are those an uninterrupted run writes, to
float rounding (bit for bit on the CPU when the arms are batched as they were).

metrics.jsonl is rewritten atomically (the kept lines byte for byte, then a rename) before any
training. The manifest keeps the run's first start, lists every earlier session in "history"
(started, ended, status, pid, and for a resumed session where each arm resumed from) and says
where this session resumed from in "resumed".
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from ..rundir import format as rf
from ..rundir.reader import ENGINE_LOST, effective_status, parse_line, read_json_object, why_bad
from . import checkpoint as ck
from .arm import Arm


class ResumeError(ValueError):
    """A run directory that cannot be resumed: one line saying why."""


DONE = (rf.COMPLETED, rf.DIVERGED)


def misfit(spec, *, step: int, tensors: dict, meta: dict[str, Any]) -> str | None:
    """Why a (well-formed) checkpoint cannot be this arm's at `step` of its file name (None: it can)."""
    if meta["arm"] != spec.name:
        return f"the checkpoint of arm {meta['arm'][:40]!r}, not of {spec.name!r}"
    if meta["step"] != step:
        return f"its metadata says step {meta['step']}, its name step {step}"
    theta = tensors["theta"]
    if str(theta.dtype) != f"torch.{spec.dtype}":
        return f"θ is {str(theta.dtype).replace('torch.', '')}, the scenario's arm {spec.dtype}"
    try:
        n = int(spec.parameter_count())
    except Exception:  # noqa: BLE001 - an npz header it cannot read: the arm's own build says why
        n = 0
    if n and theta.numel() != n:
        return f"θ has {theta.numel()} parameters, the scenario's arm {n}"
    return None


class Resume:
    """What `run_scenario(..., resume=)` needs: the arms' checkpoints, the records kept (for the
    summaries) and the count of each arm's records (for the next checkpoints)."""

    def __init__(self, run_dir: Path, scenario, manifest: dict[str, Any]):
        self.run_dir, self.scenario, self.old_manifest = run_dir, scenario, manifest
        self.checkpoints: dict[str, tuple[dict, dict] | None] = {}
        self.ends: dict[str, dict[str, Any]] = {}  # arms that ended by themselves: their end record
        self.kept: list[dict[str, Any]] = []
        self.counts: dict[str, int] = {}
        self.resumed_from: dict[str, int | str] = {}
        self.skipped: list[str] = []  # checkpoints that could not be read, each one line

    # ---- the plan: which checkpoint, which records --------------------------------------------
    def plan(self) -> None:
        path = self.run_dir / rf.METRICS_FILE
        try:
            raw = path.read_bytes()
        except OSError as e:
            raise ResumeError(f"{path}: cannot read: {e.strerror or e}") from None
        lines = raw.split(b"\n")
        if lines and lines[-1] != b"":  # a last line cut short (the engine was killed as it wrote)
            lines = lines[:-1]
        parsed: list[tuple[bytes, dict[str, Any]]] = []
        bad: list[str] = []  # lines that are not records, which the rewrite leaves out: said once
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                rec = parse_line(line)
            except ValueError as e:
                bad.append(f"{path}:{number}: {why_bad(e)}")
                continue
            if isinstance(rec, dict) and isinstance(rec.get("arm"), str):
                parsed.append((line, rec))
        if bad:
            self.skipped.append(bad[0] + (f" (and {len(bad) - 1} more line(s) that are not records)" if len(bad) > 1 else ""))
        names = [a.name for a in self.scenario.arms]
        have = {n: 0 for n in names}
        for _, rec in parsed:
            if rec["arm"] in have:
                have[rec["arm"]] += 1
            if rec.get("type") == rf.END and rec.get("status") in DONE:
                self.ends[rec["arm"]] = rec
        for spec in self.scenario.arms:
            self.checkpoints[spec.name] = self._pick(spec, have[spec.name])
        # Keep, per arm, its first `counts[arm]` records (all of them for an arm that is done).
        keep_n = {}
        for n in names:
            if n in self.ends:
                keep_n[n] = have[n]
            else:
                c = self.checkpoints[n]
                keep_n[n] = int(c[1]["records"]) if c is not None else 0
        seen = {n: 0 for n in names}
        out_lines = []
        for line, rec in parsed:
            a = rec["arm"]
            if a not in seen or seen[a] >= keep_n[a]:
                continue
            seen[a] += 1
            out_lines.append(line)
            self.kept.append(rec)
        self.counts = seen
        self._kept_bytes = b"".join(line + b"\n" for line in out_lines)

    def _pick(self, spec, available: int) -> tuple[dict, dict] | None:
        name = spec.name
        if name in self.ends:
            self.resumed_from[name] = self.ends[name]["status"]
            steps = ck.list_steps(self.run_dir, name)
            if not steps:
                return None
            path = ck.path_for(self.run_dir, name, steps[-1])
            try:  # only reported in the manifest: a damaged one is not needed
                found = ck.load(path)
            except ck.CheckpointError as e:
                self.skipped.append(str(e))
                return None
            why = misfit(spec, step=steps[-1], tensors=found[0], meta=found[1])
            if why:
                self.skipped.append(f"{path}: {why}")
                return None
            return found
        for step in reversed(ck.list_steps(self.run_dir, name)):
            path = ck.path_for(self.run_dir, name, step)
            try:
                tensors, meta = ck.load(path)
            except ck.CheckpointError as e:  # damaged (a crash as it was renamed into place): an earlier one
                self.skipped.append(str(e))
                continue
            why = misfit(spec, step=step, tensors=tensors, meta=meta)
            if why:
                self.skipped.append(f"{path}: {why}")
                continue
            if meta["records"] > available or meta.get("status") is not None:
                continue
            self.resumed_from[name] = int(meta["step"])
            return tensors, meta
        self.resumed_from[name] = 0
        return None

    def rewrite_metrics(self) -> None:
        """metrics.jsonl holds the kept records only (atomically: a temporary file, then rename)."""
        path = self.run_dir / rf.METRICS_FILE
        fd, tmp = tempfile.mkstemp(dir=self.run_dir, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(self._kept_bytes)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    # ---- what run_scenario calls -------------------------------------------------------------------
    def make_arm(self, spec, device) -> tuple[Arm, list[dict[str, Any]]]:
        """The arm, restored from its checkpoint, with the records to emit (only a fresh start has any)."""
        arm = Arm(spec, device)
        found = self.checkpoints.get(spec.name)
        end = self.ends.get(spec.name)
        if found is not None:
            ck.restore_arm(arm, *found)
        elif end is None:
            return arm, arm.begin()
        if end is not None:  # done: it is not trained again, only reported in the manifest
            arm.status, arm.t, arm.final_loss = end["status"], int(end.get("steps_done") or 0), end.get("final_loss")
            entry = self.old_manifest.get("arms", {}).get(spec.name, {})
            if found is None and isinstance(entry, dict):
                arm.base_lr, arm.lambda0 = entry.get("lr", arm.base_lr), entry.get("lambda0")
        return arm, []

    def prepare_manifest(self, manifest: dict[str, Any]) -> None:
        old = self.old_manifest
        history = list(old.get("history") or [])
        session = {k: old.get(k) for k in ("started", "ended", "status", "pid")}
        if isinstance(old.get("resumed"), dict):  # a resumed session: its own start (the manifest's is the run's first)
            session["started"] = old["resumed"].get("started") or session["started"]
            session["resumed_from"] = old["resumed"].get("from")
        if old.get("error"):
            session["error"] = old["error"]
        history.append(session)
        first = history[0].get("started") if history else None
        manifest["started"] = first or manifest["started"]
        manifest["history"] = history
        manifest["resumed"] = {"started": rf.now_iso(), "from": dict(self.resumed_from)}


def prepare(run_dir: str | os.PathLike[str]):
    """Check that `run_dir` can be resumed and plan it: returns (scenario, Resume). ResumeError
    (one line) for a directory that is not a run, still running, completed, or damaged."""
    from ..scenario import ScenarioError, load_scenario_text

    run_dir = Path(run_dir)
    manifest, problem = read_json_object(run_dir / rf.MANIFEST_FILE)
    if manifest is None:
        raise ResumeError(f"{run_dir} is not a run directory (no readable manifest.json: {problem}); see `eos-tui runs`")
    status = effective_status(manifest)
    if status == rf.COMPLETED:
        raise ResumeError(f"{run_dir}: the run completed; there is nothing to resume")
    if status == rf.RUNNING:
        raise ResumeError(f"{run_dir}: the run is still running (engine pid {manifest.get('pid')}); stop it first, or watch it")
    if status not in (rf.INTERRUPTED, rf.FAILED, ENGINE_LOST):
        raise ResumeError(f"{run_dir}: the manifest's status {status!r} is not one a run can be resumed from")
    source = run_dir / rf.SCENARIO_FILE
    try:
        scenario = load_scenario_text(source.read_text(encoding="utf-8"), source=str(source))
    except (OSError, UnicodeDecodeError) as e:
        raise ResumeError(f"{source}: cannot read: {e}") from None
    except ScenarioError as e:
        raise ResumeError(str(e)) from None
    # The central and stable flows (measure.central_flow, stable_flow) carry their own θ, which no
    # checkpoint holds: resuming would restart them from GD's θ and break the distances they report.
    arms_done = {rf.COMPLETED, rf.DIVERGED}
    with_flows = [
        a.name
        for a in scenario.arms
        if (a.measure.central_flow or a.measure.stable_flow) and (manifest.get("arms") or {}).get(a.name, {}).get("status") not in arms_done
    ]
    if with_flows:
        raise ResumeError(
            f"{run_dir}: arm {', '.join(with_flows)} runs the central or stable flow, whose state checkpoints do not hold; "
            "resume cannot continue it (run the scenario again)"
        )
    res = Resume(run_dir, scenario, manifest)
    res.plan()
    return scenario, res


def describe(res: Resume) -> str:
    parts = [f"skipped {why}" for why in res.skipped]
    for name, at in res.resumed_from.items():
        parts.append(f"{name}: {at}" if isinstance(at, str) else f"{name}: from step {at}")
    return "; ".join(parts)
