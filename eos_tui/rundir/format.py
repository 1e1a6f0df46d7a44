"""The run directory: what a run leaves on disk, and how it is written.

A run directory is the contract between the engine (which writes it) and everything that reads it:
the live app, `eos-tui watch`, `eos-tui runs`, and people's own scripts. It holds

    scenario.toml    the resolved scenario, arms expanded (a valid scenario file in its own right)
    manifest.json    versions, device, seed, status, start/end times, per-arm summary
    metrics.jsonl    one JSON object per line, appended and flushed as training goes
    engine.log       the engine process's stdout/stderr when it runs in the background

This module imports neither torch nor textual: readers on a laptop with no torch can use it.

Crash safety: every metrics line is written whole and flushed (at once, or within the writer's
`flush_interval`), so a reader sees either a complete line or a truncated last line (which the
reader tolerates); the manifest is replaced atomically
(write to a temporary file, then os.replace), so it is never half-written.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import re
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Iterable

SCENARIO_FILE = "scenario.toml"
MANIFEST_FILE = "manifest.json"
METRICS_FILE = "metrics.jsonl"
ENGINE_LOG = "engine.log"

FORMAT_VERSION = 1

# Record types written to metrics.jsonl (more fields are welcome on each; readers ignore unknown ones).
STEP = "step"  # {"arm", "step", "loss", "lr", "grad_norm", "proj", ..., "threshold" with momentum}
SHARPNESS = "sharpness"  # {"arm", "step", "eigenvalues": [descending], "hvps", "residual"}
REPARAM = "reparam"  # {"arm", "step", "alpha", "max_output_change", "loss_change", "sharpness_before", "sharpness_after"}
EVENT = "event"  # {"arm", "step", "kind", "message"}
END = "end"  # {"arm", "status", "steps_done", "final_loss"}
RECORD_TYPES = (STEP, SHARPNESS, REPARAM, EVENT, END)

# Statuses of an arm (in "end" records) and of a run (in the manifest).
RUNNING = "running"
COMPLETED = "completed"
DIVERGED = "diverged"
INTERRUPTED = "interrupted"
FAILED = "failed"
ARM_STATUSES = (COMPLETED, DIVERGED, INTERRUPTED, FAILED)
RUN_STATUSES = (RUNNING, COMPLETED, INTERRUPTED, FAILED)

_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def step_threshold(record: dict[str, Any]) -> float | None:
    """The stability threshold on λ_max at a step record: its own "threshold" where the engine
    wrote one (heavy-ball momentum β: 2(1+β)/η), else 2/η; None without a usable η."""
    def positive(value: Any) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0

    if positive(thr := record.get("threshold")):
        return float(thr)
    return 2.0 / record["lr"] if positive(record.get("lr")) else None


def now_iso() -> str:
    """Local time with offset, to the second: what people read in `eos-tui runs`."""
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")


def is_safe_name(name: str) -> bool:
    """A name that can be a single path component under runs/ (no '/', no '..', no leading dot)."""
    return bool(_SAFE_NAME.fullmatch(name)) and ".." not in name


def default_run_dir(name: str, root: str | os.PathLike[str] = "runs") -> Path:
    """runs/<name>-<YYYYmmdd-HHMMSS>/, with a -2, -3 ... suffix if two runs start in the same second."""
    if not is_safe_name(name):
        raise ValueError(f"scenario name {name!r} cannot name a run directory")
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(root) / f"{name}-{stamp}"
    candidate, n = base, 1
    while candidate.exists():
        n += 1
        candidate = base.with_name(f"{base.name}-{n}")
    return candidate


def _clean(value: Any) -> Any:
    """JSON has no NaN or infinity: write them as null (a diverged loss is a result, not a crash)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


_ENCODE = json.JSONEncoder(separators=(",", ":"), allow_nan=True, ensure_ascii=True).encode
_STRICT = json.JSONEncoder(separators=(",", ":"), allow_nan=False, ensure_ascii=True).encode


def dumps_record(record: dict[str, Any]) -> str:
    """One metrics line (without the newline): compact, strict JSON.

    Fast path first (this runs for every record the engine writes): encode as is, and only when
    the line holds a NaN or infinity token (or a string that looks like one) walk the record and
    write them as null. Same output as always encoding `_clean(record)`.
    """
    line = _ENCODE(record)
    if "NaN" in line or "Infinity" in line:
        line = _STRICT(_clean(record))
    return line


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Replace `path` with `data` so that a reader never sees a half-written file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(_clean(data), fh, indent=2, allow_nan=False)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def create_run_dir(path: str | os.PathLike[str], *, exact: bool) -> Path:
    """Make the run directory. With `exact` (the user's --out), refuse one that exists and is not empty."""
    p = Path(path)
    if p.exists():
        if not p.is_dir():
            raise FileExistsError(f"{p} exists and is not a directory")
        if exact and any(p.iterdir()):
            raise FileExistsError(f"{p} exists and is not empty; choose another --out")
    p.mkdir(parents=True, exist_ok=True)
    return p


class MetricsWriter:
    """Appends records to metrics.jsonl, whole lines, flushed as they come.

    Flushing keeps the file followable: another process (the live app, `eos-tui watch`) sees the
    lines while the run goes. Two modes:

    * `flush_interval=0` (the default): every `write`/`write_many` is flushed at once;
    * `flush_interval=s` (the engine's, 0.05 s): lines go to the file's buffer and are flushed when
      the last flush is `s` old, by the writer itself on its next write or, if none comes (a long
      eigen-solve, an idle arm), by a small flusher thread that wakes every `s`. A follower then
      sees every line within about `s` (well under a second) while a training step no longer pays
      for a write system call (bench/overhead.py). The thread only ever flushes, under the same
      lock as the writes, so lines stay whole; `close` flushes what is left.
    """

    def __init__(self, run_dir: str | os.PathLike[str], *, flush_interval: float = 0.0):
        self.path = Path(run_dir) / METRICS_FILE
        self.flush_interval = float(flush_interval)
        batched = self.flush_interval > 0
        self._fh = open(self.path, "a", encoding="utf-8", buffering=-1 if batched else 1)
        self._lock = threading.Lock()
        self._dirty = False
        self._last_flush = time.monotonic()
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None
        if batched:
            self._thread = threading.Thread(target=self._flusher, name="eos-tui-metrics-flush", daemon=True)
            self._thread.start()

    def write(self, record: dict[str, Any]) -> None:
        if record.get("type") not in RECORD_TYPES:
            raise ValueError(f"unknown record type {record.get('type')!r}")
        self.write_many([record])

    def write_many(self, records: Iterable[dict[str, Any]]) -> None:
        lines = "".join(dumps_record(r) + "\n" for r in records)
        if not lines:
            return
        if self._thread is None:
            self._fh.write(lines)
            self._fh.flush()
            return
        with self._lock:
            self._fh.write(lines)
            self._dirty = True
            now = time.monotonic()
            if now - self._last_flush >= self.flush_interval:
                self._flush(now)

    def _flush(self, now: float) -> None:  # with the lock held
        self._fh.flush()
        self._dirty = False
        self._last_flush = now

    def _flusher(self) -> None:
        while not self._closing.wait(self.flush_interval):
            with self._lock:
                if self._dirty and not self._fh.closed:
                    self._flush(time.monotonic())

    def close(self) -> None:
        if self._thread is not None:
            self._closing.set()
            self._thread.join()
            self._thread = None
        with self._lock:
            if not self._fh.closed:
                self._fh.flush()
                self._fh.close()

    def __enter__(self) -> MetricsWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def new_manifest(*, scenario: str, seed: int, device: str, arms: list[str], versions: dict[str, str],
                 pid: int | None = None, total_steps: int | None = None) -> dict[str, Any]:
    """The manifest at the start of a run; the engine updates `status`, `ended` and `arms` as it goes."""
    return {
        "format": FORMAT_VERSION,
        "scenario": scenario,
        "seed": seed,
        "device": device,
        "versions": versions,
        "status": RUNNING,
        "started": now_iso(),
        "ended": None,
        "pid": pid,
        "steps": total_steps,
        "arms": {name: {"status": RUNNING} for name in arms},
    }
