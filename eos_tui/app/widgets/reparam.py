"""Reparameterization panel: the latest checks that sharpness depends on the parameterization."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult

from ..model import RunModel
from ..view import View
from .panel import Panel, Text
from .chart.ticks import format_value

ROWS_SHOWN = 4


def reparam_table(rows, *, show_step: bool = True) -> Table:
    table = Table(box=None, padding=(0, 1), pad_edge=False, expand=False, header_style="bold #a0a0a0")
    if show_step:
        table.add_column("step", justify="right")
    table.add_column("α", justify="right")
    table.add_column("|Δf|", justify="right")
    table.add_column("ΔL", justify="right")
    table.add_column("λ before→after", justify="left", no_wrap=True)
    for r in rows:
        cells = [format_value(r.alpha, width=4), format_value(r.max_output_change, width=5), format_value(r.loss_change, width=5),
                 f"{format_value(r.sharpness_before)}→{format_value(r.sharpness_after)}"]
        table.add_row(*([str(r.step)] if show_step else []), *cells)
    return table


class ReparamPanel(Panel):
    TITLE = "Reparameterization"
    help = """\
**Reparameterization** checks rescale two consecutive layers by α and 1/α (for ReLU networks
the function computed is exactly the same: the largest output change and the loss change are at
round-off level) and measure λ_max before and after. Sharpness changes a lot: **λ_max is not a
property of the function** but of the parameterization, which is why "flat minima generalize"
needs care (Dinh et al. 2017). Gradient descent's stability, though, does depend on it.
"""

    def compose(self) -> ComposeResult:
        yield Text("no checks yet", id="reparam-table")

    def show(self, model: RunModel, view: View) -> None:
        arm = model.arms.get(view.arm or "")
        rows = arm.reparams[-ROWS_SHOWN:] if arm is not None else []
        body = self.query_one("#reparam-table", Text)
        if not rows:
            body.set("[#a0a0a0]no checks yet[/]")
        else:
            show_step = self.size.width >= 34
            body.set(reparam_table(rows, show_step=show_step), key=(tuple(rows), show_step), lines=len(rows) + 1)
        self.set_subtitle(f"{len(arm.reparams)} checks" if arm is not None and arm.reparams else "")
