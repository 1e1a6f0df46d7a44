"""When the app's own engine ends without saying so, the app writes the run's final status.

The engine finalises its manifest itself when it completes, diverges, fails with an exception or
is stopped with SIGINT/SIGTERM. It cannot when it is killed (kill -9, the OOM killer, a crash in
native code) or when the app had to SIGKILL it. Then the manifest would say "running" forever;
the app, being the engine's parent, knows how it ended (its exit status) and writes that down:

* the engine died on its own: status "failed", `error` "engine exited with signal 9 (SIGKILL)"
  (or "... with code N");
* the app stopped it (`q`, or the app closed) and it did not finish the manifest: "interrupted",
  with `stop_reason`.

Arms still "running" take the run's status; everything else (per-arm steps, metrics.jsonl) stays as
the engine left it. A manifest the engine already finalised is never overwritten.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any, Iterable

from ..engine.launch import engine_alive
from ..rundir.format import FAILED, INTERRUPTED
from ..rundir.reader import read_manifest
from ..rundir.session import RunSession

FINALIZED_BY_APP = "app"  # manifest["finalized_by"] when the app, not the engine, wrote the end


def exit_reason(returncode: int | None) -> str:
    """How a process ended, in words: "engine exited with signal 9 (SIGKILL)" or "... with code 1"."""
    if returncode is None:
        return "engine ended (exit status unknown)"
    if returncode < 0:
        try:
            name = f" ({signal.Signals(-returncode).name})"
        except ValueError:
            name = ""
        return f"engine exited with signal {-returncode}{name}"
    return f"engine exited with code {returncode}"


def finalize_manifest(run_dir: Path, status: str, reason: str, *, pids: Iterable[int] | None = None) -> tuple[dict[str, Any] | None, bool]:
    """Write `status` and `reason` into RUN_DIR's manifest if it still says "running" (and, with
    `pids`, still names one of those processes: see `EngineEnd.pids`).

    Returns (the manifest as it now is, whether this call wrote it). Call only once the engine has
    exited: then nothing else writes the manifest, and a "running" one will never be finished.
    """
    # The same write as every other "the engine could not say it" end: under the manifest lock,
    # never over a manifest that already ended.
    session = RunSession(run_dir)
    if status == FAILED:
        wrote = session.failed(reason, pids=pids, finalized_by=FINALIZED_BY_APP)
    else:
        wrote = session.interrupted(stop_reason=reason, pids=pids, finalized_by=FINALIZED_BY_APP)
    return read_manifest(run_dir), wrote


class EngineEnd:
    """The app's engine, seen from the two places that may write its end: the follower thread
    (the engine died by itself) and the stop (the app stopped it). A lock and the `stopping` flag
    make sure one writes, with the right status."""

    def __init__(self, run_dir: Path, engine: subprocess.Popen | None):
        self.run_dir = Path(run_dir)
        self.engine = engine
        self.stopping = False  # the app is stopping the engine: the stop writes the status
        self.reason: str | None = None  # why the run ended, when the app wrote it down
        self._lock = threading.Lock()

    @property
    def pids(self) -> tuple[int, ...]:
        """The processes whose manifest is the app's to end: its engine's, and its own (the first
        manifest, written before the engine started, names the app). A manifest that names another
        process is a later session's, started from elsewhere (`eos-tui resume` after the engine
        died): the app never ends it, however its own engine ended."""
        return (os.getpid(),) if self.engine is None else (self.engine.pid, os.getpid())

    def owns(self, manifest: dict[str, Any] | None) -> bool:
        """Whether `manifest` is of the app's own engine's session (see `pids`)."""
        pid = (manifest or {}).get("pid")
        return pid is None or pid in self.pids

    def died(self) -> tuple[dict[str, Any] | None, bool]:
        """The engine is gone while its manifest said "running": record "failed" with how it
        exited, unless the app is stopping it. Returns (the manifest now, whether it was written)."""
        with self._lock:
            if self.engine is None or self.stopping or engine_alive(self.engine):
                return read_manifest(self.run_dir), False
            reason = exit_reason(self.engine.returncode)
            manifest, wrote = finalize_manifest(self.run_dir, FAILED, reason, pids=self.pids)
            if wrote:
                self.reason = reason
            return manifest, wrote

    def exited_without_manifest(self) -> None:
        """The engine is gone before it wrote a manifest (it could not start): nothing to write
        into, but the header says how it exited and where to look."""
        with self._lock:
            if self.engine is not None and not self.stopping and not engine_alive(self.engine):
                self.reason = f"{exit_reason(self.engine.returncode)} before writing a manifest; see engine.log"

    def begin_stop(self) -> bool:
        """Mark the engine as being stopped by the app; False if it already was."""
        with self._lock:
            first, self.stopping = not self.stopping, True
            return first

    def stopped(self, clean: bool, timeout: float) -> bool:
        """After stop_engine: if the engine left its manifest "running" (killed, or it exited
        without finishing it), record "interrupted". Returns whether the app wrote it."""
        with self._lock:
            if self.engine is None:
                return False
            if clean:
                reason = f"stopped by the app; {exit_reason(self.engine.returncode)} without finishing the manifest"
            else:
                reason = f"stopped by the app; the engine did not stop within {timeout:g} s of SIGINT and SIGTERM and was killed (SIGKILL)"
            _, wrote = finalize_manifest(self.run_dir, INTERRUPTED, reason, pids=self.pids)
            if wrote:
                self.reason = reason
            return wrote
