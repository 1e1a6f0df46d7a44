"""The Events panel's corner says what its number counts ("7 events", "1 event"), not a bare "7"."""

from helpers import run_finished, wait_for
from test_scenario_screens import unpack

from eos_tui.app import EosApp


async def test_the_count_names_what_it_counts(tmp_path):
    app = EosApp(unpack("eos", tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: run_finished(app))
        n = len(app.model.events)
        assert n > 1 and app.query_one("EventsPanel").border_subtitle == f"{n} events"
