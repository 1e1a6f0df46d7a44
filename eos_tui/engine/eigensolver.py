"""Top eigenpairs of the training-loss Hessian from Hessian-vector products alone: the names the
engine, tests and benches have always imported from here. The code lives in engine/curvature/
(`lanczos`: the solver and its method; `hessian`: the operator and its products).

Engine code: imports torch, never textual.
"""

from __future__ import annotations

from .curvature.hessian import (
    DENSE_BLOCK_ENTRIES,
    HVP,
    HessianOperator,
    chunked_hvp,
    dense_hessian,
    exact_top,
    make_hvp,
    vjp,
)
from .curvature.lanczos import Eigenpairs, EigResult, Lanczos, align_signs, orthogonalize, random_unit, top_eigenpairs, warm_start

__all__ = [
    "DENSE_BLOCK_ENTRIES",
    "HVP",
    "EigResult",
    "Eigenpairs",
    "HessianOperator",
    "Lanczos",
    "align_signs",
    "chunked_hvp",
    "dense_hessian",
    "exact_top",
    "make_hvp",
    "orthogonalize",
    "random_unit",
    "top_eigenpairs",
    "vjp",
    "warm_start",
]
