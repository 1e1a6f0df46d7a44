"""Small builders shared by the engine and command-line tests."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import torch

from eos_tui.engine.arm import Arm
from eos_tui.engine.runner import run_scenario
from eos_tui.rundir.prepare import prepare_run
from eos_tui.scenario import load_scenario_text

CPU = torch.device("cpu")


def scenario(text: str, **kwargs):
    return load_scenario_text(textwrap.dedent(text), source="<test>", **kwargs)


def arm_of(text: str, index: int = 0, **kwargs) -> Arm:
    return Arm(scenario(text, **kwargs).arms[index], CPU)


def train(arm: Arm) -> list[dict]:
    """All records of an arm run to its end."""
    records = arm.begin()
    while arm.status is None:
        records += arm.step()
    return records


def of(records: list[dict], kind: str) -> list[dict]:
    return [r for r in records if r.get("type") == kind]


def by_arm(records: list[dict]) -> dict[str, list[dict]]:
    """A run's records, arm by arm, each arm's in file order."""
    out: dict[str, list] = {}
    for r in records:
        out.setdefault(r["arm"], []).append(r)
    return out


def trained(root: Path, text: str) -> Path:
    """RUN (root/run) of the scenario TEXT, trained to its end in this process."""
    sc = load_scenario_text(text, source="<test>")
    out = prepare_run(sc, out=root / "run")
    run_scenario(sc, out)
    return out


# ---- the command line -----------------------------------------------------------------------------
def cli_env(columns: str = "120", **extra: str) -> dict[str, str]:
    """A command-line subprocess's environment: lines wide enough that no message we match is wrapped,
    and one thread (the tests share the machine)."""
    return dict(os.environ, COLUMNS=columns, OMP_NUM_THREADS="1", **extra)


def eos(*args: str, cwd: Path, timeout: float = 120, columns: str = "120", **kwargs) -> subprocess.CompletedProcess:
    """`eos-tui ARGS` in a fresh interpreter, its output captured; it never reads the terminal."""
    kwargs.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.run(
        [sys.executable, "-m", "eos_tui.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=cli_env(columns),
        **kwargs,
    )


def start_eos(*args: str, cwd: Path, **kwargs) -> subprocess.Popen:
    """`eos-tui ARGS` started, not waited for, in its own process group (as a terminal's Ctrl-C reaches
    the command and its workers); its output piped unless kwargs say otherwise."""
    kwargs.setdefault("stdout", subprocess.PIPE)
    kwargs.setdefault("stderr", subprocess.PIPE)
    kwargs.setdefault("text", True)
    return subprocess.Popen([sys.executable, "-m", "eos_tui.cli", *args], cwd=cwd, env=cli_env(), start_new_session=True, **kwargs)


def cli(*args):
    """`eos-tui ARGS` in this process (typer's runner): for what a subprocess need not show."""
    from typer.testing import CliRunner

    from eos_tui.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])
