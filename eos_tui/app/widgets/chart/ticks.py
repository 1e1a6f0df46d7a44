"""Axis ticks at round values (1, 2, 5 x 10^k) and short labels that fit a narrow y axis."""

from __future__ import annotations

import math

LABEL_WIDTH = 6  # characters of a y tick label


def nice_step(span: float, max_ticks: int) -> float:
    if not span > 0 or max_ticks < 1:
        return 1.0
    raw = span / max_ticks
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if m * mag >= raw:
            return m * mag
    return 10 * mag


def linear_ticks(lo: float, hi: float, max_ticks: int) -> list[float]:
    step = nice_step(hi - lo, max_ticks)
    first = math.ceil(lo / step - 1e-9)
    out = []
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
    values = [v for v in linear_ticks(10 ** lo, 10 ** hi, max_ticks) if v > 0]
    return [math.log10(v) for v in values]


def _scientific(v: float, digits: int) -> str:
    """1.5e-7, 4e-9, 2e3: no '+', no leading zeros in the exponent, no trailing zeros in the mantissa."""
    mantissa, exponent = f"{v:.{digits}e}".split("e")
    if "." in mantissa:
        mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


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
        decimals = max(0, -math.floor(math.log10(step) + 1e-9))
        text = f"{v:.{decimals}f}"
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


def format_decade(k: int) -> str:
    """The label of the log-axis tick 10^k."""
    return format_value(10.0 ** k) if -3 <= k <= 4 else f"1e{k}"


def format_step(v: float) -> str:
    """An x (step) label: 800, 1200, 15k, 1.5M."""
    v = round(v)
    if abs(v) >= 1_000_000:
        return f"{v / 1e6:g}M"
    if abs(v) >= 10_000:
        return f"{v / 1e3:g}k"
    return str(int(v))
