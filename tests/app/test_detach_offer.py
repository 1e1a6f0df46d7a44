"""`d` (detach) is offered in the footer only while the app's own engine runs: it used to stay after
the run ended, because the bindings were refreshed when the manifest's status changed, a moment
before the engine process exited."""

import subprocess
import sys

import synthetic
from helpers import until, wait_for
from textual.widgets._footer import FooterKey

from eos_tui.app import EosApp


def offered(app) -> set[str]:
    return {k.description for k in app.screen.query(FooterKey)}


async def test_detach_leaves_the_footer_once_the_engine_has_exited(tmp_path):
    run = synthetic.make_run(tmp_path / "run", steps=50)  # the manifest already says "completed"
    # an engine that outlives its last manifest, as the real one does while it exits: until the test
    # says so (a file), not for a fixed time a loaded machine may outlast before the app has drawn
    go = tmp_path / "exit-now"
    wait = f"import os, time\nwhile not os.path.exists({str(go)!r}): time.sleep(0.01)"
    engine = subprocess.Popen([sys.executable, "-c", wait])
    try:
        app = EosApp(run, engine=engine, poll_interval=0.05)
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: app.model.status == "completed")
            await until(pilot, lambda: "detach" in offered(app))
            assert engine.poll() is None  # offered while it runs
            go.touch()
            engine.wait(timeout=60)
            await wait_for(pilot, lambda: "detach" not in offered(app))
    finally:
        engine.kill()
        engine.wait()
