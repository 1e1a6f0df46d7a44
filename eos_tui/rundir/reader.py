"""Reading run directories: follow a growing metrics.jsonl, read manifests, list runs.

Imports neither torch nor textual. The follower is what the live app polls: each `poll()` returns
the complete records appended since the last call and keeps a truncated last line (a writer caught
mid-line, or a run killed mid-write) for later, so a reader never sees half a record.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from .format import END, MANIFEST_FILE, METRICS_FILE, RUNNING, SCENARIO_FILE, STATUS_FILE, STEP, process_start_time
from .parsing import InputError, loads_json

# Control characters (C0 but tab and newline, DEL, C1): text from a run directory reaches the
# terminal (`watch`, `runs`), and an ESC or a C1 control there would be obeyed by the terminal
# (ESC ] 2 ; … BEL retitles it). Readers write them as visible \xNN instead.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# How a control character can hide in a JSON line: a \u escape of one, a short escape (\b \f \r),
# or a raw DEL or C1 character (raw C0 is not valid JSON). Tested on the raw line first, so that
# the usual line (no backslash, no DEL, no C1) costs two substring tests.
_SUSPECT = re.compile(rb"\\(?:u00[01][0-9a-fA-F]|u007[fF]|u00[89][0-9a-fA-F]|[bfr])|\x7f|\xc2[\x80-\x9f]")


def safe_text(text: str) -> str:
    """`text` with every control character but tab and newline written as a visible \\xNN."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def sanitize(value: Any) -> Any:
    """`value` (parsed JSON) with every string in it, keys too, made safe for the terminal (safe_text)."""
    if isinstance(value, str):
        return safe_text(value)
    if isinstance(value, dict):
        return {(safe_text(k) if isinstance(k, str) else k): sanitize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [sanitize(v) for v in value]
    return value


def _suspect(raw: bytes) -> bool:
    return (b"\\" in raw or b"\x7f" in raw or b"\xc2" in raw) and _SUSPECT.search(raw) is not None


def parse_line(line: bytes) -> Any:
    """One metrics line as JSON, its strings stripped of control characters (ValueError if not JSON,
    or nested too deep: parsing.InputError)."""
    rec = loads_json(line)
    return sanitize(rec) if _suspect(line) else rec


def why_bad(exc: ValueError) -> str:
    """A few words on why a line or file did not parse, for the one line a reader shows."""
    if isinstance(exc, InputError):
        return exc.reason
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text"
    if isinstance(exc, json.JSONDecodeError):
        return f"not JSON ({exc.msg} at column {exc.colno})"
    return "not JSON"


def skipped_note(first_bad: str | None, bad_lines: int) -> str | None:
    """The one line a reader shows for the lines it skipped (None if none): `first_bad` is the first
    one's "FILE:LINE: reason"."""
    if first_bad is None:
        return None
    if bad_lines == 1:
        return f"{first_bad}; skipped that line, read the others"
    return f"{first_bad}; skipped {bad_lines} lines that are not JSON records (this the first), read the others"


def json_lines(lines: Iterable[bytes], parse: Callable[[bytes], Any] = parse_line) -> Iterator[tuple[int, bytes, Any, str | None]]:
    """The non-blank lines of a JSON-lines file, numbered from 1: (number, line, its value, None), or
    (number, line, None, why it is not JSON: why_bad) for a line that did not parse."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            value, why = parse(line), None
        except ValueError as e:
            value, why = None, why_bad(e)
        yield number, line, value, why


class MetricsFollower:
    """Follows metrics.jsonl as it grows (like `tail -f`), by byte offset.

    A line that does not parse as a JSON object and is not the last one is skipped and counted in
    `bad_lines`, so one damaged line cannot stop a viewer; `first_bad` says which and why
    ("FILE:LINE: reason"), `skipped_note()` the one line a reader shows for them.

    A file rewritten under it (`eos-tui resume` drops the records past the last checkpoint and renames
    a new file into place; or one truncated in place and grown again) is read again from its start:
    `restarts` counts those, and a reader that kept the earlier records must forget them then (the
    records it read past the cut are gone, the ones before it come again).
    """

    TAIL = 64  # bytes before the offset compared at each poll: a rewrite that kept the size is seen too

    def __init__(self, path: str | os.PathLike[str], *, max_bytes_per_poll: int = 16 << 20):
        self.path = Path(path)
        self.offset = 0
        self.bad_lines = 0
        self.restarts = 0
        self.lines = 0  # complete lines read so far (the next one is line lines + 1)
        self.first_bad: str | None = None
        self._partial = b""
        self._max = max_bytes_per_poll
        self._inode: int | None = None
        self._tail = b""  # the last bytes read (up to TAIL), as they were at offset - len(_tail)

    def restart(self) -> None:
        """Read the file again from its start at the next poll (counted in `restarts`)."""
        self.offset, self._partial, self._tail, self.lines = 0, b"", b"", 0
        self.restarts += 1

    def poll(self) -> list[dict[str, Any]]:
        """The complete records appended since the last poll (may be empty)."""
        try:
            fh = open(self.path, "rb")
        except FileNotFoundError:
            return []
        with fh:
            st = os.fstat(fh.fileno())
            if self._inode is not None and (st.st_ino != self._inode or st.st_size < self.offset):
                self.restart()  # replaced or truncated: start over rather than read garbage
            self._inode = st.st_ino
            if self._tail:
                fh.seek(self.offset - len(self._tail))
                if fh.read(len(self._tail)) != self._tail:
                    self.restart()  # the bytes already read changed in place (cut and written again): start over
            fh.seek(self.offset)
            chunk = fh.read(self._max)
        if not chunk:
            return []
        self.offset += len(chunk)
        self._tail = (self._tail + chunk)[-self.TAIL :]
        data = self._partial + chunk
        lines = data.split(b"\n")
        self._partial = lines.pop()  # b"" when data ended with a newline
        out: list[dict[str, Any]] = []
        for line in lines:
            self.lines += 1
            if not line.strip():
                continue
            try:
                rec = parse_line(line)
            except ValueError as e:
                self._bad(why_bad(e))
                continue
            if isinstance(rec, dict):
                out.append(rec)
            else:
                self._bad("not a JSON object")
        return out

    def _bad(self, reason: str) -> None:
        self.bad_lines += 1
        if self.first_bad is None:
            self.first_bad = f"{safe_text(str(self.path))}:{self.lines}: {reason}"

    def skipped_note(self) -> str | None:
        """One line on the lines skipped so far (None if none): the first one's place and reason."""
        return skipped_note(self.first_bad, self.bad_lines)

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
    """The manifest, or None if there is none (yet) or it cannot be read. Its strings come without
    control characters (see `safe_text`)."""
    return read_json_object(Path(run_dir) / MANIFEST_FILE)[0]


def read_json_object(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """(a JSON object from a file, its strings without control characters; None) or (None, why it
    cannot be read, one line naming the file and, where known, the line) for a file that is missing,
    unreadable, not JSON, nested too deep or not an object."""
    where = safe_text(str(path))
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
        data = loads_json(raw)
    except OSError as e:
        return None, f"{where}: cannot read: {safe_text(e.strerror or str(e))}"
    except InputError as e:
        return None, e.at(where)
    except json.JSONDecodeError as e:
        return None, f"{where}:{e.lineno}: not JSON ({e.msg})"
    except ValueError as e:
        return None, f"{where}: {why_bad(e)}"
    if not isinstance(data, dict):
        return None, f"{where}: not a JSON object"
    return (sanitize(data) if _suspect(raw) else data), None


def read_status(run_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """status.json (what the engine is doing: format.EngineStatus), or None if there is none (yet)
    or it cannot be read. Its strings come without control characters."""
    return read_json_object(Path(run_dir) / STATUS_FILE)[0]


def read_scenario_text(run_dir: str | os.PathLike[str]) -> str | None:
    """scenario.toml's text as written (to be parsed; strings from it are not made safe here)."""
    try:
        return (Path(run_dir) / SCENARIO_FILE).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def is_run_dir(path: str | os.PathLike[str]) -> bool:
    p = Path(path)
    return p.is_dir() and (p / MANIFEST_FILE).is_file()


def _int(x: Any) -> int | None:
    """x if it is a plain integer, else None: a hand-edited or damaged manifest may hold anything."""
    return x if isinstance(x, int) and not isinstance(x, bool) else None


def pid_alive(pid: Any, start: Any = None) -> bool:
    """Whether a process with this pid exists (on this machine). With `start` (the process start
    time the manifest recorded, see format.process_start_time), a process with another start time
    is a later one that reuses the pid: the recorded one is gone."""
    pid = _int(pid)
    if pid is None or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    except (OSError, OverflowError):
        return False
    # A zombie (exited, not yet reaped) still answers kill(0); on Linux /proc tells.
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            fields = fh.read().rsplit(")", 1)[-1].split()
        if fields[0] == "Z":
            return False
    except (OSError, IndexError):
        return True
    start = _int(start)
    if start is not None:
        now = process_start_time(pid)
        if now is not None and now != start:
            return False
    return True


ENGINE_LOST = "engine lost"


def effective_status(manifest: dict[str, Any] | None) -> str:
    """The manifest's status, except that a "running" run whose engine process is gone (or whose
    pid now names another process) is "engine lost"."""
    if manifest is None:
        return "unknown"
    status = str(manifest.get("status", "unknown"))
    if status == RUNNING and manifest.get("pid") is not None and not pid_alive(manifest.get("pid"), manifest.get("pid_start")):
        return ENGINE_LOST
    return status


def tail_records(path: str | os.PathLike[str], max_bytes: int = 256 << 10) -> list[dict[str, Any]]:
    """The complete records in the last `max_bytes` of a metrics file (bounded time and memory
    however large the file: what `runs` needs to say how far a run got)."""
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            start = max(0, size - max_bytes)
            fh.seek(start)
            data = fh.read(max_bytes)
    except OSError:
        return []
    lines = data.split(b"\n")
    lines.pop()  # b"" after a final newline, else a line still being written
    if start > 0 and lines:
        lines.pop(0)  # began before the window
    out = []
    for line in lines:
        try:
            rec = parse_line(line)
        except ValueError:
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out


@dataclass
class RunInfo:
    path: Path
    scenario: str
    status: str
    steps_done: int
    steps: int | None
    started: str | None
    arms: list[str] = field(default_factory=list)
    ended: str | None = None
    duration_s: float | None = None  # ended − started (a resumed run: its sessions summed); live: now − started; lost: its last write
    problem: str | None = None  # why an "unreadable" run's manifest cannot be read (FILE:LINE: reason)

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_dir": str(self.path),
            "scenario": self.scenario,
            "status": self.status,
            "steps_done": self.steps_done,
            "steps": self.steps,
            "started": self.started,
            "ended": self.ended,
            "duration_s": self.duration_s,
            "arms": self.arms,
        }


def _duration(started: Any, ended: Any, status: str, run_dir: Path) -> float | None:
    """Seconds the run took (so far), from the manifest's ISO times; None where they cannot be read."""
    import datetime as dt

    try:
        t0 = dt.datetime.fromisoformat(started)
        if isinstance(ended, str):
            t1 = dt.datetime.fromisoformat(ended)
        elif status == RUNNING:
            t1 = dt.datetime.now(t0.tzinfo)
        else:  # lost or never ended: the last time it wrote its metrics
            t1 = dt.datetime.fromtimestamp((run_dir / METRICS_FILE).stat().st_mtime, t0.tzinfo)
        seconds = (t1 - t0).total_seconds()
    except (TypeError, ValueError, OSError, OverflowError):
        return None
    return seconds if seconds >= 0 else None


def _run_duration(m: dict[str, Any], status: str, run_dir: Path) -> float | None:
    """Seconds the run trained: for a resumed run (`eos-tui resume`), the sum of its sessions (the
    earlier ones in "history", this one from "resumed.started"), not the time since its first start,
    which counts the hours it lay interrupted. A session is counted from no earlier than the previous
    one's end (manifests written before each session kept its own start)."""
    history, resumed = m.get("history"), m.get("resumed")
    if not (isinstance(history, list) and history and isinstance(resumed, dict)):
        return _duration(m.get("started"), m.get("ended"), status, run_dir)
    import datetime as dt

    sessions = [*history, {"started": resumed.get("started"), "ended": m.get("ended"), "status": status}]
    total, previous_end = 0.0, None
    for i, session in enumerate(sessions):
        if not isinstance(session, dict):
            return None
        start, end = session.get("started"), session.get("ended")
        if i < len(sessions) - 1 and not isinstance(end, str):
            continue  # a session that never wrote its end (killed): its time is not known
        try:
            if previous_end is not None and isinstance(start, str) and dt.datetime.fromisoformat(start) < previous_end:
                start = previous_end.isoformat()
            seconds = _duration(start, end, str(session.get("status")) if i < len(sessions) - 1 else status, run_dir)
            if isinstance(end, str):
                previous_end = dt.datetime.fromisoformat(end)
        except (TypeError, ValueError):
            return None
        if seconds is None:
            return None
        total += seconds
    return total


UNREADABLE = "unreadable"  # the status listed for a run whose manifest cannot be parsed


def run_info(run_dir: str | os.PathLike[str]) -> RunInfo:
    """What `eos-tui runs` lists for one run directory; never raises on a damaged manifest."""
    p = Path(run_dir)
    m, problem = read_json_object(p / MANIFEST_FILE)
    if m is None:
        # Listed, not hidden: a run that vanished from the list would be harder to notice.
        return RunInfo(path=p, scenario=p.name, status=UNREADABLE, steps_done=0, steps=None, started=None, problem=problem)
    arms = m.get("arms")
    arms = arms if isinstance(arms, dict) else {}
    status = effective_status(m)
    done_by_arm = {str(k): _int(a.get("steps_done")) or 0 for k, a in arms.items() if isinstance(a, dict)}
    if status in (RUNNING, ENGINE_LOST):
        # A live run's manifest is updated every few seconds, a lost one's not at all: the end of
        # the metrics says how far each arm got (an arm's end record has the final count).
        ended: dict[str, int] = {}
        for rec in tail_records(p / METRICS_FILE):
            arm, kind = rec.get("arm"), rec.get("type")
            if not isinstance(arm, str):
                continue
            if kind == STEP and (step := _int(rec.get("step"))) is not None:
                done_by_arm[arm] = max(done_by_arm.get(arm, 0), step + 1)
            elif kind == END and (n := _int(rec.get("steps_done"))) is not None:
                ended[arm] = n
        done_by_arm.update(ended)
    done = list(done_by_arm.values())
    started = m.get("started")
    ended_at = m.get("ended")
    return RunInfo(
        path=p,
        scenario=str(m.get("scenario", p.name)),
        status=status,
        steps_done=max(done) if done else 0,
        steps=_int(m.get("steps")),
        started=started if isinstance(started, str) else None,
        arms=[str(a) for a in arms],
        ended=ended_at if isinstance(ended_at, str) else None,
        duration_s=_run_duration(m, status, p),
    )


def is_eos_manifest(manifest: dict[str, Any]) -> bool:
    """Whether a manifest.json is one eos-tui wrote (format.py): an integer `format` and a string
    `scenario`, the first fields of every manifest, the engine's bare one included. A web app's
    manifest.json is not."""
    fmt = manifest.get("format")
    return isinstance(fmt, int) and not isinstance(fmt, bool) and isinstance(manifest.get("scenario"), str)


def monitor_refusal(run_dir: Path, manifest: dict[str, Any] | None, command: str) -> str | None:
    """One line refusing `command` (resume, landscape: they retrain from scenario.toml) on a run
    that eos_tui.Monitor wrote from a training loop of its own (its manifest's "monitor"); None
    for any other run."""
    if manifest is None or not isinstance(manifest.get("monitor"), dict):
        return None
    return (
        f"{run_dir}: written by eos_tui.Monitor from a training loop of its own, not from a scenario: "
        f"`eos-tui {command}` cannot retrain it (watch, export, plot and runs read it)"
    )


def _not_someone_elses(run_dir: Path) -> bool:
    """False for a folder whose manifest.json is a JSON object but not eos-tui's; a damaged one
    (not JSON, cut short) stays listed as "unreadable": a run that vanished would go unnoticed."""
    m = read_manifest(run_dir)
    return m is None or is_eos_manifest(m)


def list_runs(root: str | os.PathLike[str] = "runs") -> list[RunInfo]:
    """Run directories directly under `root`, newest first (not folders whose manifest.json is
    someone else's, a web app's)."""
    r = Path(root)
    if not r.is_dir():
        return []
    found = [run_info(p) for p in r.iterdir() if is_run_dir(p) and _not_someone_elses(p)]
    found.sort(key=lambda i: (i.started or "", i.path.name), reverse=True)
    return found
