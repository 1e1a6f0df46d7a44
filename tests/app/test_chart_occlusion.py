"""A terminal cell has one colour: where a reference line, an event's vertical or a faint arm shares a
cell with the highlighted arm, its dots must not be drawn in that arm's colour (they read as a second
trace of it: the line at 1 as a twin of the arm hovering on it, an event's dots as a spike). The
lower level gives way (canvas.py)."""

import numpy as np

from eos_tui.app.widgets.chart import Chart, HLine, Mark, Series
from eos_tui.app.widgets.chart.chart import faint
from eos_tui.braille.canvas import BrailleCanvas
from eos_tui.braille.downsample import MinMaxPyramid


def dots(rows: int, cols: int, *points: tuple[int, int]) -> np.ndarray:
    mask = np.zeros((4 * rows, 2 * cols), dtype=bool)
    for y, x in points:
        mask[y, x] = True
    return mask


def test_lower_levels_leave_a_cell_to_a_higher_one_equal_levels_share_it():
    c = BrailleCanvas(3, 1)
    c.draw_mask(dots(1, 3, (3, 0), (3, 2), (3, 4)), 0, level=0)  # a reference line along the bottom
    c.draw_mask(dots(1, 3, (0, 0), (0, 2)), 1, level=1)  # a faint arm in cells 0 and 1
    c.draw_mask(dots(1, 3, (1, 1)), 2, level=2)  # the highlighted arm in cell 0
    c.draw_mask(dots(1, 3, (2, 1)), 3, level=2)  # another series of its level: shares the cell
    # cell 0: only the level-2 dots; cell 1: the faint arm (the line's dot gone); cell 2: the line
    assert c.text_rows() == [chr(0x2800 + 0x10 + 0x20) + chr(0x2800 + 0x01) + chr(0x2800 + 0x40)]
    assert c.owner.tolist() == [[3, 1, 0]]
    # drawn later, a lower level stays out of a cell a higher one holds
    c.draw_mask(dots(1, 3, (3, 0), (3, 2)), 4, level=0)
    assert c.text_rows()[0][:2] == chr(0x2800 + 0x30) + chr(0x2800 + 0x01) and c.owner.tolist() == [[3, 1, 0]]


def test_the_line_at_1_and_an_event_line_never_take_the_hovering_arms_colour():
    xs = np.arange(100.0)
    hover = 1.0 + 0.02 * (-1.0) ** np.arange(100)  # an arm at the edge, in the cells of the line at 1
    below = np.full(100, 0.9)  # a faint arm just under it

    def chart(extra: bool) -> list[str]:
        c = Chart(include_zero=True)
        series = [Series("hover", xs, hover, "#ff0000")]
        if extra:
            series.insert(0, Series("below", xs, below, faint("#00ff00"), core=False))
        c._series, c._marks, c._hlines = series, [Mark(50, "E")] if extra else [], [HLine(1.0)] if extra else []
        for s in c._series:
            c._pyramids[s.key] = MinMaxPyramid()
            c._pyramids[s.key].update(s.xs, s.ys)
        strips = c.render_strips(40, 10)
        return ["".join(seg.text for seg in strip) for strip in strips[:-2]]

    alone, crowded = chart(False), chart(True)
    assert alone != crowded  # the line, the event and the faint arm are drawn where the arm is not
    # wherever the highlighted arm has dots, the cell shows its dots and nothing else
    for a, b in zip(alone, crowded):
        for ch_a, ch_b in zip(a, b):
            if 0x2800 < ord(ch_a) <= 0x28FF:
                assert ch_b == ch_a
