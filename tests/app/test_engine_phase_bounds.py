"""The engine's phase in the header stays one short line whatever status.json holds: a long arm name
("measuring λ0 of arm <100 characters>") or a hand-made file wrapped the header over four lines and
pushed the arms' row off it; a `since` far in the past printed a 309-digit count of seconds."""

from eos_tui.app.model import RunModel
from eos_tui.app.progress import PHASE_MAX_CHARS, phase_text, phase_tick


def model_with(status: dict) -> RunModel:
    model = RunModel()
    model.set_manifest({"status": "running"}, "running")
    model.set_engine_status(status)
    return model


def test_a_long_phase_message_is_cut_to_one_header_line():
    model = model_with({"phase": "measuring_lambda0", "message": "measuring λ0 of arm " + "x" * 200, "since": 100.0})
    text = phase_text(model, clock=lambda: 105.0)
    assert text.startswith("measuring λ0 of arm xxx") and text.endswith("… 5s")
    assert len(text) <= PHASE_MAX_CHARS + len("… 5s")


def test_a_since_from_a_broken_clock_shows_no_seconds():
    model = model_with({"phase": "importing", "message": "importing torch", "since": -1e308})
    assert phase_text(model, clock=lambda: 1.8e9) == "importing torch…"
    assert phase_tick(model, clock=lambda: 1.8e9) is not None and phase_tick(model, clock=lambda: 1.8e9) <= 1e7
    model = model_with({"phase": "importing", "message": "importing torch", "since": 1.8e9 + 50})  # in the future
    assert phase_text(model, clock=lambda: 1.8e9) == "importing torch…"
