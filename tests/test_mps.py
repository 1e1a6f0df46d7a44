"""Apple's MPS has no float64 (no Mac here: MPS availability is monkeypatched).

Regressions: device = "auto" picked MPS for float64 scenarios (the catapult, quadratic and reparam
built-ins), which then crashed inside the engine; the uv model's theory helpers called .double()
on the parameters wherever they lived.
"""

from __future__ import annotations

import json

import pytest
import torch

from eos_tui.engine import runner
from eos_tui.engine.runner import resolve_device, run_scenario
from eos_tui.engine.theory import uv_state
from eos_tui.scenario import ScenarioError

from .helpers import scenario

TEXT = """
name = "q"
steps = 3
dtype = "{dtype}"
device = "{device}"
[data]
kind = "none"
[model]
kind = "quadratic"
eigenvalues = [1.0, 0.5]
[optimizer]
lr = 0.1
"""


@pytest.fixture
def fake_mac(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)


def test_auto_runs_float64_on_the_cpu(fake_mac):
    assert resolve_device("auto", "float64").type == "cpu"
    assert resolve_device("auto", "float32").type == "mps"
    assert resolve_device("auto").type == "mps"


def test_auto_float64_run_says_so_in_one_event(fake_mac, tmp_path):
    status, manifest = run_scenario(scenario(TEXT.format(dtype="float64", device="auto")), tmp_path)
    assert status == "completed", manifest.get("error")
    assert manifest["device"] == "cpu"
    recs = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    notes = [r for r in recs if r["type"] == "event" and r["kind"] == "device_notice"]
    assert len(notes) == 1 and "float64" in notes[0]["message"] and "\n" not in notes[0]["message"]


def test_no_notice_without_mps(monkeypatch, tmp_path):
    monkeypatch.setattr(runner.torch.backends.mps, "is_available", lambda: False)
    status, _ = run_scenario(scenario(TEXT.format(dtype="float64", device="cpu")), tmp_path)
    recs = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert status == "completed" and not [r for r in recs if r.get("kind") == "device_notice"]


def test_explicit_mps_with_float64_is_refused_at_validation():
    with pytest.raises(ScenarioError) as e:
        scenario(TEXT.format(dtype="float64", device="mps"))
    assert "device" in str(e.value) and "float64" in str(e.value) and "\n" not in str(e.value)
    scenario(TEXT.format(dtype="float32", device="mps"))  # float32 on MPS is fine


def test_uv_theory_does_not_cast_on_the_device(monkeypatch):
    """uv_state moves θ to the CPU in float64 instead of calling .double() where θ lives."""

    def no_double(self):
        raise TypeError("MPS has no float64")

    monkeypatch.setattr(torch.Tensor, "double", no_double)
    theta = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float32)
    f, ntk = uv_state(theta, 2)
    assert f == pytest.approx((1 * 3 + 2 * 4) / 2**0.5)
    assert ntk == pytest.approx(30 / 2)
