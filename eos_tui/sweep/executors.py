"""Where the points run: a local process pool, or Ray tasks.

Both take the same jobs (point.run_point's argument) and hand back the same records. The driver asks
`wait(timeout)` for the jobs that ended, `interrupt()` to stop every point under way (each ends its
run "interrupted"), and `close()`.
"""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor
from concurrent.futures import wait as wait_futures
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from .point import failed_record, run_point, worker_init

# What the fork server imports once (torch.func's first call imports torch._dynamo and sympy: seconds)
PRELOAD = ["eos_tui.engine.runner", "eos_tui.sweep.point", "torch._dynamo", "torch._functorch.eager_transforms"]

Done = list[tuple[dict[str, Any], dict[str, Any] | None]]  # (job, record; None: not run, or interrupted)

WORKER_DIED = "the worker process running this point died"
MAX_RESTARTS = 3  # times a point may be stopped by a pool that broke under another point
LOST_GRACE = 10.0  # seconds a failed Ray task's local worker gets to end its manifest itself
ENGINE_LOST_PREFIX = "engine lost: "  # a Ray point's manifest error when its worker died


class _Executor:
    """What both executors count: the jobs in flight, each by its handle (a Future, a Ray ObjectRef),
    of which at most `jobs` run at a time."""

    jobs: int
    _in_flight: dict[Any, dict[str, Any]]

    @property
    def pending(self) -> int:
        return len(self._in_flight)

    @property
    def running(self) -> int:
        return min(self.jobs, len(self._in_flight))


class PoolExecutor(_Executor):
    """`jobs` worker processes, one torch thread each. On Linux they fork from a fork server that
    imported the engine (torch) once, instead of each importing it (seconds each); elsewhere they are
    spawned. Neither inherits the driver's state."""

    name = "pool"

    def __init__(self, jobs: int, *, settle: float = 60.0):
        self.jobs = jobs
        self.settle = settle  # seconds the workers of a broken pool get to end their points
        self._pool = self._new_pool()
        self._in_flight: dict[Future, dict[str, Any]] = {}
        self._restarts: dict[int, int] = {}  # point index → times a broken pool stopped it
        self.stopping = False

    def _new_pool(self) -> ProcessPoolExecutor:
        import multiprocessing

        ctx: Any
        if "forkserver" in multiprocessing.get_all_start_methods():
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(PRELOAD)
            _start_forkserver()
        else:
            ctx = multiprocessing.get_context("spawn")
        from ..rundir.format import process_start_time

        driver = (os.getpid(), process_start_time(os.getpid()))
        return ProcessPoolExecutor(max_workers=self.jobs, mp_context=ctx, initializer=worker_init, initargs=(driver,))

    def submit(self, job: dict[str, Any]) -> None:
        self._in_flight[self._pool.submit(run_point, job)] = job

    def wait(self, timeout: float) -> Done:
        if not self._in_flight:
            return []
        done, _ = wait_futures(list(self._in_flight), timeout=timeout, return_when=FIRST_COMPLETED)
        out: Done = []
        broken = False
        for fut in done:
            if fut.cancelled():
                out.append((self._in_flight.pop(fut), None))
                continue
            exc = fut.exception()
            if isinstance(exc, BrokenProcessPool):
                broken = True  # handled below, with every other point of that pool
            elif exc is None:
                out.append((self._in_flight.pop(fut), fut.result()))
            else:
                job = self._in_flight.pop(fut)
                out.append((job, failed_record(job, f"{type(exc).__name__}: {exc}")))
        if broken:
            out.extend(self._after_break())
        return out

    def _after_break(self) -> Done:
        """A worker died (SIGKILL, the OOM killer) and ProcessPoolExecutor failed every point of the
        pool with it, then stopped the other workers (SIGTERM: each ends its point "interrupted").
        Only the point whose worker died is failed; each other point is what its own manifest says
        it was, and runs again in a new pool (the points never started, too): nothing is lost, and
        nothing is blamed on a worker that did not die."""
        from ..rundir import format as rf
        from ..rundir.reader import pid_alive, read_manifest
        from ..rundir.session import RunSession

        old = self._pool
        workers = list(getattr(old, "_processes", {}).values())
        pids = {w.pid for w in workers}
        old.shutdown(wait=False, cancel_futures=True)
        jobs = [self._in_flight.pop(fut) for fut in list(self._in_flight)]  # every one failed with the pool
        # The old workers end their points (and write their manifests) before anything is judged or
        # started again in those directories.
        deadline = time.monotonic() + self.settle
        while any(pid_alive(w.pid) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        killed = {w.pid for w in workers if pid_alive(w.pid)}  # did not stop in time: not the one that died
        for pid in killed:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        died = pids - killed
        out: Done = []
        again: list[dict[str, Any]] = []
        for job in jobs:
            run_dir = Path(job["sweep_dir"]) / job["run_dir"]
            manifest = read_manifest(run_dir)
            status = None if manifest is None else manifest.get("status")
            pid = None if manifest is None else manifest.get("pid")
            ended = manifest is not None and not pid_alive(pid, manifest.get("pid_start"))
            if status == rf.RUNNING and isinstance(pid, int) and pid in died and ended:
                # Its worker (one of this pool's) died in the middle of it, the manifest unfinished: this one.
                RunSession(run_dir).failed(WORKER_DIED, pids=[pid])
                out.append((job, failed_record(job, WORKER_DIED, run_dir=job["run_dir"])))
                continue
            if status == rf.RUNNING:  # still running after the grace: killed above, so it ends here
                RunSession(run_dir).interrupted()
            # Stopped by the pool's end ("interrupted" at its step), finished just as the pool broke
            # (its result was lost with the pool) or never started: it runs again.
            tries = self._restarts[job["index"]] = self._restarts.get(job["index"], 0) + 1
            if self.stopping:
                out.append((job, None))
            elif tries > MAX_RESTARTS:
                out.append((job, failed_record(job, f"stopped {tries} times by other points' workers dying", run_dir=job["run_dir"])))
            else:
                again.append(job)
        if again:
            self._pool = self._new_pool()
            for job in again:
                self.submit(job)
        return out

    def interrupt(self) -> None:
        """Cancel the points not started; ask every worker to stop the one it trains (SIGINT: its
        handler only sets the stop flag, and the run ends "interrupted")."""
        self.stopping = True
        for fut in list(self._in_flight):
            fut.cancel()
        for proc in list(getattr(self._pool, "_processes", {}).values()):
            try:
                os.kill(proc.pid, signal.SIGINT)
            except (OSError, ProcessLookupError):
                pass

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _start_forkserver() -> None:
    """Start the fork server with SIGTERM and SIGHUP ignored (SIG_IGN survives its exec; it already
    ignores SIGINT). A worker's exit is reported through the fork server's pipe, so a fork server
    killed by a SIGTERM to the process group (`timeout`, `kill -TERM -PGID`, a batch system's cancel)
    breaks the pool at once: every point not yet finished was written "failed" instead of the sweep
    stopping as interrupted. The server still ends when the driver does (its pipe closes); the workers
    it forks install their own handlers (point.worker_init)."""
    import threading
    from multiprocessing import forkserver

    if threading.current_thread() is not threading.main_thread():  # signal.signal is the main thread's
        forkserver.ensure_running()
        return
    ignored = [s for s in (signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s is not None]
    old = {s: signal.signal(s, signal.SIG_IGN) for s in ignored}
    try:
        forkserver.ensure_running()
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def ray_missing() -> str:
    from ..cli.extras import missing_extra_message

    return missing_extra_message("Ray", "ray", "sweep --ray")


class RayExecutor(_Executor):
    """Each point a Ray task (ray.init(address=...), or a local Ray instance when no address is given),
    with one CPU, and one GPU where the scenario runs on CUDA. The task writes its run directory into
    the sweep directory (on a cluster, --out must be on a file system every node shares) and returns
    its record; the driver writes points.jsonl."""

    name = "ray"

    def __init__(self, address: str | None, *, gpu: bool | None, num_cpus: int | None = None):
        try:
            import ray
        except ImportError:
            raise RuntimeError(ray_missing()) from None
        self.ray = ray
        import logging

        kwargs: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.ERROR}
        env = {"OMP_NUM_THREADS": "1"}
        if address:  # a cluster: eos-tui must be installed on its nodes
            kwargs["address"] = address
        else:  # a local instance: its workers import eos_tui from where this process does
            kwargs["include_dashboard"] = False
            if num_cpus is not None:
                kwargs["num_cpus"] = num_cpus
            env.update({k: os.environ[k] for k in ("PYTHONPATH",) if k in os.environ})
        self._local = not address  # the workers run on this machine: their pids can be checked here
        self._owns = not ray.is_initialized()
        if self._owns:
            ray.init(runtime_env={"env_vars": env}, **kwargs)
        if gpu is None:  # device "auto": a GPU per task where the cluster has GPUs
            gpu = ray.cluster_resources().get("GPU", 0) > 0
        self._task = ray.remote(num_cpus=1, num_gpus=1 if gpu else 0, max_retries=0)(_ray_point)
        self._in_flight: dict[Any, dict[str, Any]] = {}
        self.stopping = False
        self.jobs = int(ray.cluster_resources().get("CPU", 1))

    def submit(self, job: dict[str, Any]) -> None:
        self._in_flight[self._task.remote(job)] = job

    def wait(self, timeout: float) -> Done:
        if not self._in_flight:
            return []
        ready, _ = self.ray.wait(list(self._in_flight), num_returns=1, timeout=timeout)
        out: Done = []
        for ref in ready:
            job = self._in_flight.pop(ref)
            try:
                out.append((job, self.ray.get(ref)))
            except self.ray.exceptions.TaskCancelledError:
                out.append((job, None))
            except self.ray.exceptions.RayError as e:  # the task or its worker failed
                out.append((job, None if self.stopping else self._lost(job, _ray_message(e))))
        return out

    def _lost(self, job: dict[str, Any], message: str) -> dict[str, Any]:
        """The failed record of a point whose task or worker failed (a worker killed, a node lost).
        Where the point had begun, the record names its run directory, and a manifest the worker
        left "running" is ended "failed", as `runs` sees an engine that died ("engine lost"), instead
        of saying "running" forever."""
        from ..rundir import format as rf
        from ..rundir.reader import pid_alive, read_manifest
        from ..rundir.session import RunSession

        run_dir = Path(job["sweep_dir"]) / job["run_dir"]
        manifest = read_manifest(run_dir)
        if manifest is None:
            return failed_record(job, message)
        if manifest.get("status") == rf.RUNNING:
            pid, start = manifest.get("pid"), manifest.get("pid_start")
            # On this machine (a local instance) the worker may still be on its way out: its own end
            # comes first. A cluster's worker ran on another node, whose pids mean nothing here: Ray
            # says it is gone.
            deadline = time.monotonic() + (LOST_GRACE if self._local else 0.0)
            while pid_alive(pid, start) and time.monotonic() < deadline:
                time.sleep(0.05)
            if not self._local or not pid_alive(pid, start):
                RunSession(run_dir).failed(f"{ENGINE_LOST_PREFIX}{message}", pids=[pid] if isinstance(pid, int) else None)
        return failed_record(job, message, run_dir=job["run_dir"])

    def interrupt(self) -> None:
        self.stopping = True
        for ref in list(self._in_flight):
            try:
                self.ray.cancel(ref)  # a running task gets a KeyboardInterrupt: its run ends "interrupted"
            except Exception:  # noqa: BLE001 - already finished
                pass

    def close(self) -> None:
        if self._owns:
            self.ray.shutdown()


def _ray_message(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[-1] if text else ''}"


def _ray_point(job: dict[str, Any]) -> dict[str, Any]:
    import torch

    torch.set_num_threads(1)
    return run_point(job)
