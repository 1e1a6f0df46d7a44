"""Snapshots of a finished synthetic run at 80x24 and 160x48 (deterministic: no clocks shown)."""

from helpers import run_finished, wait_for

from eos_tui.app import EosApp


def _settled(app):
    async def run_before(pilot):
        await wait_for(pilot, lambda: run_finished(app))

    return run_before


def test_snapshot_80x24(finished_run, snap_compare):
    app = EosApp(finished_run)
    assert snap_compare(app, terminal_size=(80, 24), run_before=_settled(app))


def test_snapshot_160x48(finished_run, snap_compare):
    app = EosApp(finished_run)
    assert snap_compare(app, terminal_size=(160, 48), run_before=_settled(app))


def test_snapshot_help_80x24(finished_run, snap_compare):
    app = EosApp(finished_run)

    async def run_before(pilot):
        await wait_for(pilot, lambda: run_finished(app))
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
