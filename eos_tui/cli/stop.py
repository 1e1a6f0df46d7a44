"""`eos-tui stop RUN_DIR...`: stop runs whose engine has no app to press `q` in (`run --detach`, `d`
in the app, a headless run in another terminal).

The engine is the process the manifest names, checked as `runs` checks it: its pid *and* that
process's start time (reader.pid_alive), so a later process that reuses the pid is never signalled.
It gets SIGINT, which it handles as `q` does (it stops within one Hessian-vector product, writes its
"end" records and marks the manifest "interrupted"); then the command waits, with a deadline, for
the manifest to leave "running" and the process to exit (so that `resume` or `rm` may follow at
once). An engine that exits without finishing its manifest (stopped while it was still importing
torch, before its handler was installed) gets its end written here, as the app does for its own
engine. Only SIGINT, never SIGKILL: an engine past the deadline is named with its pid, for the user
to decide.

Exit codes: 0 every run stopped, or had already ended (said so); 2 a path that is not a run
(nothing is signalled then); 1 a run still running at the deadline, or an engine not ours to signal.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from ..engine.launch import signal_engine
from ..rundir.format import RUNNING
from ..rundir.reader import effective_status, is_eos_manifest, is_run_dir, pid_alive, read_manifest, safe_text
from ..rundir.session import RunSession
from .errors import CommandError
from .exit import ExitCode

STOP_TIMEOUT_S = 60.0  # the engine stops within one HVP; the slowest (CIFAR, CPU) take seconds
POLL_S = 0.1
FINALIZED_BY_STOP = "stop"  # manifest["finalized_by"] when `eos-tui stop`, not the engine, wrote the end


def stop_hint(run: str = "RUN_DIR") -> str:
    """How to stop a run that has no app (for `rm`'s refusal and `runs`)."""
    return f"eos-tui stop {run}"


def _engine(manifest: dict[str, Any]) -> tuple[Any, Any]:
    return manifest.get("pid"), manifest.get("pid_start")


def stop_command(run_dirs: Sequence[Path], timeout: float = STOP_TIMEOUT_S, out=None) -> int:
    out = out or sys.stdout
    by_place: dict[Path, Path] = {}  # one run named twice (runs/x, ./runs/x/) is stopped once
    for p in map(Path, run_dirs):
        by_place.setdefault(p.resolve(), p)
    runs = list(by_place.values())
    manifests: dict[Path, dict[str, Any]] = {}
    for p in runs:
        manifest = read_manifest(p) if is_run_dir(p) else None
        if manifest is None or not is_eos_manifest(manifest):
            none = " (nothing stopped)" if len(runs) > 1 else ""
            raise CommandError(f"{safe_text(str(p))}: not a run directory (no eos-tui manifest.json){none}")
        manifests[p] = manifest

    waiting: dict[Path, tuple[Any, Any]] = {}
    for p in runs:
        manifest = manifests[p]
        status = effective_status(manifest)
        if status != RUNNING:
            print(f"{safe_text(str(p))}: not running ({safe_text(status)}); nothing to stop", file=out)
            continue
        pid, start = _engine(manifest)
        if not isinstance(pid, int) or isinstance(pid, bool):
            raise CommandError(
                f"{safe_text(str(p))}: its manifest names no engine process (pid {safe_text(repr(pid))})", code=ExitCode.FAILED
            )
        try:
            signal_engine(pid, signal.SIGINT, quiet=False)
        except PermissionError:
            raise CommandError(
                f"{safe_text(str(p))}: cannot signal its engine (pid {pid}): not your process", code=ExitCode.FAILED
            ) from None
        waiting[p] = (pid, start)

    deadline = time.monotonic() + timeout
    late = []
    while waiting:
        for p, (pid, start) in list(waiting.items()):
            manifest = read_manifest(p) or {}
            status = str(manifest.get("status", "unknown"))
            if status == RUNNING and not pid_alive(pid, start):
                # Gone without finishing its manifest: stopped before its handler was in place. The
                # engine is gone, so nothing else will write this manifest (the app's rule too).
                RunSession(p).interrupted(
                    stop_reason="stopped by eos-tui stop; the engine exited without finishing the manifest",
                    finalized_by=FINALIZED_BY_STOP,
                )
                status = str((read_manifest(p) or {}).get("status", "unknown"))
            if status != RUNNING and not pid_alive(pid, start):  # its end written, and the process gone
                print(f"stopped {safe_text(str(p))} ({safe_text(status)})", file=out)
                del waiting[p]
        if not waiting:
            break
        if time.monotonic() >= deadline:
            late = list(waiting.items())
            break
        time.sleep(POLL_S)
    if late:
        for p, (pid, _) in late[:-1]:
            print(f"eos-tui: {safe_text(str(p))}: still running {timeout:g} s after SIGINT (engine pid {pid})", file=sys.stderr)
        p, (pid, _) = late[-1]
        raise CommandError(
            f"{safe_text(str(p))}: still running {timeout:g} s after SIGINT (engine pid {pid}); "
            f"wait and run stop again, or end it with kill -9 {pid} (its records stay valid; runs then says engine lost)",
            code=ExitCode.FAILED,
        )
    return ExitCode.OK
