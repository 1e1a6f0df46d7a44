"""Shared by the bench scripts: the eos trajectory, the machine description, tables and JSON.

Every script is run as `python bench/NAME.py [--tiny] [--json-out PATH]`, so this file is imported
by path (bench/ is on sys.path when a script in it runs), not as a package.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterable, Sequence

import torch

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


# ---- the machine --------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    """What a figure came from: CPU model, cores, torch, threads, date."""
    cpu = platform.processor() or "?"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=5).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                cpu = line.split(":", 1)[1].strip()
                break
    except (OSError, subprocess.SubprocessError):
        pass
    info = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "torch_threads": torch.get_num_threads(),
        "date": _dt.date.today().isoformat(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


# ---- output -------------------------------------------------------------------------------------


def fmt(x: Any, spec: str = ".3g") -> str:
    if x is None:
        return "—"
    if isinstance(x, float):
        return format(x, spec)
    return str(x)


def table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """A rich table on stdout (plain text when stdout is not a terminal: rich handles that)."""
    from rich.console import Console
    from rich.table import Table

    t = Table(title=title)
    for c in columns:
        t.add_column(c, justify="right" if c != columns[0] else "left")
    for r in rows:
        t.add_row(*[fmt(x) for x in r])
    Console(width=160).print(t)


def write_json(path: str | os.PathLike[str], payload: dict[str, Any]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"machine": machine(), "argv": sys.argv, **payload}
    path.write_text(json.dumps(payload, indent=2, default=float) + "\n", encoding="utf-8")
    print(f"wrote {path}")
    return path


def add_common_args(parser, name: str) -> None:
    parser.add_argument("--tiny", action="store_true", help="a few seconds: what the test suite runs")
    parser.add_argument("--json-out", default=str(RESULTS / f"{name}.json"), help="where to write the numbers")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (1: small models run fastest on one thread, see BENCHMARKS.md)"
    )


def median(xs: Sequence[float]) -> float:
    s = sorted(xs)
    m = len(s) // 2
    return s[m] if len(s) % 2 else 0.5 * (s[m - 1] + s[m])


class Timer:
    def __enter__(self):
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.s = time.perf_counter() - self.t0


# ---- the eos problem ----------------------------------------------------------------------------

# The sizes the scripts use. "full" is the built-in eos scenario (5,764 parameters, 256 examples);
# "small" and "tiny" keep its shape (tanh MLP, random labels, MSE, GD) at a fraction of the cost.
SIZES = {
    "full": [],
    "small": ["model.hidden=[32, 32]", "data.n=128", "data.dim=16"],
    "tiny": ["model.hidden=[16]", "data.n=32", "data.dim=8"],
}


def eos_spec(size: str = "full", lr: float = 0.5, dtype: str | None = None, seed: int | None = None, extra: Sequence[str] = ()):
    """The eos scenario's arm at learning rate `lr` (the lr-0.50 arm by default), resized."""
    from eos_tui.scenario import load_scenario

    # η is set on the arm itself below: every eos arm sets its own, so a --set would be refused.
    overrides = list(SIZES[size]) + list(extra)
    if dtype:
        overrides.append(f'dtype="{dtype}"')
    sc = load_scenario("eos", overrides=overrides, seed=seed)
    return sc.arms[-1].model_copy(update={"optimizer": sc.arms[-1].optimizer.model_copy(update={"lr": lr})})


def problem(size: str = "full", lr: float = 0.5, dtype: str | None = None, seed: int | None = None):
    from eos_tui.engine.problems import build_problem

    return build_problem(eos_spec(size, lr, dtype, seed), torch.device("cpu"))


def gd_trajectory(prob, lr: float, steps: int, every: int = 1) -> list[tuple[int, torch.Tensor]]:
    """(step, θ_step) every `every` steps of full-batch GD (what the engine's "gd" arm does)."""
    grad = torch.func.grad(prob.loss)
    theta = prob.theta0.clone()
    out = []
    for t in range(steps + 1):
        if t % every == 0:
            out.append((t, theta.clone()))
        if t < steps:
            theta = theta - lr * grad(theta)
    return out
