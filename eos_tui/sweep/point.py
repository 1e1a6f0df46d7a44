"""One point of a sweep, run where the executor puts it (a pool process or a Ray task).

The point's scenario is the sweep's scenario with the point's keys set (as `run --set`), trained by
the engine's own runner into an ordinary run directory (watchable with `eos-tui watch`). The result
is the points.jsonl record: {"index", "point", "run_dir", "status", "outcome", "arms", "message"?}.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

# Set by the worker's signal handlers (Ctrl-C reaches every process of the terminal's group, and the
# driver forwards it to workers it started itself): the point under way ends "interrupted".
_STOP: Any = None

INTERRUPTED = "interrupted"


_BUSY = False  # a point is under way in this process
ORPHAN_GRACE = 30.0  # seconds an orphaned worker gives its point to end "interrupted" before it exits


def worker_init(driver: tuple[int, int | None] | None = None, threads: int = 1) -> None:
    """A pool worker: one torch thread, signals that stop the point rather than kill the process, and
    (given the driver's pid and start time) a watch on the driver: a worker whose driver died (kill -9,
    a crash) stops its point, which ends "interrupted", and exits, instead of running on, orphaned,
    through the points still queued, into the directory that a rerun resumes."""
    global _STOP
    import torch

    from ..engine.runner import StopRequest

    torch.set_num_threads(threads)
    _STOP = StopRequest()
    _STOP.install()
    if driver is not None:
        import threading

        threading.Thread(target=_watch_driver, args=driver, name="eos-tui-driver-watch", daemon=True).start()


def _driver_alive(pid: int, started: int | None) -> bool:
    import os

    from ..rundir.format import process_start_time

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, not ours to signal
        return True
    return started is None or process_start_time(pid) == started  # not a later process with the same pid


def _watch_driver(pid: int, started: int | None, every: float = 0.5) -> None:
    import os
    import time

    while _driver_alive(pid, started):
        time.sleep(every)
    _STOP.request()
    deadline = time.monotonic() + ORPHAN_GRACE
    while _BUSY and time.monotonic() < deadline:
        time.sleep(0.05)
    os._exit(1)


def failed_record(job: dict[str, Any], message: str, *, run_dir: str | None = None) -> dict[str, Any]:
    return {
        "index": job["index"],
        "point": job["point"],
        "run_dir": run_dir,
        "status": "failed",
        "outcome": "failed",
        "arms": [],
        "message": message,
    }


def run_point(job: dict[str, Any]) -> dict[str, Any]:
    """Train one point. job: {"index", "point", "sweep" (Sweep.resolved()), "sweep_dir" (absolute),
    "run_dir" (relative to it)}. Never raises for a failure of the point itself: that is a record."""
    global _BUSY
    if _STOP is not None and _STOP.event.is_set():  # stopping: a point still queued is not started
        return {"index": job["index"], "point": job["point"], "run_dir": job["run_dir"], "status": INTERRUPTED}
    _BUSY = True
    try:
        return _run_point(job)
    finally:
        _BUSY = False


def _run_point(job: dict[str, Any]) -> dict[str, Any]:
    from ..analysis.outcome import arm_outcome, run_outcome
    from ..engine import threads as engine_threads
    from ..engine.errors import ScenarioRefused
    from ..engine.runner import StopRequest, run_scenario
    from ..rundir import format as rf
    from ..rundir.prepare import prepare_run
    from ..rundir.session import RunSession
    from ..scenario import ScenarioError
    from .grid import load_point_scenario, sweep_from_data

    sweep = sweep_from_data(job["sweep"], source=job.get("source", "sweep.toml"), base_dir=None, default_name="sweep")
    try:
        scenario = load_point_scenario(sweep, job["point"])
    except ScenarioError as e:
        return failed_record(job, str(e))
    run_dir = Path(job["sweep_dir"]) / job["run_dir"]
    if run_dir.exists():  # a failed or interrupted try of this point: start it again
        shutil.rmtree(run_dir)
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    stop = _STOP if _STOP is not None else StopRequest()
    try:
        prepare_run(scenario, out=run_dir)
        # One thread per point unless --threads (job["threads"]) or engine.threads says otherwise.
        threads = engine_threads.resolve(scenario.arms, job.get("threads"), worker=True)
        status, manifest = run_scenario(scenario, run_dir, stop=stop, threads=threads)
    except ScenarioRefused as e:
        return failed_record(job, str(e), run_dir=job["run_dir"])
    except KeyboardInterrupt:  # a Ray cancel lands as KeyboardInterrupt outside the runner's loop
        RunSession(run_dir).interrupted()
        return {"index": job["index"], "point": job["point"], "run_dir": job["run_dir"], "status": INTERRUPTED}
    except Exception as e:  # noqa: BLE001 - the point failed; the sweep goes on
        from ..rundir import read_manifest

        reason = (read_manifest(run_dir) or {}).get("error") or f"{type(e).__name__}: {e}"
        return failed_record(job, str(reason), run_dir=job["run_dir"])
    if status == rf.INTERRUPTED:
        return {"index": job["index"], "point": job["point"], "run_dir": job["run_dir"], "status": INTERRUPTED}
    arms = []
    for a in scenario.arms:
        summary = dict(manifest["arms"][a.name].get("summary") or {"name": a.name, "status": "failed"})
        summary["outcome"] = arm_outcome(summary)
        arms.append(summary)
    record: dict[str, Any] = {
        "index": job["index"],
        "point": job["point"],
        "run_dir": job["run_dir"],
        "status": "completed" if status == rf.COMPLETED else "failed",
        "outcome": run_outcome(a["outcome"] for a in arms) if status == rf.COMPLETED else "failed",
        "arms": arms,
    }
    if status != rf.COMPLETED:
        record["message"] = str(manifest.get("error") or status)
    return record
