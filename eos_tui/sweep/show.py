"""The phase map of a sweep, in the terminal (and as CSV): no torch.

One or two grid axes (the first grid across, the second up); `seed` is never an axis: the points
that differ only in seed make one cell, its majority class (ties to the more severe), or for a
summary field the mean over seeds (the spread is the CSV's `_std` column and the legend's largest).
Each cell is the class letter (L lazy, E eos, C catapult, D diverged, F failed, · not run yet), or
for `--field` a character and colour on a scale from the smallest to the largest value.
"""

from __future__ import annotations

import csv
import json
import math
import statistics
import sys
from typing import IO, Any

from ..analysis.outcome import CATAPULT, DIVERGED, EOS, FAILED, LAZY, OUTCOMES, majority
from ..rundir.reader import safe_text, sanitize
from .grid import Sweep, SweepError

LETTERS = {LAZY: "L", EOS: "E", CATAPULT: "C", DIVERGED: "D", FAILED: "F"}
STYLES = {LAZY: "green", EOS: "yellow", CATAPULT: "bright_cyan", DIVERGED: "bold red", FAILED: "white on red"}
RAMP = " .:-=+*#%@"  # the field scale, smallest to largest, readable without colour
SCALE_COLOURS = ["#440154", "#482878", "#3e4a89", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58", "#b5de2b", "#fde725"]
CELL = 3


def axes_of(sweep: Sweep) -> list[str]:
    return [k for k in sweep.keys if k != "seed"]


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return f"{v:.4g}"
    return safe_text(str(v))


def _arm(record: dict[str, Any], arm: str | None) -> dict[str, Any] | None:
    arms = record.get("arms") or []
    if arm is None:
        return arms[0] if arms and isinstance(arms[0], dict) else None
    return next((a for a in arms if isinstance(a, dict) and a.get("name") == arm), None)


def _field_value(record: dict[str, Any], field: str, arm: str | None) -> float | None:
    summary = _arm(record, arm)
    if summary is None:
        return None
    v: Any = summary
    for part in field.split("."):
        v = v.get(part) if isinstance(v, dict) else None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return float(v)


def _outcome(record: dict[str, Any], arm: str | None) -> str:
    if arm is None:
        return str(record.get("outcome") or FAILED)
    summary = _arm(record, arm)
    return str(summary.get("outcome") or FAILED) if summary else FAILED


def cells(sweep: Sweep, records: list[dict[str, Any]], *, field: str | None = None, arm: str | None = None) -> dict[tuple, dict[str, Any]]:
    """{(axis values…): {"n", "outcome", "counts", "mean", "std"}} for every cell with a point."""
    axes = axes_of(sweep)
    grouped: dict[tuple, list[dict[str, Any]]] = {}
    for r in records:
        p = r.get("point") or {}
        grouped.setdefault(tuple(_hashable(p.get(k)) for k in axes), []).append(r)
    out: dict[tuple, dict[str, Any]] = {}
    for key, recs in grouped.items():
        classes = [_outcome(r, arm) for r in recs]
        cell: dict[str, Any] = {"n": len(recs), "outcome": majority(classes), "counts": {o: classes.count(o) for o in OUTCOMES}}
        if field:
            vals = [v for v in (_field_value(r, field, arm) for r in recs) if v is not None]
            cell["mean"] = statistics.fmean(vals) if vals else None
            cell["std"] = statistics.pstdev(vals) if len(vals) > 1 else (0.0 if vals else None)
        out[key] = cell
    return out


def _hashable(v: Any) -> Any:
    return tuple(v) if isinstance(v, list) else v


def check_field(records: list[dict[str, Any]], field: str, arm: str | None) -> None:
    if arm is not None and records and not any(_arm(r, arm) for r in records):
        names = sorted({str(a.get("name")) for r in records for a in (r.get("arms") or []) if isinstance(a, dict)})
        raise SweepError(f"--arm {arm!r}: no such arm in this sweep (arms: {', '.join(map(str, names)) or 'none finished'})")
    if records and not any(_field_value(r, field, arm) is not None for r in records):
        summary = next((_arm(r, arm) for r in records if _arm(r, arm)), None) or {}
        numeric = [k for k, v in summary.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
        raise SweepError(f"--field {field!r}: no point has a number there (numeric summary fields: {', '.join(numeric)})")


def _glyph(ch: str, cell: int) -> str:
    """A cell's text, `cell` columns wide: " X " (3), "X " (2) or "X" (1)."""
    return (f" {ch} " if cell >= 3 else f"{ch} " if cell == 2 else ch)[:cell]


def map_width() -> int:
    """The columns a map may take: the terminal's (COLUMNS or its size), at least 80."""
    import shutil

    return max(80, shutil.get_terminal_size((80, 24)).columns)


def render_map(
    sweep: Sweep,
    records: list[dict[str, Any]],
    *,
    file: IO[str],
    title: str = "",
    field: str | None = None,
    arm: str | None = None,
    columns: int | None = None,
) -> None:
    """The map on `file`, within `columns` (map_width() by default) where it can be: the cells narrow
    from 3 columns to 2 or 1 when a wide grid (or long labels of the second axis) would overflow,
    and the legend's tail goes on a line of its own (lines wider than the terminal wrapped, and the
    wrapped rows no longer lined up)."""
    from rich.console import Console
    from rich.text import Text

    axes = axes_of(sweep)
    width = 0
    lines: list[Text] = []
    if len(axes) > 2:
        lines.append(
            Text(f"the map draws one or two axes; this sweep has {len(axes)} ({', '.join(axes)}): see `eos-tui sweep show DIR --csv`")
        )
    else:
        table = cells(sweep, records, field=field, arm=arm)
        xs = dict(sweep.grid)[axes[0]] if axes else [None]
        ys = list(reversed(dict(sweep.grid)[axes[1]])) if len(axes) > 1 else [None]
        means = [c["mean"] for c in table.values() if c.get("mean") is not None]
        lo, hi = (min(means), max(means)) if means else (0.0, 0.0)
        ylabels = [_fmt(y) if y is not None else "" for y in ys]
        lw = max([len(s) for s in ylabels] + [len(axes[1]) if len(axes) > 1 else 0])
        avail = columns or map_width()
        cw = next((c for c in (CELL, 2) if lw + 2 + c * len(xs) <= avail), 1)
        if title:
            lines.append(Text(safe_text(title), style="bold"))
        if len(axes) > 1:
            lines.append(Text(f"{safe_text(axes[1]):>{lw}} ↑"))
        for y, ylab in zip(ys, ylabels):
            row = Text(f"{ylab:>{lw}} │")
            for x in xs:
                key = tuple(_hashable(v) for v in ((x, y) if len(axes) > 1 else (x,) if axes else ()))
                cell = table.get(key)
                if cell is None:
                    row.append(_glyph("·", cw), style="dim")
                elif field:
                    m = cell.get("mean")
                    if m is None:
                        row.append(_glyph("?", cw), style="dim")
                    else:
                        level = 0 if hi == lo else min(len(RAMP) - 1, int((m - lo) / (hi - lo) * len(RAMP)))
                        row.append((" " + RAMP[level] * (cw - 1)) if cw > 1 else RAMP[level], style=f"{SCALE_COLOURS[level]} on grey11")
                else:
                    o = cell["outcome"]
                    row.append(_glyph(LETTERS.get(o, "?"), cw), style=STYLES.get(o, ""))
            lines.append(row)
        lines.append(Text(" " * lw + " └" + "─" * (cw * len(xs))))
        # x tick labels, each where there is room for it
        ticks = [" "] * (cw * len(xs) + 12)
        free = 0
        for i, x in enumerate(xs):
            label = _fmt(x) if x is not None else ""
            at = i * cw + (1 if cw >= 3 else 0)
            if at >= free and label:
                ticks[at : at + len(label)] = list(label)
                free = at + len(label) + 1
        lines.append(Text(" " * (lw + 2) + "".join(ticks).rstrip()))
        if axes:
            lines.append(Text(" " * (lw + 2) + f"{safe_text(axes[0])} →"))
        seeds = dict(sweep.grid).get("seed")
        agg = f"; {len(seeds)} seeds a cell" if seeds else ""
        who = f" (arm {safe_text(arm)})" if arm else ""
        if field:
            spread = max((c["std"] for c in table.values() if c.get("std") is not None), default=None)
            legend = Text(f"{safe_text(field)}{who}, mean{' over seeds' if seeds else ''}: ")
            for level, ch in enumerate(RAMP):
                legend.append(" " + ch * (CELL - 1), style=f"{SCALE_COLOURS[level]} on grey11")
            legend.append(
                f"  from {lo:.4g} to {hi:.4g}" + (f"; largest spread over seeds (std) {spread:.3g}" if seeds and spread is not None else "")
            )
            tail = Text(";  · not run, ? no value")
        else:
            legend = Text("")
            counts = {o: 0 for o in OUTCOMES}
            for c in table.values():
                counts[c["outcome"]] = counts.get(c["outcome"], 0) + 1
            for o in OUTCOMES:
                legend.append(f" {LETTERS[o]} ", style=STYLES[o])
                legend.append(f" {o} ({counts[o]}) ")
            tail = Text(" · not run" + (f"{who}; majority class{agg}" if seeds or arm else ""))
        if legend.cell_len + tail.cell_len > avail:
            lines += [legend, Text(tail.plain.lstrip("; "))]
        else:
            lines.append(legend + tail)
        if field and len(axes) <= 1:  # one row: its numbers fit on a line
            parts = []
            for x in xs:
                one = table.get((_hashable(x),) if axes else ())
                if one is not None and one.get("mean") is not None:
                    spread = f"±{one['std']:.2g}" if seeds and one.get("std") is not None else ""
                    parts.append(f"{_fmt(x) + ': ' if axes else ''}{one['mean']:.3g}{spread}")
            lines.append(Text("  ".join(parts)))
        done = len(records)
        lines.append(Text(f"{done} of {len(sweep.points())} points finished", style="dim"))
    for line in lines:
        width = max(width, line.cell_len)
    console = Console(file=file, width=max(width, 80), highlight=False, soft_wrap=True)
    for line in lines:
        console.print(line)


def write_csv(sweep: Sweep, records: list[dict[str, Any]], file: IO[str], *, field: str | None = None, arm: str | None = None) -> None:
    """One row per cell: the axes' values, n, the majority class, the count of each class, and with a
    field its mean and standard deviation over seeds."""
    axes = axes_of(sweep)
    table = cells(sweep, records, field=field, arm=arm)
    w = csv.writer(file, lineterminator="\n")
    header = [*axes, "n", "outcome", *OUTCOMES]
    if field:
        header += [f"{field}_mean", f"{field}_std"]
    w.writerow(header)
    order: dict[tuple, int] = {}
    for i, p in enumerate(sweep.points()):
        order.setdefault(tuple(_hashable(p[a]) for a in axes), i)
    for key in sorted(table, key=lambda k: order.get(k, len(order))):
        cell = table[key]
        row: list[Any] = [
            *(_csv_value(v) for v in key),
            cell["n"],
            cell["outcome"],
            *(cell["counts"][o] for o in OUTCOMES),
        ]
        if field:
            row += ["" if cell["mean"] is None else repr(cell["mean"]), "" if cell["std"] is None else repr(cell["std"])]
        w.writerow(row)


def usable_records(sweep: Sweep, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """points.jsonl's records as the map can draw them: only records of a point of the grid (the last
    one where a point comes twice), every string made safe for the terminal, `arms` a list of tables
    and each outcome a known class (else "failed"). points.jsonl comes from outside: a hand-edited or
    corrupted line (a table where a value was, control characters, a class nobody defined) used to end
    `sweep show` in a traceback or to write raw escape sequences to the terminal."""
    grid = {json.dumps(p, sort_keys=True) for p in sweep.points()}
    kept: dict[str, dict[str, Any]] = {}
    for r in records:
        try:
            key = json.dumps(r.get("point"), sort_keys=True)
        except (TypeError, ValueError):
            continue
        if key not in grid:
            continue
        r = sanitize(dict(r))
        arms = r.get("arms")
        r["arms"] = [dict(a, outcome=_known(a.get("outcome"))) for a in arms if isinstance(a, dict)] if isinstance(arms, list) else []
        r["outcome"] = _known(r.get("outcome"))
        kept[key] = r
    return list(kept.values())


def _known(outcome: Any) -> str:
    return outcome if isinstance(outcome, str) and outcome in OUTCOMES else FAILED


def _csv_value(v: Any) -> Any:
    """An axis value in the CSV as the grid gives it (TOML/JSON: [16, 16], true), not as Python
    writes it ((16, 16), True): a list value is a tuple here, to be a cell's key."""
    if isinstance(v, str):
        return safe_text(v)
    if isinstance(v, (bool, tuple, list)):
        return safe_text(json.dumps(list(v) if isinstance(v, tuple) else v))
    return v


def show(path, *, field: str | None, arm: str | None, as_csv: bool, out: IO[str]) -> None:
    """`eos-tui sweep show DIR`. SweepError for a directory that is not a sweep's."""
    from pathlib import Path

    from .grid import read_resolved
    from .store import SWEEP_FILE, read_points

    path = Path(path)
    if not (path / SWEEP_FILE).is_file():
        raise SweepError(f"{path}: not a sweep directory (no {SWEEP_FILE})")
    sweep = read_resolved(path / SWEEP_FILE)
    problems: list[str] = []
    records = usable_records(sweep, read_points(path, problems))
    if problems:  # the other points are shown: one damaged line is that line's problem
        more = f" (and {len(problems) - 1} more line(s) skipped)" if len(problems) > 1 else ""
        print(f"eos-tui: {problems[0]}; skipped that line{more}", file=sys.stderr)
    field = field or sweep.map_field
    if field:
        check_field(records, field, arm)
    elif arm is not None:
        check_field(records, "steps_done", arm)
    if as_csv:
        write_csv(sweep, records, out, field=field, arm=arm)
    else:
        render_map(sweep, records, file=out, title=str(path), field=field, arm=arm)
