"""The first frame says what is happening: the charts' message ("starting…", "importing torch…") is
there when the screen is first painted, not empty axes around ±0.001 until the first redraw."""

from eos_tui.app import EosApp
from eos_tui.app.widgets import SharpnessPanel
from eos_tui.app.widgets.chart import Chart


async def test_the_first_paint_is_not_empty_axes(tmp_path, monkeypatch):
    painted: list[str] = []
    render_chart = Chart.render_line

    def chart_line(self, y):
        painted.append(self.id)  # a chart painted: its axes show
        return render_chart(self, y)

    monkeypatch.setattr(Chart, "render_line", chart_line)
    run = tmp_path / "run"
    run.mkdir()  # the engine has not written its manifest yet
    app = EosApp(run, fps=0.5, poll_interval=30.0)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert not painted  # the chart panels said "starting…" in place of their axes
        assert app.query_one(SharpnessPanel).has_class("-empty")
