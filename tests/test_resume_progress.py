"""`eos-tui resume`'s progress: as `run --headless`, a line per arm every few seconds where stderr is
not a terminal (it used rich's live display there too, which writes nothing to a log until the end),
each arm's numbers from the first line (its last loss and λ_max before the interruption, not "—"),
and a rate of this session's steps (it divided the arm's whole step count by this session's time)."""

from __future__ import annotations

import io
import time

from rich.console import Console
from typer.testing import CliRunner

from eos_tui.cli import app
from eos_tui.cli.headless import ArmProgress
from eos_tui.engine.runner import StopRequest, run_scenario
from eos_tui.rundir.prepare import prepare_run
from eos_tui.scenario import load_scenario_text

SCENARIO = """
name = "resume-progress"
seed = 0
steps = 40
dtype = "float64"
device = "cpu"
[data]
kind = "none"
[model]
kind = "uv"
width = 6
[optimizer]
kind = "gd"
lr = 0.05
[measure]
sharpness_every = 5
checkpoint_every = 10
[[arm]]
name = "a"
"""


def step(arm: str, i: int) -> dict:
    return {"type": "step", "arm": arm, "step": i, "loss": 0.5, "lr": 0.1}


def test_the_rate_counts_this_sessions_steps_only():
    sc = load_scenario_text(SCENARIO.replace("steps = 40", "steps = 1000"), source="<test>")
    progress = ArmProgress(sc, Console(file=io.StringIO(), width=120, force_terminal=True), done={"a": 500})
    progress([step("a", i) for i in range(500)], [])  # the records kept from before
    progress.t0 = time.monotonic() - 10.0  # ten seconds into this session
    progress.last_update = -float("inf")
    progress([step("a", i) for i in range(500, 600)], [])
    task = progress.progress.tasks[progress.tasks["a"]]
    assert task.completed == 600
    assert 9.0 <= float(task.fields["rate"]) <= 10.5  # 100 steps in 10 s, not 600


def test_resume_into_a_log_prints_plain_lines_with_the_arms_numbers(tmp_path):
    sc = load_scenario_text(SCENARIO, source="<test>")
    run_dir = prepare_run(sc, out=tmp_path / "run")
    stop = StopRequest()

    def on_records(recs, arms):
        if any(r["type"] == "step" and r["step"] == 23 for r in recs):
            stop.request()

    assert run_scenario(sc, run_dir, on_records=on_records, stop=stop)[0] == "interrupted"
    r = CliRunner().invoke(app, ["resume", str(run_dir)])  # stderr is not a terminal here
    assert r.exit_code == 0, r.output
    assert "training 1 arm: a line for each" in r.stderr  # PlainProgress, as `run --headless`
    assert "a  completed at 40/40" in r.stderr
