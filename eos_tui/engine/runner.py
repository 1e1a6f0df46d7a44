"""Run a whole scenario into a run directory: all arms side by side, one step each in turn.

Arms advance round-robin rather than one after another, so a viewer sees every arm progress at
once; each arm has its own seeded generators, so the interleaving does not change any number.
Arms that fit together (same shapes, full-batch GD; the rule is in batched.py) advance as one
vmapped batch, one step of all of them per turn, with the same numbers to float rounding;
`engine.batch_arms = "off"` keeps an arm on its own. The manifest lists the batches.

Stopping: SIGINT, SIGTERM and SIGHUP set a flag (interrupt.py) that is checked between steps and
between the Hessian-vector products of every eigen-solve, so a long λ_max solve stops within one
HVP; a step cut short is never recorded, so every metrics line is whole. The arms still running end
with status "interrupted", the manifest says so, and the metrics written so far stay valid. Signal
handlers never raise (a second Ctrl-C only repeats the request).
"""

from __future__ import annotations

import os
import platform
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Callable

import torch

from .. import __version__
from ..analysis.summary import ArmSummarizer
from ..cli.exit import ExitCode  # a leaf module: the engine loads no command line with it
from ..rundir import format as rf
from ..rundir.lock import RunBusy
from ..rundir.records import end_record
from ..rundir.session import RunSession
from . import interrupt, precision
from . import threads as engine_threads
from .arm import Arm
from .batched import ArmBatch, plan
from .checkpoint import Checkpointer, members

FLUSH_INTERVAL = 0.05  # seconds

OnRecords = Callable[[list[rf.Record], list[Arm]], None]


def resolve_device(name: str, dtype: str = "float32") -> torch.device:
    """ "auto": CUDA if available, then Apple's MPS (not for float64, which MPS lacks), then the CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if precision.mps_available() and dtype != "float64":
            return torch.device("mps")
        return torch.device("cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} asked for, but CUDA is not available here")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise RuntimeError(f"device {name!r} asked for, but only {torch.cuda.device_count()} CUDA device(s) exist")
    if dev.type == "mps" and not precision.mps_available():
        raise RuntimeError("device 'mps' asked for, but MPS is not available here")
    return dev


def device_label(dev: torch.device) -> str:
    if dev.type == "cuda":
        idx = dev.index if dev.index is not None else torch.cuda.current_device()
        return f"cuda:{idx} ({torch.cuda.get_device_name(idx)})"
    return str(dev)


def versions() -> dict[str, str]:
    import numpy

    return {
        "eos_tui": __version__,
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
        **precision.cuda_versions(),
    }


class StopRequest:
    """Set by a signal: checked between steps by the runner and between Hessian-vector products by
    every eigen-solve (interrupt.check), so that a long solve stops within one HVP.

    The handler never raises: a second Ctrl-C is only counted (`interrupt.requests()`); raising a
    KeyboardInterrupt from a handler can land anywhere (in the manifest write, in a lock) and used
    to end the process with −2 and a traceback instead of 130 and a written manifest."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signal: int | None = None
        self._old: dict[int, Any] = {}

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        sigs = [signal.SIGINT, signal.SIGTERM]
        if hasattr(signal, "SIGHUP"):
            sigs.append(signal.SIGHUP)
        for s in sigs:
            self._old[s] = signal.signal(s, self._handle)

    def _handle(self, signum, frame) -> None:
        self.request(signum)

    def request(self, signum: int | None = None) -> None:
        """Ask the run to stop: at the next step, or inside the eigen-solve under way."""
        if self.signal is None:
            self.signal = signum
        self.event.set()
        interrupt.request()

    def restore(self) -> None:
        for s, h in self._old.items():
            signal.signal(s, h)
        self._old.clear()


def _write_error(exc: OSError, path: Path) -> str:
    return f"cannot write {path}: {exc.strerror or exc}" + (f" (errno {exc.errno})" if exc.errno else "")


def run_scenario(
    scenario,
    run_dir: str | os.PathLike[str],
    *,
    on_records: OnRecords | None = None,
    stop: StopRequest | None = None,
    manifest_every: float = 2.0,
    resume=None,
    threads: engine_threads.Choice | None = None,
    session: RunSession | None = None,
) -> tuple[str, rf.Manifest]:
    """Train every arm of `scenario`, writing `run_dir`'s manifest and metrics.

    Returns (run status, manifest). The run status is "completed" when every arm ended by itself
    (diverged arms included: divergence is a result), "interrupted" or "failed" otherwise.

    A failed write of the metrics (disk full, a file-size limit) ends the run as "failed" with the
    reason in the manifest's "error", the arms still running "failed" too; the OSError is re-raised.
    The final manifest is written after the last metrics are flushed, so a reader that sees it
    finished finds every record in the file.

    Checkpoints (engine/checkpoint.py) are written every `measure.checkpoint_every` steps, at each
    arm's end and, for the arms still running, when the run stops. `resume` (engine/resume.py's
    Resume) continues an interrupted run directory from them instead of starting afresh.

    `threads`: torch's thread count and why (engine/threads.py), resolved by a caller that set the
    environment before importing torch; None: chosen here from the scenario. The manifest records it.

    `session`: the run's RunSession (rundir/session.py), which writes every file of its lifecycle;
    a resume brings its own, one is made here otherwise.
    """
    run_dir = Path(run_dir)
    if resume is not None and resume.session is not None:
        session = resume.session
    elif session is None:
        session = RunSession(run_dir)
    # One process writes a run directory at a time (rundir/lock.py), from before its first write to
    # after its last: a resume holds the lock since `prepare` (which read the plan under it).
    session.acquire()
    try:
        return _run_locked(
            scenario, session, on_records=on_records, stop=stop, manifest_every=manifest_every, resume=resume, threads=threads
        )
    finally:
        session.release()


def _run_locked(scenario, session: RunSession, *, on_records, stop, manifest_every, resume, threads) -> tuple[str, rf.Manifest]:
    run_dir = session.run_dir
    own_stop = stop is None
    stop = stop or StopRequest()
    if own_stop:
        stop.install()
    if stop.event.is_set():  # asked to stop before the run began
        interrupt.request()
    else:
        interrupt.clear()
    names = [a.name for a in scenario.arms]
    # Before any torch operation starts the pools (the environment was set, where it could be, before torch's import).
    threads_used = engine_threads.apply(threads or engine_threads.resolve(scenario.arms))
    manifest = session.begin(scenario, versions=versions())
    manifest["threads"] = threads_used
    if resume is not None:
        resume.prepare_manifest(manifest)
    # What the summaries need, kept as the records go by (bounded: see ArmSummarizer).
    summaries = {n: ArmSummarizer(n) for n in names}
    for r in resume.kept if resume is not None else ():
        summaries[r["arm"]].add(r)
    if resume is not None:  # cut back to the checkpoints the arms were restored from, before appending
        resume.rewrite_metrics()
    # Lines reach the file within FLUSH_INTERVAL (a follower sees them that fast) without a write
    # system call per step; see MetricsWriter.
    writer = rf.MetricsWriter(run_dir, flush_interval=FLUSH_INTERVAL)
    session.reserve()
    arms: list[Arm] = []
    ckpt = Checkpointer(run_dir, writer.flush, counts=resume.counts if resume is not None else None)
    units: list[Arm | ArmBatch] = []
    current = None  # the start of the step under way: a stop inside it is undone before the checkpoint
    status = rf.FAILED
    ending = False  # in the clean-up: a broken metrics file no longer stops anything

    def emit(recs: list[rf.Record]) -> None:
        if not recs:
            return
        for r in recs:  # first: the summaries then agree with the arms' statuses, written or not
            summaries[r["arm"]].add(r)
        ckpt.seen(recs)
        if writer.error is None or not ending:
            try:
                writer.write_many(recs)
            except OSError:
                if not ending:
                    raise
        if on_records is not None:
            on_records(recs, arms)

    def sync_arms() -> None:
        for a in arms:
            entry = manifest["arms"][a.name]
            entry["status"], entry["steps_done"] = a.status or rf.RUNNING, a.t
            entry["lr"], entry["lambda0"] = a.base_lr, a.lambda0

    def write_manifest() -> None:
        sync_arms()
        session.save()

    def end_arms(arm_status: str) -> None:
        for arm in arms:
            emit(arm.stop(arm_status))
        for name in names:  # arms that never started
            if not any(a.name == name for a in arms):
                emit([end_record(arm=name, status=arm_status, steps_done=0, final_loss=None)])

    try:
        devices = resume.devices if resume is not None else {a.name: resolve_device(a.device, a.dtype) for a in scenario.arms}
        manifest["device"] = ", ".join(sorted({device_label(d) for d in devices.values()}))
        manifest["precision"] = precision.configure(devices.values())
        write_manifest()
        for spec in scenario.arms:
            # status.json says what takes the time before the first step (rundir/format.py PHASES).
            session.phase(rf.PHASE_BUILDING, f"building arm {spec.name}", spec.name)
            if resume is not None:
                arm, begun = resume.make_arm(spec, devices[spec.name])
            else:
                arm = Arm(spec, devices[spec.name])
                if spec.optimizer.lr_relative is not None:
                    session.phase(rf.PHASE_LAMBDA0, f"measuring λ0 of arm {spec.name}", spec.name)
                begun = arm.begin()
            arms.append(arm)
            # What was built: θ's length, and the Python code that built it (the factory, its file's SHA-256).
            entry = manifest["arms"][spec.name]
            entry["parameters"] = arm.problem.dim
            if arm.problem.code:
                entry["code"] = list(arm.problem.code)
            emit(begun)
        # Each unit is an Arm trained alone or an ArmBatch of compatible arms trained as one.
        units = [g[0] if len(g) == 1 else ArmBatch(g) for g in plan([a for a in arms if a.status is None])]
        manifest["batches"] = [[a.name for a in u.arms] for u in units if isinstance(u, ArmBatch)]
        write_manifest()
        session.phase(rf.PHASE_TRAINING, "training")
        last_manifest = time.monotonic()
        while not stop.event.is_set():
            running = [u for u in units if (u.running if isinstance(u, ArmBatch) else u.status is None)]
            if not running:
                break
            for unit in running:
                ended = sum(a.status is not None for a in arms)
                before, current = members(unit), ckpt.before_step(unit)
                emit(unit.step())
                current = None
                ckpt.after_step(unit, before)
                if sum(a.status is not None for a in arms) != ended:
                    write_manifest()
                if stop.event.is_set():
                    break
            if time.monotonic() - last_manifest > manifest_every:
                write_manifest()
                last_manifest = time.monotonic()
        status = rf.INTERRUPTED if any(a.status is None for a in arms) else rf.COMPLETED
        ckpt.at_stop(units)
        ending = True
        end_arms(rf.INTERRUPTED)
    except KeyboardInterrupt:  # interrupt.Interrupted: a stop request inside a solve
        status = rf.INTERRUPTED
        ckpt.at_stop(units, cut=current)
        ending = True
        end_arms(rf.INTERRUPTED)
    except BaseException as exc:  # noqa: BLE001 - recorded, then re-raised
        status = rf.FAILED
        ending = True
        if isinstance(exc, OSError) and exc is writer.error:
            manifest["error"] = _write_error(exc, writer.path)
        else:
            manifest["error"] = f"{type(exc).__name__}: {exc}"
            manifest["traceback"] = traceback.format_exc()
        end_arms(rf.FAILED)
        raise
    finally:
        ending = True
        # Flush and close the metrics first, then write the final manifest: a reader that finds
        # the manifest finished finds every record in the file.
        writer.close()
        if writer.error is not None and status != rf.FAILED:  # the last lines could not be flushed
            status = rf.FAILED
            manifest["error"] = _write_error(writer.error, writer.path)
        for name in names:
            manifest["arms"][name]["summary"] = summaries[name].result()
        status = session.end(status, sync_arms)
        interrupt.clear()
        if own_stop:
            stop.restore()
    return status, manifest


def main(argv: list[str] | None = None) -> int:
    """`python -m eos_tui.engine RUN_DIR [--threads N]`: train the run directory's scenario.toml (background engine)."""
    from ..scenario import ScenarioError, load_scenario_text

    args = sys.argv[1:] if argv is None else argv
    try:
        parsed = engine_threads.parse_engine_args(args)
    except ValueError as e:
        print(f"eos-tui engine: {e}", file=sys.stderr)
        return 2
    if parsed is None:
        print("usage: python -m eos_tui.engine RUN_DIR [--threads N]", file=sys.stderr)
        return ExitCode.USAGE
    run_dir, override = Path(parsed[0]), parsed[1]
    try:
        text = (run_dir / rf.SCENARIO_FILE).read_text(encoding="utf-8")
        scenario = load_scenario_text(text, source=str(run_dir / rf.SCENARIO_FILE))
    except (OSError, ScenarioError) as e:
        print(f"eos-tui engine: {e}", file=sys.stderr)
        return ExitCode.USAGE
    from .errors import ScenarioRefused

    try:
        status, _ = run_scenario(scenario, run_dir, threads=engine_threads.resolve(scenario.arms, override))
    except RunBusy as e:  # another engine or a resume writes this run: nothing was written
        print(f"eos-tui engine: {e}", file=sys.stderr)
        return ExitCode.USAGE
    except ScenarioRefused as e:  # bad input found once the model was built: one line, as headless says it
        print(f"eos-tui engine: {e}", file=sys.stderr)
        return ExitCode.USAGE
    except Exception as e:  # noqa: BLE001 - the manifest has the traceback
        print(f"eos-tui engine failed: {type(e).__name__}: {e}", file=sys.stderr)
        traceback.print_exc()
        return ExitCode.FAILED
    return {rf.COMPLETED: ExitCode.OK, rf.INTERRUPTED: ExitCode.INTERRUPTED}.get(status, ExitCode.FAILED)
