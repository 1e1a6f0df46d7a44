"""Reparameterization panel: the latest checks that sharpness depends on the parameterization."""

from __future__ import annotations

import math

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
        rows = latest_checks(checks, self._rows_that_fit(first, width))
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
