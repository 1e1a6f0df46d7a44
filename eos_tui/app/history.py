"""History keys and mouse: pan and zoom the x window all charts share, move the cursor step,
smooth the loss. The arithmetic is in window.py and smoothing.py; this wires it to keys and events.

The main screen inherits these bindings; every action changes the app's View and redraws.
"""

from __future__ import annotations

from typing import Callable, Protocol

from textual import events
from textual.errors import NoWidget
from textual.screen import Screen

from .keys import bindings
from .model import RunModel
from .view import View
from .widgets.chart import Chart
from .widgets.chart.chart import AXIS_WIDTH
from .window import KEY_ZOOM, PAN_FRACTION, WHEEL_PAN_FRACTION, WHEEL_ZOOM, XWindow, move_cursor


class ViewHost(Protocol):
    """What the history keys need of the app (EosApp): its data, its view, and the one way to say the
    view changed. Named here so that history.py need not import app.py, which imports it."""

    model: RunModel
    view: View

    def view_changed(self) -> None: ...


def extent(model: RunModel) -> tuple[float, float] | None:
    """(first, last) step recorded, over all arms; None before any step."""
    steps = [a.step.values for a in model.arms.values() if len(a.step)]
    if not steps:
        return None
    return float(min(s[0] for s in steps)), float(max(s[-1] for s in steps))


def chart_dots(chart: Chart | None) -> int:
    """Dot columns of a chart's plot (2 per cell), 80 before it has a size."""
    cols = chart.size.width - AXIS_WIDTH if chart is not None else 0
    return 2 * cols if cols > 0 else 80


def resolve(model: RunModel, view: View, dots: int) -> None:
    """Set view.x_range: the steps every chart shows in this frame."""
    ext = extent(model)
    view.x_range = None if ext is None else view.window.resolve(ext[0], ext[1], dots, live=model.status == "running")


def step_at(chart: Chart, x: int) -> float | None:
    """The step under content column `x` of `chart` as last drawn; None off the plot."""
    col = x - AXIS_WIDTH
    dots = chart_dots(chart)
    if col < 0 or 2 * col >= dots:
        return None
    x0, x1 = chart.frame.x0, chart.frame.x1  # plot coordinates: log10(1 + step) on a log step axis
    return chart.to_step(x0 + (2 * col + 0.5) / max(dots - 1, 1) * (x1 - x0))


def toggle_follow(view: View) -> None:
    """`f`: follow the latest steps (at the current zoom), dropping the cursor: following is
    watching the newest steps. Pressed while following (and no cursor), the whole run."""
    x0, x1 = view.x_range or (0.0, 1.0)
    if not (view.follow and view.cursor is not None):
        view.window = view.window.toggle_follow(x0, x1)
    view.cursor = None


class HistoryScreen(Screen):
    BINDINGS = bindings("history")  # keys.py

    @property
    def _app(self) -> ViewHost:
        return self.app  # type: ignore[return-value]

    def _apply(self, make: Callable[[XWindow, float, float, float, float], XWindow]) -> None:
        """Replace the window with make(window, x0, x1, lo, hi) and redraw (nothing before data)."""
        app = self._app
        view = app.view
        ext = extent(app.model)
        if view.x_range is None or ext is None:
            return
        window = make(view.window, *view.x_range, *ext)
        if window != view.window:
            view.window = window
            app.view_changed()

    def action_pan(self, direction: float) -> None:
        self._apply(lambda w, x0, x1, lo, hi: w.pan(direction * PAN_FRACTION, x0, x1, lo, hi))

    def action_zoom_in(self) -> None:
        self.zoom(1 / KEY_ZOOM, self._app.view.cursor)

    def action_zoom_out(self) -> None:
        self.zoom(KEY_ZOOM, self._app.view.cursor)

    def zoom(self, factor: float, about: float | None) -> None:
        self._apply(lambda w, x0, x1, lo, hi: w.zoom(factor, x0, x1, lo, hi, about))

    def action_home(self) -> None:
        self._apply(XWindow.home)

    def action_end(self) -> None:
        self._apply(XWindow.end)

    def action_cursor(self, delta: int) -> None:
        view, ext = self._app.view, extent(self._app.model)
        if view.x_range is not None and ext is not None:
            self.set_cursor(move_cursor(view.cursor, delta, *view.x_range, *ext))

    def set_cursor(self, step: int) -> None:
        """Put the cursor on `step`, panning the window if it is off screen."""
        app = self._app
        view = app.view
        ext = extent(app.model)
        if view.x_range is None or ext is None:
            return
        step = int(max(ext[0], min(step, ext[1])))
        view.cursor = step
        view.window = view.window.showing(step, *view.x_range, *ext)
        app.view_changed()

    def action_hide_cursor(self) -> None:
        if self._app.view.cursor is not None:
            self._app.view.cursor = None
            self._app.view_changed()

    # -- the mouse: the wheel zooms about the step under the pointer, a sideways scroll pans, a click
    # puts the cursor there ---------------------------------------------------------------------------

    def _chart_step(self, event: events.MouseEvent) -> float | None:
        """The step under the pointer, on a chart; None elsewhere."""
        try:
            widget, _ = self.get_widget_at(int(event.screen_x), int(event.screen_y))
        except NoWidget:
            return None
        if not isinstance(widget, Chart):
            return None
        return step_at(widget, int(event.screen_x) - widget.content_region.x)

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        step = self._chart_step(event)
        if step is not None:
            event.stop()
            self.zoom(1 / WHEEL_ZOOM, step)

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        step = self._chart_step(event)
        if step is not None:
            event.stop()
            self.zoom(WHEEL_ZOOM, step)

    def on_mouse_scroll_left(self, event: events.MouseScrollLeft) -> None:
        if self._chart_step(event) is not None:
            event.stop()
            self._apply(lambda w, x0, x1, lo, hi: w.pan(-WHEEL_PAN_FRACTION, x0, x1, lo, hi))

    def on_mouse_scroll_right(self, event: events.MouseScrollRight) -> None:
        if self._chart_step(event) is not None:
            event.stop()
            self._apply(lambda w, x0, x1, lo, hi: w.pan(WHEEL_PAN_FRACTION, x0, x1, lo, hi))

    def on_click(self, event: events.Click) -> None:
        step = self._chart_step(event)
        if step is not None:
            event.stop()
            self.set_cursor(round(step))
