"""status.json: what the engine is doing, phase by phase, from before torch is imported to the end,
so that a viewer can say it from the first second (rundir/format.py EngineStatus)."""

from __future__ import annotations

import json
import sys
import types

from eos_tui.engine.runner import run_scenario
from eos_tui.rundir import format as rf
from eos_tui.rundir.reader import read_status

from .helpers import scenario

QUADRATIC = """
name = "phases"
steps = 5
dtype = "float64"
[data]
kind = "none"
[model]
kind = "quadratic"
eigenvalues = [1.0, 0.5]
[optimizer]
kind = "gd"
[measure]
sharpness_every = 1
[[arm]]
name = "fixed"
optimizer.lr = 0.1
[[arm]]
name = "relative"
optimizer.lr_relative = 1.5
"""


def test_write_status_keeps_the_phases_in_order(tmp_path):
    assert rf.write_status(tmp_path, rf.PHASE_IMPORTING, "importing torch")
    assert rf.write_status(tmp_path, rf.PHASE_LAMBDA0, "measuring λ0 of arm a", "a")
    st = read_status(tmp_path)
    assert st["phase"] == rf.PHASE_LAMBDA0 and st["arm"] == "a" and st["message"] == "measuring λ0 of arm a"
    assert [p["phase"] for p in st["phases"]] == [rf.PHASE_IMPORTING, rf.PHASE_LAMBDA0]
    assert st["phases"][0]["since"] <= st["since"]


def test_a_status_that_cannot_be_written_never_stops_the_run(tmp_path):
    (tmp_path / rf.STATUS_FILE).mkdir()  # os.replace onto a directory fails
    assert rf.write_status(tmp_path, rf.PHASE_TRAINING, "training") is False


def test_the_runner_says_each_phase(tmp_path):
    status, _ = run_scenario(scenario(QUADRATIC), tmp_path)
    assert status == "completed"
    st = read_status(tmp_path)
    assert [(p["phase"], p["message"]) for p in st["phases"]] == [
        (rf.PHASE_BUILDING, "building arm fixed"),
        (rf.PHASE_BUILDING, "building arm relative"),
        (rf.PHASE_LAMBDA0, "measuring λ0 of arm relative"),  # only the arm whose η is lr_relative/λ0
        (rf.PHASE_TRAINING, "training"),
        (rf.PHASE_ENDED, "ended: completed"),
    ]
    times = [p["since"] for p in st["phases"]]
    assert times == sorted(times)
    assert all(r["type"] in rf.RECORD_TYPES for r in map(json.loads, (tmp_path / rf.METRICS_FILE).read_text().splitlines()))


def test_the_engine_says_importing_torch_before_it_imports_it(tmp_path, monkeypatch):
    """The engine process enters through boot.py (launch.ENGINE_CODE, `python -m eos_tui.engine`),
    which writes the phase, then imports the runner (and torch): the runner finds it written."""
    from eos_tui.engine import boot
    from eos_tui.engine.launch import ENGINE_CODE

    assert "from eos_tui.engine.boot import main" in ENGINE_CODE
    seen = []
    runner = types.ModuleType("eos_tui.engine.runner")
    runner.main = lambda args: seen.append((args, read_status(tmp_path)["message"])) or 0  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "eos_tui.engine.runner", runner)
    assert boot.main([str(tmp_path)]) == 0
    assert seen == [([str(tmp_path)], "importing torch")]


def test_a_refused_scenario_leaves_a_claimed_empty_out_empty(tmp_path, capsys):
    """The engine refuses once its model is built (λ0 = 0 under lr_relative): the files this run
    wrote into the user's empty --out go again, status.json with them."""
    from eos_tui.cli.headless import run_headless

    from .test_engine_refusals import UV_FLAT

    out = tmp_path / "empty-out"
    out.mkdir()
    assert run_headless(scenario(UV_FLAT), out=out, as_json=True) == 2
    assert list(out.iterdir()) == []
