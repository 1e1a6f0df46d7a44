"""The engine process's entry point: says "importing torch" in the run directory before importing
it (seconds on a cold start, when a viewer would otherwise show nothing), then runs the runner.

Imports nothing heavy at the top: launch.ENGINE_CODE and `python -m eos_tui.engine` come here.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) == 1 and Path(args[0]).is_dir():
        from ..rundir import format as rf

        rf.write_status(args[0], rf.PHASE_IMPORTING, "importing torch")
    from .runner import main as run

    return run(args)
