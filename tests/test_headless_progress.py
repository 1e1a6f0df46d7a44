"""Headless progress: steady lines where stderr is not a terminal, rates that cannot be read as a
threshold, and no frozen time-left for an arm that ended early."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import time

from rich.console import Console
from rich.progress import Progress

from eos_tui.cli.headless import ArmProgress, PlainProgress, _Remaining
from eos_tui.scenario import load_scenario

BARE_RATE = re.compile(r"\d\s*/s")  # "29/s" or "29 /s": reads like one more threshold next to "2/η"


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def plain(every: float = 1e9, clock=None) -> tuple[PlainProgress, io.StringIO]:
    buf = io.StringIO()
    console = Console(file=buf, width=80)  # not a terminal: rich would wrap at 80 columns
    return PlainProgress(load_scenario("catapult", steps=150), console, every=every, clock=clock or Clock()), buf


def step(arm: str, i: int, loss: float = 0.5) -> dict:
    return {"type": "step", "arm": arm, "step": i, "loss": loss, "lr": 0.5}


def test_plain_lines_label_the_rate_and_give_the_time_left():
    clock = Clock()
    p, buf = plain(clock=clock)
    p([step("uv-small", 0), step("uv-diverge", 0)], None)
    clock.t += 10
    p([step("uv-small", 100), {"type": "sharpness", "arm": "uv-small", "step": 100, "eigenvalues": [1.977]}], None)
    p([step("uv-diverge", 6, 3.3e7), {"type": "end", "arm": "uv-diverge", "status": "diverged", "steps_done": 6}], None)
    p.report()
    lines = buf.getvalue().splitlines()
    ended = [line for line in lines if "uv-diverge" in line]
    assert len(ended) == 1  # its end line, and then nothing more for it
    assert "diverged at 6/150" in ended[0] and "left" not in ended[0] and "0.5 steps/s" in ended[0], ended
    small = next(line for line in lines if "uv-small" in line)
    # 100 steps in 10 s, 49 to go: 4.9 s left; one line, however long (no wrapping at 80 columns)
    assert "step 101/150" in small and "λ_max 1.977" in small and "2/η" in small and "10 steps/s" in small, small
    assert small.endswith("0:00:04 left"), small
    assert all(not BARE_RATE.search(line) for line in lines), lines
    assert {line.split("] ")[1].split()[0] for line in lines if "step " in line} == {"uv-small", "uv-catapult", "mlp-small", "mlp-catapult"}


def test_plain_lines_come_at_a_steady_interval_without_records():
    """A long eigen-solve sends no records for a while: the lines keep coming anyway."""
    p, buf = plain(every=0.05, clock=time.monotonic)

    def lines() -> int:
        return sum("uv-small" in line for line in buf.getvalue().splitlines())

    with p.progress:
        p([step("uv-small", 0)], None)
        deadline = time.monotonic() + 60  # 3 lines at 0.05 s, whatever the machine's load
        while lines() < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert lines() >= 3, buf.getvalue()
    assert buf.getvalue().splitlines()[0].startswith("[0:00:00] training 5 arms")
    assert not p._thread.is_alive()


def test_headless_with_stderr_to_a_pipe_prints_each_arms_end(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run(
        [sys.executable, "-m", "eos_tui.cli", "run", "quadratic", "--headless", "--steps", "20", "--out", "q"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert r.returncode == 0, r.stderr
    for arm in ("eta-0.19", "eta-0.21"):
        line = next(line for line in r.stderr.splitlines() if arm in line)
        assert "completed at 20/20" in line and "steps/s" in line, r.stderr
    assert not BARE_RATE.search(r.stderr)


def render(width: int, records: list[dict]) -> str:
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=width, color_system=None)
    p = ArmProgress(load_scenario("catapult", steps=10000), console)
    p.t0 -= 100
    p(records, None)
    console.print(p.progress.get_renderable())
    return buf.getvalue()


def test_terminal_display_says_steps_per_second_at_80_and_120_columns():
    records = [step(a, 9998) for a in ("uv-small", "uv-catapult", "mlp-small", "mlp-catapult")]
    records.append({"type": "end", "arm": "uv-diverge", "status": "diverged", "steps_done": 6})
    for width in (80, 120):
        out = render(width, records)
        lines = out.strip("\n").splitlines()
        assert len(lines) == 5 and all(len(line) <= width for line in lines), out
        assert all("steps/s" in line for line in lines if "uv-diverge" not in line), out
        assert "diverged" in next(line for line in lines if "uv-diverge" in line)
        assert not BARE_RATE.search(out), out


def test_an_ended_arm_shows_no_time_left():
    progress = Progress()
    task_id = progress.add_task("", total=150, status="")
    for _ in range(3):  # some speed, so that rich has an estimate
        progress.advance(task_id, 2)
        time.sleep(0.01)
    task = progress.tasks[0]
    assert _Remaining().render(task).plain not in ("", "-:--:--")  # an estimate while it runs
    progress.update(task_id, status="diverged")
    assert _Remaining().render(task).plain == ""
