"""eos-tui: a terminal laboratory for the edge of stability.

This module must stay import-light: `eos-tui --help` imports it, and it must never pull in
torch or textual. `eos_tui.Monitor` (eos_tui/monitor, which imports torch) is loaded on first use.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {"Monitor": "eos_tui.monitor", "MonitorError": "eos_tui.monitor"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'eos_tui' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
