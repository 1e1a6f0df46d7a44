"""Third-derivative products: the gradient of a Hessian bilinear form uᵢᵀ H(θ) uⱼ with uᵢ, uⱼ held
fixed, ∇³L[uᵢ, uⱼ]. For i = j and uᵢ an isolated eigenvector this is the gradient of its eigenvalue
(Hellmann–Feynman): the sharpness gradient ∇S = ∇³L[u, u] when u is the top eigenvector.

One product is one backward pass through an HVP's graph, itself built on the gradient's graph
(∇L with create_graph): the central flow (engine/central_flow.py) takes the whole block ∇M_ij of its
critical eigenvectors, the self-stabilization measurement (engine/selfstab.py) the one ∇S.

Engine code: torch and numpy, never textual.
"""

from __future__ import annotations

import numpy as np
import torch

from .hessian import vjp


def block_gradients(g: torch.Tensor, x: torch.Tensor, U: torch.Tensor) -> tuple[np.ndarray, dict[tuple[int, int], torch.Tensor]]:
    """The block M = UᵀHU (k×k, numpy) and ∇M_ij = ∇³L[u_i, u_j] for i ≤ j (detached), given the
    gradient g = ∇L(x) built with create_graph and the k rows of U: one HVP graph per j, one
    backward through it per i (k(k+1)/2 products)."""
    k = U.shape[0]
    dM: dict[tuple[int, int], torch.Tensor] = {}
    M = np.zeros((k, k))
    for j in range(k):
        (hv,) = vjp(g, x, U[j], create_graph=True)
        for i in range(j + 1):
            s = U[i] @ hv
            (d,) = torch.autograd.grad(s, x, retain_graph=True)
            dM[(i, j)] = d.detach()
            M[i, j] = M[j, i] = float(s.detach())
    return M, dM
