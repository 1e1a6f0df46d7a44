"""From the first frame the screen says what the engine is doing (status.json), never empty axes
and "0 steps/s"; while training, the header gives the run's ETA; a failed run shows its reason and
where the full log is."""

import json

import synthetic
from helpers import wait_for

from eos_tui.app import EosApp
from eos_tui.app.model import RunModel
from eos_tui.app.progress import eta_seconds, format_duration, phase_text
from eos_tui.app.view import View
from eos_tui.app.widgets.header import header_markup
from eos_tui.rundir import format as rf


def header_text(app) -> str:
    return str(app.query_one("#header").render())


def panel_message(app, panel: str) -> str | None:
    p = app.query_one(panel)
    return str(p.query_one(".panel-message").render()) if p.has_class("-empty") else None


async def test_before_the_first_step_the_panels_say_what_the_engine_does(tmp_path):
    run = synthetic.make_run(tmp_path / "early", steps=400, done=0, status="running", pid=None)
    rf.write_status(run, rf.PHASE_IMPORTING, "importing torch")
    rf.write_status(run, rf.PHASE_LAMBDA0, "measuring λ0 of arm gd", "gd")
    app = EosApp(run, poll_interval=0.05)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.model.engine_status is not None and app.model.manifest is not None)
        assert "measuring λ0 of arm gd…" in header_text(app)
        assert "steps/s" not in header_text(app) and "ETA" not in header_text(app)
        for panel in ("SharpnessPanel", "LossPanel", "EigendirectionPanel"):
            assert "measuring λ0 of arm gd…" in panel_message(app, panel), panel
        # Training: the steps come, the charts replace the message, the header says "running".
        rf.write_status(run, rf.PHASE_TRAINING, "training")
        synthetic.append(run, synthetic.records_range(synthetic.ARMS, 0, 40))
        await wait_for(pilot, lambda: app.model.arms["gd"].done == 40 and app.model.engine_status["phase"] == "training")
        assert "running" in header_text(app) and "measuring" not in header_text(app)
        for panel in ("SharpnessPanel", "LossPanel", "EigendirectionPanel"):
            assert panel_message(app, panel) is None, panel


async def test_a_chart_without_data_says_what_it_waits_for(tmp_path):
    run = synthetic.make_run(tmp_path / "no-sharpness", steps=400, done=0, status="running", pid=None)
    rf.write_status(run, rf.PHASE_TRAINING, "training")
    steps_only = [r for r in synthetic.records_range(synthetic.ARMS, 0, 3) if r["type"] == "step"]
    for r in steps_only:
        r["proj"] = None
    synthetic.append(run, steps_only)
    app = EosApp(run, poll_interval=0.05)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.model.arms.get("gd") and app.model.arms["gd"].done == 3)
        assert panel_message(app, "LossPanel") is None
        assert panel_message(app, "SharpnessPanel") is None  # the 2/η lines are there already
        assert panel_message(app, "EigendirectionPanel") == "waiting for the first top eigenvector (after the first λ_max measurement)…"


def test_phase_text_counts_the_seconds():
    model = RunModel()
    model.set_manifest({"status": "running"}, "running")
    model.set_engine_status({"phase": "importing", "message": "importing torch", "since": 100.0})
    assert phase_text(model, clock=lambda: 100.4) == "importing torch…"
    assert phase_text(model, clock=lambda: 103.2) == "importing torch… 3s"
    model.set_manifest({"status": "completed"}, "completed")
    assert phase_text(model, clock=lambda: 103.2) is None  # an ended run: no phase


def test_before_status_json_the_engine_is_starting():
    """The launcher wrote the manifest; the engine's interpreter has not yet written status.json."""
    model = RunModel()
    model.set_manifest({"status": "running", "started": "2026-11-30T05:00:00+00:00"}, "running")
    since = 1796014800.0  # 05:00:00 UTC that day
    assert phase_text(model, clock=lambda: since + 2.2) == "starting the engine… 2s"
    model.apply_records(synthetic.records_range(["gd"], 0, 1))
    assert phase_text(model) is None  # an engine that writes no status.json, training: nothing to say


def feed_steadily(model: RunModel, now: list[float], seconds: int, start: int = 10, per_second: int = 5) -> int:
    """`per_second` steps of each arm every second of the injected clock, for `seconds`; the step reached."""
    t = start
    for _ in range(seconds):
        now[0] += 1.0
        model.apply_records(synthetic.records_range(synthetic.ARMS, t, t + per_second))
        t += per_second
    return t


def test_eta_is_the_steps_left_over_the_rate():
    now = [0.0]
    model = RunModel(clock=lambda: now[0])
    model.set_manifest({"status": "running", "steps": 1000, "arm_steps": {"gd": 1000, "sgd": 500}}, "running")
    model.apply_records(synthetic.records_range(synthetic.ARMS, 0, 10))  # 20 steps done
    assert eta_seconds(model) is None  # one sample: no rate yet
    feed_steadily(model, now, 20)  # 10 steps/s (5 of each arm a second) for 20 s
    # A rate over 10 s windows, but not yet held for the 10 s more that make it steady (rate.py).
    assert model.steps_per_second() == 10.0 and eta_seconds(model) is None
    done = feed_steadily(model, now, 1, start=110)  # 21 s: steady
    # left: gd 1000 − 115, sgd 500 − 115 = 1270 steps at 10 steps/s
    assert done == 115 and eta_seconds(model) == 127.0
    model.set_manifest({"status": "completed"}, "completed")
    assert eta_seconds(model) is None
    assert [format_duration(s) for s in (42, 185, 3725)] == ["42s", "3m05s", "1h02m"]


def test_the_header_shows_the_eta_even_at_80_columns():
    now = [0.0]
    model = RunModel(clock=lambda: now[0])
    model.set_manifest(synthetic.manifest(status="running", steps=1000), "running")
    model.apply_records(synthetic.records_range(synthetic.ARMS, 0, 10))
    feed_steadily(model, now, 30, per_second=20)  # 40 steps/s for 30 s: to step 610
    top = header_markup(model, View(), run_name="a-long-run-directory-name-20261130-045639", width=78).split("\n")[0]
    assert "40 steps/s" in top and "ETA 20s" in top  # (2000 − 1220) steps at 40 steps/s


async def test_a_failed_run_shows_the_engines_error_and_where_the_log_is(tmp_path):
    run = synthetic.make_run(tmp_path / "failed-run", steps=400, done=120, status="failed")
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["error"] = "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 15.78 GiB total capacity)"
    synthetic.write_manifest(run, manifest)
    (run / "engine.log").write_text("Traceback ...\n")
    app = EosApp(run)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.model.status == "failed" and app.model.arms["gd"].status == "failed")
        lines = header_text(app).split("\n")
        i = next(i for i, x in enumerate(lines) if "RuntimeError" in x)
        assert lines[i].startswith("✗ RuntimeError: CUDA out of memory") and lines[i].endswith("…")  # cut to one line
        assert len(lines[i]) <= 78
        assert lines[i + 1].endswith("/failed-run/engine.log") and len(lines[i + 1]) <= 78  # the path, cut from the left
        assert lines[i + 1].startswith(("full log: ", "…"))


async def test_an_engine_that_died_without_a_word_shows_its_last_log_line(tmp_path):
    """The app wrote the end ("engine exited with code 1"): the engine's own last words are in engine.log."""
    run = synthetic.make_run(tmp_path / "died", steps=400, done=10, status="failed")
    manifest = json.loads((run / "manifest.json").read_text())
    manifest.update(error="engine exited with code 1", finalized_by="app")
    synthetic.write_manifest(run, manifest)
    (run / "engine.log").write_text("Traceback (most recent call last):\n  ...\nModuleNotFoundError: No module named 'torch'\n\n")
    app = EosApp(run)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: app.model.status == "failed" and app.model.arms["gd"].status == "failed")
        assert "✗ ModuleNotFoundError: No module named 'torch' (engine exited with code 1)" in header_text(app)


async def test_a_hostile_status_json_is_shown_as_text(tmp_path):
    """status.json comes from outside like any run file: control characters visible, markup inert."""
    run = synthetic.make_run(tmp_path / "hostile", steps=400, done=0, status="running", pid=None)
    (run / "status.json").write_text(json.dumps({"phase": "building", "message": "[b]x[/b] \x1b]2;PWNED\x07", "since": "soon"}))
    app = EosApp(run, poll_interval=0.05)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.model.engine_status is not None)
        assert "[b]x[/b] \\x1b]2;PWNED\\x07…" in header_text(app)
        assert "[b]x[/b] \\x1b]2;PWNED\\x07…" in panel_message(app, "LossPanel")


def test_a_slow_run_reads_its_rate_not_zero_steps_per_second():
    """central on a loaded machine read "0 steps/s  ETA 21m57s": a rate under 0.5 rounded to 0."""
    now = [0.0]
    model = RunModel(clock=lambda: now[0])
    model.set_manifest(synthetic.manifest(status="running", steps=1000), "running")
    model.apply_records(synthetic.records_range(synthetic.ARMS, 0, 1))
    for t in range(1, 40):  # one step of each arm every 5 s: 0.4 steps/s
        now[0] = 5.0 * t
        model.apply_records(synthetic.records_range(synthetic.ARMS, t, t + 1))
    top = header_markup(model, View(), run_name="slow", width=78).split("\n")[0]
    assert "0.4 steps/s" in top and "ETA 1h20m" in top  # (2000 − 80) steps at 0.4 steps/s
