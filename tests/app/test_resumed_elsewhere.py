"""The app's engine is killed, and the run is resumed from elsewhere (`eos-tui resume` in another
terminal) while the app still shows it (issue 20).

The app wrote "failed (engine exited with signal 9)" when its engine died, as it should; but then it
took the resumed session's "running" manifest for its own dead engine's, wrote "failed" over it and
kept saying so as the steps rose, and ended on "completed (engine exited with signal 9)". And every
event appeared twice: the resume rewrote metrics.jsonl (its records cut back to the last checkpoint,
a new file renamed into place), and the app read the new file from its start on top of what it had.

Here, with the real engine (a subprocess: this test never imports torch): the header follows the
resumed session, and the app's records are the file's, each once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import header_text, run_finished, wait_for

from eos_tui.app import EosApp
from eos_tui.engine.launch import engine_alive, start_engine
from eos_tui.rundir import read_manifest, read_records
from eos_tui.rundir.prepare import prepare_run
from eos_tui.scenario import load_scenario_text

pytestmark = pytest.mark.slow  # two real engines (torch imports): seconds each

STEPS = 12_000
MILESTONES = list(range(200, STEPS, 200))  # an η change (an "lr_change" event) every 200 steps
SCENARIO = f"""
name = "resumed-elsewhere"
seed = 0
steps = {STEPS}
dtype = "float64"
device = "cpu"
[data]
kind = "none"
[model]
kind = "quadratic"
eigenvalues = [10.0, 1.0]
[optimizer]
kind = "gd"
lr = 0.1
[schedule]
kind = "step"
milestones = {MILESTONES}
factors = {[0.9 if i % 2 else 1.0 for i in range(len(MILESTONES))]}
[measure]
sharpness_every = 20
exact = true
checkpoint_every = 100
"""


def file_events(run: Path) -> list[tuple[int, str]]:
    return [(r["step"], r["kind"]) for r in read_records(run) if r.get("type") == "event"]


async def test_a_run_resumed_elsewhere_shows_its_live_state_and_each_record_once(tmp_path):
    run = prepare_run(load_scenario_text(SCENARIO, source="<test>"), out=tmp_path / "run")
    engine = start_engine(run)
    resume: subprocess.Popen | None = None
    try:
        app = EosApp(run, engine=engine, poll_interval=0.05)
        async with app.run_test(size=(120, 40)) as pilot:
            # Killed once it has checkpoints and events behind it, and long before its end.
            await wait_for(pilot, lambda: "main" in app.model.arms and app.model.arms["main"].done > 1500, timeout=120)
            engine.kill()
            engine.wait()
            await wait_for(pilot, lambda: app.model.status == "failed", timeout=60)
            assert "failed (engine exited with signal 9" in header_text(app)
            killed_at = app.model.arms["main"].done
            assert killed_at < STEPS

            resume = subprocess.Popen(
                [sys.executable, "-m", "eos_tui.cli", "resume", str(run), "--json"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=dict(os.environ, OMP_NUM_THREADS="1"),
            )

            # The resumed session, live: running, its steps past the kill, no word of the dead engine.
            def resumed_or_over() -> bool:
                live = app.model.status == "running" and app.model.arms["main"].done > killed_at + 500
                return live or resume.poll() is not None

            await wait_for(pilot, resumed_or_over, timeout=120)
            if resume.poll() is None:
                text = header_text(app)
                assert "running" in text and "failed" not in text and "engine exited" not in text, text
                assert app.model.arms["main"].status == "running"
                assert read_manifest(run)["pid"] == resume.pid and read_manifest(run)["status"] == "running"  # not overwritten

            out, err = resume.communicate(timeout=180)
            assert resume.returncode == 0, err
            await wait_for(pilot, lambda: run_finished(app) and app.model.status == "completed", timeout=60)
            text = header_text(app)
            assert "completed" in text and "engine exited" not in text, text

            # Each record once, as the file holds it: the records past the checkpoint the resume went
            # on from are gone from the file and from the app, the ones before it are not doubled.
            records = read_records(run)
            events = file_events(run)
            assert len(events) == len(MILESTONES)  # an event per η change, none twice
            assert [(e.step, e.kind) for e in app.model.events] == events
            assert app.model.records == len(records)
            steps = app.model.arms["main"].step.values
            assert list(steps) == list(range(STEPS))
            assert app.model.arms["main"].done == STEPS
            m = read_manifest(run)
            assert m["status"] == "completed" and "finalized_by" not in m and m["history"][0]["status"] == "failed"
            assert json.loads(out)["arms"][0]["status"] == "completed"
            await pilot.press("q")
    finally:
        for proc in (engine, resume):
            if proc is not None and engine_alive(proc):
                proc.kill()
                proc.wait()
