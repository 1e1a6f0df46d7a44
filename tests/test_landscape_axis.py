"""The printed landscape charts say what a reader needs to read them: where t = 0 and t = 1 are (the
end points; the grid runs from −0.2 to 1.2, and the barrier is read between them), where s = 0 is on
the slice, and that the path's y axis is logarithmic when it is (labelled 0.047 over 6.9e-05 with no
word of it, a log chart reads as a linear one)."""

from __future__ import annotations

import io

from rich.console import Console

from eos_tui.cli.landscape import _axis, render
from eos_tui.engine.landscape import grid


def printed(result, width=80) -> list[str]:
    console = Console(width=width, record=True, file=io.StringIO())
    for part in render(result, width):
        console.print(part)
    return console.export_text().splitlines()


def result(losses):
    ts = grid(41)
    return {
        "line": {"t": ts, "loss": losses(ts), "barrier": 0.5},
        "ends": [
            {"arm": "a", "loss": 0.1, "sharpness": 2.0, "adaptive_sharpness": 1.0, "trace": 3.0, "trace_stderr": 0.1},
            {"arm": "b", "loss": 0.1, "sharpness": 2.0, "adaptive_sharpness": 1.0, "trace": 3.0, "trace_stderr": 0.1},
        ],
        "slice": {
            "arm": "a",
            "s": [-1.0, -0.5, 0.0, 0.5, 1.0],
            "loss": [1, 0.3, 0.1, 0.3, 1],
            "parabola": [1, 0.3, 0.1, 0.3, 1],
            "sharpness": 2.0,
            "step": None,
        },
    }


def test_the_axis_marks_the_end_points_under_their_cells():
    cols = 68
    axis = _axis(cols, -0.2, 1.2, (0.0, 1.0), "t")
    assert len(axis) == cols and axis.startswith("-0.2") and axis.endswith("1.2")
    for m in (0.0, 1.0):  # the cell the chart draws t = m in (2 dots a cell over the grid's range)
        cell = int((m + 0.2) / 1.4 * (2 * cols - 1)) // 2
        assert axis[cell] == "┴" and axis[cell + 1] == f"{m:g}", axis
    assert " t " in axis


def test_the_printed_charts_mark_t_and_s_and_say_log_scale():
    lines = printed(result(lambda ts: [0.1 + 0.5 * t * (1 - t) if 0 <= t <= 1 else 0.1 for t in ts]))
    title = next(line for line in lines if line.startswith("loss from a"))
    assert title.rstrip().endswith("(log scale)")  # all losses positive: drawn on a log axis
    axes = [line for line in lines if "└" in line]
    assert "┴0" in axes[0] and "┴1" in axes[0] and "┴0" in axes[1]
    assert max(len(line) for line in lines) <= 80
    linear = printed(result(lambda ts: [0.0 for _ in ts]))  # a zero loss: a linear axis, said as nothing
    assert "(log scale)" not in next(line for line in linear if line.startswith("loss from a"))


def test_the_step_is_called_gds_where_the_arm_trains_with_another_optimizer():
    """η‖∇L‖ is plain GD's step; printed as "one step" of an Adam arm it was off by orders of magnitude."""
    r = result(lambda ts: [0.1 for _ in ts])
    r["slice"].update(step=4.3e-05, lr=0.001, optimizer="adam")
    title = next(line for line in printed(r, 100) if line.startswith("slice along"))
    assert "GD's step, not adam's" in title and "one step" not in title
    r["slice"]["optimizer"] = "gd"
    title = next(line for line in printed(r, 100) if line.startswith("slice along"))
    assert "one step η‖∇L‖ = 4.3e-05" in title
