"""Exceptions the engine raises on purpose (engine code: imports neither torch nor textual here)."""

from __future__ import annotations


class ScenarioRefused(Exception):
    """A scenario that validated but turns out, once its model is built, to be one the engine cannot
    run (e.g. optimizer.lr_relative on a model whose λ_max at initialization is not positive).
    Its message is one line a person can act on; headless reports it as such and exits 2."""
