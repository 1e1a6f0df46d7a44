"""The header: scenario, status, per-arm progress, speed, device, run directory."""

from __future__ import annotations

from typing import ClassVar

from rich.markup import escape

from ..model import RunModel
from ..view import View
from .palette import STATUS_COLORS, arm_color
from .panel import Text


def status_text(model: RunModel, view: View, note: str | None) -> str:
    """What the header says about the run: the engine's status, or what the viewer is doing."""
    status = model.status
    if status == "running" and model.manifest is None:
        status = "starting"
    if note:
        status = note
    elif view.paused:
        status = "paused view" + (" (engine keeps training)" if model.status == "running" else "")
    color = STATUS_COLORS.get(status.split(" (")[0], "#a0a0a0")
    return f"[b {color}]● {escape(status)}[/]"


def header_markup(model: RunModel, view: View, *, run_name: str, note: str | None = None) -> str:
    top = [f"[b]eos-tui[/b]", f"[b]{escape(model.scenario)}[/b]", status_text(model, view, note),
           f"[#a0a0a0]{escape(model.device)}[/]"]
    if model.status == "running":
        rate = model.steps_per_second()
        if rate is not None:
            top.append(f"{rate:,.0f} steps/s")
    top.append(f"[#a0a0a0]{escape(run_name)}[/]")
    total = model.total_steps
    arms = []
    for i, arm in enumerate(model.arms.values()):
        name = f"[b reverse {arm_color(i)}] {escape(arm.name)} [/]" if arm.name == view.arm else f"[{arm_color(i)}]{escape(arm.name)}[/]"
        done = f"{arm.done}/{total}" if total else f"{arm.done}"
        status = "" if arm.status == "running" else f" [{STATUS_COLORS.get(arm.status, '#a0a0a0')}]{escape(arm.status)}[/]"
        lam = arm.sharpness
        lam_text = f" [#a0a0a0]λ {lam:.3g}[/]" if lam is not None and lam == lam else ""
        arms.append(f"{name} {done}{status}{lam_text}")
    return "  ".join(top) + "\n" + ("   ".join(arms) or "[#a0a0a0]waiting for the first step…[/]")


class RunHeader(Text):
    DEFAULT_CSS = """
    RunHeader { height: 2; background: $panel; padding: 0 1; }
    """
    help: ClassVar[str] = """\
The **header** names the scenario and says what the run is doing: running, completed, diverged,
interrupted, or *engine lost* (the engine process is gone without saying so; what it recorded stays
on screen). *paused view* means only the screen is frozen (space): the engine keeps training.
Then, per arm, steps done / total, and the latest λ_max; the highlighted arm (tab) is boxed.
"""

    def show(self, model: RunModel, view: View, *, run_name: str, note: str | None = None) -> None:
        self.set(header_markup(model, view, run_name=run_name, note=note))
