"""`eos-tui export RUN_DIR`: the run's records as a tidy table, in CSV, JSON lines or Parquet.

CSV and JSON lines go to stdout unless `-o` names a file; Parquet needs `-o` (and pyarrow, the
`parquet` extra). A file is written whole or not at all (output.atomic_path).
"""

from __future__ import annotations

import csv
import json
import math
import os
import sys
from pathlib import Path
from typing import IO, Any

from ..rundir.format import ENGINE_LOG, MANIFEST_FILE, METRICS_FILE, SCENARIO_FILE
from ..rundir.reader import MetricsFollower, safe_text
from .errors import CommandError, missing_extra
from .output import atomic_path
from .table import parse_record_types, tidy

FORMATS = ("csv", "parquet", "jsonl")
SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet"}
# A cell a spreadsheet would read as a formula (=, +, -, @ first) gets a leading ' so that opening
# the CSV computes nothing: text in a run directory is outside input. Numbers are never strings here.
FORMULA_START = ("=", "+", "-", "@")
# The columns of a table without rows: what every record has.
EMPTY_COLUMNS = ("type", "arm", "step")


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
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return str(value)


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


def arrow_table(columns: list[str], rows: list[dict[str, Any]]):
    """A pyarrow Table, one typed column per field: int64 where every value is an integer, float64
    where every value is a number, bool, else string (a column that mixes kinds as text)."""
    import pyarrow as pa

    arrays = []
    for c in columns:
        values = [row.get(c) for row in rows]
        present = [v for v in values if v is not None]
        if present and all(isinstance(v, bool) for v in present):
            arrays.append(pa.array(values, type=pa.bool_()))
        elif present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
            arrays.append(pa.array(values, type=pa.int64()))
        elif present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
            arrays.append(pa.array([None if v is None else float(v) for v in values], type=pa.float64()))
        elif not present:
            arrays.append(pa.array(values, type=pa.float64()))  # an all-null column: numeric (a value never came)
        else:
            arrays.append(
                pa.array([None if v is None else (csv_cell(v) if not isinstance(v, str) else v) for v in values], type=pa.string())
            )
    return pa.table(arrays, names=columns)


def read_run_records(run_dir: Path) -> tuple[list[dict[str, Any]], str | None]:
    """The run's records, and one line on the lines skipped as not JSON records (None if none)."""
    metrics = Path(run_dir) / METRICS_FILE
    if not Path(run_dir).is_dir():
        raise CommandError(f"{safe_text(str(run_dir))}: not a run directory (no such folder); see `eos-tui runs`")
    if not metrics.is_file():
        raise CommandError(f"{safe_text(str(metrics))}: not found; is {safe_text(str(run_dir))} a run directory?")
    follower = MetricsFollower(metrics)
    try:
        records = follower.read_all()
    except OSError as e:
        raise CommandError(f"{safe_text(str(metrics))}: cannot read: {e.strerror or e}") from None
    return records, follower.skipped_note()


def refuse_run_file(out: Path, run_dir: Path) -> None:
    """An -o that names one of the run's own files (`-o RUN/metrics.jsonl`, a plausible slip for a
    .jsonl export) would replace the run's records with the table: refused."""
    target = Path(out).resolve()
    names = (METRICS_FILE, MANIFEST_FILE, SCENARIO_FILE, ENGINE_LOG)
    for name in names:
        own = Path(run_dir) / name
        same = own.exists() and target.exists() and os.path.samefile(own, target)
        if same or own.resolve() == target:
            raise CommandError(f"-o {safe_text(str(out))}: that is the run's own {name}; write the export elsewhere")
    if target.name in names and (target.parent / MANIFEST_FILE).is_file():  # another run's, the same mistake
        raise CommandError(f"-o {safe_text(str(out))}: that is a run's own {target.name}; write the export elsewhere")


def export_command(run_dir: Path, *, fmt: str | None = None, records: str | None = None, out: Path | None = None) -> int:
    if out is not None and str(out) == "-":
        out = None  # `-o -`: stdout, as for most tools (not a file named "-")
    kind = choose_format(fmt, out)
    try:
        types = parse_record_types(records)
    except ValueError as e:
        raise CommandError(str(e)) from None
    if out is not None:
        refuse_run_file(out, run_dir)
    if kind == "parquet" and out is None:
        raise CommandError("--format parquet writes a binary file: name it with -o FILE.parquet")
    if kind == "parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise missing_extra("pyarrow", "parquet", "--format parquet") from None
    found, bad = read_run_records(run_dir)
    columns, rows = tidy(found, types)
    if not rows:
        # a table with its header, not an empty line that CSV readers refuse (pandas: EmptyDataError)
        columns = list(EMPTY_COLUMNS)
        which = "" if records is None else " of type " + ",".join(types)
        print(f"eos-tui: {safe_text(str(run_dir))}: no records{which}; the table has only its header", file=sys.stderr)
    if bad:
        print(f"eos-tui: {bad}", file=sys.stderr)
    if out is None:
        (write_csv if kind == "csv" else write_jsonl)(columns, rows, sys.stdout)
        sys.stdout.flush()
        return 0
    with atomic_path(out) as tmp:
        if kind == "parquet":
            pq.write_table(arrow_table(columns, rows), tmp)
        else:
            with open(tmp, "w", encoding="utf-8", newline="") as fh:
                (write_csv if kind == "csv" else write_jsonl)(columns, rows, fh)
    print(f"{len(rows)} rows × {len(columns)} columns → {safe_text(str(out))}", file=sys.stderr)
    return 0
