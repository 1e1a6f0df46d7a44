"""The new commands keep `--help` instant and their bodies light: no torch, no textual, and each
optional extra only in the command that needs it."""

from __future__ import annotations

import pytest

from tests.app import synthetic
from tests.test_layers import imported_after

HEAVY = ("torch", "textual", "matplotlib", "pyarrow", "textual_serve")


def cli(*argvs: list[str]) -> set[str]:
    """The modules imported after running these command lines, one after the other, in one fresh interpreter."""
    code = "import sys\nfrom eos_tui.cli import app\n"
    for argv in argvs:
        code += "sys.argv = ['eos-tui', *%r]\ntry:\n    app()\nexcept SystemExit:\n    pass\n" % (argv,)
    return imported_after(code)


def test_help_imports_nothing_heavy():
    mods = cli(*([command, "--help"] for command in ("export", "plot", "serve", "rm", "runs", "watch")))
    assert not [m for m in HEAVY if m in mods]


def test_csv_export_and_rm_import_nothing_heavy(tmp_path):
    run = synthetic.make_run(tmp_path / "r", steps=3)
    mods = cli(["export", str(run), "-o", str(tmp_path / "t.csv")], ["runs", str(tmp_path), "--json"], ["rm", str(run)])
    assert not [m for m in HEAVY if m in mods]
    assert (tmp_path / "t.csv").is_file() and not run.exists()


def test_parquet_export_and_its_typing_import_neither_torch_nor_textual(tmp_path):
    """The Parquet columns are typed from rundir/format.py's TypedDicts (issue 20): still no torch."""
    pytest.importorskip("pyarrow")
    run = synthetic.make_run(tmp_path / "r", steps=3)
    mods = cli(["export", str(run), "-o", str(tmp_path / "t.parquet")])
    assert "pyarrow" in mods and "torch" not in mods and "textual" not in mods and "eos_tui.sweep" not in mods
