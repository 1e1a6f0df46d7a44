"""The headless summary table: catapults shown, and a form that fits 80 columns."""

from __future__ import annotations

import io
import os
import subprocess
import sys

from rich.console import Console

from eos_tui.cli.headless import summary_table


def arm(name: str, **over) -> dict:
    base = {
        "name": name,
        "status": "completed",
        "steps_done": 400,
        "initial_loss": 0.143,
        "final_loss": 3.55e-32,
        "max_loss": 3.34e7,
        "final_sharpness": 0.1518,
        "eos_ratio": 10.259,
        "eos_onset_step": 1234,
        "flip_fraction": 0.82,
        "catapult": None,
        "catapults": 0,
    }
    return {**base, **over}


SUMMARY = {
    "scenario": "catapult",
    "run_dir": "runs/catapult-20261130-050000",
    "arms": [
        arm("uv-small"),
        arm(
            "uv-catapult",
            catapult={"peak_loss_ratio": 120.46, "peak_step": 4, "sharpness_before": 1.98, "sharpness_after": 0.2},
            catapults=1,
        ),
        arm("mlp-catapult", catapult={"peak_loss_ratio": 204.2, "peak_step": 9}, catapults=3),
    ],
}


def render(width: int) -> list[str]:
    buf = io.StringIO()
    Console(file=buf, width=width).print(summary_table(SUMMARY, width=width))
    return buf.getvalue().splitlines()


def test_the_table_shows_catapults():
    lines = render(120)
    assert "catapult" in lines[1].split()
    row = {line.split()[0]: line for line in lines[2:]}
    assert row["uv-catapult"].rstrip().endswith("×120@4")
    assert row["mlp-catapult"].rstrip().endswith("×204@9 +2")
    assert row["uv-small"].rstrip().endswith("—")
    assert "max" in lines[1].split()


def test_at_80_columns_nothing_is_cut():
    lines = render(80)
    assert all(len(line.rstrip()) <= 80 for line in lines), lines
    assert not any("…" in line for line in lines[1:]), lines
    assert "max" not in lines[1].split() and "catapult" in lines[1].split()
    assert "0.143→3.55e-32" in lines[2] and "1234" in lines[2]


def test_a_real_catapult_reaches_the_table(tmp_path):
    (tmp_path / "cat.toml").write_text(
        'name = "cat"\nsteps = 40\ndtype = "float64"\n[data]\nkind = "none"\n[model]\nkind = "uv"\n'
        '[optimizer]\nkind = "gd"\nlr_relative = 3.0\n[measure]\nsharpness_every = 1\neigenvalues = 1\n'
    )
    r = subprocess.run(
        [sys.executable, "-m", "eos_tui.cli", "run", "cat.toml", "--headless", "--out", "r"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, OMP_NUM_THREADS="1"),
    )
    assert r.returncode == 0, r.stderr
    row = next(line for line in r.stdout.splitlines() if line.startswith("main"))
    assert "×120@4" in row, r.stdout  # the catapult scenario's uv arm: the loss peaks at 120× its start at step 4
