"""`watch` on a run whose metrics.jsonl holds a line of 100000 '[' (issue 20): the run showed empty
(the RecursionError escaped the follower, the good records before it lost with the chunk). Now
every other record is shown and a notice names the line."""

import json

import synthetic
from helpers import run_finished, wait_for

from eos_tui.app import EosApp


async def test_watch_shows_the_records_around_a_deep_line_and_names_it(tmp_path):
    run = synthetic.make_run(tmp_path / "deep", steps=60)
    metrics = run / "metrics.jsonl"
    lines = metrics.read_text().splitlines()
    lines.insert(133, "[" * 100_000)
    metrics.write_text("\n".join(lines) + "\n")
    app = EosApp(run)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: run_finished(app) and app.model.records == len(lines) - 1, timeout=60)
        assert all(a.done == 60 for a in app.model.arms.values())
        assert app.model.arms["gd"].step.values.tolist() == [float(t) for t in range(60)]
        said = [n.message for n in app._notifications]
        assert any(f"{metrics}:134: nested deeper than 64 levels" in m for m in said), said
        assert app.state.read_error is None
    assert json.loads(lines[132])  # the 133 records before it were good ones
