"""User code named by a scenario (`model.kind = "python"`, `data.kind = "python"`): the factory
references and the trust decision, without importing anything (no torch, no user code).

A factory reference is "FILE.py:function" (a path; relative to the scenario file that names it, made
absolute as the scenario loads, so that a run directory's resolved scenario.toml means the same file
from anywhere) or "package.module:function" (a module found on the import path).

Naming code in a scenario is a trust decision: running the scenario runs that code with the user's
permissions. Every command that would import it (run, resume, landscape, sweep) refuses a scenario
that names code unless --trust-code is given, and checks this before it imports or writes anything
(`untrusted`). Readers (watch, export, plot, runs, serve on a run directory, sweep show) never build
a model, so they never import it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any, Iterable

TRUST_FLAG = "--trust-code"

# A dotted module path: identifiers separated by dots.
_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_FUNCTION = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class FactoryRef:
    """A parsed factory reference: a file (`path`, absolute once resolved) or a module, and a function."""

    path: str | None  # FILE.py, or None for a module
    module: str | None  # package.module, or None for a file
    function: str

    @property
    def text(self) -> str:
        return f"{self.path if self.path is not None else self.module}:{self.function}"


def parse_factory(text: str) -> FactoryRef:
    """ "models.py:make" or "pkg.module:make" → FactoryRef; ValueError with what is expected."""
    if not isinstance(text, str) or "\x00" in text or ":" not in text:
        raise ValueError(f"must be 'FILE.py:function' or 'package.module:function' (got {text!r})")
    target, function = text.rsplit(":", 1)
    target = target.strip()
    if not _FUNCTION.fullmatch(function):
        raise ValueError(f"{function!r} after the ':' is not a function name (expected 'FILE.py:function' or 'package.module:function')")
    if not target:
        raise ValueError(f"names no file or module before the ':' (got {text!r})")
    if target.endswith(".py") or "/" in target or os.sep in target:
        return FactoryRef(target, None, function)
    if not _MODULE.fullmatch(target):
        raise ValueError(f"{target!r} is neither a .py file nor a dotted module name")
    return FactoryRef(None, target, function)


def absolute_factory(text: str, base_dir: str | os.PathLike[str] | None = None) -> str:
    """The reference with its file made absolute (~ expanded; relative to `base_dir`, else to the
    current directory); a module reference unchanged. ValueError for a malformed one."""
    ref = parse_factory(text)
    if ref.path is None:
        return ref.text
    path = os.path.expanduser(ref.path)
    if not os.path.isabs(path) and base_dir is not None:
        path = os.path.join(os.fspath(base_dir), path)
    return f"{os.path.abspath(path)}:{ref.function}"


def code_refs(arms: Iterable[Any]) -> list[str]:
    """The factories the arms name ("model.factory = …"), each once, in arm order."""
    seen: dict[str, None] = {}
    for arm in arms:
        for section in ("model", "data"):
            part = getattr(arm, section)
            if getattr(part, "kind", None) == "python":
                seen[f"{section}.factory = {part.factory!r}"] = None
    return list(seen)


def untrusted(arms: Iterable[Any], source: str, *, trusted: bool, command: str = "run") -> str | None:
    """None when the arms name no code or `trusted`; else the one line that refuses them, naming the
    scenario file, the code and the flag."""
    refs = code_refs(arms)
    if not refs or trusted:
        return None
    # Each factory named (a sweep's points may name several; the first three, then a count).
    named = ", ".join(refs[:3]) + (f" and {len(refs) - 3} more" if len(refs) > 3 else "")
    return (
        f"{source}: names Python code ({named}), which {command} would import and run with your permissions; "
        f"nothing was imported or written: pass {TRUST_FLAG} if you trust it"
    )
