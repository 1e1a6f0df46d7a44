"""What the header says about a run's progress beyond the steps: what the engine is doing before
it trains (status.json: importing torch, building an arm, measuring λ0), how long the run has left
(ETA), and why it failed, with where the full log is."""

from __future__ import annotations

import datetime as _dt
import math
import time
from pathlib import Path
from typing import Callable

from ..rundir.format import ENGINE_LOG, FAILED, PHASE_ENDED, PHASE_TRAINING, RUNNING
from .ending import FINALIZED_BY_APP
from .model import RunModel, printable

# Run statuses under which the engine's phase is worth saying: "starting" is the app's own engine
# before it wrote a manifest; "unknown" a watched run without one yet.
_BEFORE_OR_RUNNING = (RUNNING, "starting", "unknown")
PHASE_MAX_CHARS = 48  # of the phase's words in the header
PHASE_MAX_SECONDS = 1e7  # a phase "begun" longer ago (a status.json's clock gone wrong) shows no seconds


def engine_phase(model: RunModel) -> tuple[str, float | None] | None:
    """(what the engine is doing, since when, Unix time) while it has not begun training; None once
    it trains, has ended, or the run is over."""
    if model.status not in _BEFORE_OR_RUNNING:
        return None
    st = model.engine_status
    if st is None:  # the engine's interpreter is starting (or an engine from before status.json)
        if model.status == "starting" or (model.status == RUNNING and model.steps_total_done == 0):
            return "starting the engine", _started(model)
        return None
    if st.get("phase") in (PHASE_TRAINING, PHASE_ENDED):
        return None
    since = st.get("since")
    since = float(since) if isinstance(since, (int, float)) and not isinstance(since, bool) and math.isfinite(since) else None
    message = printable(st.get("message") or st.get("phase") or "starting")
    if len(message) > PHASE_MAX_CHARS:  # a long arm name, or a status.json from elsewhere: the header keeps one line
        message = message[: PHASE_MAX_CHARS - 1] + "…"
    return message, since


def _started(model: RunModel) -> float | None:
    """The manifest's start time, Unix time (None where there is none to read)."""
    started = (model.manifest or {}).get("started")
    try:
        return _dt.datetime.fromisoformat(started).timestamp() if isinstance(started, str) else None
    except ValueError:
        return None


def phase_text(model: RunModel, clock: Callable[[], float] = time.time) -> str | None:
    """ "measuring λ0 of arm uv-small… 3s" (the seconds once there is one to show), or None."""
    phase = engine_phase(model)
    if phase is None:
        return None
    message, since = phase
    elapsed = clock() - since if since is not None else 0.0
    return f"{message}… {elapsed:.0f}s" if 1 <= elapsed < PHASE_MAX_SECONDS else f"{message}…"


def phase_tick(model: RunModel, clock: Callable[[], float] = time.time) -> int | None:
    """Whole seconds into the engine's phase (None when there is none to show): a change redraws the header."""
    phase = engine_phase(model)
    return None if phase is None or phase[1] is None else int(min(max(clock() - phase[1], -1.0), PHASE_MAX_SECONDS))


def eta_seconds(model: RunModel) -> float | None:
    """Seconds left at the present rate: the steps the running arms still have to take over the steps
    per second of all arms together (the engine takes them in turn). None where either is unknown,
    and until the rate is steady (rate.py: an ETA that swings tenfold in seconds says nothing)."""
    if model.status != RUNNING or model.steps_total_done == 0 or not model.rate.steady():
        return None
    rate = model.steps_per_second()
    if rate is None or not rate > 0:
        return None
    arm_steps = (model.manifest or {}).get("arm_steps")
    arm_steps = arm_steps if isinstance(arm_steps, dict) else {}
    remaining = 0
    for arm in model.arms.values():
        if arm.status != RUNNING:
            continue
        steps = arm_steps.get(arm.name, model.total_steps)
        if not isinstance(steps, int) or isinstance(steps, bool):
            return None
        remaining += max(0, steps - arm.done)
    return remaining / rate


def format_rate(rate: float) -> str:
    """ "1,234 steps/s", "4.2 steps/s", "0.42 steps/s": two significant figures below 10, where a
    whole number read "0 steps/s" for a run taking two seconds a step."""
    if rate >= 9.5:
        return f"{rate:,.0f} steps/s"
    return f"{rate:.2g} steps/s"


def format_duration(seconds: float) -> str:
    """42s, 3m05s, 1h02m."""
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def failure(model: RunModel, run_dir: Path | None) -> tuple[str, str] | None:
    """(the engine's error line, where to read more) for a failed run or arm; None otherwise."""
    if model.status != FAILED and not any(a.status == FAILED for a in model.arms.values()):
        return None
    manifest = model.manifest or {}
    error = printable(manifest.get("error") or "no reason recorded")
    log = Path(run_dir) / ENGINE_LOG if run_dir is not None else None
    where = ""
    if log is not None and log.is_file():
        where = f"full log: {printable(log)}"
        if manifest.get("finalized_by") == FINALIZED_BY_APP:
            # The engine died without a word in the manifest (the app wrote how it exited): its
            # last words are in the log (an ImportError, a CUDA error from native code).
            last = last_line(log)
            if last:
                error = f"{last} ({error})"
    elif manifest.get("traceback"):
        where = "traceback in manifest.json"
    return error, where


def last_line(path: Path, max_bytes: int = 4096) -> str | None:
    """The last non-empty line of a file, read from its end only (control characters made visible)."""
    try:
        with open(path, "rb") as fh:
            size = fh.seek(0, 2)
            fh.seek(max(0, size - max_bytes))
            tail = fh.read().decode("utf-8", "replace")
    except OSError:
        return None
    lines = [line.strip() for line in tail.splitlines() if line.strip()]
    return printable(lines[-1]) if lines else None
