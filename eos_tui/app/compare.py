"""Several runs in one app (`eos-tui watch RUN_DIR RUN_DIR...`): one follower per run, their
arms renamed `run/arm`, their manifests merged into one, so that the model, the charts and the
header need not know that there is more than one run.

Each run is followed by its own RunFollower (its own thread), so live runs keep growing on screen.
The merged manifest's status is the most pressing of the runs' (running while any runs, then
engine lost, failed, interrupted; completed when all have), its scenario the runs' scenarios, its
arms every run's arms under their new names, in the order of the runs given.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any, Sequence

from ..rundir.reader import safe_text
from .ending import FINALIZED_BY_APP, EngineEnd
from .follow import RunFollower
from .model import Batch

# The run's status shown for several runs: the first of these that any run has.
STATUS_ORDER = ("running", "starting", "engine lost", "failed", "interrupted", "completed")


# runs/<scenario>-<YYYYmmdd-HHMMSS>[-n] (rundir.format.default_run_dir)
DEFAULT_NAME = re.compile(r"^(?P<scenario>.+)-(?P<date>\d{8})-(?P<time>\d{6}(?:-\d+)?)$")


def _without_common_parts(labels: list[str]) -> list[str]:
    """Default run names less what they all share: two runs of eos from the same day are `051751`
    and `051804`, not `eos-20261130-051751` (whose arms, `eos-20261130-051751/lr-0.15`, left no
    room in an 80-column legend for a second arm); the header still names the scenario."""
    found = [DEFAULT_NAME.match(label) for label in labels]
    if len(labels) < 2 or not all(found):
        return labels
    groups = [m.groupdict() for m in found if m is not None]
    keep = [key for key in ("scenario", "date") if len({g[key] for g in groups}) > 1] + ["time"]
    return ["-".join(g[key] for key in keep) for g in groups]


def run_labels(run_dirs: Sequence[Path]) -> list[str]:
    """A short, distinct name per run: its folder's name, with its parent's where two runs share
    a name, and a #n where even that is not enough; default names less the scenario and date that
    all of them share."""
    paths = [Path(p).resolve() for p in run_dirs]
    names = [p.name or str(p) for p in paths]
    labels = [safe_text("/".join(p.parts[-2:]) if names.count(n) > 1 else n) for p, n in zip(paths, names)]
    labels = _without_common_parts(labels)
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label}#{seen[label]}")
    return out


def distinct_runs(run_dirs: Sequence[Path]) -> list[Path]:
    """The run directories given, each once however it was spelled (`runs/x`, `./runs/x/`, its
    absolute path or a link to it), in the order first given."""
    seen: dict[Path, Path] = {}
    for p in map(Path, run_dirs):
        seen.setdefault(p.resolve(), p)
    return list(seen.values())


def combined_status(statuses: Sequence[str]) -> str:
    for s in STATUS_ORDER:
        if s in statuses:
            if s == "completed" and any(x != "completed" for x in statuses):
                continue
            return s
    return statuses[0] if len(set(statuses)) == 1 and statuses else "unknown"


def merge_manifests(items: Sequence[tuple[str, dict[str, Any] | None, str]]) -> tuple[dict[str, Any], str]:
    """(label, manifest, status) per run → one manifest and one status, as the app shows a run."""
    arms: dict[str, Any] = {}
    scenarios: list[str] = []
    devices: list[str] = []
    steps: list[int] = []
    finalized = False
    for label, manifest, _ in items:
        m = manifest or {}
        entries = m.get("arms")
        if isinstance(entries, dict):
            for name, entry in entries.items():
                arms[f"{label}/{safe_text(str(name))}"] = entry
        for value, into in ((m.get("scenario"), scenarios), (m.get("device"), devices)):
            if isinstance(value, str) and value not in into:
                into.append(value)
        if isinstance(m.get("steps"), int) and not isinstance(m.get("steps"), bool):
            steps.append(m["steps"])
        finalized = finalized or m.get("finalized_by") == FINALIZED_BY_APP
    status = combined_status([s for _, _, s in items])
    merged: dict[str, Any] = {
        "scenario": " vs ".join(scenarios) if scenarios else "?",
        "device": ", ".join(devices) if devices else "?",
        "status": status,
        "steps": max(steps) if steps else None,
        "arms": arms,
        "runs": [label for label, _, _ in items],
    }
    if finalized:
        merged["finalized_by"] = FINALIZED_BY_APP
    return merged, status


def prefix_batch(batch: Batch, label: str) -> Batch:
    """The same batch with every arm (and every event's arm) named `label/arm`."""
    out = Batch(records=batch.records, bad=batch.bad, reset=None if batch.reset is None else f"{label}/{batch.reset}")
    for name, arm in batch.arms.items():
        new = f"{label}/{name}"
        arm.events = [dataclasses.replace(e, arm=new) for e in arm.events]
        out.arms[new] = arm
    return out


class MultiRunFollower:
    """RunFollower's interface over several runs (watch only: no engine of the app's own)."""

    end: EngineEnd | None = None

    def __init__(self, run_dirs: Sequence[Path], *, interval: float = 0.1):
        self.run_dirs = [Path(p) for p in run_dirs]
        self.labels = run_labels(self.run_dirs)
        self.followers = [RunFollower(p, engine=None, interval=interval) for p in self.run_dirs]
        self._latest: dict[str, tuple[dict[str, Any] | None, str]] = {label: (None, "unknown") for label in self.labels}

    def end_reason(self) -> str | None:
        return None  # no engine of the app's own

    @property
    def error(self) -> str | None:
        errors = [f"{label}: {f.error}" for label, f in zip(self.labels, self.followers) if f.error is not None]
        return "; ".join(errors) if errors else None

    def skipped(self) -> list[str]:
        """Each run's first metrics line skipped as not a record (RunFollower.skipped)."""
        return [note for f in self.followers for note in f.skipped()]

    def engine_status(self) -> dict[str, Any] | None:
        """The phase to show: the first run whose engine has not reached training yet, else the first run's."""
        statuses = [f.engine_status() for f in self.followers]
        waiting = [s for s in statuses if s is not None and s.get("phase") not in ("training", "ended")]
        return waiting[0] if waiting else statuses[0] if statuses else None

    def start(self) -> None:
        for f in self.followers:
            f.start()

    def stop(self) -> None:
        for f in self.followers:
            f.stop()

    def poll_now(self) -> None:
        for f in self.followers:
            f.poll_now()

    def take(self) -> tuple[list[Batch], tuple[dict[str, Any] | None, str] | None]:
        batches: list[Batch] = []
        changed = False
        for label, follower in zip(self.labels, self.followers):
            taken, manifest = follower.take()
            batches += [prefix_batch(b, label) for b in taken]
            if manifest is not None:
                self._latest[label] = manifest
                changed = True
        if not changed:
            return batches, None
        return batches, merge_manifests([(label, *self._latest[label]) for label in self.labels])
