"""Reading run directories: follow a growing metrics.jsonl, read manifests, list runs.

Imports neither torch nor textual. The follower is what the live app polls: each `poll()` returns
the complete records appended since the last call and keeps a truncated last line (a writer caught
mid-line, or a run killed mid-write) for later, so a reader never sees half a record.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .format import MANIFEST_FILE, METRICS_FILE, RUNNING, SCENARIO_FILE


class MetricsFollower:
    """Follows metrics.jsonl as it grows (like `tail -f`), by byte offset.

    A line that does not parse as JSON and is not the last one is skipped and counted in
    `bad_lines`, so one damaged line cannot stop a viewer.
    """

    def __init__(self, path: str | os.PathLike[str], *, max_bytes_per_poll: int = 16 << 20):
        self.path = Path(path)
        self.offset = 0
        self.bad_lines = 0
        self._partial = b""
        self._max = max_bytes_per_poll
        self._inode: int | None = None

    def poll(self) -> list[dict[str, Any]]:
        """The complete records appended since the last poll (may be empty)."""
        try:
            fh = open(self.path, "rb")
        except FileNotFoundError:
            return []
        with fh:
            st = os.fstat(fh.fileno())
            if self._inode is not None and (st.st_ino != self._inode or st.st_size < self.offset):
                # Replaced or truncated: start over rather than read garbage.
                self.offset, self._partial = 0, b""
            self._inode = st.st_ino
            fh.seek(self.offset)
            chunk = fh.read(self._max)
        if not chunk:
            return []
        self.offset += len(chunk)
        data = self._partial + chunk
        lines = data.split(b"\n")
        self._partial = lines.pop()  # b"" when data ended with a newline
        out: list[dict[str, Any]] = []
        for line in lines:
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                self.bad_lines += 1
                continue
            if isinstance(rec, dict):
                out.append(rec)
            else:
                self.bad_lines += 1
        return out

    def read_all(self) -> list[dict[str, Any]]:
        """Everything readable now, in one go (keeps following from there)."""
        out: list[dict[str, Any]] = []
        while True:
            batch = self.poll()
            if not batch:
                return out
            out.extend(batch)


def read_records(run_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """All complete records of a run (a truncated last line is left out)."""
    return MetricsFollower(Path(run_dir) / METRICS_FILE).read_all()


def read_manifest(run_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The manifest, or None if there is none (yet) or it cannot be read."""
    try:
        with open(Path(run_dir) / MANIFEST_FILE, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_scenario_text(run_dir: str | os.PathLike[str]) -> str | None:
    try:
        return (Path(run_dir) / SCENARIO_FILE).read_text(encoding="utf-8")
    except OSError:
        return None


def is_run_dir(path: str | os.PathLike[str]) -> bool:
    p = Path(path)
    return p.is_dir() and (p / MANIFEST_FILE).is_file()


def _int(x: Any) -> int | None:
    """x if it is a plain integer, else None: a hand-edited or damaged manifest may hold anything."""
    return x if isinstance(x, int) and not isinstance(x, bool) else None


def pid_alive(pid: Any) -> bool:
    """Whether a process with this pid exists (on this machine)."""
    pid = _int(pid)
    if pid is None or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OSError, OverflowError):
        return False
    # A zombie (exited, not yet reaped) still answers kill(0); on Linux /proc tells.
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            state = fh.read().rsplit(")", 1)[-1].split()[0]
        return state != "Z"
    except (OSError, IndexError):
        return True


def effective_status(manifest: dict[str, Any] | None) -> str:
    """The manifest's status, except that a "running" run whose engine process is gone is "engine lost"."""
    if manifest is None:
        return "unknown"
    status = str(manifest.get("status", "unknown"))
    if status == RUNNING and manifest.get("pid") is not None and not pid_alive(manifest.get("pid")):
        return "engine lost"
    return status


@dataclass
class RunInfo:
    path: Path
    scenario: str
    status: str
    steps_done: int
    steps: int | None
    started: str | None
    arms: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_dir": str(self.path),
            "scenario": self.scenario,
            "status": self.status,
            "steps_done": self.steps_done,
            "steps": self.steps,
            "started": self.started,
            "arms": self.arms,
        }


UNREADABLE = "unreadable"  # the status listed for a run whose manifest cannot be parsed


def run_info(run_dir: str | os.PathLike[str]) -> RunInfo:
    """What `eos-tui runs` lists for one run directory; never raises on a damaged manifest."""
    p = Path(run_dir)
    m = read_manifest(p)
    if m is None:
        # Listed, not hidden: a run that vanished from the list would be harder to notice.
        return RunInfo(path=p, scenario=p.name, status=UNREADABLE, steps_done=0, steps=None, started=None)
    arms = m.get("arms")
    arms = arms if isinstance(arms, dict) else {}
    done = [_int(a.get("steps_done")) or 0 for a in arms.values() if isinstance(a, dict)]
    if not any(done) and effective_status(m) in (RUNNING, "engine lost"):
        # A live run's manifest is updated rarely; the metrics say how far it got.
        last: dict[str, int] = {}
        for rec in read_records(p):
            step = _int(rec.get("step"))
            if rec.get("type") == "step" and isinstance(rec.get("arm"), str) and step is not None:
                last[rec["arm"]] = step + 1
        done = list(last.values())
    started = m.get("started")
    return RunInfo(
        path=p,
        scenario=str(m.get("scenario", p.name)),
        status=effective_status(m),
        steps_done=max(done) if done else 0,
        steps=_int(m.get("steps")),
        started=started if isinstance(started, str) else None,
        arms=[str(a) for a in arms],
    )


def list_runs(root: str | os.PathLike[str] = "runs") -> list[RunInfo]:
    """Run directories directly under `root`, newest first."""
    r = Path(root)
    if not r.is_dir():
        return []
    found = [run_info(p) for p in r.iterdir() if is_run_dir(p)]
    found.sort(key=lambda i: (i.started or "", i.path.name), reverse=True)
    return found
