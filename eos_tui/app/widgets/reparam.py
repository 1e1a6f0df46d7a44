"""Reparameterization panel: the latest checks that sharpness depends on the parameterization."""

from __future__ import annotations

import math

from rich.console import Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text as RichText
from textual.app import ComposeResult

from ...braille.ticks import format_value
from ...rundir.format import RUNNING
from ..model import RunModel
from ..view import View
from .palette import INVARIANT, MUTED
from .panel import Panel, Text

ROWS_SHOWN = 3  # before the panel has a size; then as many as fit (ReparamPanel._rows_that_fit)


def where(r) -> str:
    """Which units T_α rescaled: "L0" is layer pair (0, 1), "L0½" every other unit of layer 0."""
    if r.layer is None:
        return "?"
    return f"L{r.layer}" + ("" if r.neurons == "all" else "½")


def map_label(r) -> str:
    """ "L0×10": layer pair (0, 1) rescaled by α = 10; "L0½×10": every other unit of layer 0."""
    return f"{where(r)}×{format_value(r.alpha, width=4)}"


def latest_checks(checks, limit: int):
    """The checks of the latest step that has any; where more than `limit`, those that moved
    λ_max the most (by |log λ_after/λ_before|), kept in the order they were recorded."""
    if not checks:
        return []
    step = checks[-1].step
    rows = [r for r in checks if r.step == step]
    if len(rows) <= limit:
        return rows

    def moved(r) -> float:
        try:
            return abs(math.log(r.sharpness_after / r.sharpness_before))
        except (ValueError, ZeroDivisionError):
            return math.inf

    keep = set(sorted(range(len(rows)), key=lambda i: -moved(rows[i]))[:limit])
    return [r for i, r in enumerate(rows) if i in keep]


def shown_of(rows, checks, width: int | None = None) -> str:
    """How many checks the table shows, of how many: "3 of 40 checks"; where the latest step had
    more than the table shows (those that moved λ_max most are kept), that step's count too. Where
    that is wider than `width`, the step's count alone ("3 of 12 at step 300"), never a cut text."""
    at_step = sum(1 for r in checks if r.step == rows[-1].step) if rows else 0
    of_step = f" ({at_step} at step {rows[-1].step})" if rows and len(rows) < at_step else ""
    text = f"{len(rows)} of {len(checks)} checks{of_step}"
    if width is not None and len(text) > width and of_step:
        return f"{len(rows)} of {at_step} at step {rows[-1].step}"
    return text


def fitted(text: str, shorter: str, width: int) -> str:
    return text if len(text) <= width else shorter


FULL_TABLE_WIDTH = 36  # cells the five-column table needs; narrower panels drop ΔL


def reparam_table(rows, full: bool = True) -> Table:
    """One row per map T_α: the function's change (|Δf|, ΔL: round-off) and λ_max and the
    adaptive sharpness after it (the values before are the same for every row of a step).
    Not `full` (a panel narrower than FULL_TABLE_WIDTH), ΔL is left out (|Δf| already shows the
    function is the same) rather than every number being cut to "4.4…"."""
    table = Table(box=None, padding=(0, 1), pad_edge=False, expand=False, header_style=f"bold {MUTED}")
    table.add_column("map", justify="left", no_wrap=True)
    table.add_column("|Δf|", justify="right", no_wrap=True)
    if full:
        table.add_column("ΔL", justify="right", no_wrap=True)
    table.add_column("λ_max", justify="right", no_wrap=True)
    table.add_column("adaptive" if full else "adapt", justify="right", style=INVARIANT, no_wrap=True)
    for r in rows:
        cells = [map_label(r), format_value(r.max_output_change, width=5)]
        if full:
            cells.append(format_value(r.loss_change, width=6))
        cells += [format_value(r.sharpness_after, width=6), "–" if r.adaptive_after is None else format_value(r.adaptive_after, width=6)]
        table.add_row(*cells)
    return table


def before_line(r) -> str:
    adaptive = "" if r.adaptive_before is None else f" · adaptive [{INVARIANT}]{format_value(r.adaptive_before)}[/]"
    return f"[{MUTED}]step {r.step}, before:[/] λ_max {format_value(r.sharpness_before)}{adaptive}"


# The largest output change the summary calls "same f": above float32's round-off on outputs up to
# ~100 through the maps' α = 0.1…10 (float64's is ~1e-15), far below what a map that is not a
# reparameterization of the network changes (the engine refuses those: reparam_skipped).
SAME_FUNCTION = 1e-4


def value_range(values: list[float], width: int) -> str:
    """ "1.2…170" from the smallest to the largest; one value where both read the same (the
    adaptive sharpness, which the maps leave unchanged)."""
    lo, hi = format_value(min(values), width=width), format_value(max(values), width=width)
    return lo if lo == hi else f"{lo}…{hi}"


def summary(rows, width: int) -> tuple[str, Group, int]:
    """The latest check step in a few lines, where its table does not fit: the maps leave the
    function as it is (|Δf| at round-off) and the adaptive sharpness too, while λ_max spreads over a
    range: the panel's point, which two rows of twelve could not make. (first line's markup, the
    rest, the rest's lines)

        step 300: 12 maps T_α
                   before  after
        λ_max        3.97  1.2…170
        adaptive    0.393  0.393
        |Δf| ≤ 4.4e-16: same f
    """
    first = rows[0]
    digits = 6 if width >= FULL_TABLE_WIDTH else 5
    table = Table(box=None, padding=(0, 1), pad_edge=False, expand=False, header_style=f"bold {MUTED}")
    table.add_column("", justify="left", no_wrap=True)
    table.add_column("before", justify="right", no_wrap=True)
    table.add_column("after", justify="left", no_wrap=True)
    table.add_row("λ_max", format_value(first.sharpness_before, width=digits), value_range([r.sharpness_after for r in rows], digits))
    adaptive = [r.adaptive_after for r in rows if r.adaptive_after is not None]
    lines = 2
    if adaptive and first.adaptive_before is not None:
        table.add_row(
            RichText("adaptive", style=INVARIANT),
            RichText(format_value(first.adaptive_before, width=digits), style=INVARIANT),
            RichText(value_range(adaptive, digits), style=INVARIANT),
        )
        lines += 1
    parts: list = [table]
    changes = [r.max_output_change for r in rows if math.isfinite(r.max_output_change)]
    if changes:
        same = ": same f" if max(changes) <= SAME_FUNCTION else ""
        parts.append(RichText.from_markup(f"[{MUTED}]|Δf| ≤ {format_value(max(changes), width=digits)}{same}[/]"))
        lines += 1
    return f"[{MUTED}]step {first.step}: {len(rows)} maps T_α[/]", Group(*parts), lines


class ReparamPanel(Panel):
    TITLE = "Reparameterization"
    help = """\
**Reparameterization** checks rescale two consecutive layers by α and 1/α (for ReLU networks
the function computed is exactly the same: the largest output change and the loss change are at
round-off level) and measure λ_max before and after. Sharpness changes a lot: **λ_max is not a
property of the function** but of the parameterization, which is why "flat minima generalize"
needs care (Dinh et al. 2017). Gradient descent's stability, though, does depend on it.

"map" says which units were rescaled: L0 is the layer pair (0, 1), L0½ every other unit of
layer 0 only (the per-neuron version). The engine also checks λ_max after against the
prediction λ_max(D⁻¹HD⁻¹). **adaptive** is the element-wise adaptive sharpness
λ_max(diag|θ| H diag|θ|) of Kwon et al. 2021: T_α leaves it unchanged (|θ'| = D|θ| cancels
D⁻¹HD⁻¹), so of the two numbers it is the one that does not move.

Where the latest step's maps do not all fit the panel, it sums them up: λ_max before and its
range after, the adaptive sharpness before and after, and the largest |Δf|. **r** shows every
check, each step's table whole.
"""

    _first_len: tuple[str, int] | None = None  # the `before` line and its width in cells

    def compose(self) -> ComposeResult:
        yield Text("no checks yet", id="reparam-before")
        yield Text("", id="reparam-table")

    def show(self, model: RunModel, view: View) -> None:
        arm = model.arms.get(view.arm or "")
        checks = arm.reparams if arm is not None else []
        before = self.query_one("#reparam-before", Text)
        body = self.query_one("#reparam-table", Text)
        if not checks:
            before.set(self._absent(model, arm))
            body.set("", lines=1)
            self.set_subtitle("")
            return
        width = self.content_size.width
        first = before_line(checks[-1])
        fit = self._rows_that_fit(first, width)
        latest = latest_checks(checks, len(checks))
        if len(latest) > fit and self.is_mounted and width:
            # Not every map of the step fits: the summary says what they show, `r` the whole table.
            head, rest, lines = summary(latest, width)
            before.set(head)
            body.set(rest, key=("summary", tuple(latest), width), lines=lines)
            self.set_subtitle(fitted(f"{len(latest)} at step {latest[-1].step} · r: table", f"r: all {len(latest)}", self.size.width - 4))
            return
        rows = latest_checks(checks, fit)
        before.set(first)
        full = width >= FULL_TABLE_WIDTH or not width
        body.set(reparam_table(rows, full), key=(tuple(rows), full), lines=len(rows) + 1)
        self.set_subtitle(shown_of(rows, checks, width=max(8, self.size.width - 4) if width else None))

    def _rows_that_fit(self, first: str, width: int) -> int:
        """The table's rows that fit under the `before` line (wrapped to `width`) and the table's
        header, within the panel's largest height (app.tcss: 7 lines at 80x24), so that the
        subtitle's count is what shows; ROWS_SHOWN before the panel has a size."""
        limit = self.styles.max_height
        if not self.is_mounted or not width or limit is None or not limit.is_cells:
            return ROWS_SHOWN
        if self._first_len is None or self._first_len[0] != first:  # parsed once per new check, not per frame
            self._first_len = (first, RichText.from_markup(first).cell_len)
        first_lines = -(-self._first_len[1] // width)
        return max(1, int(limit.value) - 2 - first_lines - 1)

    @staticmethod
    def _absent(model: RunModel, arm) -> str:
        skipped = [e for e in (arm.events if arm is not None else []) if e.kind == "reparam_skipped"]
        if skipped:  # a tanh network: the engine refused the check and said why
            return f"[{MUTED}]{escape(skipped[-1].message)}[/]"
        if arm is not None and arm.status != RUNNING:  # ended without one: not "yet"
            return f"[{MUTED}]no checks in this run (measure.reparam_every)[/]"
        return f"[{MUTED}]no checks yet[/]"
