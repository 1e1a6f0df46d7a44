"""Lay out a new run directory for a scenario, before any engine starts (torch-free).

Validation happens before this is called, so a bad scenario never leaves a directory behind; if
writing fails half-way, what was made here is removed again (and nothing else: an --out that
another run claimed first is left to that run).

Two runs never share a directory: the default one is claimed by its `mkdir`, an existing empty
--out by creating its scenario.toml exclusively (see rundir.format.create_run_dir).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from . import format as rf


def prepare_run(scenario, *, out: str | os.PathLike[str] | None = None, root: str | os.PathLike[str] = "runs") -> Path:
    """Create the run directory (exactly `out`, refused if non-empty, or runs/<name>-<stamp>/),
    write the resolved scenario.toml and a first manifest, and return its path."""
    if out is not None:
        path = Path(out)
        made = rf.make_run_dir(path, exact=True)
    else:
        path, made = rf.default_run_dir(scenario.name, root), True
    claimed = False
    try:
        rf.claim_file(path / rf.SCENARIO_FILE, scenario.to_toml())
        claimed = True
        manifest = rf.new_manifest(
            scenario=scenario.name,
            seed=scenario.seed,
            device="?",
            arms=[a.name for a in scenario.arms],
            versions={},
            total_steps=max(a.steps for a in scenario.arms),
            # Our pid until the engine's is written (launch.start_engine, or
            # the engine itself): if this process dies first, readers see
            # "engine lost", not "running" forever.
            pid=os.getpid(),
        )
        manifest["arm_steps"] = {a.name: a.steps for a in scenario.arms}
        rf.write_json_atomic(path / rf.MANIFEST_FILE, manifest)
        (path / rf.METRICS_FILE).touch()
    except BaseException:
        # Only what this run claimed: a directory whose scenario.toml another run created first is
        # that run's, even if this call made the directory.
        if claimed and made:
            shutil.rmtree(path, ignore_errors=True)
        elif claimed:  # an --out that was empty: empty it again
            for name in (rf.SCENARIO_FILE, rf.MANIFEST_FILE, rf.METRICS_FILE):
                (path / name).unlink(missing_ok=True)
        elif made:  # made here but not claimed: remove it only if still empty (rmdir refuses otherwise)
            try:
                path.rmdir()
            except OSError:
                pass
        raise
    return path
