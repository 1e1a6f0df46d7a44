"""The one exception the Monitor raises at its start: bad input, or a model whose curvature cannot
be measured honestly (the message is one line saying which and why)."""

from __future__ import annotations


class MonitorError(ValueError):
    """eos_tui.Monitor refused its arguments (raised by the constructor, never inside the loop)."""
