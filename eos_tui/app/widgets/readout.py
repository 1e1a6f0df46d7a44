"""The cursor readout: at the cursor step, each arm's recorded loss, λ_max, threshold and ⟨∇L,u⟩.

One line across the screen under the charts (more where the arms do not fit on one), shown while
there is a cursor:

    step 412  ━ gd L 0.03123 λ 98.23 2/η 100 ⟨∇L,u⟩ -0.6133  ━ sgd L 0.0351 λ@410 79.3 2/η 100 ...

λ_max is measured every few steps: where it was not measured at the cursor step, the latest
measurement before it is shown with its step (λ@410).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from rich.markup import escape
from rich.text import Text as RichText
from textual.app import ComposeResult

from ..model import ArmSeries, RunModel
from ..view import View
from .palette import MUTED, arm_color
from .panel import Panel, Text


@dataclass(frozen=True)
class Reading:
    """One arm's recorded values at a step (None: not recorded there)."""

    arm: str
    step: int
    loss: float | None = None
    threshold: float | None = None
    proj: float | None = None
    sharpness: float | None = None
    sharpness_step: int | None = None  # where λ_max was measured: the step, or the latest before it

    @property
    def recorded(self) -> bool:
        return self.loss is not None


def _at(values: np.ndarray, i: int) -> float | None:
    v = float(values[i]) if i < len(values) else math.nan
    return v if math.isfinite(v) else None


def reading(arm: ArmSeries, step: int) -> Reading:
    """What `arm` recorded at `step`: exactly the values of its records."""
    steps = arm.step.values
    i = int(np.searchsorted(steps, step))
    out = Reading(arm.name, step)
    if i < len(steps) and steps[i] == step:
        loss = float(arm.loss.values[i])
        out = Reading(arm.name, step, loss, _at(arm.threshold.values, i), _at(arm.proj.values, i))
    measured = arm.sharpness_step.values
    j = int(np.searchsorted(measured, step, side="right")) - 1
    if j >= 0 and arm.eigenvalues:
        lam = _at(arm.eigenvalues[0].values, j)
        if lam is not None:
            out = Reading(out.arm, step, out.loss, out.threshold, out.proj, lam, int(measured[j]))
    return out


def number(v: float | None) -> str:
    """A recorded value, to 4 significant digits (1.234e-5: no '+', no leading zero in the exponent)."""
    if v is None:
        return "–"
    if not math.isfinite(v):
        return str(v)
    text = f"{v:.4g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}e{int(exponent)}"
    return text


def arm_text(r: Reading, color: str, threshold_label: str | None, lambda_step: int | None) -> str:
    """One arm's values, each with its label (threshold_label None: the threshold is in the head;
    lambda_step: the step of λ_max said in the head, else after each λ that was not measured at
    the cursor)."""
    parts = [f"[{color}]━ {escape(r.arm)}[/]"]
    parts.append(f"L {number(r.loss)}" if r.recorded else f"[{MUTED}]no step {r.step}[/]")
    if r.sharpness is not None:
        at = "" if r.sharpness_step in (r.step, lambda_step) else f"@{r.sharpness_step}"
        parts.append(f"λ{at} {number(r.sharpness)}")
    if r.recorded and threshold_label is not None:
        parts.append(f"{threshold_label} {number(r.threshold)}")
    if r.proj is not None:
        parts.append(f"⟨∇L,u⟩ {number(r.proj)}")
    return " ".join(parts)


def arm_values(r: Reading, color: str, threshold: bool, lambda_step: int | None) -> str:
    """One arm's values without labels, in the order the head names them (– where absent)."""
    values = [number(r.loss)]
    at = "" if r.sharpness is None or r.sharpness_step in (r.step, lambda_step) else f"@{r.sharpness_step}"
    values.append(number(r.sharpness) + at)
    if threshold:
        values.append(number(r.threshold))
    values.append(number(r.proj))
    return f"[{color}]{escape(r.arm)}[/] " + " ".join(values)


def readout_lines(readings: list[tuple[Reading, str, str]], step: int, width: int, max_lines: int) -> list[str]:
    """The readout in at most `max_lines` lines of `width` cells: each value labelled where that
    fits, else the labels once in the head and the values after each arm's name; arms that do
    not fit even so are counted at the end (the first, the highlighted arm, always shows)."""
    labels = {label for _, _, label in readings}
    thresholds = {r.threshold for r, _, _ in readings if r.recorded}
    common = len(labels) == 1 and len(thresholds) == 1  # one threshold for every arm: said once
    measured = {r.sharpness_step for r, _, _ in readings if r.sharpness is not None}
    lambda_step = next(iter(measured)) if len(measured) == 1 else None
    head = f"[bold]step {step}[/]"
    if lambda_step is not None and lambda_step != step:
        head += f" [{MUTED}](λ@{lambda_step})[/]"
    if common:
        head += f" {next(iter(labels))} {number(next(iter(thresholds)))}"
    chunks = [arm_text(r, color, None if common else label, lambda_step) for r, color, label in readings]
    lines = pack([head, *chunks], width)
    if len(lines) > max_lines:
        label = next(iter(labels)) if len(labels) == 1 else "thr"
        legend = " ".join(["L", "λ", *([] if common else [label]), "⟨∇L,u⟩"])
        chunks = [arm_values(r, color, not common, lambda_step) for r, color, _ in readings]
        lines = pack([f"{head} [{MUTED}]({legend})[/]", *chunks], width)
        if len(lines) > max_lines:
            shown = lines[:max_lines]
            left = sum(1 for c in chunks if not any(c in line for line in shown))
            more = f"  [{MUTED}]+{left} more (tab)[/]"
            while RichText.from_markup(shown[-1] + more).cell_len > width and "  " in shown[-1]:
                shown[-1] = shown[-1].rsplit("  ", 1)[0]
                left += 1
                more = f"  [{MUTED}]+{left} more (tab)[/]"
            lines = shown[:-1] + [shown[-1] + more]
    return lines


def pack(chunks: list[str], width: int, sep: str = "  ") -> list[str]:
    """The chunks (markup) in lines of at most `width` cells, a chunk never split across lines."""
    lines: list[str] = []
    for chunk in chunks:
        if lines and RichText.from_markup(lines[-1] + sep + chunk).cell_len <= width:
            lines[-1] += sep + chunk
        else:
            lines.append(chunk)
    return lines


SHORT_LINES = 34  # on a screen shorter than this (80×24), the readout takes at most 2 lines
HINTS = (", . move · ← → pan · + - zoom · f follow · esc hide", ", . move · esc hide")  # the first that fits


class CursorReadout(Panel):
    TITLE = "Cursor and history"
    help = """\
All the charts show the same steps. **← →** pan through the run (a quarter of the window a
press), **+** (or **=**) and **-** zoom in and out (about the cursor when it is in view, else
about the latest step), **home** and **end** go to the run's first and latest steps; with the
mouse on, the wheel zooms about the step under the pointer (a sideways scroll pans). **f**
follows the latest steps as they come, at the current zoom (one step per dot column when not
zoomed), and hides the cursor; pressed while following, it shows the whole run. A pan, a zoom about the cursor or the
mouse, or home fixes the window: new steps no longer move it until **f** or **end**.

The **cursor** (**,** and **.** move it one step, or click a chart) is a grey vertical line; the
line under the charts reads out, at that step, each arm's recorded loss **L**, sharpness **λ**
(λ@410: the latest measurement, at step 410, when λ_max was not measured at the cursor step),
threshold **2/η** (thr with momentum or a preconditioner) and **⟨∇L,u⟩** where the arm records
it. The eigendirection chart centres on the cursor. **esc** hides the cursor.
"""

    DEFAULT_CSS = """
    CursorReadout { border: none; height: auto; padding: 0 1; display: none; }
    """

    def compose(self) -> ComposeResult:
        yield Text("", id="readout-text")

    def show(self, model: RunModel, view: View) -> None:
        if self.display != (view.cursor is not None):
            self.display = view.cursor is not None
        if view.cursor is None:
            return
        readings = []
        for i, arm in enumerate(model.arms.values()):
            label = "2/η" if not (arm.with_momentum or arm.preconditioned) else "thr"
            readings.append((reading(arm, view.cursor), arm_color(i), label))
        readings.sort(key=lambda t: t[0].arm != view.arm)  # the highlighted arm first
        width = max(20, self.content_size.width or self.app.size.width - 2)
        lines = readout_lines(readings, view.cursor, width, 2 if self.app.size.height < SHORT_LINES else 4)
        for hint in HINTS:  # on the last line, where there is room
            if RichText.from_markup(f"{lines[-1]}  {hint}").cell_len <= width:
                lines[-1] += f"  [{MUTED}]{hint}[/]"
                break
        self.query_one("#readout-text", Text).set("\n".join(lines))
