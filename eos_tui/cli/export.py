"""`eos-tui export RUN_DIR`: the run's records as a tidy table, in CSV, JSON lines or Parquet.

CSV and JSON lines go to stdout unless `-o` names a file; Parquet needs `-o` (and pyarrow, the
`parquet` extra). A file is written whole or not at all, a device or FIFO directly, and nothing of
a run's or a sweep's is replaced (output.destination).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import sys
from pathlib import Path
from typing import IO, Any

from ..rundir.format import METRICS_FILE
from ..rundir.reader import json_lines, safe_text, skipped_note
from .errors import CommandError, missing_extra
from .exit import ExitCode
from .output import destination, open_output, write_bytes
from .table import FLOAT, INT, STR, column_kinds, foreign_kinds, misfits, parse_record_types, tidy

FORMATS = ("csv", "parquet", "jsonl")
SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet"}
# A cell a spreadsheet would read as a formula (=, +, -, @ first; a tab or carriage return first
# too, which some spreadsheets skip before looking) gets a leading ' so that opening the CSV
# computes nothing: text in a run directory is outside input. Text that is a plain number (-0.5)
# is no formula and stays as it is; numbers themselves are never strings here.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
# Every control character, tab and newline included (safe_text keeps those two): in a CSV cell a
# raw newline splits the row for line-based tools, a tab shifts the columns of a TSV-minded reader.
CSV_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
# The columns of a table without rows: what every record has.
EMPTY_COLUMNS = ("type", "arm", "step")
# The line numbers named in one line of stderr, at most (then "…").
SHOWN_LINES = 10
# Records left out of a Parquet table: (line number in metrics.jsonl, the fields of the wrong type).
Dropped = list[tuple[int, list[str]]]


def choose_format(fmt: str | None, out: Path | None) -> str:
    if fmt is not None:
        f = fmt.strip().lower()
        if f not in FORMATS:
            raise CommandError(f"--format {safe_text(fmt)!r}: choose csv, parquet or jsonl")
        named = SUFFIXES.get(out.suffix.lower()) if out is not None else None
        if named is not None and named != f:  # CSV text in a file named .parquet reads as neither
            raise CommandError(f"--format {f} but -o {safe_text(str(out))} names a {named} file; give one or make them agree")
        return f
    if out is not None and out.suffix.lower() in SUFFIXES:
        return SUFFIXES[out.suffix.lower()]
    return "csv"


def csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)  # the shortest text that reads back to the same float
    if isinstance(value, int):
        return str(value)
    text = str(value)
    if text.startswith(FORMULA_START) and not PLAIN_NUMBER.fullmatch(text):
        text = "'" + text
    if CSV_CONTROL.search(text) is None:  # the usual cell: searched, not rebuilt
        return text
    return CSV_CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def write_csv(columns: list[str], rows: list[dict[str, Any]], fh: IO[str]) -> None:
    w = csv.writer(fh, lineterminator="\n")
    w.writerow(csv_cell(c) for c in columns)
    for row in rows:
        w.writerow(csv_cell(row.get(c)) for c in columns)


def _json_value(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def write_jsonl(columns: list[str], rows: list[dict[str, Any]], fh: IO[str]) -> None:
    for row in rows:
        fh.write(json.dumps({c: _json_value(row.get(c)) for c in columns}, ensure_ascii=False, allow_nan=False) + "\n")


def arrow_table(columns: list[str], rows: list[dict[str, Any]], kinds: dict[str, str] | None = None):
    """A pyarrow Table, one typed column per field. A column the record schema types (`kinds`,
    table.column_kinds) has that type: int64, float64 or string, whatever the rows hold (rows
    whose values do not fit are left out before). Any other column (a field the schema does not
    name, data.*) is typed by its values: int64 where every value is an integer, float64 where
    every value is a number, bool, else string (a column that mixes kinds as text)."""
    import pyarrow as pa

    arrow = {INT: pa.int64(), FLOAT: pa.float64(), STR: pa.string()}
    arrays = []
    for c in columns:
        values = [row.get(c) for row in rows]
        present = [v for v in values if v is not None]
        declared = (kinds or {}).get(c)
        if declared == INT:
            arrays.append(pa.array([None if v is None else int(v) for v in values], type=arrow[INT]))
        elif declared == FLOAT or (
            declared is None
            and present
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present)
            and not all(isinstance(v, int) for v in present)
        ):
            arrays.append(pa.array([None if v is None else float(v) for v in values], type=arrow[FLOAT]))
        elif declared == STR:
            arrays.append(pa.array(values, type=arrow[STR]))
        elif present and all(isinstance(v, bool) for v in present):
            arrays.append(pa.array(values, type=pa.bool_()))
        elif present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
            arrays.append(pa.array(values, type=pa.int64()))
        elif not present:
            arrays.append(pa.array(values, type=pa.float64()))  # an all-null column: numeric (a value never came)
        else:
            arrays.append(pa.array([None if v is None else (v if isinstance(v, str) else csv_cell(v)) for v in values], type=pa.string()))
    return pa.table(arrays, names=columns)


def read_numbered_records(run_dir: Path) -> tuple[list[tuple[int, dict[str, Any]]], str | None]:
    """The run's records with their line numbers in metrics.jsonl (1-based), and one line on the
    lines skipped as not JSON records (None if none: the first one's place and reason). A last line
    without its newline is one still being written, left out as the live reader does."""
    metrics = Path(run_dir) / METRICS_FILE
    if not Path(run_dir).is_dir():
        raise CommandError(f"{safe_text(str(run_dir))}: not a run directory (no such folder); see `eos-tui runs`")
    if not metrics.is_file():
        raise CommandError(f"{safe_text(str(metrics))}: not found; is {safe_text(str(run_dir))} a run directory?")
    out: list[tuple[int, dict[str, Any]]] = []
    bad = 0
    first_bad: str | None = None
    try:
        with open(metrics, "rb") as fh:
            for number, line, rec, why in json_lines(fh):
                if not line.endswith(b"\n"):
                    break
                if isinstance(rec, dict):
                    out.append((number, rec))
                    continue
                bad += 1
                if first_bad is None:
                    first_bad = f"{safe_text(str(metrics))}:{number}: {why or 'not a JSON object'}"
    except OSError as e:
        raise CommandError(f"{safe_text(str(metrics))}: cannot read: {e.strerror or e}") from None
    return out, skipped_note(first_bad, bad)


def read_run_records(run_dir: Path) -> tuple[list[dict[str, Any]], str | None]:
    """The run's records, and one line on the lines skipped as not JSON records (None if none)."""
    numbered, bad = read_numbered_records(run_dir)
    return [rec for _, rec in numbered], bad


def typed_table(numbered: list[tuple[int, dict[str, Any]]]) -> tuple[list[str], list[dict[str, Any]], dict[str, str], Dropped]:
    """(columns, rows, column kinds, dropped) for Parquet: the columns typed from the record
    schema, and the records whose fields do not have their schema's types left out, as (line
    number, the fields) in `dropped`. One step record with `"step": "=7+7"` would otherwise turn
    every row's step into text."""
    records = [rec for _, rec in numbered]
    columns, rows = tidy(records)
    kinds = column_kinds(records)
    kept: list[dict[str, Any]] = []
    dropped: Dropped = []
    foreign: dict[str, dict[str, str]] = {}  # per record type: foreign_kinds, computed once
    for (number, rec), row in zip(numbered, rows):
        t = str(rec.get("type"))
        if t not in foreign:
            foreign[t] = foreign_kinds(t, kinds)
        bad = misfits(rec, row, foreign[t])
        if bad:
            dropped.append((number, bad))
        else:
            kept.append(rec)
    if dropped:
        columns, rows = tidy(kept)
        kinds = column_kinds(kept)
    return columns, rows, kinds, dropped


def dropped_line(metrics: Path, dropped: Dropped) -> str:
    """One line of stderr naming the records left out of a Parquet table, and why."""
    shown = ", ".join(f"{n} ({','.join(fields[:3])})" for n, fields in dropped[:SHOWN_LINES])
    more = f", … and {len(dropped) - SHOWN_LINES} more" if len(dropped) > SHOWN_LINES else ""
    return (
        f"eos-tui: {safe_text(str(metrics))}: left {len(dropped)} record(s) out of the Parquet table, "
        f"a field not of its type: line {shown}{more}"
    )


def export_command(run_dir: Path, *, fmt: str | None = None, records: str | None = None, out: Path | None = None) -> int:
    if out is not None and str(out) == "-":
        out = None  # `-o -`: stdout, as for most tools (not a file named "-")
    kind = choose_format(fmt, out)
    try:
        types = parse_record_types(records)
    except ValueError as e:
        raise CommandError(str(e)) from None
    if kind == "parquet" and out is None:
        raise CommandError("--format parquet writes a binary file: name it with -o FILE.parquet")
    dest = destination(out, run_dir=run_dir) if out is not None else None
    if kind == "parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise missing_extra("pyarrow", "parquet", "--format parquet") from None
    numbered, bad = read_numbered_records(run_dir)
    metrics = Path(run_dir) / METRICS_FILE
    wanted = set(types)
    numbered = [(n, rec) for n, rec in numbered if rec.get("type") in wanted]
    kinds: dict[str, str] = {}
    dropped: Dropped = []
    if kind == "parquet":
        columns, rows, kinds, dropped = typed_table(numbered)
    else:
        columns, rows = tidy([rec for _, rec in numbered])
    if not rows:
        # a table with its header, not an empty line that CSV readers refuse (pandas: EmptyDataError)
        columns = list(EMPTY_COLUMNS)
        which = "" if records is None else " of type " + ",".join(types)
        print(f"eos-tui: {safe_text(str(run_dir))}: no records{which}; the table has only its header", file=sys.stderr)
    if bad:
        print(f"eos-tui: {bad}", file=sys.stderr)
    if dropped:
        print(dropped_line(metrics, dropped), file=sys.stderr)
    if dest is None:
        (write_csv if kind == "csv" else write_jsonl)(columns, rows, sys.stdout)
        sys.stdout.flush()
        return ExitCode.OK
    if kind == "parquet":
        buf = io.BytesIO()  # written whole, then to the file: a FIFO or /dev/stdout cannot seek
        pq.write_table(arrow_table(columns, rows, kinds), buf)
        write_bytes(dest, buf)
    else:
        with open_output(dest) as fh:
            text = io.TextIOWrapper(fh, encoding="utf-8", newline="", write_through=False)
            (write_csv if kind == "csv" else write_jsonl)(columns, rows, text)
            text.flush()
            text.detach()  # open_output closes the file itself
    print(f"{len(rows)} rows × {len(columns)} columns → {safe_text(str(out))}", file=sys.stderr)
    return ExitCode.OK
