"""How to install an optional extra (plot, parquet, serve, ray), in the form that fits how eos-tui
itself was installed: one helper for every "needs X, which is not installed" message.

`pip install 'eos-tui[plot]'` asks the package index for eos-tui, which is wrong from a clone (it
would install a second copy, or nothing). pip records where a package came from (PEP 610,
direct_url.json): a local folder, editable or not, gets the extra from that folder, `-e` kept.
Unknown (no metadata: run from a source tree on PYTHONPATH): both forms.

Imports nothing heavy: the headless commands and the app both call it.
"""

from __future__ import annotations

import shlex
from importlib import metadata
from urllib.parse import unquote, urlparse

from ..rundir.parsing import loads_json

DIST = "eos-tui"


def _source() -> tuple[str, str | None, bool]:
    """("index" | "folder" | "unknown", the folder, editable)."""
    try:
        dist = metadata.distribution(DIST)
    except metadata.PackageNotFoundError:
        return "unknown", None, False
    try:
        direct = loads_json(dist.read_text("direct_url.json") or "null")
    except (OSError, ValueError):
        direct = None
    if not isinstance(direct, dict):
        return "index", None, False  # from a package index (no direct URL recorded)
    url, info = direct.get("url"), direct.get("dir_info")
    if isinstance(url, str) and url.startswith("file://") and isinstance(info, dict):
        return "folder", unquote(urlparse(url).path), bool(info.get("editable"))
    return "index", None, False  # an archive or a VCS URL: the index form is the one to show


def install_hint(extra: str) -> str:
    """The command that installs `extra`: "pip install 'eos-tui[plot]'", "pip install -e
    '/src/eos-tui[plot]'" for an editable clone, or both forms when the source is unknown."""
    kind, folder, editable = _source()
    if kind == "folder" and folder:
        return f"pip install {'-e ' if editable else ''}{shlex.quote(f'{folder}[{extra}]')}"
    index = f"pip install 'eos-tui[{extra}]'"
    if kind == "index":
        return index
    return f"{index}, or from a clone: pip install '.[{extra}]'"


def missing_extra_message(package: str, extra: str, what: str) -> str:
    """`what` needs `package` of the extra `extra`, and how to install it (one line)."""
    return f"{what} needs {package}, which is not installed: {install_hint(extra)}"
