"""The run directory a Monitor writes: the same format as the engine's (rundir/format.py), through
the same owner of its lifecycle (rundir/session.py's RunSession) and the same MetricsWriter, so that
`eos-tui watch`, `export`, `plot` and `runs` read it as any other run.

Its scenario.toml names the run and says where it came from; it is not a scenario that `eos-tui
run` or `resume` can train (the model and the loop are the user's own code, which readers never
import). The manifest's "monitor" entry holds what the scenario would: the model, the data, the
optimizer and the threshold's rule, or why there is none.

No torch here: only plain values cross into this module.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

from .. import __version__
from ..analysis.summary import ArmSummarizer
from ..rundir import format as rf
from ..rundir.session import RunSession

# A follower sees each line within this (MetricsWriter's flusher thread), without a write system
# call per training step: the engine's interval (engine/runner.py).
FLUSH_INTERVAL = 0.05
MANIFEST_EVERY = 2.0  # seconds between the manifest's updates of steps_done, as the engine's


@dataclass
class _ArmStub:
    name: str
    steps: int | None


@dataclass
class MonitorScenario:
    """What RunSession.claim reads of a scenario: the run's name, seed, its one arm, its TOML."""

    name: str
    seed: int
    arm: str
    steps: int | None
    arms: list[_ArmStub] = field(init=False)

    def __post_init__(self) -> None:
        self.arms = [_ArmStub(self.arm, self.steps)]

    def to_toml(self) -> str:
        return (
            "# Written by eos_tui.Monitor from a training loop of its own, not from a scenario: the model,\n"
            "# the data and the loop are the user's code, which eos-tui never imports. `eos-tui watch`,\n"
            "# `export`, `plot` and `runs` read this run; `run` and `resume` cannot train it. What the\n"
            '# monitor measured, and how, is under "monitor" in manifest.json.\n'
            f"name = {json.dumps(self.name)}\n"
            f"seed = {self.seed}\n"
        )


class MonitorRun:
    """One run directory, claimed, locked and written by the process that trains."""

    def __init__(
        self, run_dir: str | os.PathLike[str] | None, *, name: str, arm: str, seed: int, steps: int | None, versions: dict[str, str]
    ):
        scenario = MonitorScenario(name=name, seed=seed, arm=arm, steps=steps)
        if run_dir is None:
            self.session = RunSession.claim(scenario)
        else:
            self.session = RunSession.claim(scenario, out=run_dir)
        self.arm = arm
        self.run_dir = self.session.run_dir
        try:
            self.session.acquire()
            self.manifest = self.session.begin(scenario, versions={"eos_tui": __version__, **versions})
            self.writer = rf.MetricsWriter(self.run_dir, flush_interval=FLUSH_INTERVAL)
        except BaseException:
            self.session.release()
            self.session.remove_refused()
            raise
        self.summary = ArmSummarizer(arm)
        self.steps_done = 0
        self.hvps = 0
        self._saved = time.monotonic()
        self.ended: str | None = None

    def start(self, device: str, monitor: dict[str, Any]) -> None:
        """The manifest as the loop starts: the device and what is measured how."""
        self.manifest["device"] = device
        self.manifest["monitor"] = monitor
        self.session.reserve()
        self.save()
        self.session.phase(rf.PHASE_TRAINING, "training (eos_tui.Monitor)", self.arm)

    def write(self, records: list[rf.Record]) -> None:
        """Append records (OSError if the metrics file cannot be written)."""
        for r in records:
            self.summary.add(r)
        self.writer.write_many(records)

    def save(self) -> None:
        entry = self.manifest["arms"][self.arm]
        entry["status"] = rf.RUNNING if self.ended is None else entry.get("status", rf.RUNNING)
        entry["steps_done"] = self.steps_done
        self.session.save()
        self._saved = time.monotonic()

    def tick(self, steps_done: int) -> None:
        """steps_done into the manifest, every MANIFEST_EVERY seconds (`runs` shows it)."""
        self.steps_done = steps_done
        if time.monotonic() - self._saved > MANIFEST_EVERY:
            self.save()

    def end(self, run_status: str, arm_status: str, error: str | None = None) -> str:
        """Close the metrics, then write the final manifest (a reader that sees it ended finds every
        record in the file) and release the run. Returns the status written."""
        if self.ended is not None:
            return self.ended
        self.writer.close()
        if self.writer.error is not None and run_status != rf.FAILED:
            run_status, arm_status = rf.FAILED, rf.FAILED
            error = f"cannot write {self.writer.path}: {self.writer.error.strerror or self.writer.error}"
        if error is not None:
            self.manifest["error"] = error
        entry = self.manifest["arms"][self.arm]

        def sync() -> None:
            entry["status"], entry["steps_done"] = arm_status, self.steps_done
            entry["summary"] = self.summary.result()

        try:
            self.ended = self.session.end(run_status, sync)
        finally:
            self.session.release()
        return self.ended
