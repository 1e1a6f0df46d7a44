"""`eos-tui export -o` never replaces the run's own files (review finding: `-o RUN/metrics.jsonl`
replaced the records with the flattened table, and `-o RUN/manifest.json` the manifest)."""

from __future__ import annotations

import os

import pytest

from tests.app import synthetic
from tests.test_plot import eos


@pytest.mark.parametrize("name", ["metrics.jsonl", "manifest.json", "scenario.toml"])
def test_export_refuses_to_write_over_the_runs_own_files(tmp_path, name):
    run = synthetic.make_run(tmp_path / "run", steps=10)
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    (tmp_path / "alias").symlink_to(run)  # the same file by another path is refused too
    for target in (f"run/{name}", f"alias/{name}", str(run / name)):
        r = eos("export", "run", "--format", "jsonl", "-o", target, cwd=tmp_path)
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert "the run's own" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before
    # a new file inside the run directory is fine
    r = eos("export", "run", "-o", "run/export.csv", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (run / "export.csv").read_text().startswith("type,arm,step")
    assert os.path.getsize(run / "metrics.jsonl") == len(before["metrics.jsonl"])


def test_format_and_suffix_that_disagree_are_refused(tmp_path):
    synthetic.make_run(tmp_path / "run", steps=5)
    r = eos("export", "run", "--format", "csv", "-o", "out.parquet", cwd=tmp_path)
    assert r.returncode == 2 and "names a parquet file" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert not (tmp_path / "out.parquet").exists()
    # agreeing, or a suffix that names no format, is fine
    assert eos("export", "run", "--format", "jsonl", "-o", "out.JSONL", cwd=tmp_path).returncode == 0
    assert eos("export", "run", "--format", "jsonl", "-o", "out.txt", cwd=tmp_path).returncode == 0
    assert (tmp_path / "out.txt").read_text().startswith("{")


def test_no_records_is_a_table_with_its_header(tmp_path):
    run = synthetic.make_run(tmp_path / "run", steps=5)  # no reparam records before step 50
    r = eos("export", "run", "--records", "reparam", cwd=tmp_path)
    assert r.returncode == 0 and r.stdout == "type,arm,step\n", r.stdout
    assert "no records of type reparam" in r.stderr
    (run / "metrics.jsonl").write_text("")
    pq = pytest.importorskip("pyarrow.parquet")
    r = eos("export", "run", "-o", "empty.parquet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr

    table = pq.read_table(tmp_path / "empty.parquet")
    assert table.num_rows == 0 and table.column_names == ["type", "arm", "step"]


def test_dash_is_stdout(tmp_path):
    synthetic.make_run(tmp_path / "run", steps=5)
    r = eos("export", "run", "-o", "-", "--records", "end", cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.startswith("type,arm,status"), r.stderr
    assert not (tmp_path / "-").exists()
    r = eos("export", "run", "-o", "-", "--format", "parquet", cwd=tmp_path)
    assert r.returncode == 2 and "name it with -o FILE.parquet" in r.stderr


def test_export_refuses_to_write_over_another_runs_files(tmp_path):
    synthetic.make_run(tmp_path / "a", steps=5)
    b = synthetic.make_run(tmp_path / "b", steps=5)
    before = (b / "metrics.jsonl").read_bytes()
    r = eos("export", "a", "-o", "b/metrics.jsonl", cwd=tmp_path)
    assert r.returncode == 2 and "a run's own metrics.jsonl" in r.stderr, r.stderr
    assert (b / "metrics.jsonl").read_bytes() == before
