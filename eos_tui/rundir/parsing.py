"""Parsing JSON and TOML that come from outside (run directories, sweep directories, scenario files).

Every reader in eos_tui parses through `loads_json` and `loads_toml`, which fail only with
`InputError` (a ValueError, so the readers' existing `except ValueError` treats it as one more bad
line or bad file). Python's parsers recurse once per level of nesting: a line of 100000 '[' raises
RecursionError (json, tomllib) and a huge document MemoryError, neither of which is a ValueError, so
one hostile file used to end a whole command (`runs`, every run listed) with a traceback. Nesting is
also bounded well below the recursion limit (MAX_DEPTH), because what a reader does with a value
(copy.deepcopy, the control-character filter, json.dumps for a table cell) recurses too, and a
value 900 levels deep that the parser accepted would fail there instead, where nobody catches it.

Imports neither torch nor textual.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any, Callable

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# Far deeper than anything eos-tui writes (a manifest is 4 levels deep, a scenario 3), far shallower
# than the recursion limit (1000 frames, of which the caller already uses some).
MAX_DEPTH = 64

TOO_DEEP = f"nested deeper than {MAX_DEPTH} levels"


class InputError(ValueError):
    """A document that cannot be read: `reason` says why in a few words, `line` (1-based, within the
    text given) where, if known. str() is "line N: reason" or the reason alone."""

    def __init__(self, reason: str, line: int | None = None):
        self.reason = reason
        self.line = line
        super().__init__(f"line {line}: {reason}" if line is not None else reason)

    def at(self, where: str) -> str:
        """The one line a reader shows: "FILE:LINE: reason" (or "FILE: reason")."""
        return f"{where}:{self.line}: {self.reason}" if self.line is not None else f"{where}: {self.reason}"


def _too_deep(value: Any, top: int = 1) -> bool:
    """Whether a parsed value nests dicts and lists deeper than MAX_DEPTH (iterative: never recurses).
    `top`: the level of `value` itself (0 for a TOML document, whose root table is no bracket)."""
    stack = [(value, top)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (dict, list)):
            if depth > MAX_DEPTH:
                return True
            stack.extend((v, depth + 1) for v in (node.values() if isinstance(node, dict) else node))
    return False


def _openers(text: bytes | str) -> int:
    """An upper bound on the nesting depth of a JSON or TOML text: its '[' and '{' (in strings too)."""
    if isinstance(text, str):
        return text.count("[") + text.count("{")
    return text.count(b"[") + text.count(b"{")


# A JSON string, or one bracket: what the depth scan steps through (a regex skips the rest in C).
_JSON_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}\n]', re.S)
# TOML: multi-line and one-line strings of both kinds, comments, brackets, newlines.
_TOML_TOKENS = re.compile(r'"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\'|"(?:[^"\\\n]|\\.)*"|\'[^\'\n]*\'|#[^\n]*|[\[\]{}\n]')


# A dotted key of more than MAX_DEPTH parts (a.b.c… = 1, [a.b.c…]) in TOML whose strings are blanked
# to "": each part is a level of tables, and tomllib's time and memory grow with the square of the
# parts (a key of 100000 parts took minutes and every gigabyte there was). The look-behind lets a
# match start only where a key can, which keeps the search linear.
_KEY_PART = r'(?:[A-Za-z0-9_-]+|"")'
_DOTTED = re.compile(rf'(?<![A-Za-z0-9_"-]){_KEY_PART}(?:[ \t]*\.[ \t]*{_KEY_PART}){{{MAX_DEPTH},}}')


def _blank_strings(m: re.Match[str]) -> str:
    tok = m.group()
    if tok[0] in "\"'":
        return '""' + "\n" * tok.count("\n")  # keeps the line numbers
    return "" if tok[0] == "#" else tok


def _long_dotted_key(text: str) -> int | None:
    """The line of the first dotted key of more than MAX_DEPTH parts, or None."""
    if text.count(".") <= MAX_DEPTH:
        return None
    blanked = _TOML_TOKENS.sub(_blank_strings, text)
    m = _DOTTED.search(blanked)
    return None if m is None else blanked.count("\n", 0, m.start()) + 1


def _deep_line(text: str, tokens: re.Pattern[str], *, headers: bool) -> int | None:
    """The 1-based line where the nesting first goes deeper than MAX_DEPTH, or None if it does not
    (as far as this scan can tell: it only says where, the parser or `_too_deep` says whether).
    With `headers` (TOML), a '[' that opens a line outside any value is a table header, not a level."""
    line, depth, line_at = 1, 0, 0  # line_at: where the current line begins
    header = False
    for m in tokens.finditer(text):
        tok = m.group()
        if tok == "\n":
            line, line_at, header = line + 1, m.end(), False
        elif tok[0] in "\"'#":
            line += tok.count("\n")
            if "\n" in tok:
                line_at = m.start() + tok.rfind("\n") + 1
        elif header:
            continue
        elif headers and depth == 0 and tok == "[" and not text[line_at : m.start()].strip():
            header = True  # [table] or [[array]]: up to the end of the line
        elif tok in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return line
        else:
            depth = max(0, depth - 1)
    return None


def _text(raw: bytes | str) -> str:
    return raw if isinstance(raw, str) else raw.decode("utf-8", errors="replace")


def _parse(parse: Callable[[Any], Any], raw: bytes | str) -> tuple[Any, bool]:
    """(parse(raw), False), or (None, True) where the parser recursed too deep; InputError where the
    document is too large for memory."""
    try:
        return parse(raw), False
    except RecursionError:
        return None, True
    except MemoryError:
        raise InputError("too large to read") from None


def loads_json(raw: bytes | str) -> Any:
    """json.loads, except that a document nested deeper than MAX_DEPTH, or too large for memory,
    raises InputError (with the line, in a document of several lines) like any other bad JSON."""
    value, deep = _parse(json.loads, raw)
    # The walk only where the text could nest that deep: a metrics line has one or two '['.
    deep = deep or (_openers(raw) > MAX_DEPTH and _too_deep(value))
    if deep:
        raise InputError(TOO_DEEP, _deep_line(_text(raw), _JSON_TOKENS, headers=False))
    return value


def loads_toml(text: str) -> dict[str, Any]:
    """tomllib.loads, except that a document nested deeper than MAX_DEPTH raises InputError (with
    the line) and one too large for memory InputError, rather than RecursionError or MemoryError;
    invalid TOML raises tomllib's TOMLDecodeError (a ValueError) as before."""
    line = _long_dotted_key(text)  # before tomllib, which would take minutes and all the memory
    if line is not None:
        raise InputError(TOO_DEEP, line)
    value, deep = _parse(tomllib.loads, text)
    # Always walked: tables nest by headers and dotted keys too, not only by brackets, and the walk
    # costs little beside tomllib's own parse of the same text.
    deep = deep or _too_deep(value, top=0)
    if deep:
        raise InputError(TOO_DEEP, _deep_line(text, _TOML_TOKENS, headers=True))
    return value
