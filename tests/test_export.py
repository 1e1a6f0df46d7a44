"""`eos-tui export`: the run's records as a tidy table that reads back into the same numbers."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from eos_tui.cli.errors import CommandError
from eos_tui.cli.export import export_command
from eos_tui.cli.table import tidy
from eos_tui.rundir import read_records
from tests.app import synthetic


def eos(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "eos_tui.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=60)


@pytest.fixture
def run(tmp_path) -> Path:
    d = synthetic.make_run(tmp_path / "run", steps=40)
    # what synthetic runs lack: a diverged step (null loss), an event with data, Adam's raw eigenvalues
    synthetic.append(
        d,
        [
            {"type": "step", "arm": "gd", "step": 40, "loss": None, "lr": 0.02, "grad_norm": None, "proj": None, "disp": None},
            {"type": "event", "arm": "gd", "step": 40, "kind": "catapult", "message": '=HYPERLINK("x")', "data": {"peak": 3.5}},
            {
                "type": "sharpness",
                "arm": "sgd",
                "step": 40,
                "eigenvalues": [1.25e-300, 0.1, 3.0, 4.0],
                "operator": "preconditioned",
                "raw_eigenvalues": [0.3],
                "hvps": 7,
                "residual": None,
            },
            {"type": "event", "arm": "gd", "step": 41, "kind": "x", "message": "esc \u001b]2;pwned\u0007 here"},
        ],
    )
    return d


def _number(text: str):
    return None if text == "" else float(text)


def test_csv_reads_back_into_the_same_numbers(run, tmp_path, capsys):
    assert export_command(run, out=tmp_path / "t.csv") == 0
    with open(tmp_path / "t.csv", newline="", encoding="utf-8") as fh:
        table = list(csv.DictReader(fh))
    records = read_records(run)
    assert len(table) == len(records)
    compared = 0
    for row, rec in zip(table, records):
        assert row["type"] == rec["type"] and row["arm"] == rec["arm"] and row["step"] == str(rec.get("step", ""))
        for key, value in rec.items():
            if key == "eigenvalues":
                got = [_number(row[f"eigenvalue_{i + 1}"]) for i in range(len(value))]
                assert got == value  # exactly: floats are written in their round-trip form
                # fewer eigenvalues than another record had: the rest are empty, not 0
                assert all(row.get(f"eigenvalue_{j}", "") == "" for j in range(len(value) + 1, 5))
                compared += len(value)
            elif key == "raw_eigenvalues":
                assert _number(row["raw_eigenvalue_1"]) == value[0]
            elif key == "data":
                assert float(row["data.peak"]) == value["peak"]
            elif isinstance(value, float) or value is None:
                if key in row:
                    assert _number(row[key]) == value, key
                    compared += 1
    assert compared > 350  # 40 steps × 2 arms × (loss, lr, grad_norm, proj) and the eigenvalues
    # the header: leading columns, then eigenvalue_1..4 together and in order
    header = list(table[0])
    assert header[:5] == ["type", "arm", "step", "loss", "lr"]
    i = header.index("eigenvalue_1")
    assert header[i : i + 4] == ["eigenvalue_1", "eigenvalue_2", "eigenvalue_3", "eigenvalue_4"]
    assert "rows" in capsys.readouterr().err


def test_records_filter_and_stdout_jsonl(run):
    r = eos("export", str(run), "--format", "jsonl", "--records", "sharpness,end", cwd=run.parent)
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert {row["type"] for row in rows} == {"sharpness", "end"}
    want = [rec for rec in read_records(run) if rec["type"] in ("sharpness", "end")]
    assert len(rows) == len(want)
    assert [row["eigenvalue_1"] for row in rows if row["type"] == "sharpness"] == [
        rec["eigenvalues"][0] for rec in want if rec["type"] == "sharpness"
    ]
    assert all(set(row) == set(rows[0]) for row in rows)  # a table: every row has every column


def test_stdout_csv_is_the_default(run):
    r = eos("export", str(run), "--records", "step", cwd=run.parent)
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert len(rows) == 2 * 40 + 1 and rows[-1]["loss"] == ""  # the diverged step's null loss: empty


def test_parquet_reads_back_typed(run, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    assert export_command(run, out=tmp_path / "t.parquet") == 0
    t = pq.read_table(tmp_path / "t.parquet")
    cols = t.to_pydict()
    assert str(t.schema.field("step").type) == "int64" and str(t.schema.field("loss").type) == "double"
    columns, rows = tidy(read_records(run))
    assert t.column_names == columns
    for c in ("loss", "eigenvalue_1", "eigenvalue_4", "proj"):
        assert cols[c] == [row.get(c) for row in rows]


def test_text_from_the_run_is_made_safe(run):
    r = eos("export", str(run), "--records", "event", cwd=run.parent)
    assert "\x1b" not in r.stdout and "\x07" not in r.stdout and "\\x1b]2;pwned\\x07" in r.stdout
    # a spreadsheet would run a cell that starts with '='; it is written as text
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert [row["message"] for row in rows if row["kind"] == "catapult"] == ['\'=HYPERLINK("x")']


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("export", "missing"), "not a run directory"),
        (("export", "run", "--records", "step,bogus"), "'bogus' is not a record type"),
        (("export", "run", "--format", "xlsx"), "--format"),
        (("export", "run", "--format", "parquet"), "-o FILE.parquet"),
        (("export", "run", "-o", "nofolder/t.csv"), "does not exist"),
        (("export", "run", "-o", "run"), "is a directory"),
        (("export", "empty"), "metrics.jsonl: not found"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(run, args, needle):
    (run.parent / "empty").mkdir()
    before = sorted(p.name for p in run.parent.iterdir())
    r = eos(*args, cwd=run.parent)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert needle in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert sorted(p.name for p in run.parent.iterdir()) == before


def test_an_interrupted_write_leaves_the_old_file_and_no_temporary(run, tmp_path, monkeypatch):
    target = tmp_path / "t.csv"
    target.write_text("old\n")
    from eos_tui.cli import export as ex

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(ex, "write_csv", boom)
    with pytest.raises(KeyboardInterrupt):
        export_command(run, out=target)
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "t.csv"]


def test_missing_extra_names_it(run, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    from eos_tui.cli.extras import install_hint

    with pytest.raises(CommandError, match=re.escape(f"needs pyarrow, which is not installed: {install_hint('parquet')}")):
        export_command(run, out=tmp_path / "t.parquet")
    assert not (tmp_path / "t.parquet").exists()


def test_nan_tokens_in_a_damaged_file_do_not_break_jsonl(tmp_path):
    d = synthetic.make_run(tmp_path / "r", steps=2)
    with open(d / "metrics.jsonl", "a") as fh:
        fh.write('{"type":"step","arm":"gd","step":2,"loss":NaN,"lr":0.02}\n')
    r = eos("export", str(d), "--format", "jsonl", "--records", "step", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    last = json.loads(r.stdout.splitlines()[-1])
    assert last["loss"] is None and not math.isnan(last["lr"])
    assert os.listdir(d)  # untouched
