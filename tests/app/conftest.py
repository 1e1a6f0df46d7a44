"""Fixtures for the app tests: synthetic run directories and a fake engine (no torch)."""

from __future__ import annotations

import asyncio
import inspect
import stat
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

import synthetic  # noqa: E402


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    """Run `async def` tests with asyncio (no pytest-asyncio needed for Pilot tests)."""
    if inspect.iscoroutinefunction(pyfuncitem.obj):
        args = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
        asyncio.run(pyfuncitem.obj(**args))
        return True
    return None


@pytest.fixture(autouse=True)
def _truecolor(monkeypatch):
    """Apps under test draw for a truecolor terminal, whatever TERM the tests run under: the charts
    draw faint arms differently with 16 colours (widgets/chart/chart.py, Shade), so snapshots would
    otherwise depend on the shell's TERM. A test of 16 colours sets the app's console itself."""
    monkeypatch.setenv("COLORTERM", "truecolor")


@pytest.fixture
def finished_run(tmp_path: Path) -> Path:
    """A completed 2-arm run of 600 steps (named so snapshots do not depend on tmp paths)."""
    return synthetic.make_run(tmp_path / "synthetic-run", steps=600)


@pytest.fixture
def fake_python(tmp_path: Path) -> str:
    """An executable that `start_engine` can use as its `python`: it runs fake_engine.py instead
    of `-m eos_tui.engine` (same argv tail, same pid thanks to exec)."""
    script = tmp_path / "fake-python"
    script.write_text(f'#!/bin/sh\nshift 2\nexec "{sys.executable}" "{HERE / "fake_engine.py"}" "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)
