"""A braille canvas: each terminal cell is 2 dots wide and 4 dots tall (Unicode U+2800..U+28FF).

Drawing is vectorized: a series arrives as one vertical span of dot rows per dot column (its
min..max in that column), becomes a boolean dot mask, and is folded into per-cell bit patterns.
Layers are drawn bottom first; a cell takes the colour of the topmost layer that has a dot in it
(a terminal cell has one foreground colour), and shows the dots of all layers of its *level*. A
layer of a higher level clears a cell of the lower levels' dots, which in its colour would read as
its own: the background (0: a reference line, an event's vertical, the cursor) gives way to data,
and faint data (1: the arms not highlighted) to the highlighted arm's (2), so that the dashes of the
line at 1, or a faint arm just under it, never show as a second trace of the arm hovering on it.
"""

from __future__ import annotations

import numpy as np

# Bit of the dot at (row dy, column dx) inside a cell, per the Unicode braille pattern layout.
DOT_BITS = np.array([[0x01, 0x08], [0x02, 0x10], [0x04, 0x20], [0x40, 0x80]], dtype=np.uint16)
BRAILLE_BASE = 0x2800


class BrailleCanvas:
    def __init__(self, cols: int, rows: int):
        self.cols, self.rows = max(0, cols), max(0, rows)
        self.width, self.height = 2 * self.cols, 4 * self.rows  # in dots
        self.bits = np.zeros((self.rows, self.cols), dtype=np.uint16)
        self.owner = np.full((self.rows, self.cols), -1, dtype=np.int32)
        self.level = np.full((self.rows, self.cols), -1, dtype=np.int8)  # the level of each cell's dots

    def draw_mask(self, mask: np.ndarray, layer: int, level: int = 2) -> None:
        """Add the dots of a (height, width) boolean mask, coloured as `layer`, at `level` (0
        background, 1 faint data, 2 data): they leave out cells of a higher level and clear those of a lower one."""
        if not self.rows or not self.cols:
            return
        cells = (mask.reshape(self.rows, 4, self.cols, 2) * DOT_BITS[None, :, None, :]).sum(axis=(1, 3)).astype(np.uint16)
        hit = (cells != 0) & (self.level <= level)
        self.bits[hit & (self.level < level)] = 0
        self.bits[hit] |= cells[hit]
        self.owner[hit] = layer
        self.level[hit] = level

    def spans_mask(self, top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
        """Dots from row `top[x]` down to row `bottom[x]` in each dot column x (NaN: none).

        Rows count from the top. Spans are clipped to the canvas; a span wholly outside is dropped.
        """
        top = np.asarray(top, dtype=np.float64)
        bottom = np.asarray(bottom, dtype=np.float64)
        ok = np.isfinite(top) & np.isfinite(bottom) & (bottom >= 0) & (top <= self.height - 1)
        t = np.where(ok, np.clip(np.round(top), 0, self.height - 1), 1.0)
        b = np.where(ok, np.clip(np.round(bottom), 0, self.height - 1), 0.0)
        y = np.arange(self.height, dtype=np.float64)[:, None]
        return (y >= t[None, :]) & (y <= b[None, :])

    def text_rows(self) -> list[str]:
        """Each cell row as a string: braille patterns, spaces where no dot is set."""
        codes = np.where(self.bits == 0, 0x20, BRAILLE_BASE + self.bits).astype("<u4")
        return [row.tobytes().decode("utf-32-le") for row in codes]
