"""How many intra-op threads the engine gives torch, chosen from the work before torch starts its pools.

On the networks the built-in scenarios train, the largest matrix product is about a million
multiply-adds: OpenMP's threads then spend the step waiting on each other at barriers, and when
another process is busy on the machine, a thread that is preempted holds up the rest at every
barrier. Torch's default (one thread per core) was 2 to 34 times slower than one thread there
(BENCHMARKS.md, "Threads"). More threads pay only on much larger products (CIFAR-sized MLPs and
convnets), so the engine takes one thread unless the largest product is above `MANY_THRESHOLD`.

Imports nothing heavy: `configure_env` runs before `import torch` (OpenMP and MKL read their
environment when they start), `apply` sets torch's pool after it.

Precedence: --threads on the command line, then `engine.threads` in the scenario, then (a sweep
worker, many of which share the machine) one thread, then the choice from the work.
"""

from __future__ import annotations

import os
from typing import Any, Iterable, NamedTuple

from ..rundir.format import Threads

# Multiply-adds in the largest matrix product of a step (see `matrix_work`) from which the engine
# uses every core it may run on. Between the built-ins' largest (about 1e6) and CIFAR's (3e9): the
# size at which two threads first paid on a shared 2-core machine in bench/threads.py's matmul rows
# (BENCHMARKS.md, "Threads"); below it they cost time instead.
MANY_THRESHOLD = 1_000_000_000

ENV_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


class Choice(NamedTuple):
    threads: int
    reason: str


def available_cpus() -> int:
    """The cores this process may run on (its affinity mask, as taskset or a container's cpuset
    allows), not the machine's."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def choose_threads(work: int, cpus: int) -> Choice:
    """The thread count for a step whose largest matrix product has `work` multiply-adds, on `cpus`
    usable cores. Pure: the same answer for the same numbers."""
    if cpus <= 1:
        return Choice(1, "one core available")
    if work < MANY_THRESHOLD:
        return Choice(1, f"small matrices (largest product {work:.2g} multiply-adds, under {MANY_THRESHOLD:.0e}): one thread")
    return Choice(cpus, f"large matrices (largest product {work:.2g} multiply-adds, from {MANY_THRESHOLD:.0e}): one thread per core")


# A network or data built by the user's code (model.kind = "python", data.kind = "python") is sized
# only once it is built, after the thread pool has started: taken as large (a user's own network is
# seldom a toy), so every core; engine.threads or --threads say otherwise. The built-in
# architectures count their own work without torch (schema.py ArchitectureModel.per_example).
UNKNOWN_WORK = MANY_THRESHOLD


def sized_by_code(arm: Any) -> bool:
    """Whether `arm`'s network or data is known only once built (see UNKNOWN_WORK)."""
    return arm.model.kind == "python" or arm.data.kind == "python"


def matrix_work(arm: Any) -> int:
    """Multiply-adds of the largest matrix product in one pass of `arm` (an ArmSpec) over its data:
    rows × fan-in × fan-out of the widest layer, rows being every example (the loss, the gradient
    and every HVP see the whole data set; engine.chunk_size caps it), a convolution's rows every
    pixel of every image."""
    m = arm.model
    kind = m.kind
    if sized_by_code(arm):
        return UNKNOWN_WORK
    if kind == "uv":
        return int(m.width)
    if kind == "quadratic":
        return len(m.eigenvalues)
    rows = arm.data_rows()
    if arm.engine.chunk_size is not None:
        rows = min(rows, arm.engine.chunk_size)
    if hasattr(m, "per_example"):  # a built-in architecture (schema.py ArchitectureModel) counts its own
        return rows * int(m.per_example(arm.example_shape(), arm.network_outputs())[0])
    dim, out = arm.data_shape()
    if kind == "cnn":
        shape = arm.image_shape() or (dim, 1, 1)
        c, h, w = (1, *shape) if len(shape) == 2 else shape
        best = 0
        for ch in m.channels:
            best = max(best, rows * h * w * c * 9 * ch)
            c, h, w = ch, h // 2, w // 2
        return max(best, rows * c * h * w * out)
    sizes = [dim, *m.hidden, out]
    return max(rows * a * b for a, b in zip(sizes[:-1], sizes[1:]))


def resolve(arms: Iterable[Any], override: int | None = None, *, worker: bool = False, cpus: int | None = None) -> Choice:
    """The run's thread count and why: `override` (--threads), else the arms' engine.threads (one
    value for the run: scenario/checks.py refuses two), else one thread in a sweep `worker`, else
    `choose_threads` on the largest arm's work."""
    arms = list(arms)
    if override is not None:
        return Choice(int(override), f"--threads {override}")
    asked = {a.engine.threads for a in arms if getattr(a.engine, "threads", None) is not None}
    if asked:
        n = max(asked)
        return Choice(n, f"engine.threads = {n} in the scenario")
    if worker:
        return Choice(1, "sweep worker: one thread per point, the points running side by side")
    cpus = available_cpus() if cpus is None else cpus
    if any(sized_by_code(a) for a in arms):
        return Choice(cpus, "a network or data built by code, sized only once built: one thread per core")
    work = max((matrix_work(a) for a in arms), default=0)
    return choose_threads(work, cpus)


def configure_env(n: int, environ: Any = None) -> None:
    """Set OMP_NUM_THREADS and MKL_NUM_THREADS: read when torch starts its thread pools, so this
    must come before `import torch` in the process to take full effect (and `apply` after it)."""
    env = os.environ if environ is None else environ
    for var in ENV_VARS:
        env[var] = str(n)


def apply(choice: Choice) -> Threads:
    """Give torch `choice.threads` intra-op threads (the environment too, for anything that starts
    later) and return the manifest's record of it."""
    configure_env(choice.threads)
    import torch

    if torch.get_num_threads() != choice.threads:
        torch.set_num_threads(choice.threads)
    return Threads(threads=torch.get_num_threads(), reason=choice.reason)  # what torch now runs with


def parse_threads(text: str | int | None) -> int | None:
    """--threads's value: a positive integer. ValueError with one line otherwise."""
    if text is None:
        return None
    try:
        n = int(str(text).strip())
    except ValueError:
        raise ValueError(f"--threads {text}: must be a positive whole number") from None
    if n < 1:
        raise ValueError(f"--threads {text}: must be a positive whole number")
    return n


def parse_engine_args(args: list[str]) -> tuple[str, int | None] | None:
    """`RUN_DIR [--threads N]` (launch.start_engine's command line, read by boot.py and the runner):
    (run dir, threads), or None when it is not that. Raises ValueError with one line for a bad
    thread count."""
    if len(args) == 1:
        return args[0], None
    if len(args) == 3 and args[1] == "--threads":
        return args[0], parse_threads(args[2])
    return None
