"""The one exception the data loaders raise (no numpy here: the scenario layer imports it)."""

from __future__ import annotations


class DataError(ValueError):
    """Data that cannot be used: missing, malformed or hostile files. The message is one line that
    names the file (and the key or member) and what to do."""
