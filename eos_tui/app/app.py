"""The live app: follows a run directory and draws sharpness, loss, the top eigendirection,
reparameterization checks and events, as the engine (another process) trains.

Two timers drive it: every `poll_interval` the batches read by the follower thread are appended
to the model; every 1/fps seconds the panels are redrawn, and only if the model, the view or the
app's own state changed. The app never imports torch: training happens in the engine process
(eos_tui.engine.launch).

With its own engine (`eos-tui run`), `q` stops the engine cleanly and `d` detaches from it. Closing
the app any other way (SIGTERM, SIGHUP when the terminal or the SSH session goes away, an error)
stops the engine as `q` does: only `d` leaves it training. If the engine dies without writing its
final status, the app writes it (ending.py).
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import math
import os
import signal
import subprocess
import threading
import time
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Callable, Iterable, Sequence

from textual import work
from textual.app import App, ComposeResult, SystemCommand
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer

from ..cli.exit import ExitCode  # a run the user stopped: 130, as `run --headless` interrupted
from ..engine.launch import engine_alive, pending_close_signal, stop_engine
from ..rundir.reader import read_manifest
from .arm_choice import default_arm
from .chart_keys import ChartKeys, scenario_display
from .compare import MultiRunFollower
from .follow import RunFollower
from .history import HistoryScreen, chart_dots, resolve, toggle_follow
from .keys import MAIN_SCOPES, Key, bindings, in_scopes
from .landscape_screen import LandscapeKeys
from .model import RunModel, printable
from .progress import phase_tick
from .screens.help import HelpScreen
from .screens.reparam import ReparamKeys
from .state import AppState
from .view import View
from .widgets import EigendirectionPanel, EventsPanel, LossPanel, ReparamPanel, RunHeader, SharpnessPanel
from .widgets.chart import Chart
from .widgets.empty import show_empty
from .widgets.flow_distance import FlowDistancePanel
from .widgets.panel import Panel
from .widgets.portrait import PortraitPanel
from .widgets.readout import CursorReadout

SHORT_HEIGHT = 34  # below this many rows, the learning-rate chart is dropped
CLOSE_SIGNALS = (signal.SIGTERM, signal.SIGHUP)  # the app closes (and stops its engine) on these
MIN_FPS, MAX_FPS = 0.5, 30.0
CLOSE_GRACE_S = 5.0  # after a close signal, the app's own shutdown gets this long


def _detach_from_terminal() -> None:
    """Point stdin, stdout and stderr at /dev/null: after a hangup, reads and writes on the
    terminal fail (EIO); what still writes (the engine stop, the UI until the end) must not."""
    try:
        null = os.open(os.devnull, os.O_RDWR)
    except OSError:
        return
    for fd in (0, 1, 2):
        try:
            os.dup2(null, fd)
        except OSError:
            pass
    os.close(null)


class MainScreen(HistoryScreen):  # pan, zoom, the cursor and smoothing: history.py
    # The footer holds what fits at 80 columns; every key is in the help (?) and the palette (^p).
    BINDINGS = bindings("main", "chart")  # keys.py

    def compose(self) -> ComposeResult:
        yield RunHeader(id="header")
        with Horizontal(id="body"):
            with Vertical(id="left"):
                yield SharpnessPanel()
                yield LossPanel()
            with Vertical(id="right"):
                yield EigendirectionPanel()
                yield PortraitPanel()  # in its place on `p` (view.portrait)
                yield ReparamPanel()
                yield FlowDistancePanel()  # in its place where the run has flows and no checks
                yield EventsPanel()
        yield CursorReadout(id="readout")
        yield Footer()

    def on_mount(self) -> None:
        # The first frame already says what is happening ("starting…", "importing torch…" in the
        # charts), not empty axes around ±0.001 until the first redraw. Only the charts' messages:
        # text set before the layout has widths (the panels' Text) would keep a wrong height.
        app = self.app
        if isinstance(app, EosApp):
            app.ingest()
            for panel in app.panels:
                show_empty(panel, app.model, app.view)

    def on_resize(self) -> None:
        self.set_class(self.size.height < SHORT_HEIGHT, "-short")
        # Text that fits itself to its width (header, reparameterization table) is re-made once
        # the new layout is in place; the charts re-render on their own.
        app = self.app
        if isinstance(app, EosApp):
            self.call_after_refresh(app.redraw, True)


class EosApp(ChartKeys, LandscapeKeys, ReparamKeys, App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "eos-tui"
    BINDINGS = bindings("app")  # ctrl+c: keys.py

    def __init__(
        self,
        run_dir: Path,
        *,
        engine: subprocess.Popen | None = None,
        fps: float = 4.0,
        poll_interval: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
        stop_timeout: float = 10.0,
        close_on_signals: bool = False,
        runs: Sequence[Path] | None = None,
    ):
        super().__init__()
        self.run_dir = Path(run_dir)
        self.engine = engine
        # Redraws per second, kept sane whatever the caller passes (1e9 spun the CPU, NaN broke timers).
        fps = float(fps)
        self.fps = min(MAX_FPS, max(MIN_FPS, fps)) if math.isfinite(fps) else (MAX_FPS if fps > 0 else 4.0)
        self.poll_interval = poll_interval
        self.stop_timeout = stop_timeout
        self.model = RunModel(clock=clock)
        self.view = View()
        self.follower: RunFollower | MultiRunFollower = RunFollower(self.run_dir, engine=engine, interval=poll_interval)
        self.run_name = self.run_dir.name
        if runs is not None and len(runs) > 1 and engine is None:  # watch RUN_DIR RUN_DIR...: arms are run/arm
            self.follower = MultiRunFollower(runs, interval=poll_interval)
            self.run_name = ", ".join(self.follower.labels)
        self.close_on_signals = close_on_signals  # SIGTERM/SIGHUP close the app (run_app sets it)
        self.outcome = "quit"  # how the app ended: "quit", "detached", "stopped" or "closed"
        self.exit_code = 0
        self.state = AppState()
        self._watchdog: threading.Timer | None = None  # see close_by_signal
        self.frames = 0  # redraws done (tests, benchmarks)
        self._drawn: tuple | None = None
        self._display_read = False
        self._engine_was_alive = True  # the app's own engine, when it has one (`d` in the footer)
        self._skipped_noticed: set[str] = set()  # the damaged metrics lines already told of

    def get_default_screen(self) -> Screen:
        return MainScreen()

    @property
    def panels(self) -> list[Panel]:
        return list(self.screen_stack[0].query(Panel)) if self.screen_stack else []

    def on_mount(self) -> None:
        self.follower.start()
        self.set_interval(self.poll_interval, self.ingest)
        self.set_interval(1.0 / self.fps, self.redraw)
        if self.close_on_signals:
            loop = asyncio.get_running_loop()
            for sig in CLOSE_SIGNALS:
                loop.add_signal_handler(sig, self.close_by_signal, sig)
            if self.engine is not None and (held := pending_close_signal()) is not None:
                self.close_by_signal(held)  # it came while the app started (launch.start_owned_engine)

    def on_unmount(self) -> None:
        self.follower.stop()
        if self.close_on_signals:
            loop = asyncio.get_running_loop()
            for sig in CLOSE_SIGNALS:
                loop.remove_signal_handler(sig)

    def close_by_signal(self, sig: int) -> None:
        """SIGTERM: exit now and let run_app stop the engine (as `q` would) once the app is down;
        should the shutdown hang, a watchdog stops the engine and ends the process.

        SIGHUP: the terminal is gone, and Textual's shutdown would block writing to it (its
        writer thread dies on EIO): skip it, stop the engine and end the process."""
        if self.outcome == "closed":
            return
        self.outcome = "closed"
        self.exit_code = 128 + sig
        if sig == signal.SIGHUP:
            _detach_from_terminal()
            threading.Thread(target=self._close_hard, name="eos-tui-hangup", daemon=True).start()
            return
        self._watchdog = threading.Timer(CLOSE_GRACE_S, self._close_hard)
        self._watchdog.daemon = True
        self._watchdog.start()
        self.exit(self.exit_code)

    def _close_hard(self) -> None:
        stop_app_engine(self, self.stop_timeout)
        os._exit(self.exit_code)

    def cancel_watchdog(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()

    # -- data in, pixels out -----------------------------------------------------------------------

    def ingest(self) -> bool:
        """Append what the follower read to the model; True if anything changed."""
        batches, manifest = self.follower.take()
        changed = False
        # A read failure in the follower shows in the header until a read succeeds again.
        end = self.follower.end_reason()
        if self.follower.error != self.state.read_error or end != self.state.engine_end:
            self.state = replace(self.state, read_error=self.follower.error, engine_end=end)
        self.model.set_engine_status(self.follower.engine_status())
        for note in self.follower.skipped():
            if note not in self._skipped_noticed:
                # Once per file: the records before and after it are shown, this says what is missing.
                self._skipped_noticed.add(note)
                self.notify(
                    f"{note}; skipped that line, showing the others", title="damaged metrics", severity="warning", markup=False, timeout=10
                )
        if manifest is not None:
            before = self.model.version
            self.model.set_manifest(*manifest)
            changed = self.model.version != before
        if self.engine is not None and (alive := engine_alive(self.engine)) != self._engine_was_alive:
            # `d` is offered only while there is an engine to leave: the engine exits a moment after
            # it writes its last manifest, so its liveness, not the manifest's status, says when
            self._engine_was_alive = alive
            self.refresh_bindings()
        for batch in batches:
            changed |= self.model.apply(batch)
        if not self.view.arm_chosen and (pick := default_arm(self.model)) != self.view.arm and pick is not None:
            self.view.arm = pick  # until tab: the first arm to reach the edge (arm_choice.py)
            self.view.changed()
        if not self._display_read and self.model.manifest is not None:
            display = scenario_display(self.run_dir)  # the scenario's [display]: how the charts open
            self._display_read = display is not None
            if display is not None:
                self.view.sharpness_normalized = display.sharpness == "normalized"
                self.view.log_steps = display.steps == "log"
                self.view.portrait = display.panel == "portrait"
                self.view.changed()
        return changed

    def redraw(self, force: bool = False) -> None:
        """Bring the screen up to date, if the data or the view changed since the last frame; with
        `force`, all of it, paused or not (after a resize, for the text that fits its width)."""
        # A stall flips the header's rate to one that counts the silence, and hides the ETA (rate.py).
        key = (self.model.version, self.view.version, self.state, phase_tick(self.model), self.model.rate.stalled())
        if key == self._drawn and not force:
            return
        main = self.screen_stack[0] if self.screen_stack else None
        if main is None or not main.is_mounted:
            return
        view_changed = self._drawn is None or key[1:3] != self._drawn[1:3]
        self._drawn = key
        self.frames += 1
        main.query_one(RunHeader).show(self.model, self.view, run_name=self.run_name, state=self.state, run_dir=self.run_dir)
        if not self.view.paused or view_changed or force:
            resolve(self.model, self.view, chart_dots(main.query_one("#sharpness-chart", Chart)))  # the shared x window
            for panel in self.panels:
                panel.show(self.model, self.view)
                show_empty(panel, self.model, self.view)

    # -- keys --------------------------------------------------------------------------------------

    def view_changed(self) -> None:
        """The one way a key (here, chart_keys.py, history.py) says it changed the view: redraw now."""
        self.view.changed()
        self.redraw()

    def action_toggle_follow(self) -> None:
        toggle_follow(self.view)
        self.view_changed()

    def action_next_arm(self) -> None:
        names = list(self.model.arms)
        if not names:
            return
        i = names.index(self.view.arm) if self.view.arm in names else -1
        self.view.arm = names[(i + 1) % len(names)]
        self.view.arm_chosen = True
        self.view_changed()

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        sections = [("Header", RunHeader.help)]
        # Of the Reparameterization panel and the distances in its place (flow_distance.py), and of the
        # eigendirection and the (x, y) portrait, the one shown.
        swapped = (ReparamPanel, FlowDistancePanel, EigendirectionPanel, PortraitPanel)
        sections += [(type(p).TITLE, type(p).help) for p in self.panels if p.display or not isinstance(p, swapped)]
        self.push_screen(HelpScreen(sections))

    def action_screenshot(self, filename: str | None = None, path: str | None = None) -> None:
        """`s`: an SVG of the screen, into the run directory."""
        name = filename or f"eos-tui-{_dt.datetime.now():%Y%m%d-%H%M%S}.svg"
        try:
            saved = self.save_screenshot(filename=name, path=path or str(self.run_dir))
        except OSError as exc:
            self.notify(f"could not save the screenshot: {exc}", severity="error")
            return
        self.notify(f"saved {saved}", title="screenshot")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """`d` (detach) only while this app's engine trains: in watch mode, or once the run has
        ended, there is nothing to leave running, and the footer does not offer it."""
        if action == "detach":
            return self.engine is not None and engine_alive(self.engine)
        return True

    def action_detach(self) -> None:
        if self.engine is not None and engine_alive(self.engine):
            self.outcome = "detached"
        self.exit(0)

    async def action_quit(self) -> None:
        if self.engine is None or not engine_alive(self.engine):
            self.exit(0)
            return
        if not self.state.stopping:  # a second `q` while stopping waits for the first
            self.state = replace(self.state, stopping=True)
            self.redraw()
            self._stop_engine()

    @work(thread=True, exclusive=True, group="stop")
    def _stop_engine(self) -> None:
        clean = stop_app_engine(self, self.stop_timeout)
        self.call_from_thread(self._stopped, clean)

    def _stopped(self, clean: bool) -> None:
        """The user stopped the run (`q`, Ctrl-C): 130, as `run --headless` interrupted (README, exit
        codes), if the run ended "interrupted"; 0 if it completed just before the stop arrived; 1 if
        the engine had to be killed."""
        self.outcome = "stopped"
        status = (read_manifest(self.run_dir) or {}).get("status")
        self.exit_code = (ExitCode.INTERRUPTED if status == "interrupted" else ExitCode.OK) if clean else ExitCode.FAILED
        self.exit(self.exit_code)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        # Textual's "Screenshot" saves into a folder that may not exist; the app's own (`s`) saves
        # into the run directory.
        yield from (c for c in super().get_system_commands(screen) if c.title != "Screenshot")
        for key in in_scopes(*MAIN_SCOPES):
            if (text := self.palette_text(key)) is not None:
                yield SystemCommand(*text, partial(getattr(self, key.method), *key.arguments))

    def palette_text(self, key: Key) -> tuple[str, str] | None:
        """The palette's (title, help) for `key` now (keys.py); None where the palette does not offer it."""
        if key.palette is None or (key.action == "app.detach" and self.engine is None):
            return None  # detach: only from a run started here
        return self.landscape_palette(key.palette) if key.action == "app.landscape" else key.palette


def stop_app_engine(app: EosApp, timeout: float) -> bool:
    """Stop the app's engine cleanly (SIGINT, then SIGTERM, then SIGKILL) and make sure the manifest
    says "interrupted" even when the engine could not write it. True if it stopped on a signal."""
    end = app.follower.end
    if app.engine is None or end is None:
        return True
    if not end.begin_stop():  # already being stopped (`q`, then a close signal): wait for that
        try:
            app.engine.wait(timeout * 1.5 + 6.0)
        except subprocess.TimeoutExpired:
            pass
        return not engine_alive(app.engine)
    clean = stop_engine(app.engine, timeout)
    end.stopped(clean, timeout)
    return clean


def _say(line: str) -> None:
    """Print after the app closed; the terminal may be gone (SIGHUP), which is not an error."""
    try:
        print(line, flush=True)
    except OSError:
        pass


def run_app(
    run_dir: Path, *, engine: subprocess.Popen | None = None, fps: float = 4.0, mouse: bool = True, runs: Sequence[Path] | None = None
) -> int:
    """Open the app on RUN_DIR. With `engine` (a run started here), quitting stops it cleanly and
    `d` detaches; without (watch mode), quitting never stops anything. Closing the app by SIGTERM or
    SIGHUP stops its engine like `q`. With several `runs` (watch only), one app compares them. Returns an exit code."""
    run_dir = Path(run_dir)
    app = EosApp(run_dir, engine=engine, fps=fps, close_on_signals=True, runs=runs)
    try:
        app.run(mouse=mouse)
    finally:
        app.cancel_watchdog()
        if engine is not None and app.outcome != "detached" and engine_alive(engine):
            # The app ended some other way (SIGTERM, SIGHUP, an error): a non-detached run stops
            # with it. A second close signal while it stops must not leave the engine half-stopped.
            previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in CLOSE_SIGNALS}
            try:
                stop_app_engine(app, app.stop_timeout)
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)
            if app.outcome == "quit":
                app.outcome = "stopped"
    if app.outcome == "detached" and engine is not None:
        _say(f"The engine keeps training (pid {engine.pid}); it writes to {run_dir}")
        _say(f"Watch it again with: eos-tui watch {run_dir}")
    elif app.outcome in ("stopped", "closed") and engine is not None:
        manifest = read_manifest(run_dir)
        if manifest is None:
            _say(f"Run stopped before the engine had started: {run_dir}")
        else:
            _say(f"Run stopped ({printable(manifest.get('status', 'unknown'))}): {run_dir}")
    elif engine is not None:  # the run had ended by itself: say where its results are
        manifest = read_manifest(run_dir) or {}
        _say(f"Run {printable(manifest.get('status', 'ended'))}: {run_dir}")
    return app.exit_code
