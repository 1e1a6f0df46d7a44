"""An arm's end line gives the loss after its last step, as the summary table under it does (review
finding: `completed at 150/150 loss 9.861e-34` above `0.143→1.58e-32` for the same arm: the line
showed the last step record's loss, at θ_149, the table the end record's, at θ_150)."""

from __future__ import annotations

import io

from rich.console import Console

from eos_tui.cli.headless import ArmProgress, PlainProgress
from eos_tui.scenario import load_scenario


def records(final_loss):
    return [
        {"type": "step", "arm": "uv-small", "step": 149, "loss": 9.861e-34, "lr": 0.5},
        {"type": "end", "arm": "uv-small", "status": "completed", "steps_done": 150, "final_loss": final_loss},
    ]


def test_plain_end_line_shows_the_final_loss():
    buf = io.StringIO()
    p = PlainProgress(load_scenario("catapult", steps=150), Console(file=buf, width=200), every=1e9)
    p(records(1.577e-32), None)
    (line,) = [x for x in buf.getvalue().splitlines() if "uv-small" in x]
    assert "completed at 150/150" in line and "loss 1.577e-32" in line, line
    # an interrupted arm has no final loss: its last recorded one stays
    buf2 = io.StringIO()
    p2 = PlainProgress(load_scenario("catapult", steps=150), Console(file=buf2, width=200), every=1e9)
    p2([records(None)[0], dict(records(None)[1], status="interrupted")], None)
    assert "loss 9.861e-34" in buf2.getvalue()


def test_terminal_display_shows_the_final_loss():
    progress = ArmProgress(load_scenario("catapult", steps=150), Console(file=io.StringIO(), width=120))
    progress(records(1.577e-32), None)
    task = progress.progress.tasks[progress.tasks["uv-small"]]
    assert task.fields["loss"] == "1.577e-32" and task.fields["status"] == "completed"
