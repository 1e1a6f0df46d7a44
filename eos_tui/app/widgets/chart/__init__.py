"""The braille chart widget (its pure parts, Textual-free, are in eos_tui/braille/)."""

from .chart import Chart, HLine, Mark, Series, faint  # noqa: F401
