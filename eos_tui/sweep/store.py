"""The sweep directory (no torch):

    sweep.toml     the resolved sweep (scenario inline, every grid's values listed): a sweep file
    points.jsonl   one JSON line per finished point, appended whole (one write of the line, then
                   fsync) as each point ends; a reader ignores a cut-off last line
    points/pNNNN/  one ordinary run directory per point (NNNN its index in the grid)
    .lock          held (flock) by the sweep running on this directory

A rerun on the same directory keeps the "completed" lines whose run directory is still there and says
"completed", drops the others (rewriting the file atomically) and runs every point without a kept
line: failed, interrupted, never started, or whose directory was removed or damaged since.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

from ..rundir.format import COMPLETED, dumps_record
from ..rundir.parsing import loads_json
from ..rundir.reader import json_lines, read_manifest, safe_text
from .grid import Sweep, SweepError, read_resolved

SWEEP_FILE = "sweep.toml"
POINTS_FILE = "points.jsonl"
POINTS_DIR = "points"
LOCK_FILE = ".lock"


def point_dir(index: int) -> str:
    """A point's run directory, relative to the sweep directory."""
    return f"{POINTS_DIR}/p{index:04d}"


def is_sweep_dir(path: Path) -> bool:
    return (Path(path) / SWEEP_FILE).is_file()


def read_points(path: Path, problems: list[str] | None = None) -> list[dict[str, Any]]:
    """points.jsonl's records (a line that is not a whole JSON object is skipped). Each skipped
    line but a cut-off last one ("FILE:LINE: reason") is appended to `problems` when given."""
    out: list[dict[str, Any]] = []
    where = safe_text(str(Path(path) / POINTS_FILE))
    try:
        with open(Path(path) / POINTS_FILE, "rb") as fh:
            for number, line, rec, why in json_lines(fh, loads_json):
                if why is not None:
                    if problems is not None and line.endswith(b"\n"):
                        problems.append(f"{where}:{number}: {why}")
                    continue
                if isinstance(rec, dict) and isinstance(rec.get("point"), dict):
                    out.append(rec)
                elif problems is not None:
                    problems.append(f"{where}:{number}: not a point's record (a JSON object with its point)")
    except FileNotFoundError:
        pass
    return out


def _write_atomic_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class SweepDir:
    """An open sweep directory: created or resumed, locked while the sweep runs."""

    def __init__(self, path: Path, sweep: Sweep):
        self.path = Path(path)
        self.sweep = sweep
        self._lock_fd: int | None = None

    @classmethod
    def open(cls, path: Path, sweep: Sweep) -> SweepDir:
        """Create the directory, or resume the same sweep in it. A directory holding anything else,
        or another sweep, is refused (SweepError); so is one a running sweep holds."""
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise SweepError(f"{path}: exists and is not a directory")
        fresh = not path.exists() or not any(path.iterdir())
        if not fresh and not is_sweep_dir(path):
            raise SweepError(f"{path}: exists, is not empty and holds no {SWEEP_FILE}; choose another --out")
        path.mkdir(parents=True, exist_ok=True)
        self = cls(path, sweep)
        self._lock()
        if not fresh:
            try:
                old = read_resolved(path / SWEEP_FILE).resolved()
            except SweepError as e:
                self.close()
                raise SweepError(f"{path}: cannot resume: {e}") from None
            if old != sweep.resolved():
                self.close()
                raise SweepError(
                    f"{path}: holds another sweep (its {SWEEP_FILE} differs: other grid, scenario or --set); choose another --out"
                )
        else:
            _write_atomic_text(path / SWEEP_FILE, sweep.to_toml())
        if not (path / POINTS_FILE).exists():
            _write_atomic_text(path / POINTS_FILE, "")
        (path / POINTS_DIR).mkdir(exist_ok=True)
        return self

    def _lock(self) -> None:
        fd = os.open(self.path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise SweepError(f"{self.path}: another sweep is running on this directory") from None
        self._lock_fd = fd

    def close(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None

    def resume(self) -> dict[int, dict[str, Any]]:
        """The finished points to keep ({index: record}), points.jsonl rewritten with only them."""
        points = self.sweep.points()
        kept: dict[int, dict[str, Any]] = {}
        for rec in read_points(self.path):
            i = rec.get("index")
            if isinstance(i, int) and 0 <= i < len(points) and rec.get("point") == points[i] and rec.get("status") == COMPLETED:
                if self.point_completed(i, rec):
                    kept[i] = rec
        records = list(kept.values())
        # Written even when empty: points.jsonl is there (and valid) from the start of a sweep.
        _write_atomic_text(self.path / POINTS_FILE, "".join(dumps_record(r) + "\n" for r in records))
        return kept

    def point_completed(self, index: int, record: dict[str, Any]) -> bool:
        """Whether a "completed" line's run directory still holds that run: the line alone is not
        enough (`rm -r points/p0003`, a manifest lost to a full disk), and a point without its run
        directory is no point of this sweep, whatever points.jsonl says."""
        run_dir = point_dir(index)
        if record.get("run_dir") != run_dir:
            return False
        manifest = read_manifest(self.path / run_dir)
        return manifest is not None and manifest.get("status") == COMPLETED

    def append(self, record: dict[str, Any]) -> None:
        """One finished point: its line in one write, then fsync."""
        data = (dumps_record(record) + "\n").encode("utf-8")
        fd = os.open(self.path / POINTS_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            written = os.write(fd, data)
            while written < len(data):  # a short write (rare): finish the line
                written += os.write(fd, data[written:])
            os.fsync(fd)
        finally:
            os.close(fd)

    def __enter__(self) -> SweepDir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def records(self) -> Iterator[dict[str, Any]]:
        yield from read_points(self.path)
