"""The `eos-tui` command line.

Import discipline: this module imports only typer and exit.py (the exit codes) at the top. torch is
imported only by commands that train in this process (`run --headless`), textual only by commands that open the app, and the
scenario schema (pydantic) only by commands that read scenarios — so `eos-tui --help`, `list` and
`runs` stay instant. tests/test_layers.py guards this.

Exit codes: 0 completed (diverged arms included: divergence is a result), 1 anything else that
failed, 2 bad usage or a bad scenario, 130 interrupted.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import List, Optional

import typer

from .exit import ExitCode

app = typer.Typer(
    name="eos-tui",
    help="A terminal laboratory for the edge of stability: watch sharpness meet 2/η, live.",
    invoke_without_command=True,  # `eos-tui` alone: the help, exit 0 (see _root)
    add_completion=True,  # --install-completion / --show-completion; scenario names via completion.py
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _show_version(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"eos-tui {__version__}")
        raise typer.Exit(ExitCode.OK)


@app.callback()
def _root(
    ctx: typer.Context,
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", callback=_show_version, is_eager=True),
) -> None:
    if ctx.invoked_subcommand is None and not ctx.resilient_parsing:
        typer.echo(ctx.get_help())
        raise typer.Exit(ExitCode.OK)


def _no_flag_placeholders() -> None:
    """typer's rich help writes `<bool>` after every flag (--headless <bool>), which reads as if
    it took a value; its plain help does not. Show no type for flags and counters, in every command."""
    from typer.core import TyperOption

    shown = getattr(TyperOption, "display_type_rich", None)
    if shown is None:  # a typer without it writes no such column
        return

    def display_type_rich(self, ctx):
        return None if self.is_flag or self.count else shown(self, ctx)

    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_no_flag_placeholders()


def _complete_scenario(incomplete: str) -> list[str]:
    from .completion import complete_scenario

    return complete_scenario(incomplete)


def _complete_sweep(incomplete: str) -> list[str]:
    from .completion import complete_sweep

    return complete_sweep(incomplete)


def _err(message: str, code: int = ExitCode.USAGE) -> typer.Exit:
    typer.echo(f"eos-tui: {message}", err=True)
    return typer.Exit(code)


# Redraws per second the app accepts: below 0.5 it looks frozen, above 30 it only burns CPU (and a
# huge value made the refresh timer spin without ever yielding to input, so `q` went unheard).
FPS_RANGE = (0.5, 30.0)


def _check_fps(fps: float) -> None:
    lo, hi = FPS_RANGE
    if not lo <= fps <= hi:  # also refuses nan
        raise _err(f"--fps {fps:g}: must be between {lo:g} and {hi:g} redraws per second")


def _check_terminal(without: str) -> None:
    """The app draws on a terminal and reads keys from it: refuse before anything is written when
    there is none (a pipe, a file, cron), or when TERM says it cannot draw (TERM=dumb). Without this
    the app never exits, writes escape codes into the pipe and spins the CPU."""
    import os

    # Textual draws on stderr: a `2>file` would get the screen while the terminal stays blank.
    streams = (("stdin", sys.stdin), ("stdout", sys.stdout), ("stderr", sys.stderr))
    missing = [name for name, stream in streams if stream is None or not _isatty(stream)]
    if missing:
        raise _err(f"the app needs a terminal, but {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not one; {without}")
    if os.environ.get("TERM", "").strip().lower() == "dumb":
        raise _err(f"the app cannot draw on TERM=dumb; run it in a full terminal (e.g. TERM=xterm-256color), or {without}")


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # closed or replaced streams
        return False


def _preflight(sc, **kwargs) -> None:
    """What the engine would fail on, checked before anything is written (scenario/checks.py)."""
    from ..scenario import ScenarioError
    from ..scenario.checks import preflight

    try:
        preflight(sc, **kwargs)
    except ScenarioError as e:
        raise _err(str(e)) from None


THREADS_HELP = "torch threads for the engine (default: engine.threads, else chosen from the network's size: one on small ones)."


def _threads(text: str | None) -> int | None:
    """--threads: a positive whole number, else one line and exit 2 (typer's own refusal of a
    non-number is a box of several lines)."""
    from ..engine.threads import parse_threads

    try:
        return parse_threads(text)
    except ValueError as e:
        raise _err(str(e)) from None


TRUST_HELP = 'Allow a scenario that names Python code (model.kind or data.kind "python") to import and run it.'


def _trust(sc, trust_code: bool, command: str) -> None:
    """Refuse a scenario that names Python code unless --trust-code: before anything is imported or
    written (scenario/code.py)."""
    from ..scenario.code import untrusted

    why = untrusted(sc.arms, sc.source, trusted=trust_code, command=command)
    if why is not None:
        raise _err(why)


def _load(target: str, **kwargs):
    from ..scenario import ScenarioError, load_scenario

    try:
        return load_scenario(target, **kwargs)
    except ScenarioError as e:
        raise _err(str(e)) from None


@app.command()
def run(
    scenario: str = typer.Argument(
        ..., help="A built-in scenario name (see `eos-tui list`) or a path to a TOML file.", autocompletion=_complete_scenario
    ),
    headless: bool = typer.Option(False, "--headless", help="No app: a progress display on stderr and a summary at the end."),
    out: Optional[Path] = typer.Option(
        None, "--out", help="Write the run here (must not exist or be empty) instead of runs/<name>-<time>/."
    ),
    set_: List[str] = typer.Option(
        [],
        "--set",
        metavar="KEY=VALUE",
        help="Override a key, TOML value syntax: --set optimizer.lr=0.05 (repeatable, once per key); "
        "an empty value removes the key: --set optimizer.lr_relative=",
    ),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed for every arm."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Training steps for every arm."),
    device: Optional[str] = typer.Option(None, "--device", help="auto, cpu, cuda, cuda:N or mps."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as one JSON object on stdout; implies --headless."),
    detach: bool = typer.Option(False, "--detach", help="Start the engine in the background, print the run directory and return."),
    fps: float = typer.Option(4.0, "--fps", help="App redraws per second (0.5 to 30)."),
    no_mouse: bool = typer.Option(False, "--no-mouse", help="Leave the mouse to the terminal, so text can be selected."),
    force: bool = typer.Option(False, "--force", help="Run even if the scenario's memory estimate exceeds the memory available."),
    threads_text: Optional[str] = typer.Option(None, "--threads", metavar="N", help=THREADS_HELP),
    trust_code: bool = typer.Option(False, "--trust-code", help=TRUST_HELP),
) -> None:
    """Train a scenario and watch it (or run it headless)."""
    if detach and (headless or as_json):
        raise _err(f"{'--headless' if headless else '--json (which implies --headless)'} and --detach do not go together")
    headless = headless or as_json  # --json implies --headless (documented in --help and README)
    _check_fps(fps)
    threads = _threads(threads_text)
    sc = _load(scenario, overrides=list(set_), seed=seed, steps=steps, device=device)
    _trust(sc, trust_code, "run")
    for note in sc.notes:  # a --set that some arms override: which arms keep their own value
        typer.echo(f"eos-tui: note: {note}", err=True)
    if not (headless or detach):
        _check_terminal(
            "use --headless (progress on stderr, a summary at the end) "
            "or --detach (train in the background, then `eos-tui watch` from a terminal)"
        )
    _preflight(sc, out=out, force=force, devices=not headless)  # headless resolves devices with torch itself
    if headless:
        from .headless import run_headless

        raise typer.Exit(run_headless(sc, out=out, as_json=as_json, threads=threads))
    from ..rundir.prepare import prepare_run

    try:
        run_dir = prepare_run(sc, out=out)
    except (FileExistsError, OSError, ValueError) as e:
        raise _err(str(e)) from None
    from ..engine.launch import start_engine, start_owned_engine

    engine = start_engine(run_dir, threads=threads) if detach else start_owned_engine(run_dir, threads=threads)
    if detach:
        typer.echo(f"{run_dir}")
        typer.echo(f"engine running in the background (pid {engine.pid}); watch it with:", err=True)
        typer.echo(f"  eos-tui watch {run_dir}", err=True)
        raise typer.Exit(ExitCode.OK)
    from ..app import run_app

    raise typer.Exit(run_app(run_dir, engine=engine, fps=fps, mouse=not no_mouse))


@app.command()
def watch(
    run_dirs: List[Path] = typer.Argument(..., help="A run directory (live or finished); several to compare them (arms named run/arm)."),
    fps: float = typer.Option(4.0, "--fps", help="App redraws per second (0.5 to 30)."),
    no_mouse: bool = typer.Option(False, "--no-mouse", help="Leave the mouse to the terminal."),
) -> None:
    """Open the app on an existing run, live or finished; on several, to compare them in one app."""
    from ..rundir import is_run_dir
    from ..rundir.reader import is_eos_manifest, read_manifest

    run_dir = run_dirs[0]
    for d in run_dirs:
        if not is_run_dir(d):
            raise _err(f"{d} is not a run directory (no manifest.json); see `eos-tui runs`")
        manifest = read_manifest(d)
        if manifest is not None and not is_eos_manifest(manifest):  # a web app's: the app would wait forever
            raise _err(f"{d} is not a run directory (its manifest.json is not eos-tui's); see `eos-tui runs`")
    _check_fps(fps)
    _check_terminal(f"follow the run from a terminal, or list runs with `eos-tui runs` (the records are in {run_dir}/metrics.jsonl)")
    from ..app import run_app
    from ..app.compare import distinct_runs

    run_dirs = distinct_runs(run_dirs)  # one run named twice (cat, ./cat/, its path) is shown once
    raise typer.Exit(run_app(run_dir, engine=None, fps=fps, mouse=not no_mouse, runs=run_dirs if len(run_dirs) > 1 else None))


@app.command("runs")
def runs_(
    directory: Optional[Path] = typer.Argument(None, help="The folder that holds run directories (default: runs)."),
    root: Path = typer.Option(Path("runs"), "--root", help="Where to look (as DIRECTORY)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON array on stdout."),
) -> None:
    """List the run directories under runs/ (or DIRECTORY), newest first: status, steps, duration, scenario."""
    from ..rundir import list_runs

    root = directory if directory is not None else root

    if root.exists() and not root.is_dir():
        raise _err(f"{root}: not a directory (--root names the folder that holds run directories)")
    found = list_runs(root)
    for r in found:
        if r.problem is not None:  # listed as "unreadable"; here is why, one line each
            typer.echo(f"eos-tui: {r.problem}", err=True)
    if as_json:
        typer.echo(json.dumps([r.as_dict() for r in found], indent=2))
        return
    if not found:
        typer.echo(f"no runs under {root}/", err=True)
        return
    from rich.console import Console

    from .runs import running_hint, runs_table

    console = Console(width=max(shutil.get_terminal_size((200, 24)).columns, 200) if not sys.stdout.isatty() else None)
    console.print(runs_table(found, console.width))
    hint = running_hint(found)
    if hint is not None:
        typer.echo(hint, err=True)


def _body(fn, *args, **kwargs) -> typer.Exit:
    """Run a command body from eos_tui/cli (imported lazily by the caller): its CommandError is one line and its exit code."""
    from .errors import CommandError

    try:
        return typer.Exit(fn(*args, **kwargs))
    except CommandError as e:
        return _err(str(e), e.code)


@app.command("export")
def export_(
    run_dir: Path = typer.Argument(..., help="A run directory (live or finished)."),
    fmt: Optional[str] = typer.Option(None, "--format", help="csv, parquet or jsonl (default: from -o's suffix, else csv)."),
    records: Optional[str] = typer.Option(None, "--records", help="Record types to keep, e.g. step,sharpness (default: all)."),
    out: Optional[Path] = typer.Option(None, "-o", "--output", help="Write here (csv and jsonl go to stdout without it)."),
) -> None:
    """The run's records as a tidy table: one row per record, one column per field (eigenvalue_1..k), the arm a column."""
    from .export import export_command

    raise _body(export_command, run_dir, fmt=fmt, records=records, out=out)


@app.command("plot")
def plot_(
    run_dir: Path = typer.Argument(..., help="A run directory (live or finished)."),
    out: Path = typer.Option(..., "-o", "--output", help="The figure: FIG.png, FIG.svg or FIG.pdf."),
    arms: Optional[List[str]] = typer.Option(
        None, "--arms", help="Only these arms (comma-separated or repeated); each keeps its app colour."
    ),
    panels: Optional[str] = typer.Option(
        None,
        "--panels",
        help="Panels in order, from sharpness,loss,proj (default: all three); raw or normalized (λ_max·η_t/2) fix sharpness's form.",
    ),
    fmt: Optional[str] = typer.Option(None, "--format", help="png, svg or pdf (default: from -o's suffix; needed for -o /dev/stdout)."),
) -> None:
    """A paper figure (Cohen et al. Fig. 1 style): sharpness against dashed 2/η_t, log loss, ⟨∇L,u⟩; the app's arm colours."""
    from .plot import plot_command

    raise _body(plot_command, run_dir, out=out, arms=arms, panels=panels, fmt=fmt)


@app.command("serve")
def serve_(
    target: Optional[str] = typer.Argument(None, help="A run directory, or a scenario to start (default: the newest run under runs/)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on; anything but localhost exposes the app (README)."),
    port: int = typer.Option(8000, "--port", help="Port to listen on."),
) -> None:
    """The app in a browser (textual-serve): forward the port from a remote machine instead of running a terminal there."""
    from .serve import serve_command

    raise _body(serve_command, target, host=host, port=port)


@app.command("rm")
def rm(run_dirs: List[Path] = typer.Argument(..., help="Run directories to delete (never a running one).")) -> None:
    """Delete run directories; refuses a run whose engine still runs, and then removes none."""
    from .runs import rm_command

    raise _body(rm_command, run_dirs)


@app.command("stop")
def stop_(
    run_dirs: List[Path] = typer.Argument(..., help="Run directories whose engine to stop (a detached run, or one in another terminal)."),
    timeout: float = typer.Option(60.0, "--timeout", help="Seconds to wait for each engine to finish its manifest."),
) -> None:
    """Stop running runs, as q in their app would: SIGINT to each run's engine, then wait until it has written its end."""
    from .stop import stop_command

    raise _body(stop_command, run_dirs, timeout=timeout)


@app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="One JSON array on stdout.")) -> None:
    """List the built-in scenarios."""
    from ..scenario import list_builtins

    items = list_builtins()
    if as_json:
        typer.echo(json.dumps([{"name": n, "description": d} for n, d in items], indent=2))
        return
    width = max((len(n) for n, _ in items), default=0)
    for name, desc in items:
        typer.echo(f"{name:<{width}}  {desc}")


@app.command()
def show(scenario: str = typer.Argument(..., help="A built-in scenario name or a path.", autocompletion=_complete_scenario)) -> None:
    """Print a scenario's TOML."""
    from ..scenario import ScenarioError, find_scenario

    try:
        path = find_scenario(scenario)
    except ScenarioError as e:
        raise _err(str(e)) from None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise _err(f"{scenario}: cannot read: {e}") from None
    typer.echo(text, nl=False)


@app.command()
def validate(paths: List[str] = typer.Argument(..., help="Scenario files or built-in names.", autocompletion=_complete_scenario)) -> None:
    """Check scenario files without running them: the schema, the engine's limits, and whether this
    machine can run them (named devices, the run directory's name, a memory estimate)."""
    from ..scenario import ScenarioError, load_scenario
    from ..scenario.checks import preflight

    bad = 0
    for p in paths:
        try:
            sc = load_scenario(p)
            preflight(sc)
        except ScenarioError as e:
            typer.echo(f"✗ {e}", err=True)
            bad += 1
        else:
            typer.echo(f"✓ {p}: {sc.name}, {len(sc.arms)} arm(s)")
    raise typer.Exit(ExitCode.USAGE if bad else ExitCode.OK)


@app.command("resume")
def resume_(
    run_dir: Path = typer.Argument(..., help="An interrupted run directory."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as one JSON object on stdout."),
    threads_text: Optional[str] = typer.Option(None, "--threads", metavar="N", help=THREADS_HELP),
    trust_code: bool = typer.Option(False, "--trust-code", help=TRUST_HELP),
) -> None:
    """Continue an interrupted run from each arm's last checkpoint (progress on stderr, as --headless)."""
    threads = _threads(threads_text)
    _trust_run(run_dir, trust_code, "resume")
    from .resume import run_resume

    raise typer.Exit(run_resume(run_dir, as_json=as_json, threads=threads))


def _trust_run(run_dir: Path, trust_code: bool, command: str) -> None:
    """`_trust` for a run directory's scenario.toml (resume, landscape ask again). A scenario that
    cannot be read is left to the command, which says why."""
    from ..rundir.format import SCENARIO_FILE
    from ..scenario import ScenarioError, load_scenario_text

    source = run_dir / SCENARIO_FILE
    try:
        sc = load_scenario_text(source.read_text(encoding="utf-8"), source=str(source))
    except (OSError, UnicodeDecodeError, ScenarioError):
        return
    _trust(sc, trust_code, command)


@app.command("landscape")
def landscape_(
    run_dir: Path = typer.Argument(..., help="A run directory whose arms wrote checkpoints."),
    arms: Optional[str] = typer.Option(None, "--arms", help="Two arms A,B (default: the first two); one with --other."),
    other: Optional[str] = typer.Option(None, "--other", help="The other end point from another run: RUN_DIR:ARM."),
    points: int = typer.Option(41, "--points", help="Points along t in [-0.2, 1.2] (and along the slice)."),
    curve: bool = typer.Option(False, "--curve", help="Also train a quadratic Bézier curve between the end points (Garipov et al.)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object on stdout."),
    threads_text: Optional[str] = typer.Option(None, "--threads", metavar="N", help=THREADS_HELP),
    trust_code: bool = typer.Option(False, "--trust-code", help=TRUST_HELP),
) -> None:
    """The loss along the line (and a trained curve) between two arms' end points, and the flatness of each."""
    threads = _threads(threads_text)
    _trust_run(run_dir, trust_code, "landscape")
    if other is not None and ":" in other:
        _trust_run(Path(other.rsplit(":", 1)[0]), trust_code, "landscape")
    from .landscape import run_landscape

    raise typer.Exit(run_landscape(run_dir, arms=arms, other=other, points=points, curve=curve, as_json=as_json, threads=threads))


@app.command("sweep", context_settings={"allow_interspersed_args": True})
def sweep_(
    target: str = typer.Argument(
        ...,
        help="A scenario or a sweep (built-in sweeps: catapult-phase, warmup-phase, sgd-batch) or a .toml; or `show` to draw a sweep directory's map.",
        autocompletion=_complete_sweep,
    ),
    rest: Optional[List[str]] = typer.Argument(
        None, help="With `show`: the sweep directory; with --ray: the cluster's ADDRESS.", show_default=False
    ),
    grid: List[str] = typer.Option(
        [], "--grid", help="KEY=VALUES: 0.5,1,2 | START:STOP:N | START..STOP:N (log) | A..B (integers); repeatable."
    ),
    set_: List[str] = typer.Option([], "--set", help="A fixed override for every point, as run --set (repeatable)."),
    jobs: Optional[int] = typer.Option(None, "--jobs", "-j", help="Points at once in local processes (default: the number of cores)."),
    ray: bool = typer.Option(False, "--ray", help="Each point a Ray task: --ray [ADDRESS] (no address: a local Ray instance)."),
    out: Optional[Path] = typer.Option(None, "--out", help="The sweep directory (default sweeps/<name>-<time>/); rerun on it to resume."),
    as_json: bool = typer.Option(False, "--json", help='Print {"sweep_dir", "points"} as one JSON object on stdout.'),
    field: Optional[str] = typer.Option(None, "--field", help="show: colour by this arm summary field (eos_ratio, final_sharpness, …)."),
    arm: Optional[str] = typer.Option(
        None, "--arm", help="show: the arm whose outcome or field is drawn (default: all arms' worst outcome; first arm's field)."
    ),
    as_csv: bool = typer.Option(False, "--csv", help="show: the map's cells as CSV on stdout."),
    force: bool = typer.Option(
        False, "--force", help="Run even if a point's memory estimate exceeds the memory available (as run --force)."
    ),
    threads_text: Optional[str] = typer.Option(
        None, "--threads", metavar="N", help="torch threads for each point's engine (default: engine.threads, else one)."
    ),
    trust_code: bool = typer.Option(False, "--trust-code", help=TRUST_HELP),
) -> None:
    """Run a grid of points over a scenario, in parallel and resumable; or `sweep show DIR`."""
    threads = _threads(threads_text)
    from .sweep import SweepOptions, sweep_command

    opts = SweepOptions(
        out=out,
        jobs=jobs,
        ray=ray,
        as_json=as_json,
        force=force,
        threads=threads,
        grid=grid,
        sets=set_,
        field=field,
        arm=arm,
        as_csv=as_csv,
        trust_code=trust_code,
    )
    raise typer.Exit(sweep_command(target, rest or [], opts))


data_app = typer.Typer(
    help='Data sets: fetch the ones scenarios read (data.kind = "cifar10", "mnist", "fashion-mnist").',
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(data_app, name="data")

FETCHABLE = ("cifar10", "mnist", "fashion-mnist")


@data_app.command("fetch")
def data_fetch(
    name: str = typer.Argument(..., help="The data set: cifar10, mnist or fashion-mnist."),
    path: Optional[Path] = typer.Option(
        None,
        "--path",
        help="Folder to put it in (default: $EOS_TUI_DATA/NAME, else ~/.cache/eos-tui/NAME); scenarios read it with data.path.",
    ),
) -> None:
    """Download a data set's official files and check their published MD5s (CIFAR-10: 163 MB;
    MNIST: 12 MB; Fashion-MNIST: 31 MB).

    Each file is written under a temporary name and renamed into place only once complete and
    verified; a file already there is kept if it is the published one, and never replaced otherwise."""
    if name not in FETCHABLE:
        raise _err(f"data fetch: unknown data set {name!r}; one of: {', '.join(FETCHABLE)}")
    from ..data import DataError, cifar10, mnist

    shown: dict[str, int] = {}

    def progress(file: str, done: int, total: int | None) -> None:
        if total:
            pct = 100 * done // total
            if pct // 10 != shown.get(file, -1) // 10:
                shown[file] = pct
                typer.echo(f"  {file}  {pct:3d}%  {done / 1e6:.1f} of {total / 1e6:.1f} MB", err=True)

    try:
        if name == "cifar10":
            typer.echo(f"fetching {cifar10.URL} into {cifar10.root_for(path)}", err=True)
            where = cifar10.fetch(path, url=cifar10.URL, md5=cifar10.MD5, progress=lambda d, t: progress(cifar10.ARCHIVE, d, t))
        else:
            typer.echo(f"fetching {mnist.SETS[name].title} from {mnist.SETS[name].base_url} into {mnist.root_for(name, path)}", err=True)
            where = mnist.fetch(name, path, progress=progress)
    except DataError as e:
        raise _err(str(e), ExitCode.FAILED) from None
    typer.echo(str(where))


def main() -> None:
    try:
        app(prog_name="eos-tui")  # also under `python -m eos_tui.cli`: the help and completion scripts name the command
    except KeyboardInterrupt:
        sys.exit(ExitCode.INTERRUPTED)
    except OSError as e:
        # stdout or stderr that cannot be written (`> /dev/full`, a closed pipe): one line, exit 1,
        # no traceback. Point stdout at /dev/null so that Python's flush at exit fails no more.
        from .output import silence

        silence(sys.stdout)
        if not isinstance(e, BrokenPipeError):  # `| head` closing the pipe is no error to report
            try:
                sys.stderr.write(f"eos-tui: {e.strerror or e}\n")
                sys.stderr.flush()
            except OSError:
                pass
        sys.exit(ExitCode.FAILED)
