"""`eos-tui plot` tells the arms apart (issue 20): every arm its own colour, however many, and each
arm's sharpness named by its kind (λ_max of H, or of P⁻¹H for Adam and RMSprop)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

from matplotlib.colors import to_hex  # noqa: E402

from eos_tui.cli.plot import PANELS, build_figure, collect  # noqa: E402
from eos_tui.rundir import read_manifest, read_records  # noqa: E402
from tests.app import synthetic  # noqa: E402


def figure(run: Path):
    return build_figure(collect(read_records(run), read_manifest(run)), PANELS)


def solid_colours(ax) -> list[str]:
    return [to_hex(line.get_color()) for line in ax.get_lines() if line.get_linestyle() == "-"]


@pytest.mark.parametrize("n", [2, 6, 7, 9, 14])
def test_every_arm_has_its_own_colour(tmp_path, n):
    arms = tuple(f"arm{i}" for i in range(n))
    run = synthetic.make_run(tmp_path / "run", steps=10, arms=arms)
    fig = figure(run)
    for ax in fig.axes[:2]:  # the sharpness and the loss panel: one solid line per arm
        colours = solid_colours(ax)
        assert len(colours) == n and len(set(colours)) == n, colours
    legend = [to_hex(h.get_color()) for h in fig.legends[0].legend_handles]
    assert len(set(legend)) == n
    # the first six are still the app's, so that a figure matches the app
    from eos_tui.app.widgets.palette import ARM_COLORS

    assert legend[: min(n, 6)] == [c.lower() for c in ARM_COLORS[: min(n, 6)]]


def _with_adam(tmp_path: Path, arms: tuple[str, ...]) -> Path:
    run = synthetic.make_run(tmp_path / "run", steps=20, arms=arms)
    lines = []
    for line in (run / "metrics.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if rec["type"] == "sharpness" and rec["arm"] == "adam":  # what the engine writes for Adam
            rec["operator"], rec["raw_eigenvalues"] = "preconditioned", [rec["eigenvalues"][0] / 10]
        lines.append(json.dumps(rec))
    (run / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    return run


def test_each_arm_is_labelled_by_its_own_kind(tmp_path):
    fig = figure(_with_adam(tmp_path, ("gd", "adam")))
    label = fig.axes[0].get_ylabel()
    assert not label.startswith("preconditioned"), label  # gd's sharpness is λ_max of H itself
    assert "for preconditioned arms" in label, label
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["gd", "adam (preconditioned)"]


def test_all_preconditioned_or_none(tmp_path):
    fig = figure(_with_adam(tmp_path / "a", ("adam",)))
    assert fig.axes[0].get_ylabel().startswith("preconditioned sharpness")
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["adam"]  # the axis says it for every arm
    fig = figure(synthetic.make_run(tmp_path / "b", steps=10))
    assert fig.axes[0].get_ylabel() == r"sharpness $\lambda_{\max}$"
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["gd", "sgd"]
