"""The phase map of a sweep, in the terminal (and as CSV): no torch.

One or two grid axes (the first grid across, the second up); `seed` is never an axis: the points
that differ only in seed make one cell, its majority class (ties to the more severe), or for a
summary field the mean over seeds (the spread is the CSV's `_std` column and the legend's largest).
Each cell is the class letter (L lazy, E eos, C catapult, D diverged, F failed, · not run yet), or
for `--field` a character and colour on a scale from the smallest to the largest value: linear, or
logarithmic or by quantiles for a field that spans decades (field_scale; the legend says which).
The first axis is labelled at round values (tick_cells); where the sweep file gives a grid the
theory's boundaries (`boundaries = [2, 4]`), the map marks them (▼ above, ▲ on the axis).
"""

from __future__ import annotations

import bisect
import csv
import json
import math
import statistics
import sys
from dataclasses import dataclass
from typing import IO, Any, Sequence

from ..analysis.outcome import CATAPULT, DIVERGED, EOS, FAILED, LAZY, OUTCOMES, majority
from ..rundir.reader import safe_text, sanitize
from .grid import Sweep, SweepError

LETTERS = {LAZY: "L", EOS: "E", CATAPULT: "C", DIVERGED: "D", FAILED: "F"}
STYLES = {LAZY: "green", EOS: "yellow", CATAPULT: "bright_cyan", DIVERGED: "bold red", FAILED: "white on red"}
RAMP = " .:-=+*#%@"  # the field scale, smallest to largest, readable without colour
SCALE_COLOURS = ["#440154", "#482878", "#3e4a89", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58", "#b5de2b", "#fde725"]
CELL = 3
BOUNDARY_STYLE = "bold magenta"


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


# ---- the field's scale ---------------------------------------------------------------------------

# A field is binned linearly unless that leaves more than CROWDED of the cells on one mark: eos_ratio
# on catapult-phase runs from 0.017 (a catapult's end) to 934 (diverged), and linear bins left 73 of
# 76 cells blank. Then log bins, where every value is positive (a field spanning decades), else
# quantile bins (a tenth of the cells a mark); of these the first that spreads the cells, else the one
# that spreads them best. The legend names the scale.
CROWDED = 0.5


@dataclass(frozen=True)
class Scale:
    kind: str  # "linear", "log" or "quantile"
    lo: float
    hi: float
    inner: tuple[float, ...] = ()  # the quantile scale's edges between its marks

    def level(self, v: float) -> int:
        """The mark (0 … len(RAMP) − 1) of the value `v`."""
        top = len(RAMP) - 1
        if self.kind == "quantile":
            return min(top, bisect.bisect_right(self.inner, v))
        if self.hi <= self.lo:
            return 0
        if self.kind == "log":
            at = (math.log(v) - math.log(self.lo)) / (math.log(self.hi) - math.log(self.lo)) if v > 0 else 0.0
        else:
            at = (v - self.lo) / (self.hi - self.lo)
        return max(0, min(top, int(at * len(RAMP))))

    def legend(self) -> str:
        if self.kind == "log":
            ratio = (self.hi / self.lo) ** (1 / len(RAMP))
            return f"log scale, from {self.lo:.4g} to {self.hi:.4g} (×{ratio:.3g} a mark)"
        if self.kind == "quantile":
            return f"quantile scale, a tenth of the cells a mark, from {self.lo:.4g} to {self.hi:.4g}"
        return f"from {self.lo:.4g} to {self.hi:.4g}"


def quantile(ordered: Sequence[float], q: float) -> float:
    """The `q` quantile of sorted values, linearly interpolated (numpy's default)."""
    at = q * (len(ordered) - 1)
    i = int(at)
    return ordered[i] if i + 1 >= len(ordered) else ordered[i] + (ordered[i + 1] - ordered[i]) * (at - i)


def crowding(scale: Scale, values: Sequence[float]) -> float:
    """The largest share of `values` that one mark of `scale` holds."""
    counts: dict[int, int] = {}
    for v in values:
        counts[scale.level(v)] = counts.get(scale.level(v), 0) + 1
    return max(counts.values()) / len(values) if values else 0.0


def field_scale(values: Sequence[float]) -> Scale:
    """The scale for the cells' values: linear, log or quantile, the first that puts at most CROWDED
    of them on one mark (else the one with the fewest on its fullest mark)."""
    v = sorted(x for x in values if math.isfinite(x))
    if not v:
        return Scale("linear", 0.0, 0.0)
    lo, hi = v[0], v[-1]
    candidates = [Scale("linear", lo, hi)]
    if lo > 0:
        candidates.append(Scale("log", lo, hi))
    candidates.append(Scale("quantile", lo, hi, tuple(quantile(v, k / len(RAMP)) for k in range(1, len(RAMP)))))
    for scale in candidates:
        if crowding(scale, v) <= CROWDED:
            return scale
    return min(candidates, key=lambda c: crowding(c, v))


# ---- the first axis's labels and the theory's boundaries -----------------------------------------

NICE = (1.0, 2.0, 2.5, 5.0)


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def letter_column(i: int, cw: int) -> int:
    """The column of cell i's letter (_glyph: " X ", "X " or "X"), where its x label starts, under
    its ┬ (a label centred under a 3-column cell, wider than it, would cost the next one its room)."""
    return i * cw + (1 if cw >= 3 else 0)


def _fits(idx: Sequence[int], labels: Sequence[str], cw: int) -> bool:
    end = -2
    for i in idx:
        start = letter_column(i, cw)
        if start < end + 2:  # a space between two labels
            return False
        end = start + len(labels[i]) - 1
    return True


def tick_cells(values: Sequence[Any], cw: int) -> list[int]:
    """The cells of the first axis that get a label: on an axis of numbers, the grid values that are
    multiples of the smallest round step (1, 2, 2.5 or 5 × 10^k) whose labels fit side by side, so
    that a grid in steps of 0.25 reads 0.5 1 1.5 2…, not whichever labels had room (0.5 1 1.25
    1.75…); else (an axis of words, or no two round values fit) each label where there is room."""
    labels = [_fmt(v) for v in values]
    if len(values) > 1 and all(_number(v) for v in values):
        nums = [float(v) for v in values]
        gaps = [abs(b - a) for a, b in zip(sorted(nums), sorted(nums)[1:]) if b != a]
        top = max(abs(x) for x in nums)
        if gaps and top > 0:
            for k in range(math.floor(math.log10(min(gaps))) - 1, math.ceil(math.log10(top)) + 1):
                for m in NICE:
                    step = m * 10.0**k
                    idx = [i for i, x in enumerate(nums) if abs(x / step - round(x / step)) < 1e-6]
                    if len(idx) >= 2 and _fits(idx, labels, cw):
                        return idx
    idx, end = [], -2
    for i, label in enumerate(labels):
        start = letter_column(i, cw)
        if label and start >= end + 2:
            idx.append(i)
            end = start + len(label) - 1
    return idx


def boundary_position(values: Sequence[Any], b: float) -> float | None:
    """Where the boundary `b` falls along an axis, in cells (cell i's centre at i; between two grid
    values by linear interpolation); None off the grid or on an axis that is not of numbers."""
    if not all(_number(v) for v in values):
        return None
    for i, (x0, x1) in enumerate(zip(values, values[1:])):
        if min(x0, x1) <= b <= max(x0, x1):
            return i + ((b - x0) / (x1 - x0) if x1 != x0 else 0.0)
    return 0.0 if len(values) == 1 and values[0] == b else None


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
        scale = field_scale([c["mean"] for c in table.values() if c.get("mean") is not None])
        ylabels = [_fmt(y) if y is not None else "" for y in ys]
        lw = max([len(s) for s in ylabels] + [len(axes[1]) if len(axes) > 1 else 0])
        avail = columns or map_width()
        cw = next((c for c in (CELL, 2) if lw + 2 + c * len(xs) <= avail), 1)
        if title:
            lines.append(Text(safe_text(title), style="bold"))
        # the theory's boundaries: ▼ above the map and ▲ on its axis at each one's column; on the
        # second axis ◀ at the end of the row nearest to it
        xcols = {}
        for b in sweep.boundaries.get(axes[0], []) if axes else []:
            at = boundary_position(xs, b)
            if at is not None:
                xcols[min(cw * len(xs) - 1, round(letter_column(0, cw) + at * cw))] = b
        yrows: dict[int, list[float]] = {}
        for b in sweep.boundaries.get(axes[1], []) if len(axes) > 1 else []:
            at = boundary_position(ys, b)
            if at is not None:
                yrows.setdefault(round(at), []).append(b)
        head = f"{safe_text(axes[1]):>{lw}} ↑" if len(axes) > 1 else ""
        chars = list(head.ljust(lw + 2 + max(xcols, default=-1) + 1))
        for col in xcols:
            chars[lw + 2 + col] = "▼"
        top = Text("".join(chars).rstrip())
        for col in xcols:
            top.stylize(BOUNDARY_STYLE, lw + 2 + col, lw + 3 + col)
        if top.plain.strip():
            lines.append(top)
        for r, (y, ylab) in enumerate(zip(ys, ylabels)):
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
                        level = scale.level(m)
                        row.append((" " + RAMP[level] * (cw - 1)) if cw > 1 else RAMP[level], style=f"{SCALE_COLOURS[level]} on grey11")
                else:
                    o = cell["outcome"]
                    row.append(_glyph(LETTERS.get(o, "?"), cw), style=STYLES.get(o, ""))
            if r in yrows:
                row.append(" ◀ " + ", ".join(_fmt(b) for b in yrows[r]), style=BOUNDARY_STYLE)
            lines.append(row)
        # x tick labels at round values, each with its ┬ on the axis
        labelled = tick_cells(xs, cw) if axes else []
        rule = ["─"] * (cw * len(xs))
        ticks = [" "] * (cw * len(xs) + 12)
        for i in labelled:
            label = _fmt(xs[i])
            rule[letter_column(i, cw)] = "┬"
            start = letter_column(i, cw)
            ticks[start : start + len(label)] = list(label)
        axis = Text(" " * lw + " └")
        for col, ch in enumerate(rule):
            axis.append("▲" if col in xcols else ch, style=BOUNDARY_STYLE if col in xcols else "")
        lines.append(axis)
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
            said = scale.legend() + (f"; largest spread over seeds (std) {spread:.3g}" if seeds and spread is not None else "")
            if legend.cell_len + 2 + len(said) > avail:  # the scale's words on a line of their own, not wrapped
                lines.append(legend)
                legend = Text(said)
            else:
                legend.append("  " + said)
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
        marked = {k: sweep.boundaries[k] for k in axes[:2] if sweep.boundaries.get(k)}
        if marked:
            where = "; ".join(f"{safe_text(k)} = {', '.join(map(_fmt, bs))}" for k, bs in marked.items())
            off = [b for k, bs in marked.items() for b in bs if boundary_position(dict(sweep.grid)[k], b) is None]
            signs = ("▼▲" if axes[0] in marked else "") + ("◀" if len(axes) > 1 and axes[1] in marked else "")
            note = Text(signs + " ", style=BOUNDARY_STYLE)
            note.append(f"the theory's boundaries (sweep file): {where}" + (f" ({', '.join(map(_fmt, off))} off the grid)" if off else ""))
            lines.append(note)
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
