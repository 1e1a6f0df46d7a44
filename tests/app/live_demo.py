"""Run the real app, in a real terminal, on a live synthetic run (fake engine, no torch).

    python tests/app/live_demo.py RUN_DIR [--watch] [--fps 4] [--no-mouse] [--steps N]

Without --watch the app owns the engine (q stops it, d detaches), as `eos-tui run` does. With
--watch it only watches (as `eos-tui watch` does). Made for ../shared/tools/ptyscreen.py:

    ptyscreen.py --cols 120 --rows 40 --seconds 10 -- python tests/app/live_demo.py /tmp/demo-run
"""

from __future__ import annotations

import argparse
import os
import stat
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from eos_tui.app import run_app  # noqa: E402
from eos_tui.engine.launch import start_engine, start_owned_engine  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--watch", action="store_true")
    ap.add_argument("--fps", type=float, default=4.0)
    ap.add_argument("--no-mouse", action="store_true")
    ap.add_argument("--steps", type=int, default=100_000)
    ap.add_argument("--delay", type=float, default=0.005, help="seconds between fake steps")
    ap.add_argument("--pause", type=float, default=0.0, help="seconds between starting the engine and the app")
    a = ap.parse_args()
    fake_python = a.run_dir.parent / f".{a.run_dir.name}-python"
    fake_python.write_text(f'#!/bin/sh\nshift 2\nexec "{sys.executable}" "{HERE / "fake_engine.py"}" "$@"\n')
    fake_python.chmod(fake_python.stat().st_mode | stat.S_IEXEC)
    os.environ["FAKE_STEPS"] = str(a.steps)
    os.environ["FAKE_DELAY"] = str(a.delay)
    engine = (start_engine if a.watch else start_owned_engine)(a.run_dir, python=str(fake_python))  # as `eos-tui run` does
    print(f"engine {engine.pid} started", flush=True)
    time.sleep(a.pause)  # importing the app takes this long, say
    return run_app(a.run_dir, engine=None if a.watch else engine, fps=a.fps, mouse=not a.no_mouse)


if __name__ == "__main__":
    sys.exit(main())
