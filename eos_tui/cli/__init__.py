"""The `eos-tui` command line: one module per command (headless.py, resume.py, landscape.py, sweep.py,
export.py, plot.py, runs.py, stop.py, serve.py), the typer app that names them in commands.py, the exit
codes once in exit.py.

This file imports nothing: `app` and `main` load commands.py (and typer) when asked for, so a module
that needs one piece of the command line (the app's exit code, cli.exit) does not load all of it.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name in ("app", "main"):
        from . import commands

        return getattr(commands, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
