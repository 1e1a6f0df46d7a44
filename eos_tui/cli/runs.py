"""Run management: `eos-tui rm RUN_DIR...` (and the duration and the stop hint `eos-tui runs` shows).

`rm` deletes only run directories (a folder whose manifest.json is eos-tui's: a JSON object with the
format version and the scenario's name, which even the bare manifest of a full disk keeps; not a
symbolic link; any other folder that happens to hold a manifest.json, a web app's, is refused),
never a run whose engine still runs (the manifest's pid and that process's start time, as `runs` reads
them), and either all the directories it was given or, if one is refused, none of them.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any, Sequence

from ..rundir.format import MANIFEST_FILE, RUNNING
from ..rundir.reader import effective_status, is_eos_manifest, is_run_dir, read_json_object, safe_text
from .errors import CommandError
from .exit import ExitCode
from .stop import stop_hint


def format_duration(seconds: float | None) -> str:
    """12s, 4m05s, 2h03m, 3d04h."""
    if seconds is None:
        return ""
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


RUN_COLUMNS = ("run", "scenario", "status", "steps", "started", "duration")
DROPPED_FIRST = ("started", "duration", "scenario")  # on a narrow terminal, in this order
RUN_MIN_WIDTH = 24  # below this, the path folds onto too many lines: drop a column instead


def runs_table(found: Sequence[Any], width: int):
    """`eos-tui runs` as a rich Table for a console `width` columns wide. The run directory is what
    a person copies into `eos-tui watch`: never cut short, it folds onto more lines where it does not
    fit; the other columns keep their longest cell's width (rich would squeeze them to "s…"), and on
    a terminal too narrow even so, `started`, then `duration`, then `scenario` are left out."""
    from rich.table import Table
    from rich.text import Text

    rows = []
    for r in found:
        total = f"/{r.steps}" if r.steps else ""
        started = (r.started or "")[:19].replace("T", " ")  # ISO to the second, local to the run
        cells = (r.path, r.scenario, r.status, f"{r.steps_done}{total}", started, format_duration(r.duration_s))
        rows.append(dict(zip(RUN_COLUMNS, (safe_text(str(c)) for c in cells))))
    widths = {c: max(len(c), *(len(row[c]) for row in rows)) for c in RUN_COLUMNS}
    shown = list(RUN_COLUMNS)
    gap = 2  # rich's padding between columns (pad_edge off)
    for drop in DROPPED_FIRST:
        rest = sum(widths[c] + gap for c in shown if c != "run")
        if width - rest >= min(RUN_MIN_WIDTH, widths["run"]):
            break
        shown.remove(drop)
    table = Table(box=None, pad_edge=False)
    for c in shown:
        if c == "run":
            table.add_column(c, overflow="fold")
        else:
            table.add_column(c, no_wrap=True, min_width=widths[c])
    for row in rows:
        table.add_row(*(Text(row[c]) for c in shown))  # Text, not str: run data is shown as it is, never read as rich markup
    return table


def running_hint(found: Sequence[Any]) -> str | None:
    """The line under `runs` when a listed run is running: how to stop one that has no app."""
    running = [r for r in found if r.status == RUNNING]
    if not running:
        return None
    return f"stop a running run with: {stop_hint(safe_text(str(running[0].path)) if len(running) == 1 else 'RUN_DIR')}"


def refusal(run_dir: Path) -> str | None:
    """Why `rm` will not delete `run_dir`, or None if it may."""
    name = safe_text(str(run_dir))
    if run_dir.is_symlink():
        return f"{name}: a symbolic link; name the run directory itself"
    if not is_run_dir(run_dir):
        return f"{name}: not a run directory (no manifest.json); rm deletes only runs"
    if Path.cwd().resolve().is_relative_to(run_dir.resolve()):
        return f"{name}: holds the current directory; cd elsewhere first"
    manifest, problem = read_json_object(run_dir / MANIFEST_FILE)
    if manifest is None or not is_eos_manifest(manifest):
        why = f" ({problem})" if problem is not None else ""
        return f"{name}: its manifest.json is not an eos-tui run's{why}; rm deletes only runs"
    if effective_status(manifest) == RUNNING:
        pid = manifest.get("pid")
        return (
            f"{name}: still running (engine pid {safe_text(str(pid))}); stop it first "
            f"(q in its app, or {stop_hint(name)} for a detached run), or wait for it to end"
        )
    return None


def rm_command(run_dirs: Sequence[Path]) -> int:
    # One run named twice (runs/x and ./runs/x/ and its absolute path) is removed once, not
    # removed and then reported as missing after the others are gone.
    by_place: dict[Path, Path] = {}
    for p in map(Path, run_dirs):
        place = p.parent.resolve() / p.name if p.name else p.resolve()  # the link itself, not its target
        by_place.setdefault(place, p)
    unique = list(by_place.values())
    refused = [r for r in (refusal(p) for p in unique) if r is not None]
    if refused:
        for line in refused[:-1]:
            print(f"eos-tui: {line}", file=sys.stderr)
        more = f" (nothing removed: {len(refused)} of {len(unique)} refused)" if len(unique) > 1 else " (nothing removed)"
        raise CommandError(refused[-1] + more)
    for p in unique:
        try:
            shutil.rmtree(p)
        except OSError as e:
            raise CommandError(f"{safe_text(str(p))}: cannot remove: {e.strerror or e}", code=ExitCode.FAILED) from None
        print(f"removed {safe_text(str(p))}")
    return ExitCode.OK
