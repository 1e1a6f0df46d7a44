"""Make the finished run directories behind tests/app/test_scenario_screens.py (run once, commit the result).

Every built-in scenario but `cifar` and `resnet` (they need the CIFAR-10 files and a GPU's time) is run headless at its
own size, the way a user runs it, and its run directory is stored under tests/app/scenario_runs/NAME/:
manifest.json and scenario.toml as written, metrics.jsonl gzipped (metrics.jsonl.gz, ~1.4 MB in all).
The tests unzip it into a temporary run directory and open the app on that (`watch` of a finished run),
so the app reads exactly the files the engine wrote.

Regenerate (about 5 minutes on one core, `digits` and `transformer` most of it), then the snapshots:

    PYTHONPATH=. OMP_NUM_THREADS=1 python tests/app/make_scenario_runs.py
    python -m pytest tests/app/test_scenario_screens.py --snapshot-update

and look at the SVGs under tests/app/__snapshots__/test_scenario_screens/ before committing them.
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
STORE = HERE / "scenario_runs"
SCENARIOS = (
    "adam",
    "catapult",
    "central",
    "connectivity",
    "decay",
    "digits",
    "eos",
    "quadratic",
    "reparam",
    "selfstab",
    "sgd_vs_gd",
    "transformer",
    "warmup",
)


def make(name: str, work: Path) -> None:
    out = work / name
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    cmd = [sys.executable, "-m", "eos_tui.cli", "run", name, "--headless", "--device", "cpu", "--out", str(out)]
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    dest = STORE / name
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    for f in ("manifest.json", "scenario.toml"):
        shutil.copy(out / f, dest / f)
    with open(out / "metrics.jsonl", "rb") as src, gzip.GzipFile(dest / "metrics.jsonl.gz", "wb", compresslevel=9, mtime=0) as gz:
        shutil.copyfileobj(src, gz)


def main(argv: list[str]) -> None:
    names = argv or list(SCENARIOS)
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            print(f"running {name}", flush=True)
            make(name, Path(tmp))


if __name__ == "__main__":
    main(sys.argv[1:])
