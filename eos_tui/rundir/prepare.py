"""Lay out a new run directory for a scenario, before any engine starts (torch-free).

Validation happens before this is called, so a bad scenario never leaves a directory behind. The
claim itself (the directory made exclusively, scenario.toml, the first manifest, undone if it fails
half-way) is the run session's: see rundir/session.py's RunSession.claim.
"""

from __future__ import annotations

import os
from pathlib import Path

from .session import RunSession


def claim_run(scenario, *, out: str | os.PathLike[str] | None = None, root: str | os.PathLike[str] = "runs") -> RunSession:
    """Create the run directory (exactly `out`, refused if non-empty, or runs/<name>-<stamp>/),
    write the resolved scenario.toml and a first manifest, and return its session."""
    return RunSession.claim(scenario, out=out, root=root)


def prepare_run(scenario, *, out: str | os.PathLike[str] | None = None, root: str | os.PathLike[str] = "runs") -> Path:
    """`claim_run`, returning the run directory's path."""
    return claim_run(scenario, out=out, root=root).run_dir
