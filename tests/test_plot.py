"""`eos-tui plot`: real images, checked for their size and for each arm's colour where its line is."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.image import imread  # noqa: E402

from eos_tui.cli.plot import DPI, HEIGHT_IN, PANEL_WIDTH_IN, PANELS, build_figure, collect, plot_command  # noqa: E402
from eos_tui.rundir import read_manifest, read_records  # noqa: E402
from tests.app import synthetic  # noqa: E402


def eos(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "eos_tui.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return synthetic.make_run(tmp_path_factory.mktemp("plot") / "run", steps=200)


def rgb(hex_color: str) -> tuple[float, float, float]:
    h = hex_color.lstrip("#")
    return tuple(int(h[i : i + 2], 16) / 255 for i in (0, 2, 4))  # type: ignore[return-value]


def colour_near(img, row: float, col: float, color: str, radius: int = 3, tol: float = 0.06) -> bool:
    r, c = int(round(row)), int(round(col))
    window = img[max(r - radius, 0) : r + radius + 1, max(c - radius, 0) : c + radius + 1, :3]
    target = rgb(color)
    return bool((abs(window - target) <= tol).all(axis=-1).any())


def pixel_of(fig, ax, x: float, y: float) -> tuple[float, float]:
    px, py = ax.transData.transform((x, y))
    return fig.bbox.height - py, px  # (row, column) in the image, origin top-left


def test_png_size_and_each_arm_colour_on_its_line(run, tmp_path):
    out = tmp_path / "fig.png"
    assert plot_command(run, out=out) == 0
    img = imread(out)
    assert img.shape[:2] == (round(HEIGHT_IN * DPI), round(len(PANELS) * PANEL_WIDTH_IN * DPI))
    # the same figure, laid out the same way, tells where each line is drawn
    data = collect(read_records(run), read_manifest(run))
    fig = build_figure(data, PANELS, title="synthetic")
    FigureCanvasAgg(fig).draw()
    sharp_ax, loss_ax = fig.axes[0], fig.axes[1]
    from eos_tui.app.widgets.palette import ARM_COLORS  # the app's colours (this test process may import textual)

    assert [a.color for a in data.values()] == list(ARM_COLORS[: len(data)])
    for name, other in (("gd", "sgd"), ("sgd", "gd")):
        arm, rival = data[name], data[other]
        for i in range(20, 28):  # steps 100..135: gd climbs towards 2/η = 100, sgd stays lower
            step, lam = arm.sharpness_step[i], arm.sharpness[i]
            row, col = pixel_of(fig, sharp_ax, step, lam)
            assert colour_near(img, row, col, arm.color), (name, step)
            # and not where the other arm's line is, far from this one
            row, col = pixel_of(fig, sharp_ax, step, rival.sharpness[i])
            assert not colour_near(img, row, col, arm.color), (name, step)
            row, col = pixel_of(fig, loss_ax, arm.step[5 * i], arm.loss[5 * i])
            assert colour_near(img, row, col, arm.color, radius=4), (name, "loss", step)
        # the dashed 2/η_t line in the arm's colour: somewhere along it
        hits = [colour_near(img, *pixel_of(fig, sharp_ax, s, 100.0), arm.color) for s in range(0, 200, 4)]
        assert sum(hits) >= 5, name


def test_arms_keep_their_colours_and_others_vanish(run, tmp_path):
    out = tmp_path / "sgd.png"
    # through the command line, in a fresh interpreter that then says what it imported: no textual
    argv = ["eos-tui", "plot", str(run), "-o", str(out), "--arms", "sgd", "--panels", "sharpness,loss"]
    code = (
        f"import json, sys\nsys.argv = {argv!r}\nfrom eos_tui.cli import app\ntry:\n    app()\nexcept SystemExit as e:\n"
        "    assert not e.code, e.code\nprint(json.dumps(sorted(sys.modules)))"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    mods = set(json.loads(r.stdout.strip().splitlines()[-1]))
    assert "matplotlib" in mods and "textual" not in mods and "torch" not in mods
    img = imread(out)
    assert img.shape[:2] == (round(HEIGHT_IN * DPI), round(2 * PANEL_WIDTH_IN * DPI))
    data = collect(read_records(run), read_manifest(run))
    near = lambda color: (abs(img[..., :3] - rgb(color)) <= 0.06).all(axis=-1).sum()  # noqa: E731
    assert near(data["sgd"].color) > 500  # sgd keeps its colour (orange, the app's second)
    assert near(data["gd"].color) == 0  # gd (blue) is not drawn


def test_svg_and_pdf(run, tmp_path):
    data = collect(read_records(run), read_manifest(run))
    assert plot_command(run, out=tmp_path / "f.svg") == 0
    svg = (tmp_path / "f.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    for arm in data.values():
        assert arm.color.lower() in svg.lower()
    assert plot_command(run, out=tmp_path / "f.pdf", panels="loss") == 0
    assert (tmp_path / "f.pdf").read_bytes()[:5] == b"%PDF-"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("-o", "f.jpg"), ".png, .svg or .pdf"),
        (("-o", "f.png", "--panels", "sharpness,bogus"), "'bogus'"),
        (("-o", "f.png", "--arms", "gd,nope"), "'nope' not in"),
        (("-o", "nofolder/f.png"), "does not exist"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(run, tmp_path, args, needle):
    r = eos("plot", str(run), *args, cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert needle in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert list(tmp_path.iterdir()) == []


def test_without_matplotlib_one_line_names_the_extra(run, tmp_path):
    code = (
        "import sys\nsys.modules['matplotlib'] = None\nsys.argv = ['eos-tui', 'plot', %r, '-o', 'f.png']\n"
        "from eos_tui.cli import main\nmain()\n" % str(run)
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    from eos_tui.cli.extras import install_hint

    assert r.returncode == 2 and install_hint("plot") in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
