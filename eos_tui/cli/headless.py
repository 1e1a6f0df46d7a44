"""`eos-tui run NAME --headless`: train in this process with a progress display on stderr.

stdout carries only results (the summary table, or with --json one JSON object), so scripts and
sweeps can pipe it; everything live goes to stderr.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any, cast

from rich.console import Console
from rich.progress import BarColumn, Progress, Task, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from ..analysis.summary import summarize_arm
from ..rundir import format as rf
from ..rundir.prepare import claim_run
from .exit import ExitCode
from .output import SafeStream, silence

UPDATE_EVERY = 0.1  # seconds between progress-display updates
PLAIN_EVERY = 10.0  # seconds between progress lines when stderr is not a terminal (a log file, CI)


def _fmt(x: Any, spec: str = ".4g") -> str:
    return "—" if x is None else format(x, spec)


def plain_thresholds(scenario) -> bool:
    """Every arm's threshold is 2/η on λ_max(H): plain GD, SGD or flow, no momentum."""
    return all(a.optimizer.kind in ("gd", "sgd", "flow") and not getattr(a.optimizer, "momentum", 0.0) for a in scenario.arms)


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


class ArmProgress:
    """One progress line per arm: step, loss, λ_max, 2/η, steps/s."""

    def __init__(self, scenario, console: Console, done: dict[str, int] | None = None):
        # `done`: the steps each arm had taken before this process (a resumed run), not counted in its rate.
        # With momentum β the threshold is 2(1+β)/η, Adam's (2+2β1)/((1−β1)η) on λ_max(P⁻¹H): a "2/η"
        # heading would misname them.
        thr = "2/η" if plain_thresholds(scenario) else "thr"
        width = console.width
        if width >= 100:
            columns = [
                TextColumn("[bold]{task.fields[arm]:<12}"),
                *([BarColumn(bar_width=24)] if width >= 135 else []),
                TextColumn("{task.completed:>6.0f}/{task.total:<6.0f}"),
                TextColumn(f"loss {{task.fields[loss]:>9}}  λ_max {{task.fields[sharp]:>8}}  {thr} {{task.fields[thr]:>8}}"),
                TextColumn("{task.fields[rate]:>7} steps/s  {task.fields[status]}"),
                *([_Remaining()] if width >= 110 else []),
            ]
        else:  # an 80-column terminal: the same numbers, shorter headings, one line per arm
            # "29 steps/s", never "29/s": next to "2/η 8.0" a bare "/s" read as one more threshold. An
            # ended arm shows its status in the rate's place, which leaves room for the word.
            columns = [
                TextColumn("[bold]{task.fields[arm]:<12}"),
                TextColumn("{task.completed:>5.0f}/{task.total:<5.0f}"),
                TextColumn(f"L {{task.fields[loss]:>9}} λ {{task.fields[sharp]:>8}} {thr} {{task.fields[thr]:>8}}"),
                TextColumn("{task.fields[tail]}"),
            ]
        self.progress = Progress(*columns, console=console, transient=False, refresh_per_second=5)
        self.tasks = {
            a.name: self.progress.add_task("", total=a.steps, arm=a.name, loss="—", sharp="—", thr="—", rate="—", status="", tail="")
            for a in scenario.arms
        }
        self.base = dict(done or {})
        self.t0 = time.monotonic()
        self.pending: dict[str, dict[str, Any]] = {}
        self.last_update = -float("inf")

    def __call__(self, records: list[rf.Record], arms) -> None:
        # Fields are merged at every call but handed to rich at most every UPDATE_EVERY seconds (and
        # at an arm's end): the display redraws 5 times a second anyway, and updating it on every
        # step cost a noticeable share of a small model's step (BENCHMARKS.md, "Engine overhead").
        latest = self.pending
        ended = False
        for r in records:
            task = self.tasks.get(r.get("arm"))
            if task is None:
                continue
            fields = latest.setdefault(r["arm"], {})
            if r["type"] == rf.STEP:
                fields.update(completed=r["step"] + 1, loss=r.get("loss"), thr=rf.step_threshold(r))
            elif r["type"] == rf.SHARPNESS and r.get("eigenvalues"):
                fields["sharp"] = _fmt(r["eigenvalues"][0])
            elif r["type"] == rf.END:
                fields.update(status=r["status"])
                if _number(r.get("final_loss")):  # the loss after the last step, as the summary says
                    fields["loss"] = r["final_loss"]
                if isinstance(r.get("steps_done"), int):  # a diverged step was recorded but not done
                    fields["completed"] = r["steps_done"]
                ended = True
        now = time.monotonic()
        if not ended and now - self.last_update < UPDATE_EVERY:
            return
        self.last_update = now
        dt = max(now - self.t0, 1e-9)
        for name, fields in latest.items():
            if "loss" in fields:
                fields["loss"] = _fmt(fields["loss"])
            if "thr" in fields:
                fields["thr"] = _fmt(fields["thr"])
            if "completed" in fields:
                fields["rate"] = f"{(fields['completed'] - self.base.get(name, 0)) / dt:.0f}"
            if fields.get("status"):
                fields["tail"] = fields["status"]
            elif "rate" in fields:
                fields["tail"] = f"{fields['rate']:>4} steps/s"
            self.progress.update(self.tasks[name], **fields)
        self.pending = {}


class _Remaining(TimeRemainingColumn):
    """The time left, blank once the arm has ended: a diverged arm stops short of its total, and
    rich would otherwise go on showing the estimate it had at the divergence."""

    def render(self, task: Task) -> Text:
        if task.fields.get("status"):
            return Text("")
        return super().render(task)


def _clock(seconds: float) -> str:
    s = max(int(seconds), 0)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def _rate(r: float | None) -> str:
    return "—" if r is None else (f"{r:.0f}" if r >= 10 else f"{r:.2g}")


class PlainProgress:
    """Progress where stderr is not a terminal (a log file, a CI job, a pipe), where rich's live
    display would print nothing until the end: one line per running arm every `every` seconds, from
    a timer thread so that the lines keep coming through a long eigen-solve, and one line at each
    arm's end. The rate is the arm's own (steps since its first step record over the time since),
    labelled "steps/s", and an ended arm gets no time left."""

    def __init__(self, scenario, console: Console, every: float = PLAIN_EVERY, clock=time.monotonic):
        self.console, self.every, self.clock = console, every, clock
        self.thr = "2/η" if plain_thresholds(scenario) else "thr"
        self.arms: dict[str, dict[str, Any]] = {
            a.name: {"total": a.steps, "done": 0, "loss": None, "sharp": None, "thr": None, "status": None, "first": None}
            for a in scenario.arms
        }
        self.width = max(len(a.name) for a in scenario.arms)
        self.t0 = clock()
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.progress = self  # `with progress.progress:`, as for ArmProgress

    def __enter__(self) -> PlainProgress:
        n = len(self.arms)
        self.console.print(
            f"[{_clock(0)}] training {n} arm{'s' if n > 1 else ''}: a line for each every {self.every:g} s and at its end",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        self._thread = threading.Thread(target=self._tick, name="eos-tui-progress", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _tick(self) -> None:
        while not self._stop.wait(self.every):
            self.report()

    def report(self) -> None:
        """One line for each arm still running (the timer's lines)."""
        with self.lock:
            now = self.clock()
            for name, a in self.arms.items():
                if a["status"] is None:
                    self._print(name, a, now)

    def __call__(self, records: list[rf.Record], arms) -> None:
        with self.lock:
            now = self.clock()
            for r in records:
                a = self.arms.get(str(r.get("arm")))
                if a is None:
                    continue
                if r["type"] == rf.STEP:
                    a.update(done=r["step"] + 1, loss=r.get("loss"), thr=rf.step_threshold(r))
                    if a["first"] is None:
                        a["first"] = (now, a["done"])
                elif r["type"] == rf.SHARPNESS and r.get("eigenvalues"):
                    a["sharp"] = r["eigenvalues"][0]
                elif r["type"] == rf.END:
                    a["status"] = r.get("status")
                    if _number(r.get("final_loss")):  # the loss after the last step, as the summary says
                        a["loss"] = r["final_loss"]
                    if isinstance(r.get("steps_done"), int):  # a diverged step was recorded but not done
                        a["done"] = r["steps_done"]
                    self._print(r["arm"], a, now)

    def _print(self, name: str, a: dict[str, Any], now: float) -> None:
        rate = None
        if a["first"] is not None and now - a["first"][0] > 0 and a["done"] > a["first"][1]:
            rate = (a["done"] - a["first"][1]) / (now - a["first"][0])
        steps = f"{a['done']}/{a['total']}"
        head = f"[{_clock(now - self.t0)}] {name:<{self.width}}  "
        head += f"{a['status']} at {steps}" if a["status"] else f"step {steps}"
        line = f"{head}  loss {_fmt(a['loss'])}  λ_max {_fmt(a['sharp'])}  {self.thr} {_fmt(a['thr'])}  {_rate(rate)} steps/s"
        if a["status"] is None and rate:
            line += f"  {_clock((a['total'] - a['done']) / rate)} left"
        self.console.print(line, markup=False, highlight=False, soft_wrap=True)


def summary_table(summary: dict[str, Any], ratio: str = "λη/2", width: int | None = None) -> Table:
    """`ratio`: the heading of eos_ratio, λ_max over the threshold ("λ/thr" where some arm's is not 2/η).
    `width`: the console's; below 100 columns the table closes up its gaps and leaves out "max" (a
    catapult's peak is in its own column, a divergence's in the end loss), so that it fits 80."""
    narrow = width is not None and width < 100
    t = Table(
        title=f"{summary['scenario']} → {summary['run_dir']}",
        title_justify="left",
        box=None,
        header_style="bold",
        pad_edge=False,
        collapse_padding=narrow,
    )
    columns: list[tuple[str, str, Any]] = [
        ("arm", "left", lambda a: a["name"]),
        ("status", "left", lambda a: a["status"]),
        ("steps", "right", lambda a: str(a["steps_done"])),
        ("loss start→end", "right", lambda a: f"{_fmt(a['initial_loss'], '.3g')}→{_fmt(a['final_loss'], '.3g')}"),
        *([] if narrow else [("max", "right", lambda a: _fmt(a["max_loss"], ".3g"))]),
        ("λ_max", "right", lambda a: _fmt(a["final_sharpness"], ".4g")),
        (ratio, "right", lambda a: _fmt(a["eos_ratio"], ".3f")),
        ("EoS@", "right", lambda a: _fmt(a["eos_onset_step"], "d")),
        ("flips", "right", lambda a: _fmt(a["flip_fraction"], ".2f")),
        ("catapult", "right", _catapult),
    ]
    for col, just, _ in columns:
        t.add_column(col, justify="left" if just == "left" else "right", no_wrap=True)
    for a in summary["arms"]:
        t.add_row(*(cell(a) for _, _, cell in columns))
    # Arms with the flows (measure.central_flow, stable_flow): a line each under the table.
    flows = [
        f"{a['name']}: central flow loss error {_fmt(a.get('central_loss_error'), '.1%')}, "
        f"‖θ−θ_CF‖ {_fmt(a.get('central_distance'), '.3g')} (stable flow {_fmt(a.get('stable_distance'), '.3g')})"
        for a in summary["arms"]
        if "central_distance" in a
    ]
    # Arms with measure.self_stabilization (docs/selfstab.md): a line each too.
    flows += [
        f"{a['name']}: x²/(2α/β) {_fmt(a.get('selfstab_x2_ratio'), '.2f')}, map's y error "
        f"{_fmt(a.get('selfstab_y_error'), '.2f')}, ‖θ−θ†‖ {_fmt(a.get('constrained_distance'), '.3g')} "
        f"(‖θ−θ0‖ {_fmt(a.get('init_distance'), '.3g')})"
        for a in summary["arms"]
        if "constrained_distance" in a
    ]
    if flows:
        t.caption, t.caption_justify = "\n".join(flows), "left"
    return t


def _catapult(arm: dict[str, Any]) -> str:
    """The first catapult as "×120@4" (the loss's peak over its start, at step 4), "+N" more after it."""
    first = arm.get("catapult")
    if not isinstance(first, dict):
        return "—"
    ratio, step = first.get("peak_loss_ratio"), first.get("peak_step")
    text = f"×{_fmt(ratio, '.3g') if isinstance(ratio, (int, float)) else '?'}@{step if isinstance(step, int) else '?'}"
    more = arm.get("catapults")
    return text + (f" +{more - 1}" if isinstance(more, int) and more > 1 else "")


def run_headless(scenario, *, out: Path | None, as_json: bool, threads: int | None = None) -> int:
    """Train in this process. Exit codes: 0 completed, 1 failed (or stdout could not take the
    result), 2 bad usage, 130 interrupted (the summary is still printed).

    Ctrl-C (SIGINT), SIGTERM and SIGHUP only ask the run to stop, from here to the summary: the
    handlers never raise, so however many Ctrl-C come, the run ends "interrupted", the summary is
    printed and the exit code is 130.

    `threads`: --threads (None: the scenario's engine.threads, else the engine's choice)."""
    from ..engine import threads as engine_threads

    # The thread count's environment before torch starts (engine/threads.py), then torch, which is
    # imported here, not at the top: `eos-tui --help` must not pay for it.
    choice = engine_threads.resolve(scenario.arms, threads)
    engine_threads.configure_env(choice.threads)
    from ..engine.runner import StopRequest, resolve_device, run_scenario

    err = Console(file=cast("IO[str]", SafeStream(sys.stderr)), stderr=True)
    try:
        for arm in scenario.arms:
            resolve_device(arm.device)
    except RuntimeError as e:
        err.print(f"eos-tui: {e}", markup=False, highlight=False)
        return ExitCode.USAGE
    stop = StopRequest()
    stop.install()
    try:
        return _run(scenario, out=out, as_json=as_json, err=err, stop=stop, run_scenario=run_scenario, threads=choice)
    finally:
        if stop.event.is_set():
            # Stopped by a signal: this process now exits with 130. A further Ctrl-C still on its
            # way (three come within milliseconds when a user leans on the key) must not land in
            # the default handler and raise KeyboardInterrupt in an exit hook (torch has some).
            import signal

            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, signal.SIG_IGN)
        else:
            stop.restore()


def _run(scenario, *, out: Path | None, as_json: bool, err: Console, stop, run_scenario, threads=None) -> int:
    from ..engine.errors import ScenarioRefused

    try:
        session = claim_run(scenario, out=out)
        run_dir = session.run_dir
    except (FileExistsError, OSError, ValueError) as e:
        err.print(f"eos-tui: {e}", markup=False, highlight=False)
        return ExitCode.USAGE
    progress = ArmProgress(scenario, err) if err.is_terminal else PlainProgress(scenario, err)
    status = rf.FAILED
    try:
        with progress.progress:
            status, manifest = run_scenario(scenario, run_dir, on_records=progress, stop=stop, threads=threads, session=session)
    except KeyboardInterrupt:
        # Ctrl-C before the engine took over its signals: the first manifest still says "running".
        session.interrupted()
        raise
    except ScenarioRefused as e:  # a scenario the engine cannot run, found once its model was built
        # Bad input leaves nothing behind: the run directory holds no training, only the refusal.
        session.remove_refused()
        err.print(f"eos-tui: {e}", markup=False, highlight=False)
        return ExitCode.USAGE
    except Exception as e:  # noqa: BLE001 - the manifest keeps the traceback
        from ..rundir import read_manifest

        # The manifest's reason where it has one ("cannot write …/metrics.jsonl: No space left on device").
        reason = (read_manifest(run_dir) or {}).get("error") or f"{type(e).__name__}: {e}"
        err.print(f"eos-tui: the run failed: {reason} (details in {run_dir}/manifest.json)", markup=False, highlight=False)
        return ExitCode.FAILED
    # The engine summarized every arm as it trained (the same summarize_arm): no need to read the
    # whole metrics file back.
    summary = {
        "scenario": scenario.name,
        "run_dir": str(run_dir),
        "arms": [manifest["arms"][a.name].get("summary") or summarize_arm(a.name, []) for a in scenario.arms],
    }
    try:
        if as_json:
            sys.stdout.write(json.dumps(summary) + "\n")
            sys.stdout.flush()
        else:
            # Piped or redirected, rich would assume 80 columns and squeeze the table: use 120 then.
            ratio = "λη/2" if plain_thresholds(scenario) else "λ/thr"
            table_console = Console(width=None if sys.stdout.isatty() else 120)
            table_console.print(summary_table(summary, ratio, width=table_console.width))
    except (OSError, ValueError) as e:  # stdout full, closed, a closed pipe
        silence(sys.stdout)
        err.print(
            f"eos-tui: cannot write the summary to stdout: {getattr(e, 'strerror', None) or e} (the run is in {run_dir})",
            markup=False,
            highlight=False,
        )
        return ExitCode.FAILED
    if status == rf.INTERRUPTED:
        err.print(f"interrupted; the metrics so far are in {run_dir}", markup=False, highlight=False)
        return ExitCode.INTERRUPTED
    if status != rf.COMPLETED:
        err.print(f"eos-tui: the run failed: {manifest.get('error')}", markup=False, highlight=False)
        return ExitCode.FAILED
    return ExitCode.OK
