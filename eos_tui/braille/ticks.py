"""Axis ticks at round values (1, 2, 5 x 10^k) and short labels that fit a narrow y axis."""

from __future__ import annotations

import math
from typing import Callable

LABEL_WIDTH = 6  # characters of a y tick label


def nice_step(span: float, max_ticks: int, *, integer: bool = False) -> float:
    """The smallest round step (1, 2, 2.5, 5 x 10^k) giving at most max_ticks intervals over span.
    integer: a whole number ≥ 1 (training steps have no tick at 2.5)."""
    if not span > 0 or max_ticks < 1:
        return 1.0
    raw = span / max_ticks
    if integer and raw <= 1:
        return 1.0
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if integer and (m * mag) % 1:
            continue
        if m * mag >= raw:
            return m * mag
    return 10 * mag


def linear_ticks(lo: float, hi: float, max_ticks: int, *, integer: bool = False) -> list[float]:
    step = nice_step(hi - lo, max_ticks, integer=integer)
    first = math.ceil(lo / step - 1e-9)
    out: list[float] = []
    k = first
    while k * step <= hi + 1e-9 * step and len(out) < 100:
        out.append(round(k * step, 12))
        k += 1
    return out


def log_ticks(lo: float, hi: float, max_ticks: int) -> list[float]:
    """Ticks for a log axis, as log10 values: whole decades, thinned; or round values inside one."""
    decades = list(range(math.ceil(lo - 1e-9), math.floor(hi + 1e-9) + 1))
    if len(decades) >= 2:
        stride = max(1, math.ceil(len(decades) / max(1, max_ticks)))
        return [float(d) for d in decades[::stride]]
    values = [v for v in linear_ticks(10**lo, 10**hi, max_ticks) if v > 0]
    return [math.log10(v) for v in values]


def _scientific(v: float, digits: int) -> str:
    """1.5e-7, 4e-9, 2e3: no '+', no leading zeros in the exponent, no trailing zeros in the mantissa."""
    mantissa, exponent = f"{v:.{digits}e}".split("e")
    if "." in mantissa:
        mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


def step_decimals(step: float) -> int:
    """Decimals that write every multiple of step exactly: 1 for 0.5, 2 for 0.25, 0 for 250."""
    for decimals in range(0, 16):
        scaled = step * 10**decimals
        if abs(scaled - round(scaled)) <= 1e-9 * scaled:
            return decimals
    return 15


MAX_LABEL_ERROR = 0.05  # a shortened label may be off by at most 5% of the value


def format_value(v: float, step: float | None = None, width: int = LABEL_WIDTH) -> str:
    """A label of at most `width` characters where the value allows: plain when short enough,
    else scientific. A label is never cut short and never rounded by more than 5%: a value that
    no such form fits is written wider than asked, rather than as a different number."""
    if v == 0:
        return "0"
    if not math.isfinite(v):
        return str(v)
    if step is not None and step > 0:
        text = f"{v:.{step_decimals(step)}f}"
        if len(text) <= width and abs(v) < 1e5:
            return text

    def close(text: str) -> bool:
        return abs(float(text) - v) <= MAX_LABEL_ERROR * abs(v)

    for significant in (4, 3, 2, 1):
        text = f"{v:.{significant}g}"
        if "e" not in text and len(text) <= width and close(text):
            return text
    for digits in (2, 1, 0):
        text = _scientific(v, digits)
        if len(text) <= width and close(text):
            return text
    return next(t for t in (_scientific(v, d) for d in (0, 1, 2)) if close(t))


def tick_label(t: float, step: float, width: int = LABEL_WIDTH) -> str | None:
    """The label of a linear-axis tick, or None when no label of `width` characters says exactly
    this tick (ticks 1e-6 apart at 2685.7 would all read "2686": better no label than a wrong one)."""
    text = format_value(t, step, width)
    if len(text) > width or abs(float(text) - t) > 1e-6 * step:
        return None
    return text


def labelled_ticks(lo: float, hi: float, max_ticks: int) -> list[tuple[float, str]]:
    """Ticks of a linear axis with their labels: the finest round step at which every tick has an
    exact label of LABEL_WIDTH characters, at least two of them (steps of 2.5e-4 need "-0.0025",
    too wide, where steps of 1e-3 do not); failing that, the most ticks that have one (possibly
    none: no label beats a wrong one)."""
    best: list[tuple[float, str]] = []
    for m in range(max(1, max_ticks), 0, -1):
        ticks = linear_ticks(lo, hi, m)
        step = ticks[1] - ticks[0] if len(ticks) > 1 else nice_step(hi - lo, m)
        labelled = [(t, label) for t in ticks if (label := tick_label(t, step)) is not None]
        if len(labelled) == len(ticks) >= 2:
            return labelled
        if len(labelled) > len(best):
            best = labelled
    return best


def format_decade(k: int) -> str:
    """The label of the log-axis tick 10^k."""
    return format_value(10.0**k) if -3 <= k <= 4 else f"1e{k}"


def format_step(v: float) -> str:
    """An x (step) label: 800, 1200, 15k, 1.5M."""
    if abs(v - round(v)) > 1e-9:  # never written as a different number
        return f"{v:g}"
    v = round(v)
    if abs(v) >= 1_000_000:
        return f"{v / 1e6:g}M"
    if abs(v) >= 10_000:
        return f"{v / 1e3:g}k"
    return str(int(v))


def log_step_ticks(s0: float, s1: float, cell: Callable[[float], int], gap: int) -> list[float]:
    """Ticks of a log step axis (log10(1 + step)) over steps [s0, s1]: 0 and the decades 1, 10, 100,
    …, then 2× and 5× each decade where they fit (up to s1 + 1: the step count of a run that ends at
    s1), and that end. `cell(step)` is a tick's cell; two ticks are at least `gap` cells apart (a
    label and a space), the decades placed first, then the end."""
    end = s1 + 1  # a run of 1000 steps ends at step 999: its tick 1000 is in the last cell
    decades: list[float] = [0.0] + [10.0**k for k in range(0, 16) if 10.0**k <= end]
    halves = [m * 10.0**k for k in range(0, 16) for m in (2, 5) if m * 10.0**k <= end]
    last = [float(math.floor(s1) + 1)]  # the end of the axis (60 on a run of 60 steps), before 2× and 5×
    chosen: list[float] = []
    for t in [t for t in decades + last + halves if t >= s0]:
        if all(abs(cell(t) - cell(u)) >= gap for u in chosen):
            chosen.append(t)
    return sorted(chosen)
