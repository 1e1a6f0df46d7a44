"""The live app: follows a run directory and draws sharpness, loss, the top eigendirection,
reparameterization checks and events, as the engine (another process) trains.

Two timers drive it: every `poll_interval` the batches read by the follower thread are appended
to the model; every 1/fps seconds the panels are redrawn, and only if the model or the view
changed. The app never imports torch: training happens in the engine process (eos_tui.launch).
"""

from __future__ import annotations

import datetime as _dt
import subprocess
import time
from pathlib import Path
from typing import Callable, Iterable

from textual import work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer

from ..launch import engine_alive, stop_engine
from ..rundir.reader import read_manifest
from .follow import RunFollower
from .model import RunModel
from .screens.help import HelpScreen
from .view import View
from .widgets import EigendirectionPanel, EventsPanel, LossPanel, ReparamPanel, RunHeader, SharpnessPanel
from .widgets.panel import Panel

SHORT_HEIGHT = 34  # below this many rows, the learning-rate chart is dropped


class MainScreen(Screen):
    BINDINGS = [
        Binding("q", "app.quit", "quit"),
        Binding("d", "app.detach", "detach"),
        Binding("space", "app.toggle_pause", "pause"),
        Binding("question_mark,f1", "app.help", "help", key_display="?"),
        Binding("l", "app.toggle_log", "log-y"),
        Binding("tab,a", "app.next_arm", "arm", key_display="tab"),
        Binding("f", "app.toggle_follow", "follow"),
        Binding("s", "app.screenshot", "svg"),
    ]

    def compose(self) -> ComposeResult:
        yield RunHeader(id="header")
        with Horizontal(id="body"):
            with Vertical(id="left"):
                yield SharpnessPanel()
                yield LossPanel()
            with Vertical(id="right"):
                yield EigendirectionPanel()
                yield ReparamPanel()
                yield EventsPanel()
        yield Footer()

    def on_resize(self) -> None:
        self.set_class(self.size.height < SHORT_HEIGHT, "-short")
        # Text that fits itself to its width (header, reparameterization table) is re-made once
        # the new layout is in place; the charts re-render on their own.
        self.call_after_refresh(self.app.redraw, True)


class EosApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "eos-tui"

    def __init__(self, run_dir: Path, *, engine: subprocess.Popen | None = None, fps: float = 4.0,
                 poll_interval: float = 0.1, clock: Callable[[], float] = time.monotonic,
                 stop_timeout: float = 10.0):
        super().__init__()
        self.run_dir = Path(run_dir)
        self.engine = engine
        self.fps = max(0.5, float(fps))
        self.poll_interval = poll_interval
        self.stop_timeout = stop_timeout
        self.model = RunModel(clock=clock)
        self.view = View()
        self.follower = RunFollower(self.run_dir, engine=engine, interval=poll_interval)
        self.outcome = "quit"  # how the app ended: "quit", "detached" or "stopped"
        self.exit_code = 0
        self.note: str | None = None  # overrides the status in the header ("stopping engine…")
        self.frames = 0  # redraws done (tests, benchmarks)
        self._drawn: tuple | None = None

    def get_default_screen(self) -> Screen:
        return MainScreen()

    @property
    def panels(self) -> list[Panel]:
        return list(self.screen_stack[0].query(Panel)) if self.screen_stack else []

    def on_mount(self) -> None:
        self.follower.start()
        self.set_interval(self.poll_interval, self.ingest)
        self.set_interval(1.0 / self.fps, self.redraw)

    def on_unmount(self) -> None:
        self.follower.stop()

    # -- data in, pixels out -----------------------------------------------------------------------

    def ingest(self) -> bool:
        """Append what the follower read to the model; True if anything changed."""
        batches, manifest = self.follower.take()
        changed = False
        # A read failure in the follower shows in the header until a read succeeds again.
        error = self.follower.error
        if error is not None and (self.note is None or self.note.startswith("cannot read run: ")):
            self.note = f"cannot read run: {error}"
        elif error is None and self.note is not None and self.note.startswith("cannot read run: "):
            self.note = None
        if manifest is not None:
            before = self.model.version
            self.model.set_manifest(*manifest)
            changed = self.model.version != before
        for batch in batches:
            changed |= self.model.apply(batch)
        if self.view.arm is None and self.model.arms:
            self.view.arm = next(iter(self.model.arms))
            self.view.changed()
        return changed

    def redraw(self, force: bool = False) -> None:
        """Bring the screen up to date, if the data or the view changed since the last frame; with
        `force`, all of it, paused or not (after a resize, for the text that fits its width)."""
        key = (self.model.version, self.view.version, self.note)
        if key == self._drawn and not force:
            return
        main = self.screen_stack[0] if self.screen_stack else None
        if main is None or not main.is_mounted:
            return
        view_changed = self._drawn is None or key[1:] != self._drawn[1:]
        self._drawn = key
        self.frames += 1
        main.query_one(RunHeader).show(self.model, self.view, run_name=self.run_dir.name, note=self.note)
        if not self.view.paused or view_changed or force:
            for panel in self.panels:
                panel.show(self.model, self.view)

    # -- keys --------------------------------------------------------------------------------------

    def _view_changed(self) -> None:
        self.view.changed()
        self.redraw()

    def action_toggle_pause(self) -> None:
        self.view.paused = not self.view.paused
        self._view_changed()

    def action_toggle_log(self) -> None:
        self.view.loss_log_y = not self.view.loss_log_y
        self._view_changed()

    def action_toggle_follow(self) -> None:
        self.view.follow = not self.view.follow
        self._view_changed()

    def action_next_arm(self) -> None:
        names = list(self.model.arms)
        if not names:
            return
        i = names.index(self.view.arm) if self.view.arm in names else -1
        self.view.arm = names[(i + 1) % len(names)]
        self._view_changed()

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        sections = [("Header", RunHeader.help)]
        sections += [(type(p).TITLE, type(p).help) for p in self.panels]
        self.push_screen(HelpScreen(sections))

    def action_screenshot(self) -> None:
        name = f"eos-tui-{_dt.datetime.now():%Y%m%d-%H%M%S}.svg"
        try:
            path = self.save_screenshot(filename=name, path=str(self.run_dir))
        except OSError as exc:
            self.notify(f"could not save the screenshot: {exc}", severity="error")
            return
        self.notify(f"saved {path}", title="screenshot")

    def action_detach(self) -> None:
        if self.engine is not None and engine_alive(self.engine):
            self.outcome = "detached"
        self.exit(0)

    async def action_quit(self) -> None:
        if self.engine is None or not engine_alive(self.engine):
            self.exit(0)
            return
        if self.note is None:
            self.note = "stopping engine…"
            self.redraw()
            self._stop_engine()

    @work(thread=True, exclusive=True, group="stop")
    def _stop_engine(self) -> None:
        clean = stop_engine(self.engine, self.stop_timeout)
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:  # the engine writes "interrupted" before it exits
            manifest = read_manifest(self.run_dir)
            if manifest is not None and manifest.get("status") != "running":
                break
            time.sleep(0.05)
        self.call_from_thread(self._stopped, clean)

    def _stopped(self, clean: bool) -> None:
        self.outcome = "stopped"
        self.exit_code = 0 if clean else 1
        self.exit(self.exit_code)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Pause / resume the view", "Freeze the charts; the engine keeps training", self.action_toggle_pause)
        yield SystemCommand("Toggle log scale (loss)", "Loss chart: log or linear y axis", self.action_toggle_log)
        yield SystemCommand("Next arm", "Highlight the next arm", self.action_next_arm)
        yield SystemCommand("Follow / fit", "Charts: latest steps, or the whole run", self.action_toggle_follow)
        yield SystemCommand("Save SVG screenshot", "Into the run directory", self.action_screenshot)
        yield SystemCommand("Explain the panels", "What sharpness, 2/η, the flip, catapults mean", self.action_help)
        if self.engine is not None:
            yield SystemCommand("Detach", "Quit, leaving the engine training", self.action_detach)


def run_app(run_dir: Path, *, engine: subprocess.Popen | None = None, fps: float = 4.0,
            mouse: bool = True) -> int:
    """Open the app on RUN_DIR. With `engine` (a run started here), quitting stops it cleanly and
    `d` detaches; without (watch mode), quitting never stops anything. Returns an exit code."""
    run_dir = Path(run_dir)
    app = EosApp(run_dir, engine=engine, fps=fps)
    try:
        app.run(mouse=mouse)
    finally:
        if engine is not None and app.outcome != "detached" and engine_alive(engine):
            # The app ended some other way (an error, a hangup): a non-detached run stops with it.
            stop_engine(engine)
    if app.outcome == "detached":
        print(f"The engine keeps training (pid {engine.pid}); it writes to {run_dir}")
        print(f"Watch it again with: eos-tui watch {run_dir}")
    elif app.outcome == "stopped":
        manifest = read_manifest(run_dir) or {}
        print(f"Run stopped ({manifest.get('status', 'unknown')}): {run_dir}")
    return app.exit_code
