"""Run management: `eos-tui rm RUN_DIR...` (and the duration `eos-tui runs` shows).

`rm` deletes only run directories (a folder with a manifest.json, not a symbolic link), never a
run whose engine still runs (the manifest's pid and that process's start time, as `runs` reads
them), and either all the directories it was given or, if one is refused, none of them.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Sequence

from ..rundir.format import RUNNING
from ..rundir.reader import effective_status, is_run_dir, read_manifest, safe_text
from .errors import CommandError


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


def refusal(run_dir: Path) -> str | None:
    """Why `rm` will not delete `run_dir`, or None if it may."""
    name = safe_text(str(run_dir))
    if run_dir.is_symlink():
        return f"{name}: a symbolic link; name the run directory itself"
    if not is_run_dir(run_dir):
        return f"{name}: not a run directory (no manifest.json); rm deletes only runs"
    if Path.cwd().resolve().is_relative_to(run_dir.resolve()):
        return f"{name}: holds the current directory; cd elsewhere first"
    manifest = read_manifest(run_dir)
    if manifest is not None and effective_status(manifest) == RUNNING:
        pid = manifest.get("pid")
        return f"{name}: still running (engine pid {safe_text(str(pid))}); stop it first (q in its app), or wait for it to end"
    return None


def rm_command(run_dirs: Sequence[Path]) -> int:
    unique = list(dict.fromkeys(Path(p) for p in run_dirs))
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
            raise CommandError(f"{safe_text(str(p))}: cannot remove: {e.strerror or e}", code=1) from None
        print(f"removed {safe_text(str(p))}")
    return 0
