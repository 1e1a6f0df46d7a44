"""A stand-in for `python -m eos_tui.engine RUN_DIR` that needs no torch.

It behaves like the engine towards readers: writes manifest.json (status running, its own pid),
appends synthetic step records to metrics.jsonl every few milliseconds, and on SIGINT or SIGTERM
finishes the current step, writes "end" records with status "interrupted", marks the manifest
interrupted and exits with 130. Without a signal it completes FAKE_STEPS steps (default 100000).
With FAKE_IGNORE_SIGNALS=1 it ignores SIGINT and SIGTERM (an engine stuck in a long solve); with
FAKE_START_DELAY=s it waits s seconds before writing anything (an engine importing torch).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import synthetic  # noqa: E402

stop = False


def _on_signal(signum, frame):
    global stop
    stop = True


def main() -> int:
    run_dir = Path(sys.argv[1])
    steps = int(os.environ.get("FAKE_STEPS", "100000"))
    delay = float(os.environ.get("FAKE_DELAY", "0.005"))
    handler = signal.SIG_IGN if os.environ.get("FAKE_IGNORE_SIGNALS") == "1" else _on_signal
    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    arms = tuple(synthetic.ARMS)
    start_delay = float(os.environ.get("FAKE_START_DELAY", "0"))  # importing torch, say
    deadline = time.monotonic() + start_delay
    while time.monotonic() < deadline:
        if stop:
            print("fake engine: stopped before it started", flush=True)
            return 130
        time.sleep(0.01)
    synthetic.write_manifest(run_dir, synthetic.manifest(status="running", steps=steps, arms=arms, pid=os.getpid()))
    t = 0
    while t < steps and not stop:
        synthetic.append(run_dir, synthetic.records_range(arms, t, t + 1))
        t += 1
        time.sleep(delay)
    status = "interrupted" if stop else "completed"
    synthetic.append(run_dir, synthetic.end_records(arms, t, status))
    synthetic.write_manifest(run_dir, synthetic.manifest(status=status, steps=steps, arms=arms, pid=os.getpid(), ended=synthetic.STARTED))
    print(f"fake engine: {status} after {t} steps", flush=True)
    return 130 if stop else 0


if __name__ == "__main__":
    sys.exit(main())
