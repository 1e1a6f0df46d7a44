"""The live Textual app (imports textual and numpy, never torch)."""

from .app import EosApp, run_app  # noqa: F401
