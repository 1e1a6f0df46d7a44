"""The exit codes of every command, defined once (README, "Exit codes")."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0  # completed; diverged arms included: divergence is a result
    FAILED = 1  # anything else that failed (a failed point, an engine that died, a file not written)
    USAGE = 2  # bad usage, a bad scenario or grid: one line, nothing written
    INTERRUPTED = 130  # stopped (Ctrl-C, `stop`): what was written so far stays, the same command goes on
