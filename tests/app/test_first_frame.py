"""The first frame says what is happening: the header and the charts' message are there when the
screen is first painted, not a blank header over empty axes around ±0.001 until the first redraw."""

from eos_tui.app import EosApp
from eos_tui.app.widgets import SharpnessPanel
from eos_tui.app.widgets.chart import Chart
from eos_tui.app.widgets.header import RunHeader


async def test_the_first_paint_is_not_a_blank_header_over_empty_axes(tmp_path, monkeypatch):
    first: dict[str, object] = {}
    render_header, render_chart = RunHeader.render, Chart.render_line

    def header(self):
        out = render_header(self)
        first.setdefault("header", str(out))
        return out

    def chart_line(self, y):
        first.setdefault("chart", self.id)  # a chart painted: its axes show
        return render_chart(self, y)

    monkeypatch.setattr(RunHeader, "render", header)
    monkeypatch.setattr(Chart, "render_line", chart_line)
    run = tmp_path / "run"
    run.mkdir()  # the engine has not written its manifest yet
    app = EosApp(run, fps=0.5, poll_interval=30.0)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert "eos-tui" in str(first["header"]) and "●" in str(first["header"])  # the status, from the first paint
        assert "chart" not in first  # the chart panels said "starting…" in place of their axes
        assert app.query_one(SharpnessPanel).has_class("-empty")
