"""Nothing read from a run directory reaches the terminal as a control sequence: an event message,
an arm name or a manifest field carrying `ESC ] 2 ; … BEL` (which retitles the terminal) is shown
as visible text."""

import json
import sys

import pytest
import synthetic
from test_terminal import run_in_pty

from eos_tui.app.model import Batch, RunModel, printable

EVIL = "\x1b]2;PWNED\x07"


def test_printable_writes_control_characters_visibly():
    assert printable("λ_max 2/η") == "λ_max 2/η"
    assert printable(EVIL) == "\\x1b]2;PWNED\\x07"
    assert printable("a\nb\tc\x9bd\x7f") == "a b c\\x9bd\\x7f"
    model = RunModel()
    model.set_manifest({**synthetic.manifest(arms=("gd", "x" + EVIL)), "scenario": EVIL, "device": EVIL}, "running")
    model.apply(
        Batch.from_records(
            [
                {"type": "event", "arm": "x" + EVIL, "step": 1, "kind": EVIL, "message": EVIL},
                {"type": "end", "arm": "gd", "status": EVIL, "steps_done": 1},
            ]
        )
    )
    shown = [
        model.scenario,
        model.device,
        *model.arms,
        model.arms["gd"].status,
        *(e.message for e in model.events),
        *(e.kind for e in model.events),
    ]
    assert not any("\x1b" in s or "\x07" in s for s in shown)
    assert len(model.arms) == 2  # the record's arm and the manifest's are the same arm


@pytest.mark.skipif(sys.platform == "win32", reason="pty")
def test_the_app_never_writes_a_run_directory_s_escape_to_the_terminal(tmp_path):
    run = synthetic.make_run(tmp_path / "evil-run", steps=100)
    synthetic.append(run, [{"type": "event", "arm": "gd", "step": 5, "kind": "catapult", "message": f"event {EVIL} message"}])
    m = json.loads((run / "manifest.json").read_text())
    m.update(scenario=f"sc{EVIL}", device=f"cpu{EVIL}")
    (run / "manifest.json").write_text(json.dumps(m))
    code = f"from eos_tui.app import run_app; run_app({str(run)!r})"
    out, status = run_in_pty([sys.executable, "-c", code], b"q", until=b"PWNED", cols=120, rows=40)
    assert status == 0
    assert b"\x1b]2;" not in out
    assert b"\\x1b]2;PWNED" in out  # shown, visibly


async def test_names_that_look_like_markup_are_shown_as_written(tmp_path):
    """An arm named 'bad[/]arm' (a hand-edited run) used to end the app with a MarkupError."""
    from helpers import run_finished, wait_for

    from eos_tui.app import EosApp

    run = synthetic.make_run(tmp_path / "markup-run", steps=50, arms=("gd", "bad[/]arm", "[b]bold"))
    synthetic.append(run, [{"type": "event", "arm": "bad[/]arm", "step": 5, "kind": "reparam_skipped", "message": "skipped [/] here"}])
    app = EosApp(run, poll_interval=0.05)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: run_finished(app) and len(app.model.events) == 1)
        for _ in range(3):
            await pilot.press("tab")
            await pilot.pause(0.05)
            app.redraw(True)
            await pilot.pause(0.05)
        assert app.is_running
        from textual.content import Content

        subtitle = app.query_one("SharpnessPanel").border_subtitle
        assert "bad[/]arm" in Content.from_markup(str(subtitle)).plain
