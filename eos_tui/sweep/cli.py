"""The body of `eos-tui sweep` and `eos-tui sweep show` (cli.py registers it; torch only in workers)."""

from __future__ import annotations

import sys
from pathlib import Path

EXIT_USAGE = 2


def _err(message: str) -> int:
    try:
        sys.stderr.write(f"eos-tui: {message}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    return EXIT_USAGE


def sweep_command(
    target: str, rest: list[str], *, grid, sets, jobs, ray, out, as_json, field, arm, as_csv, force=False, threads=None
) -> int:
    from ..scenario import ScenarioError
    from .grid import SweepError

    if target == "show":
        if len(rest) != 1:
            return _err("usage: eos-tui sweep show DIR [--field NAME] [--arm NAME] [--csv]")
        running_flags = [("--grid", grid), ("--set", sets), ("--jobs", jobs), ("--ray", ray), ("--out", out), ("--json", as_json)]
        running_flags.append(("--force", force))
        used = [f for f, v in running_flags if v]
        if used:
            return _err(f"sweep show takes no {', '.join(used)}: they are for running a sweep")
        from .show import show

        try:
            show(Path(rest[0]), field=field, arm=arm, as_csv=as_csv, out=sys.stdout)
        except (SweepError, ScenarioError) as e:
            return _err(str(e))
        return 0
    address = None
    if ray and len(rest) == 1:  # --ray ADDRESS: the address comes as the one extra argument
        address, rest = rest[0], []
    if rest:
        return _err(f"sweep: unexpected argument {rest[0]!r} (grids are given with --grid KEY=VALUES)")
    used = [f for f, v in (("--field", field), ("--arm", arm), ("--csv", as_csv)) if v]
    if used:
        return _err(f"sweep: {', '.join(used)}: only with `eos-tui sweep show DIR`")
    if jobs is not None and jobs < 1:
        return _err(f"--jobs {jobs}: must be ≥ 1")
    from .grid import load_sweep

    try:
        sweep = load_sweep(target, grids=grid, sets=sets)
    except (SweepError, ScenarioError) as e:
        return _err(str(e))
    from .command import run_sweep

    return run_sweep(sweep, out=out, jobs=jobs, use_ray=bool(ray), ray_address=address, as_json=as_json, force=force, threads=threads)
