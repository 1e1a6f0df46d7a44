"""Reading landscape.json (written by `eos-tui landscape RUN_DIR`, format.Landscape) for a viewer.

The file comes from outside (a run directory can be copied from anywhere), so nothing in it is
trusted: every number is checked to be a number, every list to be a list of numbers of the right
length, every string is made safe for the terminal (`safe_text`) and cut short. What cannot be used
is left out and said in `problems`, one short line each; only a file that cannot be read at all
(missing, not JSON, not an object, too large) gives no result. Imports neither torch nor textual.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .format import LANDSCAPE_FILE
from .parsing import loads_json
from .reader import safe_text

MAX_BYTES = 8 << 20  # --points is at most 2001: a real landscape.json is tens of kilobytes
MAX_POINTS = 100_000
MAX_TEXT = 80  # characters of a name shown (an arm, "RUN_DIR:ARM")
MAKE_ONE = "eos-tui landscape {run_dir} --curve"
# Positions and values drawn must differ by a finite float: beyond this, a chart's range overflows.
MAX_DRAWN = 1e300


def text(value: Any, limit: int = MAX_TEXT) -> str | None:
    """A string from the file, safe to print and at most `limit` characters; None if not a string."""
    if not isinstance(value, str):
        return None
    value = safe_text(value)
    return value if len(value) <= limit else value[: limit - 1] + "…"


def number(value: Any) -> float | None:
    """A finite float, or None (null, a string, a bool, NaN, an int too large for a float)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        out = float(value)
    except (OverflowError, ValueError):
        return None
    return out if math.isfinite(out) else None


@dataclass
class LandscapePath:
    """The loss along the line (or the trained curve) from the first end point (t=0) to the second (t=1)."""

    t: list[float]
    loss: list[float]  # NaN where the file has null (a loss that overflowed)
    barrier: float | None
    test_loss: list[float] | None = None
    test_barrier: float | None = None
    steps: int | None = None  # the curve: steps of training its middle point


@dataclass
class LandscapeEnd:
    arm: str
    loss: float | None
    sharpness: float | None
    adaptive_sharpness: float | None
    trace: float | None
    trace_stderr: float | None
    step: int | None = None  # the checkpoint's step, from the file's "steps"


@dataclass
class LandscapeSlice:
    arm: str
    s: list[float]
    loss: list[float]
    parabola: list[float] | None
    sharpness: float | None
    lr: float | None
    step: float | None  # η·‖∇L(θ)‖


@dataclass
class LandscapeRead:
    line: LandscapePath | None = None
    curve: LandscapePath | None = None
    ends: list[LandscapeEnd] = field(default_factory=list)
    slice: LandscapeSlice | None = None
    data_of: str | None = None
    problems: list[str] = field(default_factory=list)  # what was left out, and why


def _xs(value: Any, where: str, problems: list[str]) -> list[float] | None:
    """Positions along a path or slice: finite numbers, increasing."""
    if not isinstance(value, list) or not 2 <= len(value) <= MAX_POINTS:
        problems.append(f"{where}: not a list of 2 to {MAX_POINTS} numbers")
        return None
    out = [number(v) for v in value]
    if any(v is None for v in out):
        problems.append(f"{where}: not every entry is a finite number")
        return None
    xs: list[float] = [v for v in out if v is not None]
    if any(b <= a for a, b in zip(xs, xs[1:])):
        problems.append(f"{where}: not increasing")
        return None
    if any(abs(v) > MAX_DRAWN for v in xs):
        problems.append(f"{where}: a position beyond ±{MAX_DRAWN:g}")
        return None
    span = xs[-1] - xs[0]
    if span < 1e-200 or span < 1e-9 * max(abs(xs[0]), abs(xs[-1])):
        problems.append(f"{where}: its positions span too little to draw")
        return None
    return xs


def _ys(value: Any, n: int, where: str, problems: list[str]) -> list[float] | None:
    """Values at those positions: numbers or null (NaN), as many as the positions."""
    if not isinstance(value, list) or len(value) != n:
        problems.append(f"{where}: not a list of {n} numbers (one per position)")
        return None
    if any(v is not None and number(v) is None and not isinstance(v, float) for v in value):
        problems.append(f"{where}: holds something other than numbers")
        return None
    out = [math.nan if (x := number(v)) is None else x for v in value]
    if any(abs(v) > MAX_DRAWN for v in out):
        problems.append(f"{where}: values beyond ±{MAX_DRAWN:g} not drawn")
        out = [v if abs(v) <= MAX_DRAWN else math.nan for v in out]
    return out


def _path(value: Any, name: str, problems: list[str]) -> LandscapePath | None:
    if not isinstance(value, dict):
        problems.append(f"{name}: missing or not an object")
        return None
    t = _xs(value.get("t"), f"{name}.t", problems)
    if t is None:
        return None
    loss = _ys(value.get("loss"), len(t), f"{name}.loss", problems)
    if loss is None:
        return None
    out = LandscapePath(t=t, loss=loss, barrier=number(value.get("barrier")))
    if "test_loss" in value:
        out.test_loss = _ys(value.get("test_loss"), len(t), f"{name}.test_loss", problems)
        out.test_barrier = number(value.get("test_barrier"))
    steps = value.get("steps")
    out.steps = steps if isinstance(steps, int) and not isinstance(steps, bool) and 0 <= steps < 10**12 else None
    return out


def _ends(value: Any, steps: Any, problems: list[str]) -> list[LandscapeEnd]:
    if not isinstance(value, list):
        problems.append("ends: missing or not a list")
        return []
    out = []
    for i, e in enumerate(value[:2]):
        if not isinstance(e, dict):
            problems.append(f"ends[{i}]: not an object")
            continue
        arm = text(e.get("arm")) or f"end {i + 1}"
        step = steps.get(e.get("arm")) if isinstance(steps, dict) and isinstance(e.get("arm"), str) else None
        out.append(
            LandscapeEnd(
                arm=arm,
                loss=number(e.get("loss")),
                sharpness=number(e.get("sharpness")),
                adaptive_sharpness=number(e.get("adaptive_sharpness")),
                trace=number(e.get("trace")),
                trace_stderr=number(e.get("trace_stderr")),
                step=step if isinstance(step, int) and not isinstance(step, bool) and 0 <= step < 10**12 else None,
            )
        )
    if len(value) > 2:
        problems.append(f"ends: {len(value)} end points, showing the first two")
    return out


def _slice(value: Any, problems: list[str]) -> LandscapeSlice | None:
    if not isinstance(value, dict):
        problems.append("slice: missing or not an object")
        return None
    s = _xs(value.get("s"), "slice.s", problems)
    if s is None:
        return None
    loss = _ys(value.get("loss"), len(s), "slice.loss", problems)
    if loss is None:
        return None
    parabola = _ys(value.get("parabola"), len(s), "slice.parabola", problems) if "parabola" in value else None
    return LandscapeSlice(
        arm=text(value.get("arm")) or "?",
        s=s,
        loss=loss,
        parabola=parabola,
        sharpness=number(value.get("sharpness")),
        lr=number(value.get("lr")),
        step=number(value.get("step")),
    )


def landscape_path(run_dir: str | os.PathLike[str]) -> Path:
    return Path(run_dir) / LANDSCAPE_FILE


def read_landscape(run_dir: str | os.PathLike[str]) -> tuple[LandscapeRead | None, str | None]:
    """(what could be read, None), or (None, why nothing could: one line). A missing file says how
    to make one. Never raises on the file's content."""
    path = landscape_path(run_dir)
    where = safe_text(str(path))
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except FileNotFoundError:
        return None, f"no {LANDSCAPE_FILE} in {safe_text(str(run_dir))}: make one with `{MAKE_ONE.format(run_dir=safe_text(str(run_dir)))}`"
    except OSError as e:
        return None, f"{where}: cannot read: {safe_text(e.strerror or str(e))}"
    if len(raw) > MAX_BYTES:
        return None, f"{where}: larger than {MAX_BYTES >> 20} MiB, not a landscape"
    try:
        data = loads_json(raw)
    except ValueError:  # UnicodeDecodeError, and parsing.InputError (nested too deep), are ValueErrors
        return None, f"{where}: not valid JSON (written by an older or interrupted `eos-tui landscape`?)"
    if not isinstance(data, dict):
        return None, f"{where}: not a JSON object"
    problems: list[str] = []
    out = LandscapeRead(problems=problems)
    out.line = _path(data.get("line"), "line", problems)
    if "curve" in data:
        out.curve = _path(data.get("curve"), "curve", problems)
    out.ends = _ends(data.get("ends"), data.get("steps"), problems)
    out.slice = _slice(data.get("slice"), problems)
    out.data_of = text(data.get("data_of"))
    if out.line is None and out.curve is None and not out.ends and out.slice is None:
        return None, f"{where}: holds no landscape ({'; '.join(problems[:3])})"
    return out, None
