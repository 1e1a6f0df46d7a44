"""Lay out a new run directory for a scenario, before any engine starts (torch-free).

Validation happens before this is called, so a bad scenario never leaves a directory behind; if
writing fails half-way, the directory made here is removed again.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .rundir import format as rf


def prepare_run(scenario, *, out: str | os.PathLike[str] | None = None,
                root: str | os.PathLike[str] = "runs") -> Path:
    """Create the run directory (exactly `out`, refused if non-empty, or runs/<name>-<stamp>/),
    write the resolved scenario.toml and a first manifest, and return its path."""
    path = Path(out) if out is not None else rf.default_run_dir(scenario.name, root)
    existed = path.exists()
    rf.create_run_dir(path, exact=out is not None)
    try:
        (path / rf.SCENARIO_FILE).write_text(scenario.to_toml(), encoding="utf-8")
        manifest = rf.new_manifest(scenario=scenario.name, seed=scenario.seed, device="?",
                                   arms=[a.name for a in scenario.arms], versions={},
                                   total_steps=max(a.steps for a in scenario.arms),
                                   # Our pid until the engine writes its own: if this process dies
                                   # first, readers see "engine lost", not "running" forever.
                                   pid=os.getpid())
        manifest["arm_steps"] = {a.name: a.steps for a in scenario.arms}
        rf.write_json_atomic(path / rf.MANIFEST_FILE, manifest)
        (path / rf.METRICS_FILE).touch()
    except BaseException:
        if existed:
            for child in path.iterdir():
                if child.is_dir():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)
        else:
            shutil.rmtree(path, ignore_errors=True)
        raise
    return path
