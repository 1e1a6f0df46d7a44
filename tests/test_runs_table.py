"""`eos-tui runs` on a narrow terminal: the run directory folds, whole, and the other columns keep
their width or are left out, never squeezed to "s…" (review finding: at 80 columns a long run name
left `run  s…  sta`)."""

from __future__ import annotations

import io

from rich.console import Console

from eos_tui.cli.runs import runs_table
from eos_tui.rundir.reader import RunInfo

LONG = "runs/a-very-long-run-directory-name-for-the-catapult-experiment-1"


def render(width: int) -> list[str]:
    found = [
        RunInfo(path=LONG, scenario="catapult", status="completed", steps_done=150, steps=150, started="2026-11-30T05:15:20+00:00"),  # type: ignore[arg-type]
        RunInfo(path="runs/eos-20261130-051751", scenario="eos", status="interrupted", steps_done=190, steps=1000, started=None),  # type: ignore[arg-type]
    ]
    out = io.StringIO()
    console = Console(file=out, width=width, color_system=None)
    console.print(runs_table(found, width))
    return out.getvalue().splitlines()


def test_wide_shows_every_column_on_one_line_per_run():
    lines = render(200)
    assert lines[0].split() == ["run", "scenario", "status", "steps", "started", "duration"]
    assert LONG in lines[1] and "2026-11-30 05:15:20" in lines[1] and len(lines) == 3


def test_narrow_folds_the_path_and_keeps_the_other_columns_whole():
    for width in (80, 60, 40):
        lines = render(width)
        assert all(len(line) <= width for line in lines), width
        text = "\n".join(lines)
        assert "…" not in text, text
        assert "completed" in text and "interrupted" in text and "150/150" in text and "190/1000" in text
        # the path, read down its column, is whole
        col = lines[1].index("runs/")
        first = next(i for i, line in enumerate(lines) if line[col:].startswith("runs/a-very"))
        cell = lines[first].split("  ")[0].strip()
        below = [line[: len(cell)].strip() for line in lines[first + 1 : first + 6]]
        folded = cell + "".join(part for part in below if not part.startswith("runs/"))
        assert folded.startswith(LONG), (width, folded)
    assert "started" not in render(80)[0] and "duration" in render(80)[0]
    assert render(40)[0].split() == ["run", "status", "steps"]
