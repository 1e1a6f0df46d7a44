"""The summary of an arm stopped from outside (Ctrl-C) ends at its last recorded loss, not at "—"
(review finding: `run eos --headless` then Ctrl-C showed `0.62→—` beside a progress line that said
`loss 0.205`); a diverged arm whose loss was not finite keeps no final loss."""

from __future__ import annotations

from eos_tui.analysis.summary import summarize_arm


def steps(n: int) -> list[dict]:
    return [{"type": "step", "arm": "a", "step": t, "loss": 1.0 / (t + 1), "lr": 0.1} for t in range(n)]


def test_an_interrupted_arm_ends_at_its_last_recorded_loss():
    end = {"type": "end", "arm": "a", "status": "interrupted", "steps_done": 5, "final_loss": None}
    s = summarize_arm("a", [*steps(5), end])
    assert s["status"] == "interrupted" and s["final_loss"] == 0.2 and s["initial_loss"] == 1.0
    failed = dict(end, status="failed")
    assert summarize_arm("a", [*steps(3), failed])["final_loss"] == 1.0 / 3


def test_a_diverged_or_completed_arm_keeps_the_engines_final_loss():
    diverged = {"type": "end", "arm": "a", "status": "diverged", "steps_done": 5, "final_loss": None}
    assert summarize_arm("a", [*steps(5), diverged])["final_loss"] is None
    done = {"type": "end", "arm": "a", "status": "completed", "steps_done": 5, "final_loss": 0.125}
    assert summarize_arm("a", [*steps(5), done])["final_loss"] == 0.125
