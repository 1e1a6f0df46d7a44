"""Shared by bench/threads.py and bench/startup.py: headless runs of the built-ins in a subprocess,
alone or beside a busy neighbour, timed from the command.

Imported by path, as _common (bench/ is on sys.path when a script in it runs). No torch here: the
timings are of the `eos-tui` command itself.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parent.parent
BUSY = [sys.executable, "-c", "while True: pass"]
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


def builtins(skip: tuple[str, ...] = ("cifar",)) -> list[str]:
    """The built-in scenarios but `skip` (cifar needs a 163 MB download)."""
    return sorted(p.stem for p in (ROOT / "scenarios").glob("*.toml") if p.stem not in skip)


def eos_tui() -> list[str]:
    exe = Path(sys.executable).with_name("eos-tui")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "eos_tui.cli"]


def clean_env() -> dict[str, str]:
    """This environment without OMP_NUM_THREADS/MKL_NUM_THREADS: the engine chooses, as for a user."""
    return {k: v for k, v in os.environ.items() if k not in THREAD_VARS}


@contextlib.contextmanager
def neighbour(busy: bool) -> Iterator[None]:
    """`busy`: one CPU-bound process (`python -c 'while True: pass'`) beside the run, as a second job
    on the machine would be."""
    proc = subprocess.Popen(BUSY, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) if busy else None
    try:
        if proc is not None:
            time.sleep(0.3)  # let it start spinning
        yield
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()


def headless(name: str, steps: int, *, threads: int | None = None, extra: tuple[str, ...] = (), timeout: float = 900.0) -> dict[str, Any]:
    """`eos-tui run NAME --json --steps N [--threads T]` to its end: wall seconds and the summary."""
    out = Path(tempfile.mkdtemp(prefix="bench-run-")) / "run"
    cmd = [*eos_tui(), "run", name, "--json", "--steps", str(steps), "--out", str(out), *extra]
    if threads is not None:
        cmd += ["--threads", str(threads)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=clean_env(), cwd=ROOT)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr[-800:]}")
    manifest = json.loads((out / "manifest.json").read_text())
    shutil.rmtree(out.parent, ignore_errors=True)
    return {"wall_s": wall, "summary": json.loads(proc.stdout), "threads": manifest.get("threads")}


def first_records(name: str, steps: int, *, extra: tuple[str, ...] = (), deadline: float = 300.0) -> dict[str, Any]:
    """Seconds from the command `eos-tui run NAME --json` to the first step record in metrics.jsonl
    and to the first record with a λ_max, polled every 5 ms, and the CPU seconds the process had
    used by then; the run is then stopped (SIGINT)."""
    out = Path(tempfile.mkdtemp(prefix="bench-start-")) / "run"
    cmd = [*eos_tui(), "run", name, "--json", "--steps", str(steps), "--out", str(out), *extra]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=clean_env(), cwd=ROOT)
    first: dict[str, float | None] = {"step_s": None, "sharpness_s": None}
    cpu: dict[str, float | None] = {"step_cpu_s": None, "sharpness_cpu_s": None}
    seen = 0
    metrics = out / "metrics.jsonl"
    try:
        while time.perf_counter() - t0 < deadline and None in first.values():
            ended = proc.poll() is not None
            try:
                data = metrics.read_bytes()
            except OSError:
                data = b""
            now = time.perf_counter() - t0
            lines = data[seen:].split(b"\n")
            for line in lines[:-1]:  # whole lines only
                seen += len(line) + 1
                rec = json.loads(line)
                if rec.get("type") == "step" and first["step_s"] is None:
                    first["step_s"], cpu["step_cpu_s"] = now, cpu_seconds(proc.pid)
                if rec.get("type") == "sharpness" and rec.get("eigenvalues") and first["sharpness_s"] is None:
                    first["sharpness_s"], cpu["sharpness_cpu_s"] = now, cpu_seconds(proc.pid)
            if ended:
                break
            time.sleep(0.005)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(out.parent, ignore_errors=True)
    return {**first, **cpu}


TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process so far (Linux /proc): on a machine shared with other
    jobs, the part of a wall time that is this process's own work."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICKS
