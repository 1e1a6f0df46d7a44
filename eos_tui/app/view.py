"""What the person chose to look at (not what the run is): highlighted arm, the x window and the
cursor step, log-y, smoothing, paused."""

from __future__ import annotations

from dataclasses import dataclass, field

from .window import FOLLOW, XWindow


@dataclass
class View:
    arm: str | None = None  # the highlighted arm: drawn on top, shown in the eigendirection and reparam panels
    window: XWindow = field(default_factory=XWindow)  # the steps every chart shows (window.py)
    cursor: int | None = None  # the step read out under the charts (`,` `.` or a click); None: no cursor
    smooth_loss: bool = False  # `e`: the loss's EMA over the raw trace (smoothing.py)
    x_range: tuple[float, float] | None = None  # the window as last drawn (derived: not a choice)
    loss_log_y: bool = True
    paused: bool = False  # the view stops updating; the engine keeps training
    arm_chosen: bool = False  # the person picked the arm (tab): no longer the first to reach the edge
    events_arm_only: bool = False  # `v`: the Events panel lists the highlighted arm's events only
    # The sharpness chart (`n`, `g`, `h`, `m`): λ_max over each arm's threshold (every edge at 1)
    # rather than λ_max itself (the scenario's [display] sharpness chooses how the app opens), a log
    # y axis, only the highlighted arm (the others and their threshold lines hidden), and every
    # arm's events as vertical lines (by default only the highlighted arm's).
    sharpness_normalized: bool = False
    sharpness_log_y: bool = False
    focus: bool = False
    event_lines: bool = False
    # `x` (or the scenario's [display] steps = "log"): every chart's step axis in log10(1 + step), for
    # a story told in the first steps (the catapult: steps 0–10 of 60 get half the width).
    log_steps: bool = False
    # `p` (or the scenario's [display] panel = "portrait"): the self-stabilization (x, y) portrait in
    # place of the eigendirection panel.
    portrait: bool = False
    version: int = 0  # grows on every change, so panels know to redraw

    @property
    def follow(self) -> bool:
        """Charts follow the latest steps (rather than show the whole run or a fixed window)."""
        return self.window.mode == FOLLOW

    def changed(self) -> None:
        self.version += 1
