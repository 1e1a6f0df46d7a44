"""Following a run directory on a background thread (toolong style).

The thread polls metrics.jsonl (MetricsFollower: complete new records only), groups what it read
into a `Batch` (the JSON parsing and grouping stay off the UI thread, which matters when a run
with 100k steps is opened), and re-reads the manifest twice a second. The UI thread `take()`s
what is ready on its own timer and appends it to the model; nothing blocks either side.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from ..engine.launch import engine_alive
from ..rundir.format import METRICS_FILE, RUNNING
from ..rundir.reader import MetricsFollower, effective_status, read_manifest, read_status
from .ending import EngineEnd
from .model import Batch

MAX_QUEUED = 8  # batches waiting for the UI; the thread waits when the UI falls behind


def run_status(manifest: dict[str, Any] | None, engine: subprocess.Popen | None, *, own: bool = True) -> str:
    """The run's status as shown: the manifest's, "engine lost" when its engine is gone without
    saying so, "starting" before the engine wrote a manifest. `own`: the manifest is the session of
    `engine` (not a later one, `eos-tui resume` from elsewhere, whose own pid says if it lives)."""
    if manifest is None:
        if engine is not None and not engine_alive(engine):
            return "engine lost"
        return "starting" if engine is not None else "unknown"
    status = effective_status(manifest)
    if status == RUNNING and own and engine is not None and not engine_alive(engine):
        return "engine lost"
    return status


def session_of(manifest: dict[str, Any] | None) -> tuple[Any, Any] | None:
    """Which engine session wrote `manifest`: its process (pid and start time); None before any."""
    return None if manifest is None else (manifest.get("pid"), manifest.get("pid_start"))


class RunFollower:
    def __init__(self, run_dir: Path, *, engine: subprocess.Popen | None = None, interval: float = 0.1, manifest_every: float = 0.5):
        self.run_dir = Path(run_dir)
        self.engine = engine
        # With its own engine, the app writes the final status down if the engine dies silently.
        self.end = EngineEnd(self.run_dir, engine) if engine is not None else None
        self.interval = interval
        self.manifest_every = manifest_every
        self.metrics = MetricsFollower(self.run_dir / METRICS_FILE)
        self._batches: deque[Batch] = deque()
        self._manifest: tuple[dict[str, Any] | None, str] | None = None
        self._engine_status: dict[str, Any] | None = None  # status.json as last read (its phase)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self.error: str | None = None  # the last read failure, until a read succeeds again
        self._own = True  # the manifest is the session of the app's own engine (see end_reason)
        self._session: tuple[Any, Any] | None = None  # the engine session the manifest last named
        self._restarts = 0  # the metrics follower's restarts already passed on to the model
        self._thread = threading.Thread(target=self._run, name="eos-tui-follow", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def poll_now(self) -> None:
        """Ask the thread to look at the files now rather than at its next tick."""
        self._wake.set()

    def take(self) -> tuple[list[Batch], tuple[dict[str, Any] | None, str] | None]:
        """The batches read so far and the latest (manifest, status) if it was re-read."""
        with self._lock:
            batches = list(self._batches)
            self._batches.clear()
            manifest, self._manifest = self._manifest, None
        return batches, manifest

    def end_reason(self) -> str | None:
        """Why the app's own engine ended, when the app wrote it down; None once another session
        (a resume started from elsewhere) has taken the run over: that session's end is its own."""
        return self.end.reason if self.end is not None and self._own else None

    def engine_status(self) -> dict[str, Any] | None:
        """status.json as last read: what the engine is doing (importing torch, measuring λ0, ...)."""
        with self._lock:
            return self._engine_status

    def skipped(self) -> list[str]:
        """The first line of metrics.jsonl skipped as not a record, "FILE:LINE: reason" (the others
        are read): for the app's notice. Empty while every line was a record."""
        first = self.metrics.first_bad  # one str, set once by the thread: no lock needed
        return [first] if first is not None else []

    def _run(self) -> None:
        # A damaged run directory (metrics.jsonl a folder, a manifest edited by hand) must not kill
        # this thread silently, leaving a frozen screen: say what went wrong, and keep trying.
        next_manifest = 0.0
        while not self._stop.is_set():
            try:
                next_manifest = self._tick(next_manifest)
                self.error = None
            except Exception as e:  # noqa: BLE001 - shown in the header, then retried
                self.error = f"{type(e).__name__}: {e}"
                self._wake.wait(max(self.interval, 0.5))
                self._wake.clear()

    def _tick(self, next_manifest: float) -> float:
        """One look at the files; returns when the manifest is due again."""
        now = time.monotonic()
        if now >= next_manifest:
            # Read the manifest before the metrics: a status that says "ended" then comes
            # with all the records written before it.
            manifest = read_manifest(self.run_dir)
            own = self.end is None or self.end.owns(manifest)
            running = manifest is not None and manifest.get("status") == RUNNING
            if self.end is not None and own and running and not engine_alive(self.engine):
                manifest, _ = self.end.died()  # re-read: the engine may have finished it as it exited
                own = self.end.owns(manifest)  # or a resume from elsewhere took the run over meanwhile
            elif self.end is not None and manifest is None and self.end.reason is None and not engine_alive(self.engine):
                self.end.exited_without_manifest()
            session = session_of(manifest)
            if session is not None and session != self._session:
                if self._session is not None:
                    # Another engine session (`eos-tui resume`): it rewrote metrics.jsonl back to
                    # its checkpoints before it wrote this manifest. Read the file again from its
                    # start, whatever its size and inode say, and the model forgets what it had.
                    self.metrics.restart()
                self._session = session
            status = run_status(manifest, self.engine, own=own)
            engine_status = read_status(self.run_dir)
            with self._lock:
                self._manifest = (manifest, status)
                self._engine_status = engine_status
                self._own = own
            next_manifest = now + self.manifest_every
        records = self.metrics.poll()
        if self.metrics.restarts != self._restarts:
            # The file is read again from its start (rewritten, cut, or a new session): the batches
            # still queued are of the old one, and the model forgets what it had (Batch.reset).
            self._restarts = self.metrics.restarts
            with self._lock:
                self._batches.clear()
                self._batches.append(Batch.from_records(records, reset=""))
            return next_manifest
        if records:
            batch = Batch.from_records(records)
            while not self._stop.is_set():
                with self._lock:
                    if len(self._batches) < MAX_QUEUED:
                        self._batches.append(batch)
                        break
                time.sleep(0.02)
            return next_manifest  # there may be more right away (a long history is read in chunks)
        self._wake.wait(self.interval)
        self._wake.clear()
        return next_manifest
