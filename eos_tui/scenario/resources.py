"""What a scenario will cost before it runs: parameter counts and a memory estimate (no torch).

The estimate follows what the engine allocates (eos_tui/engine/problems.py, arm.py, curvature/),
term by term, each with the scenario key that controls it, so that a refusal can say what to
change. It is an estimate to catch the runs that cannot fit (10⁸ examples, a 30000-wide layer, a
dense Hessian of 24k parameters), not an accounting to the byte: each term is rounded up.

    data         the training set: X and Y drawn in float64 on the CPU, then cast to the arm's dtype
    parameters   θ and the vectors a step keeps beside it (θ0, the update, the gradient, momentum,
                 the top eigenvectors)
    activations  the forward and backward passes over the full training set (every step computes
                 the full-batch gradient; an HVP, reverse-over-reverse, about twice a gradient)
    matrix       a quadratic's d×d Hessian, built in float64 (a Haar rotation: QR, products)
    Hessian      measure.exact: the dense n_params² Hessian (torch.func.hessian: the identity it is
                 pushed through, the result, its symmetrization, eigh's eigenvectors)
    Lanczos      the Krylov basis: up to measure.max_iter vectors of n_params (100 more for the
                 per-step tracker)

Arms exist side by side (all are built before training starts and vmapped arms step together), so
the persistent terms and the per-step ones add over arms; the one-off peaks (building a quadratic,
a dense Hessian, computed arm by arm) count once, the largest.

Only host memory is checked: GPU memory can only be known where torch runs, in the engine.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

GB = 1024**3
# The engine process itself (Python, torch, numpy) before it allocates anything for the scenario.
BASELINE = 400 * 1024**2
TRACKER_ROWS = 100  # PerStepTracker's Lanczos limit (engine/tracking.py)


def _bytes(dtype: str) -> int:
    return 8 if dtype == "float64" else 4


def output_width(arm: Any) -> int:
    return int(arm.data_shape()[1])


def data_size(arm: Any) -> tuple[int, int, int]:
    """(training rows, held-out rows, input features) an MLP's data has: the synthetic kinds' n and
    dim, CIFAR-10's 3072 features, an npz file's shapes from its headers (X is not read)."""
    d = arm.data
    rows, dim = arm.data_rows(), arm.data_shape()[0]
    if d.kind in ("cifar10", "mnist", "fashion-mnist", "digits"):
        held = int(d.test_n)
    elif d.kind == "npz":
        held = int(d.info().test_n)
    else:
        held = 0
    return rows, held, dim


def activation_width(arm: Any) -> int:
    """Values one example leaves in a forward pass of an MLP or a CNN (each layer's pre-activation
    and activation; a convolution's at full resolution and after its 2×2 pooling)."""
    m = arm.model
    if hasattr(m, "per_example"):  # a built-in architecture (schema.py ArchitectureModel) counts its own
        return int(m.per_example(arm.example_shape(), arm.network_outputs())[1])
    dim, out = arm.data_shape()
    if m.kind == "cnn":
        shape = arm.image_shape() or (dim,)
        c, h, w = (1, *shape) if len(shape) == 2 else shape if len(shape) == 3 else (dim, 1, 1)
        width = c * h * w
        for ch in m.channels:
            width += 2 * int(ch) * h * w + int(ch) * (h // 2) * (w // 2)
            h, w = h // 2, w // 2
        return width + 2 * out
    return dim + 2 * sum(int(h) for h in m.hidden) + 2 * out


def parameter_count(arm: Any) -> int:
    """The length of the engine's flat θ for a resolved arm (build_problem's count, computed
    without torch): one definition, the schema's `ArmSpec.parameter_count`."""
    return int(arm.parameter_count())


@dataclass
class Term:
    what: str  # "data", "parameters", ...
    bytes: int
    key: str  # the scenario key to change to make it smaller


@dataclass
class ArmEstimate:
    arm: str
    params: int
    lasting: list[Term] = field(default_factory=list)  # held for the whole run
    per_step: list[Term] = field(default_factory=list)  # allocated every step, by every arm at once
    peak: list[Term] = field(default_factory=list)  # one-off or arm-by-arm peaks

    @property
    def together(self) -> int:
        return sum(t.bytes for t in self.lasting + self.per_step)

    @property
    def alone(self) -> int:
        return max((t.bytes for t in self.peak), default=0)

    def terms(self) -> list[Term]:
        return self.lasting + self.per_step + self.peak


@dataclass
class Estimate:
    arms: list[ArmEstimate]
    total: int


def estimate_arm(arm: Any) -> ArmEstimate:
    b = _bytes(arm.dtype)
    m, measure = arm.model, arm.measure
    P = parameter_count(arm)
    k = int(measure.eigenvalues)
    est = ArmEstimate(arm.name, P)
    size_key = {
        "mlp": "model.hidden",
        "cnn": "model.channels",
        "uv": "model.width",
        "quadratic": "model.eigenvalues",
        "cnn-bn": "model.channels",
        "resnet": "model.width",
        "vgg11": "model.width",
        "vit": "model.dim",
        "transformer": "model.dim",
    }.get(m.kind, "model")
    network = m.kind in ("mlp", "cnn") or hasattr(m, "per_example")
    if network:
        n, held, dim = data_size(arm)
        out = output_width(arm)
        rows = n + held
        # float64 draws (X, Y, labels) or loaded files (scaled to float64), kept as they are in float64,
        # copied once in float32; the held-out split beside the training set
        drawn = rows * (dim + out + 1) * 8
        est.lasting.append(Term("data", rows * (dim + out + 1) * b + (drawn if b != 8 else 0), "data.n"))
        width = activation_width(arm)
        # engine.chunk_size: a gradient (each chunk checkpointed) and an HVP (chunk by chunk) hold one
        # chunk's activations at a time, the vmapped batch all of them (it does not chunk)
        chunk = getattr(getattr(arm, "engine", None), "chunk_size", None)
        if chunk and chunk < n:
            est.per_step.append(Term(f"activations over chunks of {chunk}", 4 * chunk * width * b, "engine.chunk_size"))
        else:
            est.per_step.append(Term("activations over the full batch", 4 * n * width * b, "data.n"))
    est.lasting.append(Term("parameters", (8 + k) * P * b + P * 8, size_key))
    if m.kind == "quadratic":
        d2 = P * P
        est.lasting.append(Term("quadratic matrix", d2 * b, "model.eigenvalues"))
        est.peak.append(Term("quadratic matrix (built in float64)", 5 * d2 * 8, "model.eigenvalues"))
    if measure.exact:
        hess = 6 * P * P * b
        if network:  # the Hessian pushes all P tangents through the network at once
            n, _, dim = data_size(arm)
            hess += 2 * P * n * activation_width(arm) * b
        est.peak.append(Term("dense Hessian (measure.exact)", hess, "measure.exact"))
    else:
        rows = min(int(measure.max_iter), P)
        est.per_step.append(Term("Lanczos basis", rows * P * b, "measure.max_iter"))
    if getattr(measure, "track_every_step", False):
        est.per_step.append(Term("per-step tracker's Lanczos basis", min(TRACKER_ROWS, P) * P * b, "measure.track_every_step"))
    return est


def estimate(scenario: Any) -> Estimate:
    arms = [estimate_arm(a) for a in scenario.arms]
    total = BASELINE + sum(a.together for a in arms) + max((a.alone for a in arms), default=0)
    return Estimate(arms, total)


def available_memory() -> tuple[int | None, str]:
    """(bytes the system can give a new process without swapping, where that number came from)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024, "MemAvailable in /proc/meminfo"
    except (OSError, ValueError, IndexError):
        pass
    try:
        pages, size = os.sysconf("SC_AVPHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        if pages > 0 and size > 0:
            return pages * size, "free physical memory"
    except (AttributeError, ValueError, OSError):
        pass
    return None, "unknown"


def human(n: int) -> str:
    """Bytes for people: 512 MB, 3.2 GB, 1.1 TB."""
    for unit, scale in (("TB", 1024**4), ("GB", GB), ("MB", 1024**2)):
        if n >= scale or unit == "MB":
            value = n / scale
            return f"{value:.1f} {unit}" if value < 100 else f"{value:.0f} {unit}"
    return f"{n} B"  # pragma: no cover
