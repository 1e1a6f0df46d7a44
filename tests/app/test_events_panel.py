"""The Events panel scrolls (keys, wheel) and filters to the highlighted arm (`v`); a finished run
without events says so. The highlighted arm, until the person picks one, is the first to reach
the edge (where the eigendirection panel shows the oscillation), not the first listed."""

import pytest
import synthetic
from helpers import run_finished, wait_for

from eos_tui.app import EosApp
from eos_tui.app.arm_choice import edge_arm
from eos_tui.app.model import RunModel
from eos_tui.app.widgets.events import EventsScroll


def events_text(app) -> str:
    return str(app.query_one("#events-list").render())


def with_many_events(run, n=40):
    synthetic.append(
        run, [{"type": "event", "arm": "sgd", "step": 10 * i, "kind": "lr_change", "message": f"step schedule {i}"} for i in range(n)]
    )
    return run


async def test_the_events_scroll_with_the_keys_and_only_up_down_and_pages(tmp_path):
    run = with_many_events(synthetic.make_run(tmp_path / "many-events", steps=600))
    app = EosApp(run)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: run_finished(app) and len(app.model.events) > 40)
        scroll = app.query_one(EventsScroll)
        assert app.focused is scroll  # the one focusable widget: the keys reach it at once
        assert scroll.max_scroll_y > 0 and scroll.scroll_y == 0
        await pilot.press("down", "down")
        await pilot.pause()
        assert scroll.scroll_y == 2
        await pilot.press("pagedown")
        await pilot.pause()
        assert scroll.scroll_y > 2
        # left/right, home/end stay the charts' keys (zoom, pan), even with the events focused
        assert set(scroll._bindings.key_to_bindings) == {"up", "down", "pageup", "pagedown"}
        at = scroll.scroll_y
        await pilot.press("end", "right")
        await pilot.pause()
        assert scroll.scroll_y == at


async def test_v_filters_the_events_to_the_highlighted_arm(tmp_path):
    run = with_many_events(synthetic.make_run(tmp_path / "filter", steps=600), n=3)
    app = EosApp(run)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: run_finished(app))
        assert app.view.arm == "gd"
        assert "sgd" in events_text(app) and "gd" in events_text(app)
        await pilot.press("v")
        text = events_text(app)
        assert "sgd" not in text and "EoS onset" in text
        gd_events = sum(e.arm == "gd" for e in app.model.events)
        assert app.query_one("EventsPanel").border_subtitle == f"gd: {gd_events} of {len(app.model.events)}"
        await pilot.press("tab")  # the filter follows the highlighted arm
        assert "η change" in events_text(app) and "EoS onset" not in events_text(app)
        await pilot.press("v")
        assert "EoS onset" in events_text(app) and "η change" in events_text(app)


async def test_a_finished_run_without_events_says_so(tmp_path):
    run = synthetic.make_run(tmp_path / "quiet", steps=100)  # the synthetic arms reach the edge at 150 at the earliest
    app = EosApp(run)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: run_finished(app))
        assert not app.model.events
        assert "no events in this run" in events_text(app)


def test_the_edge_arm_is_the_first_to_reach_the_edge():
    model = RunModel()
    ev = lambda arm, step, kind: {"type": "event", "arm": arm, "step": step, "kind": kind, "message": ""}  # noqa: E731
    steps = [{"type": "step", "arm": a, "step": 0, "loss": 1.0, "lr": 0.1} for a in ("control", "late", "early", "blowup")]
    model.apply_records(steps)
    assert edge_arm(model) is None
    model.apply_records([ev("late", 300, "eos_onset"), ev("control", 5, "lr_resolved"), ev("early", 120, "eos_onset")])
    assert edge_arm(model) == "early"
    # an arm above the edge from the start comes first ... unless it diverged
    model.apply_records([ev("blowup", 0, "unstable_start")])
    assert edge_arm(model) == "blowup"
    model.apply_records([{"type": "end", "arm": "blowup", "status": "diverged", "steps_done": 6, "final_loss": None}])
    assert edge_arm(model) == "early"


async def test_the_app_highlights_the_edge_arm_until_tab(tmp_path):
    run = synthetic.make_run(tmp_path / "edge-arm", steps=600)
    synthetic.append(run, [{"type": "event", "arm": "sgd", "step": 3, "kind": "unstable_start", "message": ""}])
    app = EosApp(run)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: run_finished(app) and any(e.arm == "sgd" for e in app.model.events if e.step == 3))
        assert app.view.arm == "sgd"  # at the edge at step 3, before gd's onset at 150
        assert "sgd" in app.query_one("EigendirectionPanel").border_subtitle
        await pilot.press("tab")
        assert app.view.arm == "gd" and app.view.arm_chosen
        app.ingest()
        assert app.view.arm == "gd"  # the person's choice stays


async def test_the_placeholder_for_no_events_is_whole_at_80_columns(tmp_path):
    """At 80 columns the panel is 28 cells wide: the one-line placeholder was cut to "…no arm"."""
    from test_scenario_screens import unpack

    app = EosApp(unpack("reparam", tmp_path))  # no arm reached the edge
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: run_finished(app))
        await pilot.pause()
        assert not app.model.events
        widget = app.query_one("#events-list")
        lines = [widget.render_line(y).text.rstrip() for y in range(widget.size.height)]
        assert " ".join(line for line in lines if line) == "no events in this run: no arm reached the edge, spiked or diverged"
        assert widget.region.bottom <= app.query_one(EventsScroll).region.bottom


async def test_adams_unstable_start_names_its_own_threshold(tmp_path):
    """The stored adam run's three arms start above 38/η: the label said "above 2/η", 19 times too low."""
    from test_scenario_screens import unpack

    app = EosApp(unpack("adam", tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: run_finished(app))
        text = events_text(app)
        assert text.count("above 38/η") == 3 and "2/η" not in text


def test_a_gd_run_from_before_the_threshold_field_reads_2_over_eta():
    """Step records without `threshold` (plain GD, older runs): the factor is 2, from η alone."""
    from eos_tui.app.model import Event
    from eos_tui.app.widgets.events import event_name

    model = RunModel()
    model.apply_records(synthetic.records_range(synthetic.ARMS, 0, 5))
    assert all("threshold" not in r for r in synthetic.records_range(synthetic.ARMS, 0, 5))
    event = Event(arm="gd", step=0, kind="unstable_start", message="")
    assert event_name(event, model.arms["gd"]) == "above 2/η"
    assert event_name(event, None) == "above its threshold"


def test_a_schedule_ending_at_eta_zero_keeps_the_arms_threshold():
    """A cosine schedule's last step has η = 0 and no threshold: the factor (and so the events'
    "above 3.8/η") comes from the last step that has one, not "above its threshold"."""
    from eos_tui.app.model import Event
    from eos_tui.app.widgets.events import event_name

    records = synthetic.records_range(["gd"], 0, 5)
    for r in records:
        if r["type"] == "step":
            r["threshold"] = 3.8 / r["lr"]
    last = [r for r in records if r["type"] == "step"][-1]
    last["lr"], last["threshold"] = 0.0, None
    model = RunModel()
    model.apply_records(records)
    assert model.arms["gd"].threshold_factor == pytest.approx(3.8)
    assert event_name(Event(arm="gd", step=0, kind="unstable_start", message=""), model.arms["gd"]) == "above 3.8/η"


def test_the_placeholder_wraps_where_it_can_and_says_its_first_clause_where_it_cannot():
    from eos_tui.app.view import View
    from eos_tui.app.widgets.events import NO_EVENTS, NO_EVENTS_SHORT, empty_text

    model = RunModel()
    model.set_manifest(synthetic.manifest(status="completed"), "completed")
    assert NO_EVENTS in empty_text(model, View(), False, None)  # no size yet: the whole sentence
    assert NO_EVENTS in empty_text(model, View(), False, (28, 3))  # 80 columns: three lines
    assert NO_EVENTS in empty_text(model, View(), False, (46, 2))  # 120 columns: two
    short = empty_text(model, View(), False, (28, 2))  # cut after "…no arm" before
    assert NO_EVENTS_SHORT in short and NO_EVENTS not in short
