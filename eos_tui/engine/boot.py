"""The engine process's entry point: says "importing torch" in the run directory before importing
it (seconds on a cold start, when a viewer would otherwise show nothing), sets the thread count's
environment from the scenario (engine/threads.py: OpenMP reads it when torch starts its pool), then
runs the runner.

Imports nothing heavy at the top: launch.ENGINE_CODE and `python -m eos_tui.engine` come here.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from .threads import parse_engine_args

    args = sys.argv[1:] if argv is None else argv
    try:
        parsed = parse_engine_args(args)
    except ValueError:
        parsed = None  # the runner says what is wrong
    if parsed is not None and Path(parsed[0]).is_dir():
        from ..rundir import format as rf
        from ..rundir.session import RunSession

        RunSession(parsed[0]).phase(rf.PHASE_IMPORTING, "importing torch")
        threads_before_torch(Path(parsed[0]), parsed[1])
    from .runner import main as run

    return run(args)


def threads_before_torch(run_dir: Path, override: int | None) -> None:
    """OMP_NUM_THREADS and MKL_NUM_THREADS for the run, before torch is imported. Best effort: a
    scenario that cannot be read is reported by the runner, which also sets torch's count itself."""
    from . import threads

    try:
        from ..rundir.format import SCENARIO_FILE
        from ..scenario import load_scenario_text

        text = (run_dir / SCENARIO_FILE).read_text(encoding="utf-8")
        scenario = load_scenario_text(text, source=str(run_dir / SCENARIO_FILE))
    except Exception:  # noqa: BLE001 - the runner reads it again and says what is wrong
        return
    threads.configure_env(threads.resolve(scenario.arms, override).threads)
