"""The header: scenario, status, per-arm progress, speed, device, run directory."""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar

from rich.markup import escape
from rich.text import Text as RichText

from ...rundir.format import FAILED
from ..model import RunModel, printable
from ..progress import eta_seconds, failure, format_duration, format_rate, phase_text
from ..state import AppState
from ..view import View
from .arms import abbreviate
from .palette import MUTED, STATUS_MARKS, arm_color, status_color
from .panel import Text


def status_text(model: RunModel, view: View, state: AppState | None = None, *, detail: bool = True) -> str:
    """What the header says about the run: the engine's status, or what the app or the viewer is
    doing (stopping the engine, failing to read the run, paused). Without `detail`, what is said
    in parentheses is left out (a narrow terminal)."""
    state = state or AppState()
    status = model.status
    if status == "running" and model.manifest is None:
        status = "starting"
    phase = phase_text(model)  # before training: what the engine is doing (status.json)
    if phase is not None:
        status = phase
    if state.stopping:
        status = "stopping engine…"
    elif state.read_error is not None:
        status = f"cannot read run: {printable(state.read_error)}"
    elif state.engine_end is not None and status != "running":
        status = f"{status} ({state.engine_end})"  # the app wrote this end: say why
    elif view.paused:
        status = "paused view" + (" (engine keeps training)" if model.status == "running" else "")
    word = status.split(" (")[0]
    color = status_color(word)
    return f"[b {color}]● {escape(status if detail else word)}[/]"


ARM_GAP = "   "
NARROW_GAP = "  "  # before any name is cut
# The arms' entries get one line (at 80×24 every line of the header is a line less for the charts):
# with 3 or more arms they used to wrap onto a second and the header took three lines. They are
# shortened to fit it, and only where even the shortest do not fit do they wrap (never fall off).
ARM_LINES = 1


def _arm_entries(model: RunModel, view: View, level: int, keep: int | None = None) -> list[str]:
    """One entry per arm; level 0 says everything, 1 drops λ, 2 keeps the name, steps and a mark.
    `keep`: each part of the names cut to that many characters (uv-catapult → uv-cata)."""
    total = model.total_steps
    out = []
    for i, arm in enumerate(model.arms.values()):
        label = escape(arm.name if keep is None else abbreviate(arm.name, keep))
        name = f"[b reverse {arm_color(i)}] {label} [/]" if arm.name == view.arm else f"[{arm_color(i)}]{label}[/]"
        done = f"{arm.done}/{total}" if total and level < 2 else f"{arm.done}"
        color = status_color(arm.status)
        if arm.status == "running":
            status = ""
        elif level < 2:
            status = f" [{color}]{escape(arm.status)}[/]"
        else:
            status = f" [{color}]{STATUS_MARKS.get(arm.status, '?')}[/]"
        lam = arm.sharpness
        lam_text = f" [{MUTED}]λ {lam:.3g}[/]" if level == 0 and lam is not None and lam == lam else ""
        out.append(f"{name} {done}{status}{lam_text}")
    return out


def arm_lines(model: RunModel, view: View, width: int) -> list[str]:
    """The arms' entries in at most ARM_LINES lines of `width` cells: everything said where it fits,
    then λ dropped, then the status as a mark, then the gaps narrowed, then the names cut part by
    part as long as they stay distinct (as the charts' legends cut them); past that, the shortest
    entries with their names whole, wrapped onto more lines (cut names buy nothing there)."""
    names = list(model.arms)
    longest = max((len(p) for n in names for p in re.split(r"[-_. ]", n)), default=1)
    tries: list[tuple[int, int | None, str]] = [(0, None, ARM_GAP), (1, None, ARM_GAP), (2, None, ARM_GAP), (2, None, NARROW_GAP)]
    tries += [(2, keep, NARROW_GAP) for keep in range(longest - 1, 2, -1) if len({abbreviate(n, keep) for n in names}) == len(names)]
    for level, keep, gap in tries:
        lines = _pack(_arm_entries(model, view, level, keep), width, gap)
        if len(lines) <= ARM_LINES:
            return lines
    return _pack(_arm_entries(model, view, 2), width)


def _pack(entries: list[str], width: int, gap: str = ARM_GAP) -> list[str]:
    """Entries into lines of at most `width` cells, never splitting an entry."""
    lines: list[str] = []
    cells = 0
    for e in entries:
        n = RichText.from_markup(e).cell_len
        if lines and cells + len(gap) + n <= width:
            lines[-1] += gap + e
            cells += len(gap) + n
        else:
            lines.append(e)
            cells = n
    return lines


def header_markup(
    model: RunModel, view: View, *, run_name: str, state: AppState | None = None, width: int | None = None, run_dir: Path | None = None
) -> str:
    """The header's text. With `width`, every arm is shown, on one line where shortened entries fit
    it (arm_lines), else wrapped: never cut off."""
    # The top line, fitted to one line of `width`: the run name goes first, then the device, the
    # speed, the program's name, and last what the status says in parentheses. (A wrapped top line
    # used to push the arms out of the header: paused, at 80 columns.)
    # No rate before the first step (a "0 steps/s" while torch imports reads as a hang).
    rate = model.steps_per_second() if model.status == "running" and model.steps_total_done else None
    eta = eta_seconds(model)
    # "?" is what the engine writes before it knows (the device is resolved after the first write).
    scenario = f"[b]{escape(model.scenario)}[/b]" if model.scenario != "?" else ""
    device = f"[{MUTED}]{escape(model.device)}[/]" if model.device != "?" else ""
    parts = [
        (4, "[b]eos-tui[/b]"),
        (9, scenario),
        (9, status_text(model, view, state)),
        (2, device),
        (3, format_rate(rate) if rate is not None else ""),
        (5, f"ETA {format_duration(eta)}" if eta is not None else ""),
        (1, f"[{MUTED}]{escape(printable(run_name))}[/]"),
    ]
    top = [text for _, text in parts if text]
    for drop in (1, 2, 3, 4):
        if width is None or RichText.from_markup("  ".join(top)).cell_len <= width:
            break
        parts = [(prio, text) for prio, text in parts if prio != drop]
        top = [text for _, text in parts if text]
    if width is not None and RichText.from_markup("  ".join(top)).cell_len > width:
        top = [status_text(model, view, state, detail=False) if t == status_text(model, view, state) else t for t in top]
    failed = failure_line(model, run_dir, width)
    if not model.arms:
        return "  ".join(top) + f"\n[{MUTED}]waiting for the first step…[/]" + failed
    if width is None:
        return "  ".join(top) + "\n" + ARM_GAP.join(_arm_entries(model, view, 0)) + failed
    return "  ".join(top) + "\n" + "\n".join(arm_lines(model, view, width)) + failed


def failure_line(model: RunModel, run_dir: Path | None, width: int | None) -> str:
    """A failed run's reason (the engine's error, cut to one line) and, on the next, where its full
    log is (a long path cut from the left); "" when nothing failed."""
    found = failure(model, run_dir)
    if found is None:
        return ""
    error, where = found
    error = f"{STATUS_MARKS[FAILED]} {error}"
    if width is not None and len(error) > width:
        error = error[: max(1, width - 1)] + "…"
    if width is not None and len(where) > width:
        where = "…" + where[len(where) - width + 1 :]
    tail = f"\n[{MUTED}]{escape(where)}[/]" if where else ""
    return f"\n[b {status_color(FAILED)}]{escape(error)}[/]{tail}"


class RunHeader(Text):
    DEFAULT_CSS = """
    RunHeader { height: auto; max-height: 5; background: $panel; padding: 0 1; }
    """
    help: ClassVar[str] = """\
The **header** names the scenario and says what the run is doing: running, completed, diverged,
interrupted, or *engine lost* (the engine process is gone without saying so; what it recorded stays
on screen). When this app started the engine and it died, the app records the run as *failed* and
says how the engine exited, e.g. *failed (engine exited with signal 9 (SIGKILL))*.
*paused view* means only the screen is frozen (space): the engine keeps training.
Before the first step it says what the engine is doing (importing torch, building an arm,
measuring λ0 for `lr_relative`) and for how long; while training, the steps per second of all arms
together (over at least the last 10 s) and, once that rate has held steady for 10 s, the **ETA**
of the run at that rate. A failed run gets a line of its own: the
engine's error and where its full log (engine.log) is.
Then, per arm, steps done / total, and the latest λ_max; the highlighted arm (tab) is boxed.
The arms keep to one line: in a narrow terminal λ is dropped, a status shows as a mark
(✓ completed, ✗ diverged, ■ interrupted; ✗ also marks a failed arm), then the names are cut part
by part (uv-catapult → uv-cata) as long as they stay distinct.
"""

    def show(self, model: RunModel, view: View, *, run_name: str, state: AppState | None = None, run_dir: Path | None = None) -> None:
        width = self.content_size.width or None
        markup = header_markup(model, view, run_name=run_name, state=state, width=width, run_dir=run_dir)
        # The lines as shown, wrapping included: a change in their number re-lays the screen out.
        lines = sum(max(1, -(-RichText.from_markup(line).cell_len // width)) if width else 1 for line in markup.split("\n"))
        self.set(markup, lines=lines)
