"""Shell completion of scenario and sweep names: the built-in names and .toml paths.

Light on purpose: a shell calls this on every Tab, so it must not import the scenario schema
(pydantic), torch or textual; it globs the folders the built-ins live in (scenario/loader.py's
`builtin_dir` and sweep/grid.py's `sweeps_dir`, repeated here without their imports) and the file
system.
"""

from __future__ import annotations

import os
from pathlib import Path


def _builtin_dir(folder: str = "scenarios") -> Path:
    pkg = Path(__file__).resolve().parent.parent  # eos_tui/, from eos_tui/cli/
    inside = pkg / folder
    return inside if inside.is_dir() else pkg.parent / folder


def builtin_names(folder: str = "scenarios") -> list[str]:
    try:
        return sorted(p.stem for p in _builtin_dir(folder).glob("*.toml"))
    except OSError:
        return []


def builtin_sweep_names() -> list[str]:
    return builtin_names("sweeps")


def _paths(incomplete: str) -> list[str]:
    """Folders (with a trailing /, to go on typing) and .toml files that start with `incomplete`."""
    head, _, tail = incomplete.rpartition("/")
    folder = Path(head) if head else Path("/" if incomplete.startswith("/") else ".")
    out: list[str] = []
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return out
    for entry in entries:
        if not entry.name.startswith(tail) or (entry.name.startswith(".") and not tail.startswith(".")):
            continue
        shown = f"{head}/{entry.name}" if head or incomplete.startswith("/") else entry.name
        try:
            if entry.is_dir():
                out.append(shown + "/")
            elif entry.name.endswith(".toml"):
                out.append(shown)
        except OSError:
            continue
    return out


def complete_scenario(incomplete: str) -> list[str]:
    """What `eos-tui run <Tab>` offers: built-in names, then .toml files and folders."""
    names = [] if "/" in incomplete else [n for n in builtin_names() if n.startswith(incomplete)]
    return names + _paths(incomplete)


def complete_sweep(incomplete: str) -> list[str]:
    """What `eos-tui sweep <Tab>` offers: the built-in sweeps, `show`, the built-in scenarios (a
    scenario is swept with --grid), then .toml files and folders."""
    if "/" in incomplete:
        return _paths(incomplete)
    names = [*builtin_sweep_names(), "show", *builtin_names()]
    return [n for n in dict.fromkeys(names) if n.startswith(incomplete)] + _paths(incomplete)
