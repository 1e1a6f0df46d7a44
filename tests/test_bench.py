"""Each bench script runs once at --tiny size, in a subprocess, so none of them rots.

Benchmarks are not tests: nothing here asserts a timing, only that the script ran, printed its
table and wrote JSON with the expected keys.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = {
    "solvers": ["rows", "ratios", "references"],
    "tracking": ["rows", "reference_checks"],
    "overhead": ["rows", "ratios", "threads"],
    "arms": ["rows", "speedups"],
    "gpu": ["sharpness10_steps_per_s", "tracked_steps_per_s", "batched8_arm_steps_per_s", "peak_gpu_memory_bytes", "eos_reached"],
    "app": ["startup", "live"],
    "redraw": ["load_s", "full_redraw_ms", "one_chart_ms"],
    "central": ["rows", "ratios"],
    "export": ["rows", "seconds", "records"],
    "threads": ["rows", "ratios", "matmul"],
    "startup": ["rows"],
    "monitor": ["sizes", "every"],
    "portrait": ["rows"],
}


@pytest.mark.slow  # seconds each: run early (tests/conftest.py)
@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_bench_script_runs_tiny(name, tmp_path):
    out = tmp_path / f"{name}.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / f"{name}.py"), "--tiny", "--json-out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads(out.read_text())
    for key in SCRIPTS[name]:
        assert key in data
    assert data["machine"]["torch"]


@pytest.mark.slow
@pytest.mark.parametrize("model", ["resnet", "transformer"])
def test_gpu_bench_times_the_builtins_networks_tiny(model, tmp_path):
    """bench/gpu.py --model: the `resnet` and `transformer` built-ins' networks through the engine."""
    out = tmp_path / f"{model}.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, str(ROOT / "bench" / "gpu.py"), "--model", model, "--tiny", "--json-out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads(out.read_text())
    assert data["model"] == model and data["params"] > 1000
    for key in ("step_s", "hvp_s", "lambda_max_s"):
        assert data[key] > 0, key
    assert data["lambda_max_hvps"] > 0 and data["lambda_max"] > 0
    assert set(data["peak_gpu_memory_bytes"]) == {"step", "hvp", "lambda_max"}
