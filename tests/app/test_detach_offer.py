"""`d` (detach) is offered in the footer only while the app's own engine runs: it used to stay after
the run ended, because the bindings were refreshed when the manifest's status changed, a moment
before the engine process exited."""

import subprocess
import sys

import synthetic
from helpers import wait_for
from textual.widgets._footer import FooterKey

from eos_tui.app import EosApp


def offered(app) -> set[str]:
    return {k.description for k in app.screen.query(FooterKey)}


async def test_detach_leaves_the_footer_once_the_engine_has_exited(tmp_path):
    run = synthetic.make_run(tmp_path / "run", steps=50)  # the manifest already says "completed"
    # an engine that outlives its last manifest by a moment, as the real one does while it exits
    engine = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1.5)"])
    try:
        app = EosApp(run, engine=engine, poll_interval=0.05)
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: app.model.status == "completed")
            await pilot.pause()
            assert "detach" in offered(app)
            engine.wait()
            await wait_for(pilot, lambda: "detach" not in offered(app))
    finally:
        engine.kill()
        engine.wait()
