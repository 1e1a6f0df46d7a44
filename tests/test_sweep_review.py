"""Review of the sweeps (issue 13): defects found by trying them adversarially, each with its test."""

from __future__ import annotations

import json
import os
import signal
import time

from tests.helpers import start_eos
from tests.test_sweep import quad


def test_sigterm_to_the_process_group_interrupts_and_fails_no_point(tmp_path):
    """`timeout`, `kill -TERM -PGID` or a batch system's cancel signal every process of the group,
    the fork server included. A worker's exit is reported through the fork server's pipe, so its death
    broke the pool: every point not yet finished was written to points.jsonl as "failed" ("not run: a
    worker process died") and the map said so. The fork server now ignores SIGTERM and SIGHUP: the
    sweep stops as interrupted (130), with only finished points in points.jsonl."""
    q = quad(tmp_path, steps=200)
    grid = "optimizer.lr=0.01:0.19:40"
    proc = start_eos("sweep", str(q), "--grid", grid, "--jobs", "1", "--out", "s", cwd=tmp_path)
    points = tmp_path / "s" / "points.jsonl"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not (points.is_file() and points.read_text()):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert proc.returncode == 130, err
    records = [json.loads(line) for line in points.read_text().splitlines()]
    assert 1 <= len(records) < 40
    assert {r["status"] for r in records} == {"completed"}, [r.get("message") for r in records if r["status"] != "completed"][:3]
    assert "failed" not in err.replace("0 failed", "")


def _hostile_sweep_dir(tmp_path):
    from eos_tui.sweep.grid import Sweep
    from eos_tui.sweep.store import POINTS_FILE, SweepDir

    sweep = Sweep(name="h", description="", scenario={"name": "h"}, source="<test>", grid=[("optimizer.lr", [0.1, 0.2, 0.3])])
    with SweepDir.open(tmp_path / "h", sweep):
        pass
    lines = [
        {
            "index": 0,
            "point": {"optimizer.lr": 0.1},
            "status": "completed",
            "outcome": "lazy\x1b[31m",
            "message": "a\x1b[2Jb",
            "arms": [{"name": "m\x1b]0;pwn\x07", "outcome": "eos\x1b[2J", "eos_ratio": 1.0}],
        },
        {"index": 1, "point": {"optimizer.lr": {"a": 1}}, "status": "completed", "outcome": "lazy", "arms": []},  # a table: unhashable
        {"index": 1, "point": {"optimizer.lr": [[0.2]]}, "status": "completed", "outcome": "lazy", "arms": "not a list"},
        {
            "index": 2,
            "point": {"optimizer.lr": 0.3},
            "status": "completed",
            "outcome": 7,
            "arms": [5, {"name": "m", "outcome": "diverged", "steps_done": 3}],
        },
    ]
    text = "".join(json.dumps(r) + "\n" for r in lines) + '{"index": 1, "point": {"optim'  # and a cut-off last line
    (tmp_path / "h" / POINTS_FILE).write_text(text)
    return tmp_path / "h"


def test_sweep_show_on_a_hostile_points_file_draws_safely(tmp_path):
    """points.jsonl comes from outside: a table as a point's value ended `sweep show` (map and CSV) in
    a TypeError traceback; a control character in an arm's name reached the terminal raw through
    --arm's error; an outcome nobody defined reached the CSV raw. Records of no grid point are now
    left out, strings made safe, unknown classes "failed"."""
    import io

    import pytest

    from eos_tui.sweep.grid import SweepError
    from eos_tui.sweep.show import show

    d = _hostile_sweep_dir(tmp_path)
    for as_csv in (False, True):
        out = io.StringIO()
        show(d, field=None, arm=None, as_csv=as_csv, out=out)
        text = out.getvalue()
        assert "\x1b" not in text and "\x07" not in text, text
    rows = out.getvalue().splitlines()
    assert rows[0].startswith("optimizer.lr,n,outcome")
    assert rows[1].startswith("0.1,1,failed,") and rows[2].startswith("0.3,1,failed,"), rows  # 'lazy\x1b[31m' and 7: no class
    assert len(rows) == 3  # the table and the nested list: no point of this grid
    with pytest.raises(SweepError) as e:
        show(d, field=None, arm="nope", as_csv=False, out=io.StringIO())
    assert "\x1b" not in str(e.value) and "\x07" not in str(e.value) and "m\\x1b]0;pwn\\x07" in str(e.value)
    out = io.StringIO()
    show(d, field=None, arm="m", as_csv=True, out=out)  # the arm's own class: the known one kept, 5 (not a table) dropped
    assert out.getvalue().splitlines()[2].startswith("0.3,1,diverged,")


def test_sweep_show_cli_hostile_points_file_is_no_traceback(tmp_path):
    from tests.test_sweep import eos

    d = _hostile_sweep_dir(tmp_path)
    for extra in ([], ["--csv"], ["--field", "eos_ratio"]):
        r = eos("sweep", "show", str(d), *extra, cwd=tmp_path)
        assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
        assert "\x1b]" not in r.stdout


def _map_lines(nx: int, ys: list, columns: int = 80) -> list[str]:
    import io

    from eos_tui.sweep.grid import Sweep, parse_values
    from eos_tui.sweep.show import render_map

    sweep = Sweep(
        name="w",
        description="",
        scenario={"name": "w"},
        source="<t>",
        grid=[("optimizer.lr", parse_values(f"1e-3..1e-1:{nx}")), ("model.hidden", ys), ("seed", [0, 1])],
    )
    outcomes = ["lazy", "eos", "diverged"]
    recs = [{"index": i, "point": p, "status": "completed", "outcome": outcomes[i % 3], "arms": []} for i, p in enumerate(sweep.points())]
    out = io.StringIO()
    render_map(sweep, recs, file=out, title="/tmp/x", columns=columns)
    return out.getvalue().splitlines()


def test_phase_map_fits_80_columns():
    """At 80 columns the legend alone was 90 wide, and a 2-D grid of 30 values with long labels of the
    second axis 117: the terminal wrapped the lines and the rows no longer lined up. The cells narrow
    (3 → 2 → 1 columns) and the legend's tail takes a line of its own."""
    long_ys = [[512, 512, 512], [16], [1024, 1024, 1024, 1024]]
    for nx, ys in ((9, long_ys), (19, [30, 100, 1000, 10000]), (30, long_ys), (50, [1, 2])):
        lines = _map_lines(nx, ys)
        assert max(len(line) for line in lines) <= 80, (nx, [len(line) for line in lines])
        rows = [line for line in lines if "│" in line]
        assert len(rows) == len(ys)
        assert all(row.rstrip().endswith(("D", "E", "L")) for row in rows)  # every cell drawn
    # a grid that fits keeps its 3-column cells (the catapult-phase map: 19 values by 4 widths)
    import re

    assert re.search(r"│( [LED] ){19}$", _map_lines(19, [30, 100, 1000, 10000])[2])


def test_two_grid_flags_over_one_key_are_refused(tmp_path):
    """`--grid optimizer.lr=0.1,0.2 --grid optimizer.lr=0.3` swept only 0.3: the first flag was
    dropped without a word. (A flag still replaces a sweep file's grid over the same key.)"""
    import pytest

    from eos_tui.sweep.grid import SweepError, load_sweep

    q = quad(tmp_path)
    with pytest.raises(SweepError, match="optimizer.lr has a --grid already"):
        load_sweep(str(q), grids=["optimizer.lr=0.1,0.2", "optimizer.lr=0.3"])
    assert load_sweep("catapult-phase", grids=["optimizer.lr_relative=1,2"]).grid[0] == ("optimizer.lr_relative", [1, 2])


def test_csv_writes_list_and_boolean_axis_values_as_the_grid_gives_them(tmp_path):
    """--csv wrote a list-valued axis (model.hidden = [16, 16]) as Python's "(16, 16)" and a boolean
    as "True": neither is what --grid takes back, nor JSON/TOML."""
    import csv
    import io

    from eos_tui.sweep.grid import Sweep
    from eos_tui.sweep.show import write_csv

    grid = [("model.hidden", [[16, 16], [8]]), ("x.flag", [True, False])]
    sweep = Sweep(name="c", description="", scenario={"name": "c"}, source="<t>", grid=grid)
    recs = [{"index": i, "point": p, "status": "completed", "outcome": "lazy", "arms": []} for i, p in enumerate(sweep.points())]
    out = io.StringIO()
    write_csv(sweep, recs, out)
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows[0][:2] == ["model.hidden", "x.flag"]
    assert [r[:2] for r in rows[1:]] == [["[16, 16]", "true"], ["[16, 16]", "false"], ["[8]", "true"], ["[8]", "false"]]


def test_sweep_show_refuses_a_sweep_toml_with_a_huge_grid(tmp_path):
    """sweep.toml comes from outside too: two integer grids 0..99999 (10¹⁰ points, each range within
    its own limit) made `sweep show` list every point (memory, minutes). The product's limit holds."""
    import io

    import pytest

    from eos_tui.sweep.grid import SweepError
    from eos_tui.sweep.show import show

    d = tmp_path / "huge"
    d.mkdir()
    (d / "sweep.toml").write_text(
        'name = "huge"\nscenario = { name = "huge" }\n[[grid]]\nkey = "seed"\nvalues = "0..99999"\n'
        '[[grid]]\nkey = "steps"\nvalues = "1..99999"\n'
    )
    (d / "points.jsonl").write_text("")
    with pytest.raises(SweepError, match="more than 100000"):
        show(d, field=None, arm=None, as_csv=False, out=io.StringIO())


def test_a_long_range_parses_in_linear_time():
    """The duplicate check compared every value with every earlier one: `--grid seed=0..99999` (within
    the limit) took minutes (5·10⁹ comparisons) before anything was said."""
    from eos_tui.sweep.grid import parse_values

    t0 = time.monotonic()
    assert len(parse_values("0..99999")) == 100_000
    assert len(parse_values("1:2:100000")) == 100_000
    assert time.monotonic() - t0 < 5.0
