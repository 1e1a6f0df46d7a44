"""A run's records as a tidy table: one row per record, one column per field.

Lists of numbers become numbered columns (`eigenvalues` → `eigenvalue_1` … `eigenvalue_k`,
`raw_eigenvalues` → `raw_eigenvalue_1`), a nested object one column per key (`data.lr`), and the
record's `type` and `arm` are columns like any other. Values stay what JSON made them: float, int,
str, bool or None (null: JSON has no NaN, a diverged loss is written as null). Strings come from the
run directory, so they have been through rundir.reader.safe_text (no control characters).
"""

from __future__ import annotations

import json
from typing import Any, Iterable

from ..rundir.format import RECORD_TYPES
from ..rundir.reader import safe_text

# The columns that come first, in this order, when present; the rest follow in order of first appearance.
LEADING = ("type", "arm", "step", "loss", "lr", "threshold", "grad_norm", "proj", "disp")


def parse_record_types(text: str | None) -> tuple[str, ...]:
    """`--records step,sharpness` as a tuple of record types (all of them for None); ValueError
    naming the unknown ones."""
    if text is None:
        return RECORD_TYPES
    wanted = tuple(dict.fromkeys(t.strip() for t in text.split(",") if t.strip()))
    unknown = [t for t in wanted if t not in RECORD_TYPES]
    if unknown or not wanted:
        what = ", ".join(repr(safe_text(u)) for u in unknown) or "nothing"
        raise ValueError(f"--records: {what} is not a record type; choose among {','.join(RECORD_TYPES)}")
    return wanted


def _list_column(name: str, i: int) -> str:
    # eigenvalues -> eigenvalue_1: the issue's (and pandas users') spelling of one value per column
    return f"{name[:-1] if name.endswith('s') and len(name) > 1 else name}_{i + 1}"


def _is_scalar(v: Any) -> bool:
    return v is None or isinstance(v, (int, float, str, bool))


def flatten(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """One record as {column: scalar}."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        name = prefix + safe_text(str(key))
        if _is_scalar(value):
            out[name] = value
        elif isinstance(value, dict):
            out.update(flatten(value, prefix=name + "."))
        elif isinstance(value, list) and all(_is_scalar(v) for v in value):
            for i, v in enumerate(value):
                out[_list_column(name, i)] = v
        else:  # a list of lists or objects: kept as its JSON text
            out[name] = json.dumps(value, ensure_ascii=False, allow_nan=False, default=str)
    return out


def _order(columns: dict[str, int]) -> list[str]:
    """Columns in LEADING order, then by first appearance, numbered columns of one list together
    and in numeric order (eigenvalue_2 before eigenvalue_10, whatever record first had them)."""

    def base(c: str) -> tuple[str, int]:
        head, _, tail = c.rpartition("_")
        return (head, int(tail)) if head and tail.isdigit() else (c, 0)

    first_of_base: dict[str, int] = {}
    for c, seen in columns.items():
        b = base(c)[0]
        first_of_base[b] = min(first_of_base.get(b, seen), seen)

    def key(c: str) -> tuple[int, int, int]:
        if c in LEADING:
            return (0, LEADING.index(c), 0)
        b, i = base(c)
        return (1, first_of_base[b], i)

    return sorted(columns, key=key)


def tidy(records: Iterable[dict[str, Any]], types: Iterable[str] = RECORD_TYPES) -> tuple[list[str], list[dict[str, Any]]]:
    """(columns, rows) for the records of the given types, in file order."""
    wanted = set(types)
    rows: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for rec in records:
        if rec.get("type") not in wanted:
            continue
        row = flatten(rec)
        for c in row:
            if c not in seen:
                seen[c] = len(seen)
        rows.append(row)
    return _order(seen), rows
