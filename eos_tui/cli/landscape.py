"""`eos-tui landscape RUN_DIR`: the loss between two arms' end points, and how flat each one is.

The numbers come from eos_tui/engine/landscape.py (torch); this module reads the run directory,
picks the end points (each arm's latest checkpoint), writes `landscape.json` into the run directory
and prints the result, drawn with eos_tui/braille (the app's canvas, without Textual). torch is
imported only inside `run_landscape`.
"""

from __future__ import annotations

import json
import math
import shutil
import sys
from pathlib import Path
from typing import Any

from ..rundir import format as rf
from .exit import ExitCode


class LandscapeError(ValueError):
    """Bad input: one line, exit 2."""


def _scenario(run_dir: Path):
    from ..rundir import is_run_dir
    from ..rundir.reader import monitor_refusal, read_manifest
    from ..scenario import ScenarioError, load_scenario_text

    if not is_run_dir(run_dir):
        raise LandscapeError(f"{run_dir} is not a run directory (no manifest.json); see `eos-tui runs`")
    refusal = monitor_refusal(run_dir, read_manifest(run_dir), "landscape")
    if refusal is not None:
        raise LandscapeError(refusal)
    source = run_dir / rf.SCENARIO_FILE
    try:
        return load_scenario_text(source.read_text(encoding="utf-8"), source=str(source))
    except (OSError, UnicodeDecodeError) as e:
        raise LandscapeError(f"{source}: cannot read: {e}") from None
    except ScenarioError as e:
        raise LandscapeError(str(e)) from None


def _end(run_dir: Path, name: str):
    """(spec, θ, η, step) of an arm's latest checkpoint."""
    from ..engine import checkpoint as ck
    from ..rundir.reader import safe_text

    sc = _scenario(run_dir)
    specs = {a.name: a for a in sc.arms}
    if name not in specs:
        raise LandscapeError(f"{run_dir}: no arm {safe_text(name)!r} (arms: {', '.join(specs)})")
    steps = ck.list_steps(run_dir, name)
    if not steps:
        from ..rundir.reader import effective_status, read_manifest

        if effective_status(read_manifest(run_dir) or {}) == rf.RUNNING:
            raise LandscapeError(
                f"{run_dir}: arm {name!r} has no checkpoint yet: a running arm writes one at its end, "
                "and every measure.checkpoint_every steps"
            )
        raise LandscapeError(f"{run_dir}: arm {name!r} has no checkpoint in {rf.CHECKPOINT_DIR}/{name}/ (a run from before checkpoints?)")
    from ..engine.resume import misfit

    path = ck.path_for(run_dir, name, steps[-1])
    try:
        tensors, meta = ck.load(path)
    except ck.CheckpointError as e:
        raise LandscapeError(str(e)) from None
    why = misfit(specs[name], step=steps[-1], tensors=tensors, meta=meta)
    if why:
        raise LandscapeError(f"{path}: {why}")
    if meta.get("status") == rf.DIVERGED:
        raise LandscapeError(
            f"{run_dir}: arm {name!r} diverged (at step {meta['step']}): its end point is no minimum, so there is no landscape around it"
        )
    lr = meta["scalars"].get("base_lr")
    return specs[name], tensors["theta"], lr if isinstance(lr, (int, float)) else None, steps[-1]


def _show(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def compute(run_dir: Path, arms: list[str], other: str | None, *, points: int, curve: bool, probes: int = 100) -> dict[str, Any]:
    import torch

    from ..engine.landscape import landscape
    from ..engine.problems import build_problem, objective_of
    from ..engine.runner import resolve_device
    from ..rundir.reader import safe_text

    if other is not None:
        if ":" not in other:
            raise LandscapeError(f"--other {other!r}: expected RUN_DIR:ARM")
        odir, oarm = other.rsplit(":", 1)
        if len(arms) != 1:
            raise LandscapeError("with --other, --arms names one arm of RUN_DIR (the other end is --other's)")
        wanted = [(run_dir, arms[0]), (Path(odir), oarm)]
    else:
        if len(arms) != 2:
            raise LandscapeError(f"--arms: name two arms (got {len(arms)}: {safe_text(','.join(arms))})")
        wanted = [(run_dir, a) for a in arms]
    if (wanted[0][0].resolve(), wanted[0][1]) == (wanted[1][0].resolve(), wanted[1][1]):
        raise LandscapeError(f"arm {safe_text(wanted[0][1])!r} twice: a path needs two end points (--arms A,B)")
    ends = [(_end(d, a), d, a) for d, a in wanted]
    (sa, ta, lra, _), (sb, tb, lrb, _) = ends[0][0], ends[1][0]
    label = [a if d == run_dir else f"{d}:{a}" for d, a in wanted]
    # The parameters' shapes, not the model's settings: two quadratics from different model.init
    # share their parameter space (what else differs is the loss function's, checked below).
    if ta.shape != tb.shape or sa.model.kind != sb.model.kind:
        raise LandscapeError(
            f"arms {label[0]!r} ({sa.model.kind}, {ta.numel()} parameters) and {label[1]!r} ({sb.model.kind}, {tb.numel()} parameters) "
            "have different shapes: a path between them means nothing"
        )
    # Both ends are measured on one problem (the first arm's): arms trained on different data (or
    # another loss) would have the second one's end loss, barrier, sharpness and trace read on data
    # it never saw. Refused, naming what differs.
    oa, ob = objective_of(sa), objective_of(sb)
    differ = [k for k in oa.keys() | ob.keys() if oa.get(k) != ob.get(k)]
    if differ:
        what = "; ".join(f"{k} {_show(oa.get(k))} and {_show(ob.get(k))}" for k in sorted(differ))
        raise LandscapeError(
            f"arms {safe_text(label[0])!r} and {safe_text(label[1])!r} were trained on different problems ({safe_text(what)}): "
            "the landscape of one is not the other's; pick two arms of the same data and loss"
        )
    for name, th in ((label[0], ta), (label[1], tb)):
        if not bool(torch.isfinite(th).all()):
            raise LandscapeError(f"arm {name!r} diverged: its end point is not finite, so there is no landscape around it")
    if ta.dtype != tb.dtype:
        tb = tb.to(ta.dtype)
    try:
        device = resolve_device(sa.device, sa.dtype)
    except RuntimeError:
        device = torch.device("cpu")
    from ..engine.errors import ScenarioRefused

    try:
        problem = build_problem(sa, device)
    except ScenarioRefused as e:
        raise LandscapeError(str(e)) from None
    result = landscape(
        problem,
        [(label[0], ta.to(device), lra), (label[1], tb.to(device), lrb)],
        points=points,
        with_curve=curve,
        probes=probes,
        seed=int(sa.seed),
    )
    opt = sa.optimizer
    # η‖∇L‖ is the step of plain GD only: with momentum or a preconditioner the step is another size
    result["slice"]["optimizer"] = opt.kind + (" with momentum" if getattr(opt, "momentum", 0.0) else "")
    result["run"] = str(run_dir)
    result["data_of"] = label[0]
    result["steps"] = {label[i]: ends[i][0][3] for i in range(2)}
    return result


# ---- the terminal drawing --------------------------------------------------------------------------------


def chart(
    series: list[tuple[list[float], list[float]]], cols: int = 60, rows: int = 10, *, log: bool = False
) -> tuple[list[tuple[str, list[int]]], tuple[float, float]]:
    """Series (x, y) drawn on the braille canvas (eos_tui/braille): each text row with the layer (series index,
    −1: none) of each cell, for colouring."""
    import numpy as np

    from ..braille.canvas import BrailleCanvas

    canvas = BrailleCanvas(cols, rows)

    def tr(v):
        return np.log10(np.maximum(v, 1e-300)) if log else v

    xs_all = np.concatenate([np.asarray(x, dtype=float) for x, _ in series])
    ys_all = np.concatenate([tr(np.asarray(y, dtype=float)) for _, y in series])
    ys_all = ys_all[np.isfinite(ys_all)]
    x0, x1 = float(xs_all.min()), float(xs_all.max())
    y0, y1 = (float(ys_all.min()), float(ys_all.max())) if ys_all.size else (0.0, 1.0)
    if y1 - y0 <= 1e-9 * max(abs(y0), abs(y1)):  # flat to rounding: a level line mid-chart, not its rounding noise
        pad = 0.1 * abs(y0) or 1.0
        y0, y1 = y0 - pad, y1 + 1.4 * pad  # off-centre: a level line between two dot rows would flicker with the noise
    dots_x = np.linspace(x0, x1, canvas.width)
    for layer, (x, y) in enumerate(series):
        yy = tr(np.asarray(y, dtype=float))
        row = (y1 - np.interp(dots_x, np.asarray(x, dtype=float), yy)) / (y1 - y0) * (canvas.height - 1)
        prev = np.concatenate([row[:1], row[:-1]])
        canvas.draw_mask(canvas.spans_mask(np.minimum(row, prev), np.maximum(row, prev)), layer)
    return [(text, list(owner)) for text, owner in zip(canvas.text_rows(), canvas.owner.tolist())], (y0, y1)


def _fmt(x: Any) -> str:
    return "—" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.4g}"


def _g3(x: float) -> str:
    return f"{x:.3g}"


def _axis(cols: int, x0: float, x1: float, marks: tuple[float, ...], xlabel: str) -> str:
    """The x axis under a chart of `cols` cells: its two ends, each of `marks` (t = 0 and 1, where the
    end points are; s = 0) under its own cell as "┴0", and the axis' name where there is room."""
    cells = [" "] * cols

    def put(at: int, text: str) -> bool:
        if at < 0 or at + len(text) > cols or any(c != " " for c in cells[max(at - 1, 0) : at + len(text) + 1]):
            return False
        cells[at : at + len(text)] = list(text)
        return True

    put(0, _g3(x0))
    put(cols - len(_g3(x1)), _g3(x1))
    for m in marks:
        if x1 > x0 and x0 < m < x1:
            put(int((m - x0) / (x1 - x0) * (2 * cols - 1)) // 2, f"┴{_g3(m)}")
    for at in (cols // 2 - len(xlabel) // 2, cols // 3, 2 * cols // 3):
        if put(at, xlabel):
            break
    return "".join(cells)


def render(result: dict[str, Any], width: int = 72) -> list[Any]:
    """rich renderables: the paths' chart, the end points' table, the slice's chart."""
    from rich.table import Table
    from rich.text import Text

    from ..rundir.reader import safe_text

    colours = ["cyan", "yellow", "magenta"]
    cols = max(20, width - 12)  # the 9-character label, " │", and room for the wide cells of some terminals

    def draw(title: str, series, names: list[str], xlabel: str, log: bool, marks: tuple[float, ...]) -> Text:
        lines, (y0, y1) = chart(series, cols, 10, log=log)
        t = Text(safe_text(title) + (" (log scale)" if log else "") + "\n", style="bold")
        for i, (text, owner) in enumerate(lines):
            label = _g3(10**y1 if log else y1) if i == 0 else (_g3(10**y0 if log else y0) if i == len(lines) - 1 else "")
            t.append(f"{label:>9} │")
            for ch, who in zip(text, owner):
                t.append(ch, style=colours[who % len(colours)] if who >= 0 else None)
            t.append("\n")
        x = series[0][0]
        t.append(f"{'':>9} └{_axis(cols, min(x), max(x), marks, xlabel)}\n")
        t.append(" " * 11)
        for i, n in enumerate(names):
            t.append(f"━ {n}  ", style=colours[i % len(colours)])
        return t

    out: list[Any] = []
    ln = result["line"]
    series = [(ln["t"], ln["loss"])]
    names = [f"line (barrier {_fmt(ln['barrier'])})"]
    if "curve" in result:
        series.append((result["curve"]["t"], result["curve"]["loss"]))
        names.append(f"Bézier curve (barrier {_fmt(result['curve']['barrier'])})")
    a, b = (e["arm"] for e in result["ends"])
    positive = all(v > 0 for _, y in series for v in y if math.isfinite(v))
    out.append(draw(f"loss from {a} (t=0) to {b} (t=1)", series, names, "t", positive, (0.0, 1.0)))
    table = Table(box=None, header_style="bold", pad_edge=False)
    for col in ("end point", "loss", "λ_max", "adaptive", "trace ± s.e."):
        table.add_column(col, justify="left" if col == "end point" else "right", no_wrap=True)
    for e in result["ends"]:
        table.add_row(
            safe_text(e["arm"]),
            _fmt(e["loss"]),
            _fmt(e["sharpness"]),
            _fmt(e["adaptive_sharpness"]),
            f"{_fmt(e['trace'])} ± {_fmt(e['trace_stderr'])}",
        )
    out.append(table)
    sl = result["slice"]
    step = f", one step η‖∇L‖ = {_fmt(sl['step'])}" if sl.get("step") else ""
    if step and sl.get("optimizer", "gd") not in ("gd", "sgd"):
        step = f", η‖∇L‖ = {_fmt(sl['step'])} (GD's step, not {sl['optimizer']}'s)"
    out.append(
        draw(
            f"slice along the top eigenvector at {sl['arm']}{step}",
            [(sl["s"], sl["loss"]), (sl["s"], sl["parabola"])],
            ["L(θ + s·u)", f"L(θ) + ½·{_fmt(sl['sharpness'])}·s²"],
            "s",
            False,
            (0.0,),
        )
    )
    return out


def _set_threads(scenario, override: int | None) -> None:
    """The engine's thread count for this run (as its training chose it), before torch is imported."""
    from ..engine import threads as engine_threads

    engine_threads.apply(engine_threads.resolve(scenario.arms, override))  # the environment first, then torch


def run_landscape(
    run_dir: Path,
    *,
    arms: str | None,
    other: str | None,
    points: int,
    curve: bool,
    as_json: bool,
    probes: int = 100,
    threads: int | None = None,
) -> int:
    """`threads`: --threads (None: the run's engine.threads, else the engine's choice; engine/threads.py)."""
    from rich.console import Console

    def fail(message: str) -> int:
        sys.stderr.write(f"eos-tui: {message}\n")
        return ExitCode.USAGE

    if not 5 <= points <= 2001:
        return fail(f"--points {points}: between 5 and 2001")
    try:
        names = [a.strip() for a in arms.split(",") if a.strip()] if arms else None
        sc = _scenario(run_dir)
        _set_threads(sc, threads)
        if names is None:
            names = [a.name for a in sc.arms][: 1 if other else 2]
            if len(names) == 1 and not other:
                raise LandscapeError(f"{run_dir} has one arm ({names[0]}): name the other end point with --other RUN_DIR:ARM")
        result = compute(run_dir, names, other, points=points, curve=curve, probes=probes)
    except LandscapeError as e:
        return fail(str(e))
    except ValueError as e:  # from the engine: shapes it cannot join
        return fail(str(e))
    except KeyboardInterrupt:  # Ctrl-C (engine/interrupt.Interrupted is one too): one line, nothing half-written
        sys.stderr.write(f"eos-tui: interrupted; {rf.LANDSCAPE_FILE} not written\n")
        return ExitCode.INTERRUPTED
    try:
        rf.write_json_atomic(run_dir / rf.LANDSCAPE_FILE, result)
    except OSError as e:
        sys.stderr.write(f"eos-tui: cannot write {run_dir / rf.LANDSCAPE_FILE}: {e.strerror or e}\n")
    if as_json:
        sys.stdout.write(json.dumps(rf.json_safe(result)) + "\n")
        sys.stdout.flush()
        return ExitCode.OK
    # On a terminal its width; elsewhere (a file, a pipe) COLUMNS when set, else 100 columns.
    console = Console(width=None if sys.stdout.isatty() else shutil.get_terminal_size((100, 24)).columns)
    for r in render(result, min(console.width, 100)):
        console.print(r)
    return ExitCode.OK
