"""The numerical settings every measurement runs under, set explicitly and recorded in the manifest.

On CUDA, torch may run float32 matmuls and convolutions in TF32 (10-bit mantissa): fast, and wrong
by ~1e-3 relative, which is the size of the effects this tool measures (λη/2 − 1). The defaults
have changed between torch releases (allow_tf32 for matmuls was on until 1.12; cuDNN's still is),
so the engine sets them itself: TF32 off for matmuls and convolutions, float32 matmul precision
"highest", and cuDNN in deterministic mode without autotuning (benchmark off), where the same
inputs give the same bits run after run. cuBLAS is made deterministic too (its workspace config,
read when the first cuBLAS handle is made, so before any CUDA work). torch.use_deterministic_algorithms
is not switched on: it raises on ops that have no deterministic CUDA kernel (max_pool2d's backward
among them), which would refuse the CNN outright. All of it is safe to call on a CPU-only machine.
"""

from __future__ import annotations

import os
from typing import Any, Iterable

import torch

CUBLAS_WORKSPACE = ":4096:8"


def configure(devices: Iterable[torch.device]) -> dict[str, Any]:
    """Set the precision settings for a run on `devices`; returns what `settings()` reports."""
    if any(d.type == "cuda" for d in devices):
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    torch.set_float32_matmul_precision("highest")
    return settings()


def settings() -> dict[str, Any]:
    """The settings in force, as the manifest records them."""
    return {
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "cuda_matmul_allow_tf32": bool(torch.backends.cuda.matmul.allow_tf32),
        "cudnn_allow_tf32": bool(torch.backends.cudnn.allow_tf32),
        "cudnn_deterministic": bool(torch.backends.cudnn.deterministic),
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
        "cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
    }


def cuda_versions() -> dict[str, str]:
    """CUDA and cuDNN versions of this torch build ({} for a CPU-only build)."""
    out: dict[str, str] = {}
    if torch.version.cuda:
        out["cuda"] = str(torch.version.cuda)
        try:
            cudnn = torch.backends.cudnn.version()
        except Exception:  # noqa: BLE001 - a broken cuDNN install must not stop a run from starting
            cudnn = None
        if cudnn:
            out["cudnn"] = str(cudnn)
    return out


def mps_available() -> bool:
    """Whether Apple's MPS backend is usable here (it has no float64: a float64 arm stays on the CPU).
    The one MPS check: device resolution (runner.py) and the arm's device notice ask it."""
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())
