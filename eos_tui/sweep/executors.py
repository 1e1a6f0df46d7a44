"""Where the points run: a local process pool, or Ray tasks.

Both take the same jobs (point.run_point's argument) and hand back the same records. The driver asks
`wait(timeout)` for the jobs that ended, `interrupt()` to stop every point under way (each ends its
run "interrupted"), and `close()`.
"""

from __future__ import annotations

import os
import signal
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor
from concurrent.futures import wait as wait_futures
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from .point import failed_record, run_point, worker_init

# What the fork server imports once (torch.func's first call imports torch._dynamo and sympy: seconds)
PRELOAD = ["eos_tui.engine.runner", "eos_tui.sweep.point", "torch._dynamo", "torch._functorch.eager_transforms"]

Done = list[tuple[dict[str, Any], dict[str, Any] | None]]  # (job, record; None: not run, or interrupted)


class PoolExecutor:
    """`jobs` worker processes, one torch thread each. On Linux they fork from a fork server that
    imported the engine (torch) once, instead of each importing it (seconds each); elsewhere they are
    spawned. Neither inherits the driver's state."""

    name = "pool"

    def __init__(self, jobs: int):
        import multiprocessing

        self.jobs = jobs
        ctx: Any
        if "forkserver" in multiprocessing.get_all_start_methods():
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(PRELOAD)
            _start_forkserver()
        else:
            ctx = multiprocessing.get_context("spawn")
        from ..rundir.format import process_start_time

        driver = (os.getpid(), process_start_time(os.getpid()))
        self._pool = ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=worker_init, initargs=(driver,))
        self._futures: dict[Future, dict[str, Any]] = {}
        self.stopping = False

    def submit(self, job: dict[str, Any]) -> None:
        self._futures[self._pool.submit(run_point, job)] = job

    @property
    def pending(self) -> int:
        return len(self._futures)

    @property
    def running(self) -> int:
        return min(self.jobs, len(self._futures))

    def wait(self, timeout: float) -> Done:
        if not self._futures:
            return []
        done, _ = wait_futures(list(self._futures), timeout=timeout, return_when=FIRST_COMPLETED)
        out: Done = []
        for fut in done:
            job = self._futures.pop(fut)
            if fut.cancelled():
                out.append((job, None))
                continue
            exc = fut.exception()
            if exc is None:
                out.append((job, fut.result()))
            elif isinstance(exc, BrokenProcessPool):
                # A worker died (killed, out of memory) and the pool with it: the points under way are
                # failed (their runs too), the others were never run. A rerun on the directory runs both.
                out.append((job, None if self.stopping else _broken(job)))
            else:
                out.append((job, failed_record(job, f"{type(exc).__name__}: {exc}")))
        return out

    def interrupt(self) -> None:
        """Cancel the points not started; ask every worker to stop the one it trains (SIGINT: its
        handler only sets the stop flag, and the run ends "interrupted")."""
        self.stopping = True
        for fut in list(self._futures):
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


def _broken(job: dict[str, Any]) -> dict[str, Any]:
    from pathlib import Path

    from ..rundir import format as rf

    run_dir = Path(job["sweep_dir"]) / job["run_dir"]
    if (run_dir / rf.MANIFEST_FILE).is_file():
        rf.mark_run_ended(run_dir, rf.FAILED, error="the worker process running this point died")
        return failed_record(job, "the worker process running this point died", run_dir=job["run_dir"])
    return failed_record(job, "not run: a worker process died and the pool with it; rerun the sweep on this directory")


def ray_missing() -> str:
    from ..extras import missing_extra_message

    return missing_extra_message("Ray", "ray", "sweep --ray")


class RayExecutor:
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
        self._owns = not ray.is_initialized()
        if self._owns:
            ray.init(runtime_env={"env_vars": env}, **kwargs)
        if gpu is None:  # device "auto": a GPU per task where the cluster has GPUs
            gpu = ray.cluster_resources().get("GPU", 0) > 0
        self._task = ray.remote(num_cpus=1, num_gpus=1 if gpu else 0, max_retries=0)(_ray_point)
        self._refs: dict[Any, dict[str, Any]] = {}
        self.stopping = False
        self.jobs = int(ray.cluster_resources().get("CPU", 1))

    def submit(self, job: dict[str, Any]) -> None:
        self._refs[self._task.remote(job)] = job

    @property
    def pending(self) -> int:
        return len(self._refs)

    @property
    def running(self) -> int:
        return min(self.jobs, len(self._refs))

    def wait(self, timeout: float) -> Done:
        if not self._refs:
            return []
        ready, _ = self.ray.wait(list(self._refs), num_returns=1, timeout=timeout)
        out: Done = []
        for ref in ready:
            job = self._refs.pop(ref)
            try:
                out.append((job, self.ray.get(ref)))
            except self.ray.exceptions.TaskCancelledError:
                out.append((job, None))
            except self.ray.exceptions.RayError as e:  # the task or its worker failed
                out.append((job, None if self.stopping else failed_record(job, _ray_message(e))))
        return out

    def interrupt(self) -> None:
        self.stopping = True
        for ref in list(self._refs):
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
