"""eos-tui: a terminal laboratory for the edge of stability.

This module must stay import-light: `eos-tui --help` imports it, and it must never pull in
torch or textual.
"""

__version__ = "0.1.0"
