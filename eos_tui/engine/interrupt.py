"""The engine's stop flag, checked inside long computations (no torch here).

A signal handler must not raise at an arbitrary point (a KeyboardInterrupt in the middle of a
manifest write or of the metrics writer's lock is what made a double Ctrl-C exit −2 with a
traceback). So the runner's handlers only call `request()`, and the loops that can run long (the
Lanczos iteration behind every eigen-solve, the λ0 solve of lr_relative, the per-step tracker's
refreshes, the runner's step loop) call `check()`, which raises `Interrupted` at a point where
stopping is safe: between two Hessian-vector products. The runner ends the arms still running as
"interrupted" and writes the manifest; no half-step is ever recorded (records are written only
once a step is complete).

`check()` costs one global read when no stop was requested.
"""

from __future__ import annotations


class Interrupted(KeyboardInterrupt):
    """A stop request cut a computation short. A KeyboardInterrupt, so that code which already
    treats Ctrl-C as "stop cleanly" treats it the same, and `except Exception` does not swallow it."""


_requested = False
_count = 0


def request() -> None:
    """Ask the engine to stop (called from signal handlers: sets a flag, never raises)."""
    global _requested, _count
    _requested = True
    _count += 1


def requested() -> bool:
    return _requested


def requests() -> int:
    """How many stop requests came since the last `clear()` (the second Ctrl-C is the second)."""
    return _count


def clear() -> None:
    global _requested, _count
    _requested = False
    _count = 0


def check() -> None:
    """Raise `Interrupted` if a stop was requested."""
    if _requested:
        raise Interrupted("stop requested")
