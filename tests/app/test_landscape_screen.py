"""`L`: the app shows landscape.json (written by `eos-tui landscape RUN_DIR`) in a screen of its own:
the loss along the line and the curve against t with their barriers, the end points' table, the
slice along the top eigenvector with its parabola. The file comes from outside: a missing, partial
or hostile one gives a clear message, never a crash, and none of its text reaches the terminal raw.

landscape/connectivity.json is the real output of `eos-tui run connectivity --headless` then
`eos-tui landscape RUN_DIR --curve` (its "run" field rewritten)."""

import json
import shutil
from pathlib import Path

import numpy as np
import synthetic
from helpers import run_finished, wait_for

from eos_tui.app import EosApp
from eos_tui.app.landscape_screen import LandscapeHelp, LandscapeScreen, XChart
from eos_tui.rundir.landscape import MAX_BYTES, read_landscape

STORED = Path(__file__).parent / "landscape" / "connectivity.json"
EVIL = "\x1b]2;PWNED\x07"


def with_landscape(tmp_path: Path, content: str | bytes | None = None) -> Path:
    run = synthetic.make_run(tmp_path / "landscape-run", steps=50)
    if content is None:
        shutil.copy(STORED, run / "landscape.json")
    elif isinstance(content, bytes):
        (run / "landscape.json").write_bytes(content)
    else:
        (run / "landscape.json").write_text(content, encoding="utf-8")
    return run


def stored() -> dict:
    return json.loads(STORED.read_text(encoding="utf-8"))


# ---- reading the file (no textual) ------------------------------------------------------------------


def test_the_stored_landscape_reads_whole(tmp_path):
    data, error = read_landscape(with_landscape(tmp_path))
    assert error is None and data is not None and data.problems == []
    assert data.line is not None and data.curve is not None and data.slice is not None
    assert len(data.line.t) == len(data.line.loss) == 41 and data.line.t[0] == -0.2 and data.line.t[-1] == 1.2
    assert data.line.barrier is not None and data.curve.barrier is not None
    assert data.line.barrier > 100 * data.curve.barrier  # the connectivity result: the curve has no barrier
    assert [e.arm for e in data.ends] == ["seed-1", "seed-2"] and [e.step for e in data.ends] == [1500, 1500]
    assert data.slice.parabola is not None and data.slice.step is not None


def test_a_missing_file_says_how_to_make_one(tmp_path):
    run = synthetic.make_run(tmp_path / "plain", steps=10)
    data, error = read_landscape(run)
    assert data is None and error is not None
    assert f"eos-tui landscape {run} --curve" in error


def test_bad_files_give_one_line_and_no_result(tmp_path):
    for i, content in enumerate([b"{not json", b"[1, 2]", b"\xff\xfe", b"[" * 100_000 + b"]" * 100_000, b'{"line": 3, "ends": 4}']):
        run = synthetic.make_run(tmp_path / f"bad{i}", steps=5)
        (run / "landscape.json").write_bytes(content)
        data, error = read_landscape(run)
        assert data is None and error and "\n" not in error, content[:20]
    run = synthetic.make_run(tmp_path / "huge", steps=5)
    (run / "landscape.json").write_bytes(b" " * (MAX_BYTES + 1))
    assert "larger than" in (read_landscape(run)[1] or "")


def test_hostile_values_are_left_out_and_said(tmp_path):
    d = stored()
    d["line"]["loss"][3] = "x"  # a string among the losses: the line is left out
    d["curve"]["loss"][5] = None  # a null: a gap (NaN), not an error
    d["slice"]["s"][10] = d["slice"]["s"][9]  # not increasing
    d["ends"][0]["arm"] = "[red]evil" + EVIL
    d["ends"][0]["sharpness"] = 10**400  # too large for a float
    d["ends"][1]["trace"] = True
    d["steps"] = {"seed-2": "many"}
    d["curve"]["loss"][7] = -1e308  # drawn, it would overflow the chart's range: left out
    data, error = read_landscape(with_landscape(tmp_path, json.dumps(d)))
    assert error is None and data is not None
    assert data.line is None and data.slice is None and data.curve is not None
    assert np.isnan(data.curve.loss[5]) and np.isnan(data.curve.loss[7]) and np.isfinite(data.curve.loss[6])
    assert any("curve.loss: values beyond" in p for p in data.problems)
    assert any("line.loss" in p for p in data.problems) and any("slice.s" in p for p in data.problems)
    assert data.ends[0].arm == "[red]evil\\x1b]2;PWNED\\x07" and data.ends[0].sharpness is None
    assert data.ends[1].trace is None and data.ends[1].step is None


# ---- the screen ---------------------------------------------------------------------------------------


async def test_L_opens_the_landscape_at_80x24(tmp_path):
    app = EosApp(with_landscape(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: run_finished(app))
        await pilot.press("L")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, LandscapeScreen)
        paths = screen.query_one("#landscape-paths", XChart)
        assert [s.key for s in paths._series] == ["line", "curve"] and paths.log_y
        assert paths.window == (-0.2, 1.2) and paths.size.height >= 6
        sub = str(screen.query_one("PathsPanel").border_subtitle)
        assert "barrier 0.04667" in sub and "barrier 0.0001233" in sub
        table = app.export_screenshot()
        assert "seed-1" in table and "4.18" in table and "12.06" in table  # the end points' table
        sl = screen.query_one("#landscape-slice", XChart)
        assert [s.key for s in sl._series] == ["parabola", "slice"] and sl.size.height >= 6
        assert "λ=4.18" in str(screen.query_one("SlicePanel").border_subtitle)
        labels = "".join(seg.text for seg in sl.render_strips(60, 8)[-1])
        assert "-0.2" in labels and "0.2" in labels  # decimal ticks along s, not whole steps
        await pilot.press("l")
        assert not paths.log_y
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, LandscapeHelp) and "mode connectivity" in app.screen.markdown()
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, LandscapeScreen)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Landscape" in titles


async def test_L_without_a_landscape_says_how_to_make_one(tmp_path):
    run = synthetic.make_run(tmp_path / "no-landscape", steps=50)
    app = EosApp(run)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: run_finished(app))
        await pilot.press("L")
        await pilot.pause()
        assert not isinstance(app.screen, LandscapeScreen)
        said = [n.message for n in app._notifications]
        assert any(f"eos-tui landscape {run} --curve" in m for m in said), said
        assert "Landscape: how to make one" in [c.title for c in app.get_system_commands(app.screen)]


async def test_a_hostile_landscape_opens_with_a_message_and_nothing_raw(tmp_path):
    d = stored()
    d["ends"][0]["arm"] = "[bold red]x" + EVIL
    d["slice"]["arm"] = "[/]" + EVIL
    d["slice"]["s"] = [i * 5e-324 for i in range(len(d["slice"]["s"]))]  # increasing, but no width to draw
    d["line"]["t"] = [0.0] * len(d["line"]["t"])
    d["curve"]["loss"] = [1e308, -1e308] * 20 + [None]
    app = EosApp(with_landscape(tmp_path, json.dumps(d)))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: run_finished(app))
        await pilot.press("L")
        await pilot.pause()
        assert isinstance(app.screen, LandscapeScreen)
        shot = app.export_screenshot()
        assert "\x1b" not in shot and "\x07" not in shot
        assert "[bold&#160;red]x\\x1b]2;PWNED\\x07" in shot or "[bold red]x\\x1b]2;PWNED\\x07" in shot
        problems = str(app.screen.query_one("#landscape-problems").render())
        assert "line.t: not increasing" in problems and "slice.s: its positions span too little" in problems
    for content in (b"\x00\x01garbage", b"[]"):
        app = EosApp(with_landscape(tmp_path / content.hex(), content))
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("L")
            await pilot.pause()
            assert isinstance(app.screen, LandscapeScreen)
            message = str(app.screen.query_one("#landscape-message").render())
            assert "landscape.json" in message and ("not valid JSON" in message or "not a JSON object" in message)


async def test_the_held_out_loss_is_drawn_dashed_with_its_barrier(tmp_path):
    d = stored()
    d["line"]["test_loss"] = [2 * v for v in d["line"]["loss"]]
    d["line"]["test_barrier"] = 0.0912
    app = EosApp(with_landscape(tmp_path, json.dumps(d)))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("L")
        await pilot.pause()
        paths = app.screen.query_one("#landscape-paths", XChart)
        test = next(s for s in paths._series if s.key == "line/test")
        assert test.kind == "dashed" and test.ys[0] == 2 * d["line"]["loss"][0]
        assert "held-out 0.0912" in str(app.screen.query_one("PathsPanel").border_subtitle)
        assert "losses on seed-1's data" in str(app.screen.query_one("#landscape-title").render())


def test_the_title_fits_its_line_path_cut_from_the_left():
    """The title is one line: a path too long for it left "…seed-1's data ·" and no path at all."""
    from eos_tui.app.landscape_screen import landscape_title

    path = "/home/someone/experiments/runs/connectivity-20261207-111111/landscape.json"
    head = "Landscape · losses on seed-1's data · "
    assert landscape_title("seed-1", path, None).plain == head + path
    assert landscape_title("seed-1", path, 200).plain == head + path
    for width in (78, 60, 55):
        text = landscape_title("seed-1", path, width).plain
        assert len(text) == width and text.startswith(head + "…") and text.endswith("/landscape.json")
        assert path.endswith(text[len(head) + 1 :])
    narrow = landscape_title("seed-1", path, 45).plain  # no room for the file's name: no path, no "·"
    assert narrow == "Landscape · losses on seed-1's data"
    tiny = landscape_title("seed-1", path, 20).plain
    assert len(tiny) <= 20 and tiny.endswith("…") and not tiny.rstrip("…").endswith("·")
    assert landscape_title(None, "/r/landscape.json", 40).plain == "Landscape · /r/landscape.json"


async def test_the_title_shows_the_path_at_80_columns_and_all_of_it_when_wider(tmp_path):
    deep = tmp_path / ("a-long-directory-name-" * 3)
    deep.mkdir()
    app = EosApp(with_landscape(deep))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: run_finished(app))
        await pilot.press("L")
        await wait_for(pilot, lambda: isinstance(app.screen, LandscapeScreen))
        await pilot.pause()
        title = app.screen.query_one("#landscape-title")
        text = title.render_line(0).text.rstrip()
        assert text.startswith("Landscape · losses on seed-1's data · …") and text.endswith("landscape-run/landscape.json")
        assert title.size.height == 1
        await pilot.resize_terminal(400, 40)
        await pilot.pause()
        await pilot.pause()
        text = title.render_line(0).text.rstrip()
        assert text.endswith(str(deep / "landscape-run" / "landscape.json")) and "…" not in text
