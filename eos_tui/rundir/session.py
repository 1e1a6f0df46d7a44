"""One run session: the single owner of a run directory's lifecycle (no torch, no textual).

A run used to be claimed in prepare.py, its manifest written by the engine's runner and the
launcher, its end written by headless, the app, resume, `eos-tui stop`, serve and the sweep points,
each its own way. Every one of them now goes through a RunSession, one method per transition:

    claim        create the directory exclusively, write scenario.toml, the first manifest and an
                 empty metrics.jsonl (undone, and only what this call claimed, if it fails)
    acquire      the session lock (rundir/lock.py), held by the process that writes the run
    begin        the engine's manifest at the start of its session (format.new_manifest)
    reserve      room held for the final manifest on a disk that fills up
    save         an update of that manifest (under format.manifest_lock)
    phase        status.json: what the engine is doing now
    record_pid   the launcher's pid update, into a manifest that still names another process
    end          the engine's own end: completed, interrupted or failed, with the fall-backs of a
                 full disk (the reserve, then a slim manifest written in place)
    interrupted  / failed: the end written for an engine that could not write it (killed, died),
                 into a manifest that still says "running" (format.mark_run_ended)
    remove_refused  a scenario the engine refused: what `claim` made is removed again

Only this module calls format.py's manifest writers (tests/test_layers.py checks it).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any, Callable, Iterable

from . import format as rf
from .lock import LOCK_FILE, SessionLock

# What a claim writes, and what the engine may add before a refusal: removed from an --out that
# was empty before (a directory the claim made is removed whole).
_CLAIMED = (rf.SCENARIO_FILE, rf.MANIFEST_FILE, rf.METRICS_FILE)
_REFUSED = (*_CLAIMED, rf.ENGINE_LOG, rf.STATUS_FILE, LOCK_FILE)


class RunSession:
    """A run directory's lifecycle, seen from the one process that writes it now (see the module)."""

    def __init__(self, run_dir: str | os.PathLike[str], *, made: bool = False):
        self.run_dir = Path(run_dir)
        self.made = made  # whether `claim` created the directory (else: an empty --out it was given)
        self.manifest: rf.Manifest | None = None  # the engine's manifest, from `begin`
        self._lock: SessionLock | None = None
        self._reserve = self.run_dir / rf.RESERVE_FILE

    @property
    def manifest_path(self) -> Path:
        return self.run_dir / rf.MANIFEST_FILE

    # ---- claim ------------------------------------------------------------------------------
    @classmethod
    def claim(cls, scenario, *, out: str | os.PathLike[str] | None = None, root: str | os.PathLike[str] = "runs") -> RunSession:
        """Create the run directory (exactly `out`, refused if non-empty, or runs/<name>-<stamp>/),
        write the resolved scenario.toml, a first manifest and an empty metrics.jsonl.

        Two runs never share a directory: the default one is claimed by its `mkdir`, an existing
        empty --out by creating its scenario.toml exclusively. If writing fails half-way, what was
        made here is removed again, and nothing else: an --out another run claimed first is left
        to that run."""
        if out is not None:
            path = Path(out)
            made = rf.make_run_dir(path, exact=True)
        else:
            path, made = rf.default_run_dir(scenario.name, root), True
        session = cls(path, made=made)
        claimed = False
        try:
            rf.claim_file(path / rf.SCENARIO_FILE, scenario.to_toml())
            claimed = True
            # Our pid until the engine's is written (launch.start_engine, or the engine itself): if
            # this process dies first, readers see "engine lost", not "running" forever.
            manifest = session._new(scenario, versions={}, pid=os.getpid())
            rf.write_json_atomic(session.manifest_path, manifest)
            (path / rf.METRICS_FILE).touch()
        except BaseException:
            if claimed:
                session._unclaim(_CLAIMED)
            elif made:  # made here but not claimed: remove it only if still empty (rmdir refuses otherwise)
                try:
                    path.rmdir()
                except OSError:
                    pass
            raise
        return session

    def _unclaim(self, names: Iterable[str]) -> None:
        """Undo a claim: the whole directory if this session made it, else (an --out that was
        empty) the files written into it. Only after the claim succeeded: a directory whose
        scenario.toml another run created first is that run's, even if this session made it."""
        if self.made:
            shutil.rmtree(self.run_dir, ignore_errors=True)
            return
        for name in names:
            (self.run_dir / name).unlink(missing_ok=True)

    def remove_refused(self) -> None:
        """The engine refused the scenario once its model was built: bad input leaves nothing behind."""
        self._unclaim(_REFUSED)

    # ---- the session lock -------------------------------------------------------------------
    @property
    def held(self) -> bool:
        return self._lock is not None and self._lock.held

    def acquire(self) -> RunSession:
        """Take the session lock (RunBusy if another process writes the run); a no-op if held."""
        if not self.held:
            self._lock = SessionLock(self.run_dir).acquire()
        return self

    def release(self) -> None:
        lock, self._lock = self._lock, None
        if lock is not None:
            lock.release()

    # ---- the manifest -----------------------------------------------------------------------
    @staticmethod
    def _new(scenario, *, versions: dict[str, str], pid: int) -> rf.Manifest:
        manifest = rf.new_manifest(
            scenario=scenario.name,
            seed=scenario.seed,
            device="?",
            arms=[a.name for a in scenario.arms],
            versions=versions,
            pid=pid,
            total_steps=max(a.steps for a in scenario.arms),
        )
        manifest["arm_steps"] = {a.name: a.steps for a in scenario.arms}
        return manifest

    def begin(self, scenario, *, versions: dict[str, str]) -> rf.Manifest:
        """The engine's manifest for this session, naming this process; the engine fills it in and
        `save`s it. Written first by `save`: a refused start leaves the claimed manifest as it was."""
        self.manifest = self._new(scenario, versions=versions, pid=os.getpid())
        return self.manifest

    def reserve(self) -> None:
        """Hold room for the final manifest on a disk that fills up (random bytes: a compressing
        file system keeps zeros for free); given back by `end`."""
        try:
            with open(self._reserve, "wb") as fh:
                fh.write(os.urandom(rf.RESERVE_BYTES))
        except OSError:
            self._reserve.unlink(missing_ok=True)

    def save(self) -> None:
        """Write the engine's manifest, under the lock the launcher's pid update takes too."""
        assert self.manifest is not None, "begin first"
        with rf.manifest_lock(self.run_dir):
            rf.write_json_atomic(self.manifest_path, self.manifest)

    def record_pid(self, pid: int) -> None:
        """Write the engine's pid into a manifest that still names another process, under the lock
        the engine's own manifest writes take: a manifest the engine already wrote is left as it is."""
        from .reader import read_manifest

        try:
            with rf.manifest_lock(self.run_dir):
                manifest = read_manifest(self.run_dir)
                if manifest is None or manifest.get("pid") == pid or manifest.get("status") != rf.RUNNING:
                    return
                manifest["pid"] = pid
                manifest["pid_start"] = rf.process_start_time(pid)
                rf.write_json_atomic(self.manifest_path, manifest)
        except OSError:
            pass  # best effort: the engine writes its own pid as it starts

    # ---- status.json ------------------------------------------------------------------------
    def phase(self, phase: str, message: str, arm: str | None = None) -> bool:
        """status.json: what the engine is doing now (best effort, see format.write_status)."""
        return rf.write_status(self.run_dir, phase, message, arm)

    # ---- the end ----------------------------------------------------------------------------
    def end(self, status: str, sync: Callable[[], None] = lambda: None) -> str:
        """The engine's own end: `status` and the end time into its manifest, written after the
        metrics were closed (the caller's duty), then status.json's last phase. `sync` brings the
        arms' entries up to date before each write. Returns the status written: "failed" when not
        even the final manifest could be written whole.

        A full disk: the reserve is given back and the write tried again; failing that, the
        manifest is overwritten where it lies without the summaries (or with the run's status
        alone) so that it fits, rather than left saying "running"."""
        manifest = self.manifest
        assert manifest is not None, "begin first"
        manifest["status"] = status
        manifest["ended"] = rf.now_iso()
        try:
            sync()
            self.save()
        except OSError:
            self._reserve.unlink(missing_ok=True)  # a full disk: give back the space held for this
            try:
                sync()
                self.save()
            except OSError as e:
                if status != rf.FAILED:
                    status = rf.FAILED
                    manifest["error"] = f"cannot write the final manifest: {e.strerror or e}"
                manifest["status"] = status
                slim = {k: v for k, v in manifest.items() if k not in ("traceback", "arms")}
                slim["arms"] = {n: {"status": a.get("status"), "steps_done": a.get("steps_done")} for n, a in manifest["arms"].items()}
                bare = {k: manifest.get(k) for k in ("format", "scenario", "status", "error", "started", "ended", "pid")}
                with rf.manifest_lock(self.run_dir):
                    kept = any(rf.overwrite_in_place(self.manifest_path, m) for m in (slim, bare))
                how = "wrote it in place, without the summaries" if kept else "it still says what it said before"
                print(f"eos-tui engine: cannot write the final manifest ({e}); {how}", file=sys.stderr)
        self.phase(rf.PHASE_ENDED, f"ended: {status}")
        self._reserve.unlink(missing_ok=True)
        return status

    def interrupted(self, *, pids: Iterable[int] | None = None, **fields: Any) -> bool:
        """Write "interrupted" for an engine that was stopped without writing its end (killed, or
        stopped before its handler was in place). Only into a manifest that still says "running"
        (and, with `pids`, names one of them); True if it wrote. See format.mark_run_ended."""
        return rf.mark_run_ended(self.run_dir, rf.INTERRUPTED, pids=pids, **fields)

    def failed(self, error: str, *, pids: Iterable[int] | None = None, **fields: Any) -> bool:
        """Write "failed" with `error` for an engine that died without writing its end (see `interrupted`)."""
        return rf.mark_run_ended(self.run_dir, rf.FAILED, error=error, pids=pids, **fields)

    def __enter__(self) -> RunSession:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
