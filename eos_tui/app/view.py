"""What the person chose to look at (not what the run is): highlighted arm, follow/fit, log-y, paused."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class View:
    arm: str | None = None  # the highlighted arm: drawn on top, shown in the eigendirection and reparam panels
    follow: bool = False  # charts show the latest steps (one per dot column) rather than all
    loss_log_y: bool = True
    paused: bool = False  # the view stops updating; the engine keeps training
    arm_chosen: bool = False  # the person picked the arm (tab): no longer the first to reach the edge
    events_arm_only: bool = False  # `v`: the Events panel lists the highlighted arm's events only
    version: int = 0  # grows on every change, so panels know to redraw

    def changed(self) -> None:
        self.version += 1
