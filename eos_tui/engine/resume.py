"""Continue an interrupted run directory from its checkpoints (`eos-tui resume RUN_DIR`).

For each arm of the run's resolved scenario:
  * an arm that ended by itself (completed, diverged: its "end" record is in metrics.jsonl) stays
    as it is, records and all;
  * any other arm continues from its latest checkpoint whose records are all in the file (a
    checkpoint counts the arm's records written before it, and the metrics are flushed before a
    checkpoint is written, so only a checkpoint written as the file was damaged can fail this) and
    that restores (one that does not is passed over, said so, for an earlier one);
    its records after that point (the rest of a step cut short, the "end" of the interruption)
    are dropped from metrics.jsonl, and the run goes on appending;
  * arms that train as one vmapped batch go on from one common step, the latest at which every
    one of them has such a checkpoint (with checkpoint_every 10 and 25: a multiple of 50); without
    one, each from its own, and they train apart (batched.plan), never a batch whose arms are at
    different steps (that wrote step s − 15's numbers under step s);
  * an arm without any checkpoint starts again from step 0 (its records are dropped); one whose
    checkpoints all fail is refused, with nothing written, rather than started again over its records.
The arm's state comes back whole (θ, optimizer state, eigenvectors, every random generator's state,
the detectors'), so the records a resumed run appends are those an uninterrupted run writes, to
float rounding (bit for bit on the CPU when the arms are batched as they were).

One process writes a run at a time: `prepare` takes the session lock (rundir/lock.py) before it
reads anything, and run_scenario gives it back when the session ends. A scenario.toml edited since
the run started (its steps, its arms) is refused in one line.

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
from ..rundir.lock import RunBusy
from ..rundir.reader import ENGINE_LOST, effective_status, json_lines, read_json_object
from ..rundir.session import RunSession
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
    """What `run_scenario(..., resume=)` needs: the arms, built and restored from their checkpoints
    (`restore`), the records kept (for the summaries), the count of each arm's records (for the next
    checkpoints) and the run's session (rundir/session.py), whose lock is held until run_scenario ends."""

    def __init__(self, run_dir: Path, scenario, manifest: dict[str, Any], session: RunSession | None = None):
        self.run_dir, self.scenario, self.old_manifest = run_dir, scenario, manifest
        self.session = session
        self.checkpoints: dict[str, tuple[dict, dict] | None] = {}  # the one each arm was restored from
        self.candidates: dict[str, dict[int, tuple[dict, dict]]] = {}  # arm -> step -> a well-formed checkpoint
        self.ends: dict[str, dict[str, Any]] = {}  # arms that ended by themselves: their end record
        self.arms: dict[str, Arm] = {}
        self.devices: dict[str, Any] = {}
        self.kept: list[dict[str, Any]] = []
        self.counts: dict[str, int] = {}
        self.resumed_from: dict[str, int | str] = {}
        self.skipped: list[str] = []  # checkpoints that could not be read or restored, each one line
        self._parsed: list[tuple[bytes, dict[str, Any]]] = []
        self._have: dict[str, int] = {}
        self._kept_bytes = b""
        self._rewritten = False

    def close(self) -> None:
        """Give back the session lock (run_scenario does, at its end)."""
        if self.session is not None:
            self.session.release()

    # ---- the plan: which checkpoints can be used, which records there are ---------------------
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
        for number, line, rec, why in json_lines(lines):
            if why is not None:
                bad.append(f"{path}:{number}: {why}")
            elif isinstance(rec, dict) and isinstance(rec.get("arm"), str):
                parsed.append((line, rec))
        if bad:
            self.skipped.append(bad[0] + (f" (and {len(bad) - 1} more line(s) that are not records)" if len(bad) > 1 else ""))
        names = [a.name for a in self.scenario.arms]
        have = {n: 0 for n in names}
        stepped: dict[str, int] = {}
        for _, rec in parsed:
            a = rec["arm"]
            if a not in have:  # never drop another arm's records: the scenario was edited
                raise ResumeError(
                    f"{self.run_dir / rf.SCENARIO_FILE}: the run has records of arm {a[:40]!r}, which the scenario no longer has; "
                    "resume continues the scenario the run started with (put it back, or start a new run)"
                )
            have[a] += 1
            if rec.get("type") == rf.END and rec.get("status") in DONE:
                self.ends[a] = rec
            if rec.get("type") == rf.STEP and isinstance(rec.get("step"), int):
                stepped[a] = max(stepped.get(a, 0), rec["step"] + 1)
        self._parsed, self._have = parsed, have
        started = self.old_manifest.get("arm_steps")
        for spec in self.scenario.arms:
            before = started.get(spec.name) if isinstance(started, dict) else None
            self._check_steps(spec, before if isinstance(before, int) else None, stepped.get(spec.name, 0))
            self.candidates[spec.name] = self._usable(spec, have[spec.name])

    def _check_steps(self, spec, started: int | None, stepped: int, checkpoint: int | None = None) -> None:
        """Refuse (one line, nothing written) a scenario whose `steps` differ from those the run was
        started with, or fewer than it has taken: the records would say "completed at 310/100"."""
        if (started is None or started == spec.steps) and stepped <= spec.steps and (checkpoint is None or checkpoint == spec.steps):
            return
        was = started if started is not None else checkpoint
        told = f"the run was started with steps = {was}" if was is not None and was != spec.steps else f"the run has {stepped} steps of it"
        raise ResumeError(
            f"{self.run_dir / rf.SCENARIO_FILE}: arm {spec.name!r} has steps = {spec.steps}, but {told}; "
            "resume continues the scenario the run started with (put steps back, or start a new run)"
        )

    def _usable(self, spec, available: int) -> dict[int, tuple[dict, dict]]:
        """The arm's checkpoints that read and fit it (an arm that is done: its final one only), by step."""
        name = spec.name
        steps = ck.list_steps(self.run_dir, name)
        if name in self.ends:
            self.resumed_from[name] = self.ends[name]["status"]
            steps = steps[-1:]
        out: dict[int, tuple[dict, dict]] = {}
        for step in reversed(steps):
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
            steps_meta = meta.get("steps")
            if isinstance(steps_meta, int) and steps_meta != spec.steps:
                self._check_steps(spec, None, 0, checkpoint=steps_meta)
            changed = ck.first_difference(meta["spec"], ck.trajectory(spec)) if "spec" in meta else None
            if changed:  # the records so far came from another scenario: refused, nothing written
                raise ResumeError(
                    f"{self.run_dir / rf.SCENARIO_FILE}: arm {name!r}: {changed} when the run trained it "
                    f"(checkpoint of step {step}); resume continues the scenario the run started with (put it back, or start a new run)"
                )
            if name not in self.ends and (meta["records"] > available or meta.get("status") is not None):
                continue
            out[step] = (tensors, meta)
        return out

    # ---- the arms, built and restored ------------------------------------------------------------
    def restore(self, devices: dict[str, Any]) -> None:
        """Build every arm and restore it. Arms that train as one batch (batched.plan) go on from one
        common step, the latest at which every one of them has a checkpoint that restores; without
        one, each goes on from its own and they train apart (batched.plan keeps arms at different
        steps apart). A checkpoint that reads but does not restore is passed over, said so in
        `skipped`. Nothing is written here: an arm with checkpoints of which none can be restored is
        refused (ResumeError), not started again over its records."""
        from .batched import plan as batch_plan

        self.devices = dict(devices)
        for spec in self.scenario.arms:
            self.arms[spec.name] = Arm(spec, devices[spec.name])
        running = [self.arms[s.name] for s in self.scenario.arms if s.name not in self.ends]
        for group in batch_plan(running):
            self._restore_group(group)
        for name in self.ends:  # done: only reported in the manifest, from its final checkpoint if it restores
            found = next(iter(self.candidates[name].items()), None)
            self.checkpoints[name] = None
            if found is not None:
                try:
                    ck.staged(self.arms[name], *found[1])()
                    self.checkpoints[name] = found[1]
                except ck.CheckpointError as e:
                    self.skipped.append(f"{ck.path_for(self.run_dir, name, found[0])}: {one_line(e)}")
        self._keep()

    def _try(self, arm: Arm, step: int):
        """The commit of `arm`'s checkpoint at `step`, or None (passed over, said so) if it does not restore."""
        try:
            return ck.staged(arm, *self.candidates[arm.name][step])
        except ck.CheckpointError as e:
            self.skipped.append(f"{ck.path_for(self.run_dir, arm.name, step)}: {one_line(e)}")
            del self.candidates[arm.name][step]
            return None

    def _chosen(self, arm: Arm, step: int) -> None:
        self.checkpoints[arm.name] = self.candidates[arm.name][step]
        self.resumed_from[arm.name] = step

    def _restore_group(self, group: list[Arm]) -> None:
        while True:
            common = set.intersection(*(set(self.candidates[a.name]) for a in group))
            if not common:
                break
            step = max(common)
            commits = [self._try(a, step) for a in group]
            if all(c is not None for c in commits):
                for a, commit in zip(group, commits):
                    commit()
                    self._chosen(a, step)
                return
        for arm in group:  # no common step: each from its own latest, apart
            for step in sorted(self.candidates[arm.name], reverse=True):
                commit = self._try(arm, step)
                if commit is not None:
                    commit()
                    self._chosen(arm, step)
                    break
            else:
                listed = ck.list_steps(self.run_dir, arm.name)
                if listed:
                    why = f" (the latest: {self.skipped[-1]})" if self.skipped else ""
                    raise ResumeError(
                        f"{self.run_dir}: arm {arm.name!r} has checkpoints, but none can be restored{why}; resume will not start it "
                        f"again over its records (remove {ck.arm_dir(self.run_dir, arm.name)} to do that)"
                    )
                self.checkpoints[arm.name] = None
                self.resumed_from[arm.name] = 0

    def _keep(self) -> None:
        """Keep, per arm, its first `records` of its checkpoint (all of them for an arm that is done)."""
        keep_n = {}
        for n, count in self._have.items():
            c = self.checkpoints.get(n)
            keep_n[n] = count if n in self.ends else int(c[1]["records"]) if c is not None else 0
        seen = {n: 0 for n in keep_n}
        out_lines = []
        self.kept = []
        for line, rec in self._parsed:
            a = rec["arm"]
            if seen[a] >= keep_n[a]:
                continue
            seen[a] += 1
            out_lines.append(line)
            self.kept.append(rec)
        self.counts = seen
        self._kept_bytes = b"".join(line + b"\n" for line in out_lines)

    def rewrite_metrics(self) -> None:
        """metrics.jsonl holds the kept records only (atomically: a temporary file, then rename), once."""
        if self._rewritten:
            return
        path = self.run_dir / rf.METRICS_FILE
        fd, tmp = tempfile.mkstemp(dir=self.run_dir, prefix=f".{path.name}.", suffix=".tmp")
        try:
            if hasattr(os, "fchmod"):  # the mode the file had (mkstemp's is 0600)
                try:
                    os.fchmod(fd, os.stat(path).st_mode & 0o7777)
                except FileNotFoundError:
                    os.fchmod(fd, rf.new_file_mode())
            with os.fdopen(fd, "wb") as fh:
                fh.write(self._kept_bytes)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._rewritten = True

    # ---- what run_scenario calls -------------------------------------------------------------------
    def make_arm(self, spec, device=None) -> tuple[Arm, list[rf.Record]]:
        """The arm, as `restore` left it, with the records to emit (only a fresh start has any)."""
        arm = self.arms[spec.name]
        found = self.checkpoints.get(spec.name)
        end = self.ends.get(spec.name)
        if found is None and end is None:
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
    """Check that `run_dir` can be resumed, take its session lock and restore its arms: returns
    (scenario, Resume), the lock held until run_scenario(resume=) ends. ResumeError (one line,
    nothing written, the lock given back) for a directory that is not a run, that another process
    writes, still running, completed, edited since, or with an arm that cannot be restored."""
    run_dir = Path(run_dir)
    manifest, problem = read_json_object(run_dir / rf.MANIFEST_FILE)
    if manifest is None:
        raise ResumeError(f"{run_dir} is not a run directory (no readable manifest.json: {problem}); see `eos-tui runs`")
    session = RunSession(run_dir)
    try:
        session.acquire()  # before reading anything the plan depends on: a second resume is refused here
    except RunBusy as e:
        raise ResumeError(str(e)) from None
    try:
        return _prepare(run_dir, session)
    except BaseException:
        session.release()
        raise


def _prepare(run_dir: Path, session: RunSession):
    from ..scenario import ScenarioError, load_scenario_text
    from . import precision
    from .runner import resolve_device

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
    res = Resume(run_dir, scenario, manifest, session)
    res.plan()
    try:
        devices = {a.name: resolve_device(a.device, a.dtype) for a in scenario.arms}
    except RuntimeError as e:
        raise ResumeError(f"{source}: {e}") from None
    precision.configure(devices.values())  # as run_scenario does before it builds an arm
    res.restore(devices)
    return scenario, res


def one_line(e: BaseException) -> str:
    return " ".join(str(e).split())


def describe(res: Resume) -> str:
    parts = [f"skipped {why}" for why in res.skipped]
    for name in (a.name for a in res.scenario.arms if a.name in res.resumed_from):
        at = res.resumed_from[name]
        parts.append(f"{name}: {at}" if isinstance(at, str) else f"{name}: from step {at}")
    return "; ".join(parts)
