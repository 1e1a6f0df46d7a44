"""Helpers for the app tests: let the app catch up with the files, wait for a file to change."""

from __future__ import annotations

import time


async def wait_for(pilot, condition, timeout: float = 10.0) -> None:
    """Let the app follow the files until `condition()` holds, then draw a frame."""
    app = pilot.app
    deadline = time.monotonic() + timeout
    while True:
        app.follower.poll_now()
        await pilot.pause(0.05)
        app.ingest()
        if condition():
            break
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the app to catch up")
    app.redraw()
    await pilot.pause()


def wait_file(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


def run_finished(app) -> bool:
    m = app.model
    return m.manifest is not None and bool(m.arms) and all(a.status != "running" for a in m.arms.values())
