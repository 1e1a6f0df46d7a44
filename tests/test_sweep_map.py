"""`eos-tui sweep show` (issue 23, Sweeps): the field's scale, round x ticks and the theory's boundaries.

tests/sweeps/catapult-phase is the built-in catapult-phase sweep as `eos-tui sweep catapult-phase`
wrote it (sweep.toml and points.jsonl; the points' run directories are not needed by the map): the
uv model f = u·v/√m at η·λ0 = 0.5 … 5 in steps of 0.25 and widths 30 … 10000. Before: `--field
eos_ratio` binned 0.017 … 934 linearly and 73 of the 76 cells were on the lowest mark (blank); the x
labels were whichever had room (0.5 1 1.25 1.75 2.25 …); nothing marked η·λ0 = 2 and 4.
"""

from __future__ import annotations

import io
import json
import math
import re
import shutil
from pathlib import Path

import pytest
import tomli_w

from eos_tui.sweep.grid import Sweep, SweepError, load_sweep, read_resolved, sweep_from_data
from eos_tui.sweep.show import (
    CROWDED,
    RAMP,
    Scale,
    boundary_position,
    cells,
    crowding,
    field_scale,
    letter_column,
    render_map,
    show,
    tick_cells,
    usable_records,
)
from eos_tui.sweep.store import read_points

from .helpers import eos

STORED = Path(__file__).parent / "sweeps" / "catapult-phase"
X = "optimizer.lr_relative"
LR = [0.5 + 0.25 * i for i in range(19)]  # "0.5:5:19"


def stored():
    sweep = read_resolved(STORED / "sweep.toml")
    return sweep, usable_records(sweep, read_points(STORED, []))


def map_text(field: str | None = None, columns: int = 80) -> str:
    sweep, records = stored()
    out = io.StringIO()
    render_map(sweep, records, file=out, field=field, columns=columns)
    return out.getvalue()


# ---- the field's scale ---------------------------------------------------------------------------


def test_eos_ratio_on_the_catapult_phase_is_binned_in_log_and_spread():
    sweep, records = stored()
    means = [c["mean"] for c in cells(sweep, records, field="eos_ratio").values()]
    assert len(means) == 76 and min(means) == pytest.approx(0.01743, rel=1e-3) and max(means) == pytest.approx(934.1, rel=1e-3)
    linear = Scale("linear", min(means), max(means))
    assert sum(linear.level(m) == 0 for m in means) == 73  # the bug: 73 of 76 cells blank
    scale = field_scale(means)
    assert scale.kind == "log"
    assert crowding(scale, means) <= CROWDED  # 33 of 76: the lazy cells, η·λ0/2 from 0.25 to 1
    # every mark but "=" (eos_ratio 1 to 4.2: no cell, lazy cells end at 1 and diverged ones start at 4.2)
    assert sorted({scale.level(m) for m in means}) == [0, 1, 2, 3, 5, 6, 7, 8, 9]
    text = map_text("eos_ratio")
    assert "log scale, from 0.01743 to 934.1 (×2.97 a mark)" in text
    rows = [line.split("│", 1)[1] for line in text.splitlines() if "│" in line]
    blank = sum(row[i : i + 3] == "   " for row in rows for i in range(0, 57, 3))
    assert blank == sum(scale.level(m) == 0 for m in means) == 2  # the deepest catapults (η·λ0 = 3.5 and 4)


def test_log_levels_are_equal_ratios_and_quantiles_a_tenth_each():
    # log: 10^0 … 10^10 in ten marks, each a factor 10 (the midpoints of each decade, off the edges)
    log = field_scale([10.0**k for k in range(11)])
    assert log.kind == "log"
    assert [log.level(10 ** (k + 0.5)) for k in range(10)] == list(range(10))
    assert log.level(1.0) == 0 and log.level(1e10) == 9
    # zeros and a long tail: no log; linear would put 95 of 100 on the lowest mark
    tail = [0.0] * 5 + [float(k) for k in range(1, 91)] + [1e6 * k for k in range(1, 6)]
    assert crowding(Scale("linear", 0.0, 5e6), tail) == 0.95
    q = field_scale(tail)
    assert q.kind == "quantile" and "quantile scale" in q.legend()
    counts = [sum(q.level(v) == m for v in tail) for m in range(len(RAMP))]
    assert counts == [10] * 10  # a tenth of the cells a mark
    # a field within one decade stays linear and says so as before
    lin = field_scale([0.4, 0.5, 0.9])
    assert lin.kind == "linear" and lin.legend() == "from 0.4 to 0.9"
    assert field_scale([3.0, 3.0]).kind == "linear" and field_scale([]).kind == "linear"
    assert not math.isnan(field_scale([1.0, math.nan, 2.0]).hi)


# ---- ticks -----------------------------------------------------------------------------------------


def labels(values, cw):
    return [str(values[i]).removesuffix(".0") for i in tick_cells(values, cw)]


def test_ticks_are_round_values():
    assert labels(LR, 3) == ["0.5", "1", "1.5", "2", "2.5", "3", "3.5", "4", "4.5", "5"]  # was 0.5 1 1.25 1.75 2.25 …
    assert labels(LR, 2) == ["0.5", "1", "1.5", "2", "2.5", "3", "3.5", "4", "4.5", "5"]
    assert labels(LR, 1) == ["1", "2", "3", "4", "5"]
    assert labels([2, 4, 8, 16, 32], 3) == ["2", "4", "8", "16", "32"]
    log = [0.001, 0.001778, 0.003162, 0.005623, 0.01, 0.01778, 0.03162, 0.05623, 0.1]  # "1e-3..1e-1:9"
    assert labels(log, 3) == ["0.001", "0.01", "0.1"]
    assert labels(list(range(1, 13)), 3) == [str(k) for k in range(1, 13)]
    # no two round values fit: each label where there is room, as before
    assert labels([30, 100, 1000, 10000], 3) == ["30", "100", "10000"]
    assert labels(["relu", "tanh", "gelu"], 3) == ["relu", "gelu"]


def test_the_stored_maps_x_labels_and_boundaries():
    text = map_text()
    lines = text.splitlines()
    top = next(line for line in lines if "model.width ↑" in line)
    axis = next(line for line in lines if "└" in line)
    ticks = lines[lines.index(axis) + 1]
    assert ticks.split() == ["0.5", "1", "1.5", "2", "2.5", "3", "3.5", "4", "4.5", "5"]
    left = axis.index("└") + 1
    cols = [left + letter_column(LR.index(b), 3) for b in (2.0, 4.0)]
    assert [i for i, ch in enumerate(top) if ch == "▼"] == cols
    assert [i for i, ch in enumerate(axis) if ch == "▲"] == cols
    assert [i for i, ch in enumerate(axis) if ch == "┬"] == [left + letter_column(i, 3) for i in range(0, 19, 2) if LR[i] not in (2, 4)]
    assert all(ticks[left + letter_column(i, 3)] != " " for i in range(0, 19, 2))  # each label under its ┬
    assert "▼▲ the theory's boundaries (sweep file): optimizer.lr_relative = 2, 4" in text
    # the theory holds on the map: lazy left of the first boundary (at width 30 one cell more, at 2
    # itself), catapult between, diverged right of the second
    for row in (line for line in lines if "│" in line):
        letters = {i: ch for i, ch in enumerate(row) if ch in "LCD" and i > row.index("│")}
        assert all(ch == "L" for i, ch in letters.items() if i < cols[0])
        assert all(ch == "C" for i, ch in letters.items() if cols[0] + 3 < i < cols[1])
        assert all(ch == "D" for i, ch in letters.items() if i > cols[1])


def test_boundary_positions():
    assert boundary_position(LR, 2.0) == 6.0
    assert boundary_position(LR, 2.1) == pytest.approx(6.4)
    assert boundary_position(list(reversed(LR)), 2.1) == pytest.approx(11.6)
    assert boundary_position(LR, 5.0) == 18.0 and boundary_position(LR, 0.5) == 0.0
    assert boundary_position(LR, 6.0) is None and boundary_position(LR, 0.1) is None
    assert boundary_position(["relu", "tanh"], 1.0) is None and boundary_position([2.0], 2.0) == 0.0


def test_a_boundary_on_the_second_axis_and_one_off_the_grid():
    sweep = Sweep(
        name="m",
        description="",
        scenario={"name": "m"},
        source="<test>",
        grid=[("optimizer.lr", [0.1, 0.2, 0.3]), ("model.width", [10, 100, 1000])],
        boundaries={"model.width": [100.0, 5000.0], "optimizer.lr": [0.25]},
    )
    records = [
        {"index": i, "point": p, "status": "completed", "outcome": "lazy", "arms": [{"name": "main", "outcome": "lazy"}]}
        for i, p in enumerate(sweep.points())
    ]
    out = io.StringIO()
    render_map(sweep, records, file=out, columns=80)
    rows = {line.split("│")[0].strip(): line.split("│")[1] for line in out.getvalue().splitlines() if "│" in line}
    assert rows["100"].rstrip().endswith("◀ 100") and "◀" not in rows["10"] + rows["1000"]
    assert "optimizer.lr = 0.25; model.width = 100, 5000 (5000 off the grid)" in out.getvalue()
    axis = next(line for line in out.getvalue().splitlines() if "└" in line)
    assert axis.index("▲") == axis.index("└") + 1 + round(letter_column(0, 3) + 1.5 * 3)  # halfway from 0.2 to 0.3


# ---- the sweep file ---------------------------------------------------------------------------------


def data(**grid):
    return {"name": "s", "scenario": "catapult", "grid": [{"key": "optimizer.lr_relative", "values": "0.5:5:19", **grid}]}


def test_boundaries_are_the_sweep_files_data_and_survive_the_resolved_file(tmp_path):
    builtin = load_sweep("catapult-phase")
    assert builtin.boundaries == {X: [2.0, 4.0]}
    (tmp_path / "sweep.toml").write_text(builtin.to_toml())
    assert read_resolved(tmp_path / "sweep.toml").boundaries == {X: [2.0, 4.0]}
    # a --grid over the same key keeps the theory's boundaries (its units are the file's)
    assert load_sweep("catapult-phase", grids=[f"{X}=1,3,5"]).boundaries == {X: [2.0, 4.0]}
    assert sweep_from_data(data(boundaries=[4, 2]), source="f", base_dir=None, default_name="s").boundaries == {X: [2.0, 4.0]}
    assert load_sweep("warmup-phase").boundaries == {}


@pytest.mark.parametrize(
    "grid, words",
    [
        ({"boundaries": 2}, "grid[0].boundaries: must be a list of numbers, e.g. [2, 4] (got 2)"),
        ({"boundaries": ["2"]}, 'grid[0].boundaries: must be a list of numbers, e.g. [2, 4] (got ["2"])'),
        ({"boundaries": [True]}, "grid[0].boundaries: must be a list of numbers"),
        ({"boundaries": {"at": 2}}, "(got a table)"),
        ({"boundaries": [math.inf]}, "grid[0].boundaries: must be a list of numbers"),
        ({"values": ["relu", "tanh"], "boundaries": [1]}, "grid[0].boundaries: boundaries need a grid of numbers"),
        ({"boundary": [2]}, "grid[0].boundary: unknown key (allowed: key, values, boundaries)"),
    ],
)
def test_bad_boundaries_are_one_line_errors(grid, words):
    with pytest.raises(SweepError) as e:
        sweep_from_data(data(**grid), source="f.toml", base_dir=None, default_name="s")
    assert words in str(e.value) and "\n" not in str(e.value)


def test_a_hand_edited_sweep_toml_with_bad_boundaries_is_one_line(tmp_path):
    d = tmp_path / "s"
    shutil.copytree(STORED, d)
    resolved = (d / "sweep.toml").read_text()
    (d / "sweep.toml").write_text(re.sub(r"boundaries = \[[^\]]*\]", 'boundaries = "2"', resolved))
    with pytest.raises(SweepError, match=r"sweep.toml: grid\[0\].boundaries: must be a list of numbers"):
        show(d, field=None, arm=None, as_csv=False, out=io.StringIO())


def test_show_on_the_stored_sweep_csv_is_unchanged_by_the_scale():
    out = io.StringIO()
    show(STORED, field="eos_ratio", arm=None, as_csv=True, out=out)
    rows = out.getvalue().splitlines()
    assert rows[0].endswith("eos_ratio_mean,eos_ratio_std") and len(rows) == 77
    first = json.loads((STORED / "points.jsonl").read_text().splitlines()[0])
    assert float(rows[1].split(",")[-2]) == first["arms"][0]["eos_ratio"]


def test_stored_sweep_is_the_builtin_one():
    """The stored sweep is the built-in's grid and boundaries (regenerate it with `eos-tui sweep
    catapult-phase --out DIR` and copy DIR's sweep.toml and points.jsonl if the built-in changes)."""
    sweep, records = stored()
    builtin = load_sweep("catapult-phase")
    assert sweep.grid == builtin.grid and sweep.boundaries == builtin.boundaries and len(records) == 76
    assert tomli_w.dumps(sweep.scenario) == tomli_w.dumps(builtin.scenario)


def test_the_command_line_at_80_columns(tmp_path):
    """`eos-tui sweep show DIR --field eos_ratio` in a fresh process at 80 columns: every line fits,
    the scale is named, the boundaries are marked."""
    r = eos("sweep", "show", str(STORED), "--field", "eos_ratio", cwd=tmp_path, columns="80")
    assert r.returncode == 0, r.stderr
    assert all(len(line) <= 80 for line in r.stdout.splitlines()), r.stdout
    assert "log scale, from 0.01743 to 934.1" in r.stdout and r.stdout.count("▼") == 2 + 1  # and the legend's
