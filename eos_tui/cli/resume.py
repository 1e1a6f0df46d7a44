"""`eos-tui resume RUN_DIR`: continue an interrupted run from its checkpoints, in this process.

Progress on stderr and the summary on stdout, as `run --headless` (engine/resume.py has the how)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import IO, cast

from ..rundir import format as rf
from .exit import ExitCode


def run_resume(run_dir: Path, *, as_json: bool = False, threads: int | None = None) -> int:
    """`threads`: --threads (None: the scenario's engine.threads, else the engine's choice)."""
    from rich.console import Console

    from ..engine.boot import threads_before_torch

    threads_before_torch(run_dir, threads)  # OMP_NUM_THREADS before engine.resume imports torch
    from ..engine import threads as engine_threads
    from ..engine.errors import ScenarioRefused
    from ..engine.resume import ResumeError, describe, prepare
    from ..engine.runner import StopRequest, run_scenario
    from .headless import ArmProgress, PlainProgress, plain_thresholds, summary_table
    from .output import SafeStream

    err = Console(file=cast("IO[str]", SafeStream(sys.stderr)), stderr=True)

    def say(text: str) -> None:
        err.print(text, markup=False, highlight=False, soft_wrap=True)

    try:  # nothing is written before it returns: a refusal leaves the run as it was
        scenario, res = prepare(run_dir)
    except (ResumeError, ScenarioRefused) as e:
        say(f"eos-tui: {e}")
        return ExitCode.USAGE
    except Exception as e:  # noqa: BLE001 - building an arm failed; the run directory is untouched
        say(f"eos-tui: cannot resume {run_dir}: {type(e).__name__}: {e}")
        return ExitCode.FAILED
    say(f"resuming {run_dir}: {describe(res)}")
    stop = StopRequest()
    stop.install()
    try:
        done: dict[str, int] = {}  # the steps each arm took before: not this session's rate
        for r in res.kept:
            if r.get("type") == rf.STEP and isinstance(r.get("step"), int):
                done[r["arm"]] = max(done.get(r["arm"], 0), r["step"] + 1)
        # As `run --headless`: a live display on a terminal, a line per arm every few seconds elsewhere
        # (rich's live display writes nothing to a log file until the end).
        progress = ArmProgress(scenario, err, done=done) if err.is_terminal else PlainProgress(scenario, err)
        with progress.progress:
            progress(res.kept, [])  # where each arm stands: its steps, last loss and λ_max
            choice = engine_threads.resolve(scenario.arms, threads)
            status, manifest = run_scenario(scenario, run_dir, on_records=progress, stop=stop, resume=res, threads=choice)
    except ScenarioRefused as e:  # found once the model is built (data gone, …): one line, as `run` says it
        say(f"eos-tui: {e}")
        return ExitCode.USAGE
    except OSError as e:
        say(f"eos-tui: cannot resume {run_dir}: {e.strerror or e}")
        return ExitCode.FAILED
    except Exception as e:  # noqa: BLE001 - the manifest keeps the traceback
        say(f"eos-tui: the resumed run failed: {type(e).__name__}: {e} (details in {run_dir}/manifest.json)")
        return ExitCode.FAILED
    finally:
        stop.restore()
        res.close()  # run_scenario gave the lock back already, unless it never started
    summary = {"scenario": scenario.name, "run_dir": str(run_dir), "arms": [manifest["arms"][a.name].get("summary") for a in scenario.arms]}
    if as_json:
        sys.stdout.write(json.dumps(summary) + "\n")
        sys.stdout.flush()
    else:
        from rich.console import Console as Out

        Out(width=None if sys.stdout.isatty() else 120).print(summary_table(summary, "λη/2" if plain_thresholds(scenario) else "λ/thr"))
    if status == rf.INTERRUPTED:
        say(f"interrupted again; `eos-tui resume {run_dir}` goes on from here")
        return ExitCode.INTERRUPTED
    return ExitCode.OK if status == rf.COMPLETED else ExitCode.FAILED
