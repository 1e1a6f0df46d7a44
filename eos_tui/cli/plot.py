"""`eos-tui plot RUN_DIR -o FIG.png`: a paper figure in the style of Cohen et al. (2021), Figure 1.

Panels side by side, sharing the step axis: the sharpness λ_max of each arm against its own dashed
stability threshold 2/η_t (the engine's threshold where it is not 2/η: momentum, Adam, RMSprop),
the training loss on a log axis, and ⟨∇L, u⟩ along the top eigenvector (the period-2 oscillation).
Each arm has the colour it has in the app (eos_tui/app/widgets/palette.py, read without importing
the app, so no textual here), and past the app's six arm colours one of its own (arm_colors).
matplotlib (the `plot` extra) draws through its Agg/SVG/PDF back-ends directly (no pyplot, no GUI).
"""

from __future__ import annotations

import bisect
import colorsys
import importlib.util
import io
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Sequence

from ..rundir.format import END, SELFSTAB, SHARPNESS, STEP, step_threshold
from ..rundir.reader import read_manifest, safe_text
from .errors import CommandError, missing_extra
from .exit import ExitCode
from .export import read_run_records
from .output import DESCRIPTOR, STREAM, destination, write_bytes

PANELS = ("sharpness", "loss", "proj")  # the default figure
# "sharpness" picks its form (sharpness_form): λ_max itself ("raw") or λ_max over each arm's threshold
# ("normalized", λ_max·η_t/2 for GD, the app's `n`), the latter where the raw panel would flatten an arm
SHARPNESS_PANELS = ("sharpness", "raw", "normalized")
# "portrait": Damian et al.'s self-stabilization plane (x, y) of the arms that measure it, added to
# the default figure where the run has selfstab records (measure.self_stabilization).
PORTRAIT = "portrait"
CHOICES = (*SHARPNESS_PANELS, "loss", "proj", PORTRAIT)
FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
PANEL_WIDTH_IN, HEIGHT_IN, DPI = 3.4, 2.8, 200


def palette() -> ModuleType:
    """The app's palette module, loaded from its file: importing it as eos_tui.app.widgets.palette
    would import the app package, and textual with it."""
    loaded = sys.modules.get("eos_tui.app.widgets.palette")
    if loaded is not None:
        return loaded
    path = Path(__file__).resolve().parent.parent / "app" / "widgets" / "palette.py"
    spec = importlib.util.spec_from_file_location("eos_tui._palette_for_plots", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def arm_colors(n: int) -> list[str]:
    """`n` colours, no two the same: the app's arm colours first (so that a figure matches the
    app), then its other bright colours that mean nothing else in a figure, then hues around the
    colour wheel, a golden angle apart. The app cycles its six; a figure of seven arms must not
    show two in one colour."""
    colors = palette()
    base = [*colors.ARM_COLORS, colors.PINK, colors.PURPLE]
    out = list(dict.fromkeys(base))[:n]
    hue = 0.0
    while len(out) < n:
        hue = (hue + 0.381966) % 1.0
        r, g, b = colorsys.hsv_to_rgb(hue, 0.6 + 0.3 * (len(out) % 2), 0.95 - 0.2 * (len(out) // 2 % 2))
        color = f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}"
        if color not in out:
            out.append(color)
    return out


@dataclass
class ArmData:
    name: str
    color: str
    step: list[float] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    threshold: list[float] = field(default_factory=list)
    proj: list[float] = field(default_factory=list)
    sharpness_step: list[float] = field(default_factory=list)
    sharpness: list[float] = field(default_factory=list)
    preconditioned: bool = False
    diverged: bool = False
    own_threshold: bool = False  # a threshold that is not 2/η (momentum, Adam, RMSprop)
    # selfstab records: the step, the measured (x, y), the map's prediction and the stage named
    selfstab: list[tuple[float, float, float, float, float, str]] = field(default_factory=list)


def _num(v: Any) -> float:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else math.nan


def collect(records: Sequence[dict[str, Any]], manifest: dict[str, Any] | None) -> dict[str, ArmData]:
    """Per arm, in the app's order (the manifest's arms, then any others as recorded), so that the
    colours are the app's."""
    names: list[str] = []
    arms = (manifest or {}).get("arms")
    if isinstance(arms, dict):
        names += [safe_text(str(a)) for a in arms]
    for rec in records:
        a = rec.get("arm")
        if isinstance(a, str) and rec.get("type") in (STEP, SHARPNESS) and a not in names:
            names.append(a)
    out = {n: ArmData(n, c) for n, c in zip(names, arm_colors(len(names)))}
    if isinstance(arms, dict):
        for n, entry in arms.items():
            if isinstance(entry, dict) and entry.get("status") == "diverged" and safe_text(str(n)) in out:
                out[safe_text(str(n))].diverged = True
    for rec in records:
        arm = out.get(rec.get("arm"))  # type: ignore[arg-type]
        if arm is None:
            continue
        kind = rec.get("type")
        if kind == STEP:
            arm.step.append(_num(rec.get("step")))
            arm.loss.append(_num(rec.get("loss")))
            try:
                arm.threshold.append(_num(step_threshold(rec)))
            except (TypeError, ZeroDivisionError):
                arm.threshold.append(math.nan)
            arm.proj.append(_num(rec.get("proj")))
            arm.own_threshold = arm.own_threshold or rec.get("threshold") is not None
        elif kind == END:
            arm.diverged = arm.diverged or rec.get("status") == "diverged"
        elif kind == SHARPNESS:
            eig = rec.get("eigenvalues")
            arm.sharpness_step.append(_num(rec.get("step")))
            arm.sharpness.append(_num(eig[0]) if isinstance(eig, list) and eig else math.nan)
            arm.preconditioned = arm.preconditioned or rec.get("operator") == "preconditioned"
        elif kind == SELFSTAB:
            stage = rec.get("stage")
            arm.selfstab.append(
                (
                    _num(rec.get("step")),
                    _num(rec.get("x")),
                    _num(rec.get("y")),
                    _num(rec.get("x_pred")),
                    _num(rec.get("y_pred")),
                    safe_text(stage) if isinstance(stage, str) else "",
                )
            )
    return out


def draw_portrait(ax, arms: Sequence[ArmData]) -> None:
    """x = ⟨u, θ − θ†⟩ across, y = ⟨∇S, θ − θ†⟩ (≈ S − 2/η) up: each measured step a dot in its
    stage's colour (the app's), the steps of one parity joined (x flips sign every step, so joining
    t and t+1 would cross the plane), the paper's map dotted; the range is the measured points'
    (the map, which can run away on a small network, is cut at it)."""
    colors = palette()
    ax.set_xlabel(r"$x = \langle u, \theta - \theta^\dagger \rangle$")
    ax.set_ylabel(r"$y = \langle \nabla S, \theta - \theta^\dagger \rangle$")
    ax.axhline(0.0, color=colors.REFERENCE, linewidth=0.6, linestyle="--")
    ax.axvline(0.0, color=colors.REFERENCE, linewidth=0.6, linestyle=":")
    xs_all: list[float] = []
    ys_all: list[float] = []
    for a in arms:
        if not a.selfstab:
            continue
        steps, x, y, xp, yp, stages = zip(*a.selfstab)
        for parity in (0, 1):
            keep = [i for i, t in enumerate(steps) if int(t) % 2 == parity]
            ax.plot([x[i] for i in keep], [y[i] for i in keep], color=a.color, linewidth=0.5, alpha=0.5)
            ax.plot([xp[i] for i in keep], [yp[i] for i in keep], color=colors.REFERENCE, linewidth=0.6, linestyle=":")
        for stage, color in colors.STAGE_COLORS.items():
            idx = [i for i, s in enumerate(stages) if s == stage]
            if idx:
                ax.scatter([x[i] for i in idx], [y[i] for i in idx], s=3, color=color, label=colors.STAGE_NAMES[stage], zorder=3)
        xs_all += [v for v in x if math.isfinite(v)]
        ys_all += [v for v in y if math.isfinite(v)]
    if xs_all and ys_all:
        xr = max(abs(v) for v in xs_all) * 1.1 or 1.0
        lo, hi = min(0.0, *ys_all), max(0.0, *ys_all)
        pad = 0.1 * (hi - lo) or 1.0
        ax.set_xlim(-xr, xr)
        ax.set_ylim(lo - pad, hi + pad)
        ax.legend(fontsize=6, frameon=False, loc="best", markerscale=3)
    else:
        ax.text(0.5, 0.5, "no selfstab records\n(measure.self_stabilization)", ha="center", va="center", transform=ax.transAxes, fontsize=7)
    ax.set_title("self-stabilization (x, y)", fontsize=9)


def _label(text: str) -> str:
    """Run text as a plain label: a '$' would start matplotlib's math mode."""
    return text.replace("$", r"\$")


# A diverged arm's loss and ⟨∇L, u⟩ run to 1e7 and beyond before it stops, and would flatten every
# other arm into a line at the edge. Where the diverged arms widen a panel's range by more than the
# other arms' own span (log axes: by more than CLIP_DECADES), the range is the other arms' (with a
# margin), and each diverged arm that leaves it gets a triangle at the edge, at the step where it
# leaves, in its colour, with the furthest value it reached.
CLIP_DECADES = 2.0
MARGIN = 0.05


def _scaled(values: Sequence[float], log: bool) -> list[float]:
    return [math.log10(v) if log else v for v in values if math.isfinite(v) and (v > 0 or not log)]


def robust_limits(kept: Sequence[float], every: Sequence[float], *, log: bool = False) -> tuple[float, float] | None:
    """The y range that `kept` needs (with a margin), when `every` value would need one much wider;
    None when it would not (matplotlib's own limits then show everything)."""
    k, a = _scaled(kept, log), _scaled(every, log)
    if not k or not a:
        return None
    lo, hi = min(k), max(k)
    span = hi - lo
    if span <= 0:
        span = 1.0 if log else (abs(hi) * 0.1 or 1.0)
    widening = max(lo - min(a), 0.0) + max(max(a) - hi, 0.0)
    if widening <= (CLIP_DECADES if log else span):
        return None
    lo, hi = lo - MARGIN * span, hi + MARGIN * span
    return (10.0**lo, 10.0**hi) if log else (lo, hi)


def off_scale_text(value: float) -> str:
    """An off-scale mark's value to two significant digits, as a reader writes it: 870, 2600, 0.15,
    and 1.7e7 past 10⁵ (not Python's 8.7e+02)."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    if 1e-3 <= abs(value) < 1e5:
        return f"{float(f'{value:.2g}'):g}"
    mantissa, exponent = f"{value:.1e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def mark_off_scale(
    ax,
    color: str,
    xs: Sequence[float],
    ys: Sequence[float],
    limits: tuple[float, float],
    *,
    hollow: bool = False,
    taken: list | None = None,
) -> int:
    """A triangle at the axis's edge where this series first leaves `limits` (above, below), with
    the furthest value it reached there; the number of marks drawn. `hollow` for a threshold (the
    dashed line), filled for λ_max or a loss; `taken` collects the marks drawn so far on this axis,
    so that a second mark near the first is drawn under it, not over it."""
    from matplotlib.transforms import offset_copy  # the `plot` extra: imported where it draws

    lo, hi = limits
    marks = 0
    x_lo, x_hi = ax.get_xlim()
    near = 0.04 * abs(x_hi - x_lo)
    for beyond, edge, marker, extreme, va, inward in (
        ([y > hi for y in ys], hi, "^", max, "bottom", -1),
        ([y < lo for y in ys], lo, "v", min, "top", 1),
    ):
        if not any(beyond):
            continue
        first = beyond.index(True)
        value = extreme(y for y, b in zip(ys, beyond) if b)
        stack = 0
        if taken is not None:
            stack = sum(1 for x, e in taken if e == edge and abs(x - xs[first]) <= near)
            taken.append((xs[first], edge))
        # a second mark near the first goes under it (inward), its triangle and its value both: two
        # thresholds off the top at step 0 (warmup's) would draw one triangle over the other
        shift = inward * 7 * stack
        transform = offset_copy(ax.transData, fig=ax.figure, x=0, y=shift, units="points") if shift else ax.transData
        face = "white" if hollow else color
        ax.plot(
            [xs[first]],
            [edge],
            marker=marker,
            color=color,
            markerfacecolor=face,
            markersize=5,
            clip_on=False,
            linestyle="none",
            zorder=5,
            transform=transform,
        )
        where = (xs[first], edge)
        offset = (4, shift)
        text = off_scale_text(value)
        ax.annotate(text, where, xytext=offset, textcoords="offset points", color=color, fontsize=6, va=va, annotation_clip=False)
        marks += 1
    return marks


def _clip_panel(ax, arms: Sequence[ArmData], series, *, log: bool = False, extra=None) -> None:
    """Robust y limits for the loss or the ⟨∇L, u⟩ panel: `series(arm)` the (xs, ys) of its data,
    `extra(arm)` values that the range always holds and that get no marks."""
    kept = [a for a in arms if not a.diverged]
    if not kept or len(kept) == len(arms):
        return
    values = {a.name: list(series(a)[1]) for a in arms}
    # every arm's threshold stays in view, the diverged arm's too: it is why that arm diverged
    lines = [v for a in arms for v in (extra(a) if extra else ())]
    limits = robust_limits([v for a in kept for v in values[a.name]] + lines, [v for a in arms for v in values[a.name]] + lines, log=log)
    if limits is None:
        return
    ax.set_ylim(*limits)
    for a in arms:
        if a.diverged:
            xs, ys = series(a)
            mark_off_scale(ax, a.color, xs, [y if math.isfinite(y) else math.nan for y in ys], limits)


# The sharpness panel's y range is λ_max's, never a threshold's: under warmup 2/η_t starts thousands of
# times above λ_max, after a decay far above it, and either set the range would flatten every λ_max
# curve into a line at the bottom. A threshold within REACH of the data's scale (its span; FLAT of its
# size for a flat line) widens the range to hold it, so that λ_max keeps at least half of the panel's
# height; a threshold beyond is cut at the edge and marked there (an open triangle and its furthest
# value). The range is at least FLAT/2 of the data's size, so that a constant λ_max (the quadratic's)
# is a line in the middle and not its rounding noise magnified.
REACH = 0.5
FLAT = 0.2


def data_scale(lo: float, hi: float) -> float:
    return max(hi - lo, FLAT * max(abs(lo), abs(hi))) or 1.0


def sharpness_limits(values: Sequence[float], lines: Sequence[float]) -> tuple[float, float] | None:
    """The y range for the λ_max `values` in view and the thresholds `lines`: the values' range,
    widened to hold each line within REACH × their scale, with a margin; None without a value."""
    v = [x for x in values if math.isfinite(x)]
    if not v:
        return None
    lo, hi = min(v), max(v)
    reach = REACH * data_scale(lo, hi)
    size = max(abs(lo), abs(hi))  # the data's, not a threshold's: a line held in view adds no floor
    near = [t for t in lines if math.isfinite(t) and lo - reach <= t <= hi + reach]
    lo, hi = min([lo, *near]), max([hi, *near])
    width = max(hi - lo, FLAT / 2 * size) or 1.0
    mid = (lo + hi) / 2
    return mid - width * (0.5 + MARGIN), mid + width * (0.5 + MARGIN)


def threshold_at(arm: ArmData, steps: Sequence[float]) -> list[float]:
    """The arm's threshold at each of `steps`: that of the step record of the same step, else of the
    one before (the app's rule, eos_tui/app/widgets/sharpness.py)."""
    known = [(s, t) for s, t in zip(arm.step, arm.threshold) if math.isfinite(s)]
    at = [s for s, _ in known]
    out = []
    for s in steps:
        i = bisect.bisect_right(at, s) - 1 if math.isfinite(s) else -1
        out.append(known[i][1] if i >= 0 else math.nan)
    return out


def normalized_sharpness(arm: ArmData) -> list[float]:
    """λ_max over the arm's threshold at its step (λ_max·η_t/2 for GD): every arm's edge is 1."""
    return [v / t if t > 0 else math.nan for v, t in zip(arm.sharpness, threshold_at(arm, arm.sharpness_step))]


def sharpness_series(arm: ArmData, form: str) -> list[float]:
    return normalized_sharpness(arm) if form == "normalized" else arm.sharpness


def sharpness_view(arms: Sequence[ArmData], form: str) -> tuple[tuple[float, float] | None, bool]:
    """The sharpness panel's y range in `form` ("raw" or "normalized") and whether the diverged arms'
    λ_max is cut from it (robust_limits: where it would widen the range more than the others' span)."""
    every = {a.name: sharpness_series(a, form) for a in arms}
    kept = [v for a in arms if not a.diverged for v in every[a.name]]
    everything = [v for vs in every.values() for v in vs]
    cut = len(kept) < len(everything) and robust_limits(kept, everything) is not None
    lines = [1.0] if form == "normalized" else [t for a in arms for t in a.threshold]
    if cut:  # where a diverged arm started (above the edge, for a catapult's diverging arm) stays in view if it can
        lines += [next((v for v in every[a.name] if math.isfinite(v)), math.nan) for a in arms if a.diverged]
    return sharpness_limits(kept if cut else everything, lines), cut


# An arm is flattened by a panel where its λ_max moves (its range is at least MOVES of its largest
# value: a catapult, progressive sharpening, a warmup) and yet spans less than FLATTENED of the
# panel's height: the catapult's uv arm (λ_max 2 → 0.15) beside MLP arms at 17 (BENCHMARKS.md, plot).
MOVES = 0.5
FLATTENED = 0.15


def arm_fraction(values: Sequence[float], limits: tuple[float, float]) -> float | None:
    """The part of the panel's height that `values` span, None where they do not move (by MOVES)."""
    lo, hi = limits
    v = [x for x in values if math.isfinite(x) and lo <= x <= hi]
    if not v or hi <= lo:
        return None
    top = max(abs(x) for x in v)
    if top == 0 or (max(v) - min(v)) / top < MOVES:
        return None
    return (max(v) - min(v)) / (hi - lo)


def flattened(arms: Sequence[ArmData], form: str) -> list[str]:
    """The arms (not diverged) that the sharpness panel in `form` flattens."""
    limits, _ = sharpness_view(arms, form)
    if limits is None:
        return []
    out = []
    for a in arms:
        f = arm_fraction(sharpness_series(a, form), limits)
        if not a.diverged and f is not None and f < FLATTENED:
            out.append(a.name)
    return out


def sharpness_form(arms: Sequence[ArmData]) -> str:
    """The default sharpness panel: λ_max itself, as Cohen et al. draw it, unless that flattens an
    arm and λ_max over each arm's threshold flattens fewer: arms of different sizes (the catapult's
    uv and MLP arms) or a threshold that moves (warmup's 2/η_t) then share one scale, every edge at 1."""
    raw = flattened(arms, "raw")
    return "normalized" if raw and len(flattened(arms, "normalized")) < len(raw) else "raw"


def draw_sharpness(ax, arms: Sequence[ArmData], form: str) -> None:
    normalized = form == "normalized"
    own = any(a.own_threshold for a in arms)  # Adam's threshold is 38/η: not to be called 2/η
    for a in arms:
        if not normalized:
            ax.plot(a.step, a.threshold, color=a.color, linestyle="--", linewidth=1.0, drawstyle="steps-post")
        ax.plot(a.sharpness_step, sharpness_series(a, form), color=a.color, linewidth=1.6)
    if normalized:
        ax.axhline(1.0, color=palette().REFERENCE, linestyle="--", linewidth=1.0)
    limits, cut = sharpness_view(arms, form)
    if limits is not None:
        ax.set_ylim(*limits)
        taken: list = []
        first = min((x for a in arms for x in a.sharpness_step if math.isfinite(x)), default=math.nan)
        if normalized and math.isfinite(first):  # the edge too is marked where it is off the scale
            mark_off_scale(ax, palette().REFERENCE, [first], [1.0], limits, hollow=True, taken=taken)
        for a in arms:
            if not normalized:
                mark_off_scale(ax, a.color, a.step, a.threshold, limits, hollow=True, taken=taken)
            if a.diverged and cut:
                mark_off_scale(ax, a.color, a.sharpness_step, sharpness_series(a, form), limits, taken=taken)
    if normalized:
        ax.set_ylabel(normalized_label(arms))
        title = "sharpness over its threshold" if own else r"$\lambda_{\max}\eta_t/2$"
        ax.set_title(title + ": the edge at 1 (dashed)", fontsize=9)
    else:
        ax.set_ylabel(sharpness_label(arms))
        ax.set_title("sharpness and its threshold (dashed)" if own else r"sharpness and $2/\eta_t$ (dashed)", fontsize=9)


def normalized_label(arms: Sequence[ArmData]) -> str:
    """The normalized axis: λ_max·η_t/2 where every threshold is 2/η_t, else λ_max over its threshold."""
    if any(a.own_threshold for a in arms):
        pre = [a.preconditioned for a in arms]
        of = r"$\lambda_{\max}(P^{-1}H)$" if pre and all(pre) else r"$\lambda_{\max}$"
        return of + " / threshold"
    return r"$\lambda_{\max}\,\eta_t/2$"


def sharpness_label(arms: Sequence[ArmData]) -> str:
    """The sharpness axis says what its lines are: λ_max of H for GD, SGD and momentum, of P⁻¹H
    (preconditioned) for Adam and RMSprop; with both kinds in one panel, which is which."""
    pre = [a.preconditioned for a in arms]
    if pre and all(pre):
        return r"preconditioned sharpness $\lambda_{\max}(P^{-1}H)$"
    if any(pre):
        return r"sharpness $\lambda_{\max}$ ($P^{-1}H$ for preconditioned arms)"
    return r"sharpness $\lambda_{\max}$"


def arm_label(arm: ArmData, arms: Sequence[ArmData]) -> str:
    """An arm's legend entry: its name, and "preconditioned" where its sharpness is λ_max(P⁻¹H)
    and not every arm's is (the axis says so then)."""
    mixed = any(not a.preconditioned for a in arms)
    return _label(arm.name) + (" (preconditioned)" if arm.preconditioned and mixed else "")


def build_figure(data: dict[str, ArmData], panels: Sequence[str], *, title: str | None = None):
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    fig = Figure(figsize=(PANEL_WIDTH_IN * len(panels), HEIGHT_IN), dpi=DPI, layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    arms = list(data.values())
    by_step = [ax for ax, panel in zip(axes, panels) if panel != PORTRAIT]
    for ax in by_step[1:]:  # the panels over steps share their x axis; the portrait has its own
        ax.sharex(by_step[0])
    for ax, panel in zip(axes, panels):
        ax.set_xlabel("step")
        ax.spines[["top", "right"]].set_visible(False)
        if panel == PORTRAIT:
            draw_portrait(ax, arms)
        elif panel in SHARPNESS_PANELS:
            draw_sharpness(ax, arms, sharpness_form(arms) if panel == "sharpness" else panel)
        elif panel == "loss":
            ax.set_yscale("log")
            ax.set_ylabel("training loss")
            for a in arms:
                ax.plot(a.step, [v if v > 0 else math.nan for v in a.loss], color=a.color, linewidth=1.2)
            _clip_panel(ax, arms, lambda a: (a.step, a.loss), log=True)
            ax.set_title("loss", fontsize=9)
        elif panel == "proj":
            ax.set_ylabel(r"$\langle \nabla L, u \rangle$")
            ax.axhline(0.0, color=palette().REFERENCE, linewidth=0.6)
            for a in arms:
                ax.plot(a.step, a.proj, color=a.color, linewidth=0.8)
            _clip_panel(ax, arms, lambda a: (a.step, a.proj))
            ax.set_title("along the top eigenvector", fontsize=9)
    handles = [Line2D([], [], color=a.color, linewidth=1.6, label=arm_label(a, arms)) for a in arms]
    if handles:  # beside the panels, never over a line
        fig.legend(handles=handles, fontsize=7, frameon=False, loc="outside right center")
    if title:
        fig.suptitle(_label(title), fontsize=10)
    return fig


def parse_list(values: Sequence[str] | None) -> list[str]:
    """`--arms a,b --arms c` as [a, b, c]."""
    return [v.strip() for item in values or () for v in item.split(",") if v.strip()]


def plot_command(run_dir: Path, *, out: Path, arms: Sequence[str] | None = None, panels: str | None = None, fmt: str | None = None) -> int:
    named = FORMATS.get(out.suffix.lower())
    kind: str | None = named
    if fmt is not None:
        kind = fmt.strip().lower().lstrip(".")
        if kind not in FORMATS.values():
            raise CommandError(f"--format {safe_text(fmt)!r}: choose png, svg or pdf")
        if named is not None and named != kind:
            raise CommandError(f"--format {kind} but -o {safe_text(str(out))} names a {named} file; give one or make them agree")
    dest = destination(out, run_dir=run_dir)  # before the drawing, which takes a while
    if kind is None and dest.kind in (STREAM, DESCRIPTOR):
        raise CommandError(f"-o {safe_text(str(out))}: name the figure's format with --format png, svg or pdf")
    if kind is None:
        raise CommandError(f"-o {safe_text(str(out))}: name a .png, .svg or .pdf file")
    chosen = list(dict.fromkeys(parse_list([panels]))) if panels else list(PANELS)  # a panel named twice is drawn once
    unknown = [p for p in chosen if p not in CHOICES]
    if unknown or not chosen:
        raise CommandError(f"--panels: {', '.join(map(repr, map(safe_text, unknown))) or 'nothing'}: choose among {','.join(CHOICES)}")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise missing_extra("matplotlib", "plot", "eos-tui plot") from None
    records, bad = read_run_records(run_dir)
    if bad:
        print(f"eos-tui: {bad}", file=sys.stderr)
    manifest = read_manifest(run_dir)
    data = collect(records, manifest)
    wanted = parse_list(arms)
    if wanted:
        missing = [a for a in wanted if a not in data]
        if missing:
            have = ", ".join(data) or "none"
            raise CommandError(f"--arms: {', '.join(map(repr, map(safe_text, missing)))} not in {safe_text(str(run_dir))} (arms: {have})")
        data = {n: a for n, a in data.items() if n in wanted}  # each keeps the app's colour
    if not any(a.step or a.sharpness_step for a in data.values()):
        raise CommandError(f"{safe_text(str(run_dir))}: no step or sharpness records to plot yet")
    if not panels and any(a.selfstab for a in data.values()):
        chosen.append(PORTRAIT)  # the run measured self-stabilization: its portrait too
    scenario = (manifest or {}).get("scenario")
    fig = build_figure(data, chosen, title=safe_text(str(scenario)) if scenario else None)
    buf = io.BytesIO()  # drawn whole, then written: a FIFO or /dev/stdout cannot seek (PDF's offsets)
    fig.savefig(buf, format=kind, metadata=None if kind != "png" else {"Software": "eos-tui"})
    write_bytes(dest, buf)
    print(f"{safe_text(str(out))}", file=sys.stderr)
    return ExitCode.OK
