"""λ_max at the current parameters: the engine's Lanczos (engine/curvature/lanczos.py), warm-started
from the previous measurement's eigenvectors, on Hessian-vector products over the full data.

The products are the engine's reverse-over-reverse ones (engine/curvature/hessian.py: the gradient
of ⟨∇L, v⟩ through a retained graph): one graph for a tensor pair, kept for the measurement's
products; for a DataLoader, one per batch, built and freed in turn at each product. With a
preconditioner P (Adam, RMSprop) the solve is on the symmetric P^{-1/2} H P^{-1/2}, which has
P⁻¹H's eigenvalues, and the raw λ_max(H) is solved beside it on the same graph, as the engine's
Adam arms do.

The solver draws its random start from a generator of its own: the user's random streams are
never touched.

Imports torch only.
"""

from __future__ import annotations

from typing import Callable

import torch

from ..engine.curvature.hessian import HessianOperator
from ..engine.curvature.lanczos import Eigenpairs, align_signs, top_eigenpairs

Loss = Callable[[torch.Tensor], torch.Tensor]


class Solver:
    """The warm-started solves of one monitored run: `vectors` (of the measured operator) and
    `raw_vectors` (of H, beside a preconditioned one) carry from one measurement to the next."""

    def __init__(self, k: int, tol: float, max_iter: int, seed: int):
        self.k, self.tol, self.max_iter = k, tol, max_iter
        self.generator = torch.Generator().manual_seed(seed)
        self.vectors: torch.Tensor | None = None
        self.raw_vectors: torch.Tensor | None = None

    def solve(self, matvec: Callable[[torch.Tensor], torch.Tensor], theta: torch.Tensor, k: int, v0: torch.Tensor | None) -> Eigenpairs:
        n = theta.numel()
        return top_eigenpairs(
            matvec,
            n,
            min(k, n),
            v0=v0,
            tol=self.tol,
            max_iter=self.max_iter,
            dtype=theta.dtype,
            device=theta.device,
            generator=self.generator,
        )

    def measure(
        self, parts: list[Loss], theta: torch.Tensor, precond: torch.Tensor | None, decay: float
    ) -> tuple[Eigenpairs, Eigenpairs | None]:
        """(the top-k pairs of H(θ), or of D(H + decay·I)D with D = P^{-1/2}; the raw λ_max(H) pair
        beside a preconditioned one, else None). The loss is Σ parts; both solves share one
        gradient graph (one per part with several parts)."""

        def loss(th: torch.Tensor) -> torch.Tensor:
            return torch.stack([p(th) for p in parts]).sum()

        H = HessianOperator(loss, theta, parts=parts if len(parts) > 1 else None)
        if precond is None:
            pairs = self.solve(H.matvec, theta, self.k, self.vectors)
            self.vectors = align_signs(pairs.eigenvectors, self.vectors)
            return pairs, None
        D = precond.rsqrt()
        D2 = D * D

        def scaled(v: torch.Tensor) -> torch.Tensor:  # D(H + wI)D v = D·H(D v) + w·D² v
            out = D * H.matvec(D * v)
            return out + decay * (D2 * v) if decay else out

        pairs = self.solve(scaled, theta, self.k, self.vectors)
        self.vectors = align_signs(pairs.eigenvectors, self.vectors)
        raw = self.solve(H.matvec, theta, 1, self.raw_vectors)
        self.raw_vectors = align_signs(raw.eigenvectors, self.raw_vectors)
        return pairs, raw
