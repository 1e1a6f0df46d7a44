"""What the person chose to look at (not what the run is): highlighted arm, follow/fit, log-y, paused."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class View:
    arm: str | None = None  # the highlighted arm: drawn on top, shown in the eigendirection and reparam panels
    follow: bool = False  # charts show the latest steps (one per dot column) rather than all
    loss_log_y: bool = True
    paused: bool = False  # the view stops updating; the engine keeps training
    # The sharpness chart (`n`, `g`, `h`, `m`): λ_max over each arm's threshold (every edge at 1)
    # rather than λ_max itself (the scenario's [display] sharpness chooses how the app opens), a log
    # y axis, only the highlighted arm (the others and their threshold lines hidden), and every
    # arm's events as vertical lines (by default only the highlighted arm's).
    sharpness_normalized: bool = False
    sharpness_log_y: bool = False
    focus: bool = False
    event_lines: bool = False
    version: int = 0  # grows on every change, so panels know to redraw

    def changed(self) -> None:
        self.version += 1
