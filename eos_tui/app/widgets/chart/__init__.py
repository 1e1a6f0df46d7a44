"""The braille chart widget and its pure parts (downsampling, canvas, ticks)."""

from .chart import Chart, HLine, Mark, Series, faint  # noqa: F401
from .downsample import MinMaxPyramid, minmax_columns  # noqa: F401
