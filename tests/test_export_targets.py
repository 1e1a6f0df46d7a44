"""Issue 20, "nothing lost, nothing replaced": `export -o` and `plot -o` write to what the user named
without replacing anything that is not theirs to replace.

Run as root, the old code renamed its temporary file over `-o /dev/null`, `/dev/full` and
`/dev/stdout` (turning the device into a regular file) and over a FIFO (its reader hung). Every test
here that names a device or a descriptor runs with a guard: rename, link and temporary files are
allowed only under the test's tmp_path, so a regression fails the test instead of replacing a file
of the machine's /dev."""

from __future__ import annotations

import csv
import io
import json
import os
import select
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from eos_tui.cli.errors import CommandError
from eos_tui.cli.export import csv_cell, export_command
from eos_tui.cli.output import DESCRIPTOR, FILE, NEW, STREAM, destination
from eos_tui.rundir import read_records
from tests.app import synthetic

DEADLINE_S = 60.0

# The guard, for this process and for the command-line subprocesses: os.replace, os.rename, os.link
# and tempfile.mkstemp refuse any path outside ALLOWED (the test's tmp_path).
GUARD = """
import os, tempfile
ALLOWED = os.path.realpath({allowed!r})
def _inside(p):
    p = os.path.realpath(os.path.dirname(os.path.abspath(os.fspath(p))))
    return p == ALLOWED or p.startswith(ALLOWED + os.sep)
def _guard(name, real, paths):
    def guarded(*a, **k):
        for i in paths:
            if len(a) > i and not _inside(a[i]):
                raise AssertionError(f"{{name}} outside the test's folder: {{a[i]!r}}")
        return real(*a, **k)
    return guarded
os.replace = _guard("os.replace", os.replace, (0, 1))
os.rename = _guard("os.rename", os.rename, (0, 1))
os.link = _guard("os.link", os.link, (0, 1))
_mkstemp = tempfile.mkstemp
def _checked_mkstemp(*a, dir=None, **k):
    if dir is not None and not _inside(os.path.join(os.fspath(dir), "x")):
        raise AssertionError(f"a temporary file in {{dir!r}}, outside the test's folder")
    return _mkstemp(*a, dir=dir, **k)
tempfile.mkstemp = _checked_mkstemp
"""


@pytest.fixture
def guarded(tmp_path, monkeypatch):
    """This process's os.replace/rename/link and tempfile.mkstemp, refused outside tmp_path."""
    for name in ("replace", "rename", "link"):
        monkeypatch.setattr(os, name, getattr(os, name))  # restored after the test
    monkeypatch.setattr(tempfile, "mkstemp", tempfile.mkstemp)
    exec(GUARD.format(allowed=str(tmp_path)), {})
    return tmp_path


def eos(*args: str, cwd: Path, allowed: Path, **kwargs) -> subprocess.CompletedProcess:
    """The command line in a fresh interpreter, guarded as above."""
    run = f"import sys\nsys.argv = ['eos-tui', *{args!r}]\nfrom eos_tui.cli import main\nmain()\n"
    if "stdout" not in kwargs:
        kwargs["capture_output"] = True
    return subprocess.run([sys.executable, "-c", GUARD.format(allowed=str(allowed)) + run], cwd=cwd, timeout=120, **kwargs)


@pytest.fixture
def run(tmp_path) -> Path:
    return synthetic.make_run(tmp_path / "run", steps=30)


def end_csv(run: Path) -> str:
    """The end records as CSV, through stdout: what every other target must receive."""
    cmd = [sys.executable, "-m", "eos_tui.cli", "export", str(run), "--records", "end"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.startswith("type,arm,status"), r.stderr
    return r.stdout


def char_device(path: Path, like: str) -> Path:
    """A character device node in tmp_path with `like`'s numbers (a copy of /dev/null or /dev/full),
    so that even a regression replaces only the copy; skipped where nodes cannot be made (not root)."""
    rdev = os.stat(like).st_rdev
    try:
        os.mknod(path, 0o666 | stat.S_IFCHR, rdev)
        with open(path, "wb"):
            pass
    except OSError as e:  # PermissionError as a user, EACCES on a nodev mount
        pytest.skip(f"cannot make a device node here: {e}")
    return path


# --- the decision: what each kind of target is -------------------------------------------------------


def test_each_kind_of_target(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert destination(fifo).kind == STREAM
    (tmp_path / "to-null").symlink_to("/dev/null")
    d = destination(tmp_path / "to-null")
    assert d.kind == STREAM and d.real == Path("/dev/null")
    assert destination("/dev/stdout").kind == DESCRIPTOR and destination("/dev/stdout").fd == 1
    assert destination("/dev/fd/2").fd == 2 and destination(f"/proc/{os.getpid()}/fd/2").fd == 2
    (tmp_path / "to-stdout").symlink_to("/dev/stdout")  # a chain of links ending in a descriptor
    assert destination(tmp_path / "to-stdout").fd == 1
    (tmp_path / "file.csv").write_text("x")
    assert destination(tmp_path / "file.csv").kind == FILE
    assert destination(tmp_path / "new.csv").kind == NEW
    # a link to a regular file: written at its target (the link stays a link)
    (tmp_path / "link.csv").symlink_to(tmp_path / "file.csv")
    assert destination(tmp_path / "link.csv").real == tmp_path / "file.csv"
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(tmp_path / "sock"))
        for target, words in ((tmp_path / "sock", "is a socket"), (tmp_path, "is a directory")):
            with pytest.raises(CommandError, match=words) as e:
                destination(target)
            assert "\n" not in str(e.value)
    finally:
        sock.close()


def test_a_char_device_node_is_a_stream(tmp_path):
    node = char_device(tmp_path / "null", "/dev/null")
    assert destination(node).kind == STREAM


# --- writing to them ----------------------------------------------------------------------------------


def test_fifo_is_written_not_replaced(run, guarded):
    fifo = guarded / "table.csv"
    os.mkfifo(fifo)
    rfd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a reader first, so that the writer's open never blocks
    got = bytearray()
    finished = threading.Event()

    def reader() -> None:
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            ready, _, _ = select.select([rfd], [], [], 0.05)
            chunk = os.read(rfd, 1 << 16) if ready else None
            if chunk:
                got.extend(chunk)
            elif chunk == b"" and got:  # the writer closed: the end
                return
            elif finished.is_set() and not ready:  # the command ended and nothing came (a regression)
                return

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    try:
        assert export_command(run, records="end", out=fifo) == 0
    finally:
        finished.set()
        t.join(DEADLINE_S)
        os.close(rfd)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)  # still the FIFO
    assert got.decode() == end_csv(run)
    assert sorted(p.name for p in guarded.iterdir()) == ["run", "table.csv"]  # no temporary left


def test_dev_null_through_a_link_stays_a_device(run, guarded):
    before = os.stat("/dev/null")
    assert stat.S_ISCHR(before.st_mode)
    link = guarded / "null.csv"
    link.symlink_to("/dev/null")
    assert destination(link).kind == STREAM  # the guard's first line: never write if this regresses
    assert export_command(run, out=link) == 0
    assert export_command(run, out=Path("/dev/null")) == 0
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and (after.st_ino, after.st_rdev) == (before.st_ino, before.st_rdev)
    assert os.path.islink(link) and os.readlink(link) == "/dev/null"


def test_a_device_node_copy_is_written_through_the_command_line(run, tmp_path):
    node = char_device(tmp_path / "null.csv", "/dev/null")
    r = eos("export", "run", "-o", str(node), cwd=tmp_path, allowed=tmp_path, text=True)
    assert r.returncode == 0, r.stderr
    assert stat.S_ISCHR(os.lstat(node).st_mode)


def test_a_full_device_is_one_line_and_exit_1(run, tmp_path, guarded):
    link = guarded / "full.csv"
    link.symlink_to("/dev/full")
    assert destination(link).kind == STREAM
    with pytest.raises(CommandError, match="No space left on device") as e:
        export_command(run, out=link)
    assert e.value.code == 1 and "\n" not in str(e.value)
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode) and os.path.islink(link)
    r = eos("export", "run", "-o", str(link), cwd=tmp_path, allowed=tmp_path, text=True)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "full.csv: cannot write: No space left on device" in r.stderr


def test_dev_stdout_is_the_commands_stdout(run, tmp_path):
    r = eos("export", "run", "--records", "end", "-o", "/dev/stdout", cwd=tmp_path, allowed=tmp_path, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout == end_csv(run)
    assert os.path.islink("/dev/stdout")
    # stdout a file opened for appending (`>> log`): the table follows what was there
    log = tmp_path / "log"
    log.write_text("before\n")
    with open(log, "a") as fh:
        r = eos("export", "run", "--records", "end", "-o", "/dev/stdout", cwd=tmp_path, allowed=tmp_path, stdout=fh, stderr=subprocess.PIPE)
    assert r.returncode == 0, r.stderr
    assert log.read_text() == "before\n" + end_csv(run)
    # and a figure, whose format then comes from --format
    pytest.importorskip("matplotlib")
    r = eos("plot", "run", "--panels", "loss", "--format", "svg", "-o", "/dev/stdout", cwd=tmp_path, allowed=tmp_path, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.lstrip().startswith("<?xml") and "<svg" in r.stdout
    r = eos("plot", "run", "-o", "/dev/stdout", cwd=tmp_path, allowed=tmp_path, text=True)
    assert r.returncode == 2 and "--format png, svg or pdf" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_plot_to_a_fifo(run, guarded):
    pytest.importorskip("matplotlib")
    from eos_tui.cli.plot import plot_command

    fifo = guarded / "fig.png"
    os.mkfifo(fifo)
    rfd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    got = bytearray()

    def reader() -> None:
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            ready, _, _ = select.select([rfd], [], [], 0.05)
            if ready:
                chunk = os.read(rfd, 1 << 16)
                if not chunk and got:
                    return
                got.extend(chunk)

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    try:
        assert plot_command(run, out=fifo, panels="loss") == 0
        t.join(DEADLINE_S)
    finally:
        os.close(rfd)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and bytes(got[:8]) == b"\x89PNG\r\n\x1a\n"


# --- a run's and a sweep's own files --------------------------------------------------------------


def _sweep(tmp_path: Path) -> Path:
    sweep = tmp_path / "sweep"
    synthetic.make_run(sweep / "points" / "p0000", steps=5)
    (sweep / "sweep.toml").write_text('name = "s"\n')
    (sweep / "points.jsonl").write_text('{"index": 0, "point": {}, "run_dir": "points/p0000", "status": "completed"}\n')
    return sweep


@pytest.mark.parametrize(
    "target",
    [
        "run/status.json",  # written by the engine: there, or not yet
        "run/landscape.json",
        "run/checkpoints/gd/20.safetensors",
        "run/checkpoints/gd/25.safetensors",  # a name the engine writes next, in its own folder
        "run/export.csv",  # an earlier export: only a new file in a run directory
        "sweep/points.jsonl",
        "sweep/sweep.toml",
        "sweep/points/p0000/metrics.jsonl",
        "sweep/points/p0001/table.csv",  # a point's folder before its run has started
        "alias-of-status",  # a link resolved first
    ],
)
def test_a_runs_or_sweeps_own_file_is_refused(tmp_path, target):
    run = synthetic.make_run(tmp_path / "run", steps=5)
    (run / "status.json").write_text('{"phase": "ended"}\n')
    (run / "checkpoints" / "gd").mkdir(parents=True)
    (run / "checkpoints" / "gd" / "20.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    (run / "export.csv").write_text("mine\n")
    (tmp_path / "alias-of-status").symlink_to(run / "status.json")
    sweep = _sweep(tmp_path)
    (sweep / "points" / "p0001").mkdir()

    def snapshot() -> dict[str, bytes]:
        return {str(p.relative_to(tmp_path)): p.read_bytes() for p in sorted(tmp_path.rglob("*")) if p.is_file()}

    before = snapshot()
    r = eos("export", "run", "--format", "jsonl", "-o", target, cwd=tmp_path, allowed=tmp_path, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "-o " in r.stderr, r.stderr
    assert snapshot() == before
    assert os.path.islink(tmp_path / "alias-of-status")


def test_the_sweep_names_are_the_sweeps():
    """output.py spells the sweep directory's names (importing eos_tui.sweep would import the scenario
    schema): they must stay the sweep store's."""
    from eos_tui.cli.output import OWN_NAMES, SWEEP_MARKERS
    from eos_tui.sweep import store

    assert set(SWEEP_MARKERS) == {store.SWEEP_FILE, store.POINTS_FILE}
    assert {store.POINTS_DIR, store.LOCK_FILE} <= set(OWN_NAMES)


def test_a_new_file_in_a_run_or_sweep_directory_is_fine(tmp_path):
    synthetic.make_run(tmp_path / "run", steps=5)
    sweep = _sweep(tmp_path)
    for target in ("run/table.csv", "sweep/table.csv", "sweep/points/p0000/table.csv"):
        r = eos("export", "run", "-o", target, cwd=tmp_path, allowed=tmp_path, text=True)
        assert r.returncode == 0, r.stderr
        assert (tmp_path / target).read_text().startswith("type,arm,step")
        assert not [p for p in (tmp_path / target).parent.iterdir() if p.name.endswith(".tmp")]
    assert (sweep / "points.jsonl").read_text().count("\n") == 1


def test_a_file_the_run_writes_meanwhile_is_not_replaced(tmp_path, monkeypatch):
    """Between the check and the write, the engine writes the name: the new file is linked to its
    name, which fails, and the run's file stays."""
    run = synthetic.make_run(tmp_path / "run", steps=5)
    from eos_tui.cli import export as ex

    real = ex.write_csv

    def engine_writes_meanwhile(*a, **k):
        (run / "late.csv").write_text("the run's\n")
        return real(*a, **k)

    monkeypatch.setattr(ex, "write_csv", engine_writes_meanwhile)
    with pytest.raises(CommandError, match="never replaced"):
        export_command(run, out=run / "late.csv")
    assert (run / "late.csv").read_text() == "the run's\n"
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]


# --- CSV cells ----------------------------------------------------------------------------------------


def test_csv_control_characters_and_formulas(tmp_path):
    run = synthetic.make_run(tmp_path / "run", steps=2)
    messages = ["\t=3+3", "a\nb", "a\tb", "\r=1", "-0.5", "-x", "+cmd", "@SUM(A1)", "=1+1", "plain"]
    synthetic.append(run, [{"type": "event", "arm": "gd", "step": 1, "kind": "k", "message": m} for m in messages])
    synthetic.append(run, [{"type": "step", "arm": "gd", "step": 2, "loss": -0.5, "lr": 0.02, "grad_norm": None, "proj": -3, "disp": None}])
    out = tmp_path / "t.csv"
    assert export_command(run, out=out) == 0
    text = out.read_text(encoding="utf-8")
    assert "\t" not in text and "\r" not in text
    assert len(text.splitlines()) == 1 + len(read_records(run))  # the header, then one line per record
    rows = list(csv.DictReader(io.StringIO(text)))
    got = [row["message"] for row in rows if row["type"] == "event" and row["kind"] == "k"]
    # (a carriage return reaches the table already visible as \x0d, from the reader: no formula then)
    assert got == ["'\\x09=3+3", "a\\x0ab", "a\\x09b", "\\x0d=1", "-0.5", "'-x", "'+cmd", "'@SUM(A1)", "'=1+1", "plain"]
    last = rows[-1]
    assert (last["loss"], last["proj"]) == ("-0.5", "-3")  # numbers stay numbers
    # the cell rule itself, on text that did not come through the reader
    assert [csv_cell(v) for v in ("\r=1", "\n", "-1e-3", "+2", "-", -0.5, -2)] == ["'\\x0d=1", "\\x0a", "-1e-3", "+2", "'-", "-0.5", "-2"]


# --- Parquet types ------------------------------------------------------------------------------------


def test_parquet_columns_have_the_schemas_types_and_bad_records_are_named(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    run = synthetic.make_run(tmp_path / "run", steps=10)
    synthetic.append(
        run,
        [
            {"type": "step", "arm": "gd", "step": "=7+7", "loss": 0.5, "lr": 0.02, "grad_norm": 1.0, "proj": None, "disp": None},
            {"type": "sharpness", "arm": "gd", "step": 11, "eigenvalues": ["x", 2.0], "hvps": 3, "residual": None},
            # a field events do not have, in a column sharpness records type as int64
            {"type": "event", "arm": "gd", "step": 11, "kind": "k", "message": "m", "hvps": "lots"},
            {"type": "step", "arm": "gd", "step": 12, "loss": 0.25, "lr": 0.02, "grad_norm": 1.0, "proj": None, "disp": None},
        ],
    )
    lines = (run / "metrics.jsonl").read_text().splitlines()
    bad = [i + 1 for i, line in enumerate(lines) if '"=7+7"' in line or '"x"' in line or '"lots"' in line]
    r = eos("export", "run", "-o", "t.parquet", cwd=tmp_path, allowed=tmp_path, text=True)
    assert r.returncode == 0, r.stderr
    notes = [line for line in r.stderr.splitlines() if "left" in line]
    assert len(notes) == 1 and "left 3 record(s) out" in notes[0], r.stderr
    assert f"{bad[0]} (step)" in notes[0] and f"{bad[1]} (eigenvalues)" in notes[0] and f"{bad[2]} (hvps)" in notes[0], notes[0]
    t = pq.read_table(tmp_path / "t.parquet")
    types = {f.name: str(f.type) for f in t.schema}
    assert types["step"] == "int64" and types["loss"] == "double" and types["eigenvalue_1"] == "double" and types["arm"] == "string"
    assert types["hvps"] == "int64" and types["status"] == "string" and types["steps_done"] == "int64"
    assert t.num_rows == len(lines) - 3
    steps = t.column("step").to_pylist()
    assert 12 in steps and all(isinstance(s, int) for s in steps if s is not None)
    # CSV and JSON lines keep every record as it is (text cells are made safe, not dropped)
    r = eos("export", "run", "--format", "jsonl", cwd=tmp_path, allowed=tmp_path, text=True)
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(rows) == len(lines) and [row["step"] for row in rows if row["type"] == "step"][-2] == "=7+7"
