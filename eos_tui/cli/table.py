"""A run's records as a tidy table: one row per record, one column per field.

Lists of numbers become numbered columns (`eigenvalues` → `eigenvalue_1` … `eigenvalue_k`,
`raw_eigenvalues` → `raw_eigenvalue_1`), a nested object one column per key (`data.lr`), and the
record's `type` and `arm` are columns like any other. Values stay what JSON made them: float, int,
str, bool or None (null: JSON has no NaN, a diverged loss is written as null). Strings come from the
run directory, so they have been through rundir.reader.safe_text (no control characters).
"""

from __future__ import annotations

import functools
import json
import types
import typing
from typing import Any, Iterable

from ..rundir.format import RECORD_SCHEMAS, RECORD_TYPES
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


# The record schema (rundir/format.py's TypedDicts, RECORD_SCHEMAS) as column kinds: "int", "float"
# or "str" for a field, "float" for each numbered column of a list of numbers; fields of any other
# type (data: an object) have none, and their columns are typed by what they hold.
INT, FLOAT, STR = "int", "float", "str"
_KIND_OF = {int: INT, float: FLOAT, str: STR}


def _kind(annotation: Any) -> tuple[str, bool] | None:
    """(kind, is a list of it) for a field's annotation, None (not nullable) stripped."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        kinds = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _kind(kinds[0]) if len(kinds) == 1 else None
    if typing.get_origin(annotation) is list:
        inner = _kind(typing.get_args(annotation)[0]) if typing.get_args(annotation) else None
        return (inner[0], True) if inner is not None and not inner[1] else None
    kind = _KIND_OF.get(annotation)
    return (kind, False) if kind is not None else None


@functools.cache
def field_kinds(record_type: str) -> dict[str, tuple[str, bool]]:
    """{field: (kind, is a list)} for a record type's declared fields ({} for an unknown type)."""
    schema = RECORD_SCHEMAS.get(record_type)
    if schema is None:
        return {}
    hints = typing.get_type_hints(schema)
    return {name: k for name, a in hints.items() if (k := _kind(a)) is not None}


def fits(kind: str, value: Any) -> bool:
    """Whether `value` (a JSON scalar) is of `kind`; null fits every kind (JSON has no NaN: a value
    that was not finite is written as null, whatever its field). A bool is no number here."""
    if value is None:
        return True
    t = type(value)  # `type(...) is int`, not isinstance: True is an int to isinstance
    if kind == FLOAT:
        return t is float or t is int
    if kind == INT:
        return t is int or (t is float and value.is_integer())
    return t is str


def _declares(record_type: str, column: str) -> bool:
    """Whether `column` comes from one of the record type's own fields (a list's numbered columns too)."""
    for name, (_, is_list) in field_kinds(record_type).items():
        if column == name and not is_list:
            return True
        if is_list:
            prefix = _list_column(name, 0)[:-1]  # eigenvalues -> "eigenvalue_"
            if column.startswith(prefix) and column[len(prefix) :].isdigit():
                return True
    return False


def column_kinds(records: Iterable[dict[str, Any]]) -> dict[str, str]:
    """{column: kind} for the columns the schema types, over these records (a column two record
    types declare differently: float where both are numbers, none where one is text)."""
    present: dict[str, set[str]] = {}  # per record type, the fields its records have
    lengths: dict[tuple[str, str], int] = {}  # per (type, list field), its longest list
    for rec in records:
        t = rec.get("type")
        if not isinstance(t, str) or not field_kinds(t):
            continue
        if t not in present:
            present[t] = set()
        present[t].update(rec)
        for name in _list_fields(t):
            value = rec.get(name)
            if type(value) is list and len(value) > lengths.get((t, name), 0):
                lengths[(t, name)] = len(value)
    seen: dict[str, set[str]] = {}
    for t, names in present.items():
        for name, (kind, is_list) in field_kinds(t).items():
            columns = [_list_column(name, i) for i in range(lengths.get((t, name), 0))] if is_list else [name] if name in names else []
            for column in columns:
                seen.setdefault(column, set()).add(kind)
    out: dict[str, str] = {}
    for column, kinds in seen.items():
        if len(kinds) == 1:
            out[column] = next(iter(kinds))
        elif kinds == {INT, FLOAT}:
            out[column] = FLOAT
    return out


@functools.cache
def _list_fields(record_type: str) -> tuple[str, ...]:
    return tuple(name for name, (_, is_list) in field_kinds(record_type).items() if is_list)


def foreign_kinds(record_type: str, kinds: dict[str, str]) -> dict[str, str]:
    """The typed columns (`kinds`) that are not this record type's own fields: where one of its
    records can still hold a value of another type (a field another record type declares)."""
    return {c: k for c, k in kinds.items() if not _declares(record_type, c)}


def misfits(record: dict[str, Any], row: dict[str, Any], foreign: dict[str, str]) -> list[str]:
    """What in a record (and its tidy row) is not of the type the schema gives it: its own fields
    (a list of numbers that is not one), else its row's values in the `foreign` typed columns."""
    declared = field_kinds(str(record.get("type")))
    bad = []
    for name, value in record.items():
        k = declared.get(name)
        if k is None or value is None:
            continue
        kind, is_list = k
        ok = type(value) is list and all(fits(kind, v) for v in value) if is_list else fits(kind, value)
        if not ok:
            bad.append(safe_text(name))
    if not bad and foreign:
        bad = [c for c in foreign.keys() & row.keys() if not fits(foreign[c], row[c])]
    return bad
