"""Run a whole scenario into a run directory: all arms side by side, one step each in turn.

Arms advance round-robin rather than one after another, so a viewer sees every arm progress at
once; each arm has its own seeded generators, so the interleaving does not change any number.
Arms that fit together (same shapes, full-batch GD; the rule is in batched.py) advance as one
vmapped batch, one step of all of them per turn, with the same numbers to float rounding;
`engine.batch_arms = "off"` keeps an arm on its own. The manifest lists the batches.

Stopping: SIGINT, SIGTERM and SIGHUP set a flag that is checked between steps, so a step is never
cut in half and every metrics line is whole. The arms still running end with status
"interrupted", the manifest says so, and the metrics written so far stay valid. A second Ctrl-C
stops at once (KeyboardInterrupt), still through the same clean-up.
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
from ..analysis.summary import summarize_arm
from ..rundir import format as rf
from .arm import Arm
from .batched import ArmBatch, plan

FLUSH_INTERVAL = 0.05  # seconds

OnRecords = Callable[[list[dict[str, Any]], list[Arm]], None]


def resolve_device(name: str, dtype: str = "float32") -> torch.device:
    """"auto": CUDA if available, then Apple's MPS (not for float64, which MPS lacks), then the CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available() and dtype != "float64":
            return torch.device("mps")
        return torch.device("cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} asked for, but CUDA is not available here")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise RuntimeError(f"device {name!r} asked for, but only {torch.cuda.device_count()} CUDA device(s) exist")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise RuntimeError("device 'mps' asked for, but MPS is not available here")
    return dev


def device_label(dev: torch.device) -> str:
    if dev.type == "cuda":
        idx = dev.index if dev.index is not None else torch.cuda.current_device()
        return f"cuda:{idx} ({torch.cuda.get_device_name(idx)})"
    return str(dev)


def versions() -> dict[str, str]:
    import numpy

    return {"eos_tui": __version__, "torch": torch.__version__, "numpy": numpy.__version__,
            "python": platform.python_version()}


class StopRequest:
    """Set by a signal; checked between steps."""

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
        if self.event.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt  # the second Ctrl-C: stop now
        self.signal = signum
        self.event.set()

    def restore(self) -> None:
        for s, h in self._old.items():
            signal.signal(s, h)
        self._old.clear()


def run_scenario(scenario, run_dir: str | os.PathLike[str], *, on_records: OnRecords | None = None,
                 stop: StopRequest | None = None, manifest_every: float = 2.0) -> tuple[str, dict[str, Any]]:
    """Train every arm of `scenario`, writing `run_dir`'s manifest and metrics.

    Returns (run status, manifest). The run status is "completed" when every arm ended by itself
    (diverged arms included: divergence is a result), "interrupted" or "failed" otherwise.
    """
    run_dir = Path(run_dir)
    own_stop = stop is None
    stop = stop or StopRequest()
    if own_stop:
        stop.install()
    names = [a.name for a in scenario.arms]
    manifest = rf.new_manifest(scenario=scenario.name, seed=scenario.seed, device="?", arms=names,
                               versions=versions(), pid=os.getpid(),
                               total_steps=max(a.steps for a in scenario.arms))
    manifest["arm_steps"] = {a.name: a.steps for a in scenario.arms}
    records_by_arm: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    # Lines reach the file within FLUSH_INTERVAL (a follower sees them that fast) without a write
    # system call per step; see MetricsWriter.
    writer = rf.MetricsWriter(run_dir, flush_interval=FLUSH_INTERVAL)
    arms: list[Arm] = []
    status = rf.FAILED

    def emit(recs: list[dict[str, Any]]) -> None:
        if not recs:
            return
        writer.write_many(recs)
        for r in recs:
            records_by_arm[r["arm"]].append(r)
        if on_records is not None:
            on_records(recs, arms)

    def write_manifest() -> None:
        for a in arms:
            entry = manifest["arms"][a.name]
            entry.update(status=a.status or rf.RUNNING, steps_done=a.t, lr=a.base_lr, lambda0=a.lambda0)
        rf.write_json_atomic(run_dir / rf.MANIFEST_FILE, manifest)

    try:
        devices = {a.name: resolve_device(a.device, a.dtype) for a in scenario.arms}
        manifest["device"] = ", ".join(sorted({device_label(d) for d in devices.values()}))
        write_manifest()
        for spec in scenario.arms:
            arm = Arm(spec, devices[spec.name])
            arms.append(arm)
            emit(arm.begin())
        # Each unit is an Arm trained alone or an ArmBatch of compatible arms trained as one.
        units: list[Arm | ArmBatch] = [g[0] if len(g) == 1 else ArmBatch(g) for g in plan(arms)]
        manifest["batches"] = [[a.name for a in u.arms] for u in units if isinstance(u, ArmBatch)]
        write_manifest()
        last_manifest = time.monotonic()
        while not stop.event.is_set():
            running = [u for u in units if (u.running if isinstance(u, ArmBatch) else u.status is None)]
            if not running:
                break
            for unit in running:
                ended = sum(a.status is not None for a in arms)
                emit(unit.step())
                if sum(a.status is not None for a in arms) != ended:
                    write_manifest()
                if stop.event.is_set():
                    break
            if time.monotonic() - last_manifest > manifest_every:
                write_manifest()
                last_manifest = time.monotonic()
        status = rf.INTERRUPTED if any(a.status is None for a in arms) else rf.COMPLETED
        for arm in arms:
            emit(arm.stop(rf.INTERRUPTED))
    except KeyboardInterrupt:
        status = rf.INTERRUPTED
        for arm in arms:
            emit(arm.stop(rf.INTERRUPTED))
    except BaseException as exc:  # noqa: BLE001 - recorded, then re-raised
        status = rf.FAILED
        manifest["error"] = f"{type(exc).__name__}: {exc}"
        manifest["traceback"] = traceback.format_exc()
        for arm in arms:
            emit(arm.stop(rf.FAILED))
        for name in names:  # arms that never started
            if not any(a.name == name for a in arms):
                emit([{"type": "end", "arm": name, "status": rf.FAILED, "steps_done": 0, "final_loss": None}])
        raise
    finally:
        manifest["status"] = status
        manifest["ended"] = rf.now_iso()
        for name in names:
            manifest["arms"][name]["summary"] = summarize_arm(name, records_by_arm[name])
        write_manifest()
        writer.close()
        if own_stop:
            stop.restore()
    return status, manifest


def main(argv: list[str] | None = None) -> int:
    """`python -m eos_tui.engine RUN_DIR`: train the run directory's scenario.toml (background engine)."""
    from ..scenario import ScenarioError, load_scenario_text

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m eos_tui.engine RUN_DIR", file=sys.stderr)
        return 2
    run_dir = Path(args[0])
    try:
        text = (run_dir / rf.SCENARIO_FILE).read_text(encoding="utf-8")
        scenario = load_scenario_text(text, source=str(run_dir / rf.SCENARIO_FILE))
    except (OSError, ScenarioError) as e:
        print(f"eos-tui engine: {e}", file=sys.stderr)
        return 2
    try:
        status, _ = run_scenario(scenario, run_dir)
    except Exception as e:  # noqa: BLE001 - the manifest has the traceback
        print(f"eos-tui engine failed: {type(e).__name__}: {e}", file=sys.stderr)
        traceback.print_exc()
        return 1
    return {rf.COMPLETED: 0, rf.INTERRUPTED: 130}.get(status, 1)
