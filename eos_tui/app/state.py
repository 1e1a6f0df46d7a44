"""What the app itself is doing, as explicit fields (not what the run is, nor what the person
chose to look at: those are RunModel and View). The header shows it; the keys act on it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AppState:
    read_error: str | None = None  # the follower's last read failure, until a read succeeds again
    stopping: bool = False  # `q` (or a close signal) asked the engine to stop; waiting for it
    engine_end: str | None = None  # why the engine ended, when the app had to write the manifest
