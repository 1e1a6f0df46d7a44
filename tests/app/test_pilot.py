"""The app driven by Pilot: a finished run, a growing file, the keys."""

from pathlib import Path

import synthetic
from helpers import header_text, run_finished, until, wait_for
from test_header_fit import named

from eos_tui.app import EosApp
from eos_tui.app.screens.help import HelpScreen
from eos_tui.app.widgets import RunHeader
from eos_tui.app.widgets.chart import Chart


async def test_finished_run_shows_everything(finished_run):
    app = EosApp(finished_run)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: run_finished(app))
        text = header_text(app)
        assert "synthetic" in text and "completed" in text and "600/600" in text
        assert "steps/s" not in text  # no rate once finished: snapshots stay deterministic
        assert app.view.arm == "gd"
        sharp = app.query_one("#sharpness-chart", Chart)
        assert sharp.frame.y1 >= 100 > sharp.frame.y0  # the threshold 2/η = 100 is in view
        assert "E" in sharp.render_line(sharp.size.height - 2).text  # EoS onset marked on the axis
        assert "period-2" in str(app.query_one("#proj-summary").render())
        assert "catapult" in str(app.query_one("#events-list").render())


async def test_a_growing_file_updates_model_and_header(tmp_path):
    run = synthetic.make_run(tmp_path / "grow", steps=400, done=50, status="running", pid=None)
    app = EosApp(run, poll_interval=0.05)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.model.arms.get("gd") and app.model.arms["gd"].done == 50)
        assert "50/400" in header_text(app)
        synthetic.append(run, synthetic.records_range(synthetic.ARMS, 50, 220))
        await wait_for(pilot, lambda: app.model.arms["gd"].done == 220)
        assert "220/400" in header_text(app)
        assert [e.kind for e in app.model.events][:1] == ["eos_onset"]
        # A truncated last line (a writer caught mid-line) is not read until it is complete.
        line = '{"type":"step","arm":"gd","step":220,"loss":0.5,"lr":0.02,"grad_norm":1,"proj":null}'
        with open(run / "metrics.jsonl", "a") as fh:
            fh.write(line[:30])
        size = (run / "metrics.jsonl").stat().st_size
        app.follower.poll_now()
        await until(pilot, lambda: app.follower.metrics.offset == size)  # the follower has read the partial line
        app.ingest()
        assert app.model.arms["gd"].done == 220
        with open(run / "metrics.jsonl", "a") as fh:
            fh.write(line[30:] + "\n")
        await wait_for(pilot, lambda: app.model.arms["gd"].done == 221)


async def test_redraw_only_when_data_or_view_changed(finished_run):
    app = EosApp(finished_run, fps=20)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: run_finished(app))
        frames = app.frames
        await pilot.pause(0.3)
        assert app.frames == frames  # nothing new: no redraw
        await pilot.press("l")
        assert app.frames == frames + 1


async def test_keys(finished_run):
    app = EosApp(finished_run)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: run_finished(app))
        loss = app.query_one("#loss-chart", Chart)
        assert loss.log_y
        await pilot.press("l")
        assert not loss.log_y
        await pilot.press("tab")
        assert app.view.arm == "sgd"
        await pilot.press("a")
        assert app.view.arm == "gd"
        sharp = app.query_one("#sharpness-chart", Chart)
        assert sharp.frame.x0 <= 0
        await pilot.press("f")
        assert app.view.follow and sharp.frame.x0 > 0  # follows the latest steps
        await pilot.press("f")
        assert sharp.frame.x0 <= 0
        await pilot.press("space")
        assert "paused view" in header_text(app)
        await pilot.press("space")
        assert "paused view" not in header_text(app)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        assert "2/η" in app.screen.markdown() and "flips sign" in app.screen.markdown()
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.press("s")
        await pilot.pause()
        assert list(Path(finished_run).glob("*.svg"))
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert app.screen.__class__.__name__ == "CommandPalette"
        await pilot.press("escape")
        await pilot.press("q")
        await pilot.pause()
    assert app.outcome == "quit" and app.exit_code == 0


async def test_pause_freezes_the_charts_not_the_header(tmp_path):
    run = synthetic.make_run(tmp_path / "pause", steps=400, done=100, status="running")
    app = EosApp(run, poll_interval=0.05)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.model.arms.get("gd") and app.model.arms["gd"].done == 100)
        await pilot.press("space")
        sharp = app.query_one("#sharpness-chart", Chart)
        x1 = sharp.frame.x1
        synthetic.append(run, synthetic.records_range(synthetic.ARMS, 100, 200))
        await wait_for(pilot, lambda: app.model.arms["gd"].done == 200)
        assert sharp.frame.x1 == x1 and "200/400" in header_text(app)
        await pilot.press("space")
        assert sharp.frame.x1 > x1


async def test_resize_and_tiny_terminal(finished_run):
    app = EosApp(finished_run)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: run_finished(app))
        assert app.screen.has_class("-short")
        await pilot.resize_terminal(200, 60)
        await pilot.pause()
        assert not app.screen.has_class("-short")
        assert app.query_one("#sharpness-chart").size.width > 100
        await pilot.resize_terminal(40, 12)
        await pilot.pause()
        await pilot.resize_terminal(80, 24)
        await pilot.pause()


async def test_a_damaged_run_says_so_in_the_header_and_recovers(tmp_path):
    """metrics.jsonl a directory used to kill the reading thread: an empty, frozen screen."""
    run = synthetic.make_run(tmp_path / "bad", steps=100, done=0, status="running", pid="abc")
    (run / "metrics.jsonl").unlink()
    (run / "metrics.jsonl").mkdir()
    app = EosApp(run, poll_interval=0.05)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: "cannot read run" in header_text(app))
        assert "IsADirectoryError" in header_text(app)
        (run / "metrics.jsonl").rmdir()
        synthetic.append(run, synthetic.records_range(synthetic.ARMS, 0, 10))
        await wait_for(pilot, lambda: app.model.arms.get("gd") and app.model.arms["gd"].done == 10)
        await wait_for(pilot, lambda: "cannot read run" not in header_text(app))


async def test_the_header_names_every_arm_at_any_width(tmp_path):
    # Five arms used to run off the one header line at 120 columns (catapult showed three).
    arms = ("uv-small", "uv-catapult", "uv-diverge", "mlp-small", "mlp-catapult")
    run = synthetic.make_run(tmp_path / "five", steps=150, arms=arms)
    for size in ((120, 40), (80, 24)):
        app = EosApp(run)
        async with app.run_test(size=size) as pilot:
            await wait_for(pilot, lambda: run_finished(app))
            header = app.screen_stack[0].query_one(RunHeader)
            text = header_text(app)
            lines = text.splitlines()
            # Every arm named, whole or cut to a length that keeps them distinct, on one line.
            assert named(lines[1], list(arms)), (size, text)
            assert header.size.height == len(lines) == 2, (size, text)
            assert all(len(line) <= size[0] - 2 for line in lines), (size, text)  # 1-cell padding each side
            assert "✓" in text  # five arms' "150/150 completed" take more than one line even at 120
            assert size[0] == 80 or all(a in lines[1].split() for a in arms), (size, text)  # 120: the names whole


def reparam_headers(app) -> list[str]:
    table = app.query_one("#reparam-table").render()._renderable  # a rich Table
    return [str(c.header) for c in table.columns]


async def test_a_resize_refits_the_header_and_the_reparam_table(tmp_path):
    # A finished run gets no new data: the resize alone must re-fit the width-dependent text.
    arms = ("uv-small", "uv-catapult", "uv-diverge", "mlp-small", "mlp-catapult")
    run = synthetic.make_run(tmp_path / "five", steps=150, arms=arms)
    app = EosApp(run)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: run_finished(app))
        assert "ΔL" in reparam_headers(app)
        await pilot.resize_terminal(80, 24)
        await until(pilot, lambda: "ΔL" not in reparam_headers(app) and all(len(line) <= 78 for line in header_text(app).splitlines()))
        lines = header_text(app).splitlines()
        assert len(lines) == 2 and named(lines[1], list(arms)), lines
        assert all(len(line) <= 78 for line in lines), lines
        assert "ΔL" not in reparam_headers(app) and "λ_max" in reparam_headers(app)
