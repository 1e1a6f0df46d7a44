"""`eos-tui landscape` on the inputs a user gets wrong: a diverged arm (its last checkpoint is finite,
its loss huge: no minimum to look around), the same arm named twice, a control character in --arms;
and the drawing of a path that is flat to rounding (one level line, not its noise blown up)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from eos_tui.cli import app
from eos_tui.cli.landscape import chart
from eos_tui.engine import checkpoint as ck
from eos_tui.engine.runner import run_scenario
from eos_tui.rundir.prepare import prepare_run
from eos_tui.scenario import load_scenario_text

SCENARIO = """
name = "ls-refusals"
seed = 0
steps = 30
dtype = "float64"
device = "cpu"
[data]
kind = "none"
[model]
kind = "uv"
width = 10
[optimizer]
kind = "gd"
lr_relative = 1.0
[measure]
sharpness_every = 0
[[arm]]
name = "small"
[[arm]]
name = "diverge"
optimizer.lr_relative = 4.5
"""


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    sc = load_scenario_text(SCENARIO, source="<test>")
    out = prepare_run(sc, out=tmp_path_factory.mktemp("lsr") / "run")
    run_scenario(sc, out)
    return out


def cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_a_diverged_arm_is_refused_though_its_last_theta_is_finite(run_dir):
    tensors, meta = ck.load(ck.path_for(run_dir, "diverge", ck.list_steps(run_dir, "diverge")[-1]))
    assert meta["status"] == "diverged" and bool(tensors["theta"].isfinite().all())  # the case the θ test missed
    r = cli("landscape", run_dir, "--arms", "small,diverge", "--points", "5")
    assert r.exit_code == 2, r.output
    assert "arm 'diverge' diverged" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_the_same_arm_twice_is_refused(run_dir):
    for args in (("--arms", "small,small"), ("--arms", "small", "--other", f"{run_dir}/:small")):
        r = cli("landscape", run_dir, *args, "--points", "5")
        assert r.exit_code == 2, (args, r.output)
        assert "'small' twice" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_no_raw_control_character_reaches_the_terminal(run_dir):
    r = cli("landscape", run_dir, "--arms", "\x1b[31mred")
    assert r.exit_code == 2 and "\x1b" not in r.stderr and "\\x1b" in r.stderr


@pytest.mark.parametrize("log", [False, True])
def test_a_path_flat_to_rounding_is_one_level_line(log):
    """Two runs of one training give θ_A = θ_B: the loss along the line is constant up to 1e-19. The
    chart used its own range (1e-19 wide) and drew the rounding noise from top to bottom."""
    ts = [i / 20 for i in range(21)]
    losses = [3.39e-4 * (1 + (1e-15 if i % 3 else -1e-15)) for i in range(21)]
    lines, (y0, y1) = chart([(ts, losses)], cols=40, rows=10, log=log)
    drawn = [i for i, (text, owner) in enumerate(lines) if any(o >= 0 for o in owner)]
    assert len(drawn) == 1, [t for t, _ in lines]  # one text row holds the whole line
    assert 0 < drawn[0] < 9  # inside the frame, not on its edge
    lo, hi = (10**y0, 10**y1) if log else (y0, y1)
    assert lo < 3.39e-4 < hi


def test_a_run_of_one_arm_says_to_use_other(tmp_path):
    """Without --arms, a one-arm run said "--arms: name two arms (got 1: main)", an option never given."""
    sc = load_scenario_text(SCENARIO.split("[[arm]]")[0] + '[[arm]]\nname = "only"\n', source="<test>")
    out = prepare_run(sc, out=tmp_path / "run")
    run_scenario(sc, out)
    r = cli("landscape", out)
    assert r.exit_code == 2, r.output
    assert "one arm (only)" in r.stderr and "--other RUN_DIR:ARM" in r.stderr and "--arms" not in r.stderr


def test_a_running_arm_without_a_checkpoint_yet_is_not_called_a_run_from_before_checkpoints(run_dir, tmp_path):
    import json
    import os
    import shutil

    from eos_tui.rundir import format as rf

    live = tmp_path / "live"
    shutil.copytree(run_dir, live)
    shutil.rmtree(live / rf.CHECKPOINT_DIR)
    manifest = json.loads((live / rf.MANIFEST_FILE).read_text())
    manifest.update(status="running", pid=os.getpid())
    manifest.pop("pid_start", None)
    (live / rf.MANIFEST_FILE).write_text(json.dumps(manifest))
    r = cli("landscape", live, "--points", "5")
    assert r.exit_code == 2, r.output
    assert "no checkpoint yet" in r.stderr and "before checkpoints" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_ctrl_c_says_so_in_one_line_and_writes_nothing(run_dir, monkeypatch, capsys):
    """Ctrl-C in a long landscape (the curve's training, the trace's probes) ended it with no word."""
    from eos_tui.cli import landscape
    from eos_tui.rundir import format as rf

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(landscape, "compute", interrupted)
    before = (run_dir / rf.LANDSCAPE_FILE).exists()
    code = landscape.run_landscape(run_dir, arms=None, other=None, points=5, curve=True, as_json=False)
    err = capsys.readouterr().err
    assert code == 130 and err.strip() == f"eos-tui: interrupted; {rf.LANDSCAPE_FILE} not written"
    assert (run_dir / rf.LANDSCAPE_FILE).exists() == before
