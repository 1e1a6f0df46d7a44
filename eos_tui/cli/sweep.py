"""`eos-tui sweep` and `eos-tui sweep show`: run a grid of points, in parallel and resumable, then draw its phase map.

Exit codes: 0 every point finished (diverged included), 1 some point failed (its line in
points.jsonl says why), 2 bad usage, a bad grid or scenario (nothing written), 130 interrupted
(points.jsonl holds the points finished so far; rerun the same command to go on).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from dataclasses import dataclass, replace
from dataclasses import field as default
from pathlib import Path
from typing import Any

from ..sweep.grid import Sweep, SweepError, load_point_scenario
from ..sweep.store import SweepDir, point_dir
from .exit import ExitCode


def _say(err, text: str) -> None:
    try:
        err.write(text + "\n")
        err.flush()
    except (OSError, ValueError):
        pass


def default_out(name: str, root: str = "sweeps") -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = Path(root) / f"{name}-{stamp}"
    n, out = 1, base
    while out.exists():
        n += 1
        out = base.with_name(f"{base.name}-{n}")
    return out


def cuda_device(sweep: Sweep) -> bool | None:
    """Whether the points run on CUDA: True (a GPU per Ray task), False, or None for "auto"."""
    try:
        sc = load_point_scenario(sweep, sweep.points()[0])
    except Exception:  # noqa: BLE001 - a bad first point: no GPU asked
        return False
    devices = {a.device for a in sc.arms}
    if any(d.startswith("cuda") for d in devices):
        return True
    return None if "auto" in devices else False


class Progress:
    """One line on stderr: done / running / failed, points a minute, ETA (a new line per point when
    stderr is not a terminal)."""

    def __init__(self, err, total: int, skipped: int):
        self.err, self.total, self.skipped = err, total, skipped
        self.done = self.failed = 0
        self.t0 = time.monotonic()
        self.tty = _isatty(err)
        self.last = ""

    def line(self, running: int) -> str:
        finished = self.done + self.failed
        dt = time.monotonic() - self.t0
        rate = finished / dt * 60 if dt > 0 and finished else None
        left = self.total - self.skipped - finished
        eta = f"ETA {_dur(left / rate * 60)}" if rate else "ETA —"
        kept = f" ({self.skipped} kept)" if self.skipped else ""
        rate_s = f"{rate:.1f} points/min" if rate else "— points/min"
        return f"sweep: {self.skipped + finished}/{self.total} done{kept}, {running} running, {self.failed} failed, {rate_s}, {eta}"

    def note(self, text: str) -> None:
        """A line of its own (a failed point), above the progress line."""
        from ..rundir.reader import safe_text

        _say(self.err, ("\r\x1b[2K" if self.tty else "") + safe_text(text))

    def show(self, running: int, *, final: bool = False, changed: bool = False) -> None:
        text = self.line(running)
        if self.tty:
            try:
                self.err.write("\r\x1b[2K" + text + ("\n" if final else ""))
                self.err.flush()
            except (OSError, ValueError):
                pass
        elif changed or final:
            if text != self.last:
                _say(self.err, text)
        self.last = text


def _point_text(point: dict[str, Any]) -> str:
    return "(" + ", ".join(f"{k}={json.dumps(v)}" for k, v in point.items()) + ")"


def _dur(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


@dataclass(frozen=True)
class SweepOptions:
    """The sweep command's options, built once from its command line and passed down whole
    (rather than a dozen keyword arguments handed on through every layer)."""

    out: Path | None = None
    jobs: int | None = None
    ray: bool = False  # --ray: each point a Ray task
    ray_address: str | None = None  # --ray ADDRESS (None: a local Ray instance)
    ray_cpus: int | None = None
    as_json: bool = False
    force: bool = False
    threads: int | None = None
    trust_code: bool = False  # --trust-code: points may import the Python code their scenario names
    # Only for running a sweep (the grid and fixed overrides it is loaded with):
    grid: list[str] = default(default_factory=list)
    sets: list[str] = default(default_factory=list)
    # Only for `sweep show`:
    field: str | None = None
    arm: str | None = None
    as_csv: bool = False


def run_sweep(sweep: Sweep, options: SweepOptions | None = None, *, err=None, **fields: Any) -> int:
    """Run `sweep` with `options`, any of whose fields `fields` replaces (tests name only the few they set)."""
    from ..scenario.checks import ResourceError, check_memory
    from .output import SafeStream

    opts = replace(options or SweepOptions(), **fields)
    err = err or SafeStream(sys.stderr)
    ray_address, jobs = opts.ray_address, opts.jobs
    points = sweep.points()
    # Every point's scenario, before anything is written: a grid every point of which is refused
    # (an unknown key, a key every arm sets itself) is bad input; single refused points are failed points.
    refused: dict[int, str] = {}
    for i, p in enumerate(points):
        try:
            sc = load_point_scenario(sweep, p)
        except SweepError as e:
            refused[i] = str(e)
            continue
        except Exception as e:  # ScenarioError
            refused[i] = str(e)
            continue
        # The memory check `run` makes, for every point before any starts: a point the machine cannot
        # hold went straight to the allocator (swap, the OOM killer taking a worker and the pool with
        # it). A cluster's nodes (--ray ADDRESS) are not this machine: their memory is theirs to say.
        if ray_address is None:
            try:
                check_memory(sc, force=opts.force)
            except ResourceError as e:
                _say(err, f"eos-tui: sweep {sweep.name}: point {i} {_point_text(p)}: {e}")
                return ExitCode.USAGE
    if len(refused) == len(points):
        _say(err, f"eos-tui: sweep {sweep.name}: every point is refused: {refused[0]}")
        return ExitCode.USAGE
    jobs = jobs or os.cpu_count() or 1
    if jobs < 1:
        _say(err, f"eos-tui: --jobs {jobs}: must be ≥ 1")
        return ExitCode.USAGE
    if opts.ray:
        try:
            import ray  # noqa: F401 - only whether it is there; the executor imports it again
        except ImportError:
            from ..sweep.executors import ray_missing

            _say(err, f"eos-tui: {ray_missing()}")
            return ExitCode.USAGE
    out = Path(opts.out) if opts.out is not None else default_out(sweep.name)
    try:
        store = SweepDir.open(out, sweep)
    except (SweepError, OSError) as e:
        _say(err, f"eos-tui: {e}")
        return ExitCode.USAGE
    try:
        return _drive(sweep, store, points, refused, replace(opts, jobs=jobs), err)
    finally:
        store.close()


def _drive(sweep, store: SweepDir, points, refused, opts: SweepOptions, err) -> int:
    from ..rundir import format as rf

    jobs = opts.jobs or 1

    kept = store.resume()
    todo = [i for i in range(len(points)) if i not in kept]
    progress = Progress(err, len(points), len(kept))
    if kept:
        _say(err, f"sweep: resuming {store.path}: {len(kept)} of {len(points)} points already done")
    resolved = sweep.resolved()
    jobs_list = [
        {
            "index": i,
            "point": points[i],
            "sweep": resolved,
            "source": sweep.source,
            "sweep_dir": str(store.path.resolve()),
            "run_dir": point_dir(i),
            "threads": opts.threads,  # --threads for each point's engine (None: one; sweep/point.py)
        }
        for i in todo
    ]
    stop = {"count": 0}

    def handle(signum, frame):
        stop["count"] += 1

    old = {s: signal.signal(s, handle) for s in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", signal.SIGTERM))}
    executor: Any = None
    interrupted = False
    try:
        for job in jobs_list:  # refused points: recorded at once, no process needed
            if job["index"] in refused:
                from ..sweep.point import failed_record

                store.append(failed_record(job, refused[job["index"]]))
                progress.failed += 1
                progress.note(f"point {job['index']} {_point_text(job['point'])} failed: {refused[job['index']]}")
        runnable = [j for j in jobs_list if j["index"] not in refused]
        if runnable:
            try:
                if opts.ray:
                    from ..sweep.executors import RayExecutor

                    executor = RayExecutor(opts.ray_address, gpu=cuda_device(sweep), num_cpus=opts.ray_cpus)
                else:
                    from ..sweep.executors import PoolExecutor

                    executor = PoolExecutor(min(jobs, len(runnable)))
            except RuntimeError as e:
                _say(err, f"eos-tui: {e}")
                return ExitCode.USAGE
            for job in runnable:
                executor.submit(job)
        progress.show(executor.running if executor else 0, changed=True)
        while executor is not None and executor.pending:
            if stop["count"] and not interrupted:
                interrupted = True
                _say(err, "\nsweep: stopping every point under way …" if progress.tty else "sweep: stopping every point under way …")
                executor.interrupt()
            changed = False
            for job, record in executor.wait(0.25):
                if record is None or record.get("status") == "interrupted":
                    _mark_interrupted(store.path / job["run_dir"], rf)
                    continue
                store.append(record)
                changed = True
                if record.get("status") == "completed":
                    progress.done += 1
                else:
                    progress.failed += 1
                    progress.note(f"point {job['index']} {_point_text(job['point'])} failed: {record.get('message')}")
            progress.show(executor.running, changed=changed)
        if interrupted:
            # A point whose worker could not write its end: its manifest says "interrupted" now.
            for job in runnable:
                _mark_interrupted(store.path / job["run_dir"], rf)
    finally:
        if executor is not None:
            executor.close()
        for s, h in old.items():
            signal.signal(s, h)
    progress.show(0, final=True)
    records = list(store.records())
    if interrupted or stop["count"]:
        _say(
            err,
            f"interrupted; {len(records)} of {len(points)} points are in {store.path}/points.jsonl;"
            f" rerun the same command with --out {store.path} to go on",
        )
    _finish(sweep, store.path, records, as_json=opts.as_json, err=err)
    if interrupted or stop["count"]:
        return ExitCode.INTERRUPTED
    return ExitCode.FAILED if any(r.get("status") != "completed" for r in records) else ExitCode.OK


def _mark_interrupted(run_dir: Path, rf) -> None:
    from ..rundir.session import RunSession

    if (run_dir / rf.MANIFEST_FILE).is_file():
        try:
            RunSession(run_dir).interrupted()
        except OSError:
            pass


def _finish(sweep: Sweep, path: Path, records: list[dict[str, Any]], *, as_json: bool, err) -> None:
    from ..sweep.show import render_map

    try:
        if as_json:
            sys.stdout.write(json.dumps({"sweep_dir": str(path), "points": sorted(records, key=lambda r: r.get("index", 0))}) + "\n")
            sys.stdout.flush()
        render_map(sweep, records, file=err if as_json else sys.stdout, title=str(path), field=sweep.map_field)
    except (OSError, ValueError) as e:
        _say(err, f"eos-tui: cannot write the result: {getattr(e, 'strerror', None) or e} (the sweep is in {path})")


def _err(message: str) -> int:
    try:
        sys.stderr.write(f"eos-tui: {message}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    return ExitCode.USAGE


def sweep_command(target: str, rest: list[str], opts: SweepOptions) -> int:
    from ..scenario import ScenarioError

    if target == "show":
        if len(rest) != 1:
            return _err("usage: eos-tui sweep show DIR [--field NAME] [--arm NAME] [--csv]")
        running_flags = [("--grid", opts.grid), ("--set", opts.sets), ("--jobs", opts.jobs), ("--ray", opts.ray), ("--out", opts.out)]
        running_flags += [("--json", opts.as_json), ("--force", opts.force)]
        used = [f for f, v in running_flags if v]
        if used:
            return _err(f"sweep show takes no {', '.join(used)}: they are for running a sweep")
        from ..sweep.show import show

        try:
            show(Path(rest[0]), field=opts.field, arm=opts.arm, as_csv=opts.as_csv, out=sys.stdout)
        except (SweepError, ScenarioError) as e:
            return _err(str(e))
        return 0
    address = None
    if opts.ray and len(rest) == 1:  # --ray ADDRESS: the address comes as the one extra argument
        address, rest = rest[0], []
    if rest:
        return _err(f"sweep: unexpected argument {rest[0]!r} (grids are given with --grid KEY=VALUES)")
    used = [f for f, v in (("--field", opts.field), ("--arm", opts.arm), ("--csv", opts.as_csv)) if v]
    if used:
        return _err(f"sweep: {', '.join(used)}: only with `eos-tui sweep show DIR`")
    if opts.jobs is not None and opts.jobs < 1:
        return _err(f"--jobs {opts.jobs}: must be ≥ 1")
    from ..sweep.grid import load_sweep

    try:
        sweep = load_sweep(target, grids=opts.grid, sets=opts.sets)
    except (SweepError, ScenarioError) as e:
        return _err(str(e))
    why = _untrusted(sweep, opts.trust_code)
    if why is not None:
        return _err(why)
    return run_sweep(sweep, replace(opts, ray_address=address))


def _untrusted(sweep: Sweep, trusted: bool) -> str | None:
    """The --trust-code refusal (scenario/code.py) when any point's scenario names Python code."""
    from ..scenario.code import untrusted

    arms = []
    for p in sweep.points():
        try:
            arms.extend(load_point_scenario(sweep, p).arms)
        except Exception:  # noqa: BLE001 - a refused point: run_sweep says why
            continue
    return untrusted(arms, sweep.source, trusted=trusted, command="sweep")
