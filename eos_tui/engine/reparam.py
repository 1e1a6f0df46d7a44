"""Function-preserving reparameterizations of ReLU and linear networks (Dinh et al. 2017).

A ReLU (or linear) layer is positively homogeneous: relu(α z) = α relu(z) for α > 0. So scaling
layer l's weights and bias by α and layer l+1's weights by 1/α leaves the network's function, and
hence the loss, unchanged — while the Hessian becomes H' = D⁻¹ H D⁻¹, where D is the diagonal
scaling applied to θ. λ_max can thus be made as large (or small) as one likes without changing
what the network computes: sharpness alone cannot explain generalization.

The element-wise adaptive sharpness of Kwon et al. 2021, λ_max(diag|θ| H diag|θ|), is invariant
under these maps (|θ'| = D|θ| and H' = D⁻¹HD⁻¹ cancel), so we report it beside λ_max.
"""

from __future__ import annotations

import torch

HOMOGENEOUS = ("relu", "linear")


class NotHomogeneous(ValueError):
    """The network is not positively homogeneous, so T_α would change its function."""


def check_applicable(problem) -> None:
    if problem.kind != "mlp":
        raise NotHomogeneous(f"reparameterization checks need an MLP (this arm's model is {problem.kind!r})")
    if problem.activation not in HOMOGENEOUS:
        raise NotHomogeneous(
            f"activation {problem.activation!r} is not positively homogeneous (tanh(αz) ≠ α·tanh(z)): "
            "scaling layers would change the function, so the check is skipped; use relu or linear")
    if len(problem.layers) < 2:
        raise NotHomogeneous("reparameterization needs at least one hidden layer")


def scaling(problem, theta: torch.Tensor, alpha: float, layer: int = 0,
            neurons: torch.Tensor | None = None) -> torch.Tensor:
    """The diagonal D of T_α as a vector: θ' = D θ.

    Layer `layer`'s outgoing weights (rows) and bias are multiplied by α, layer `layer+1`'s incoming
    weights (columns) by 1/α. With `neurons` (a boolean mask over layer `layer`'s units), only those
    units are rescaled: the per-neuron version of the same map.
    """
    check_applicable(problem)
    if not 0 <= layer < len(problem.layers) - 1:
        raise ValueError(f"layer must be in [0, {len(problem.layers) - 2}]")
    d = torch.ones_like(theta)
    a, b = problem.layers[layer], problem.layers[layer + 1]
    units = a.shape[0]
    mask = torch.ones(units, dtype=torch.bool, device=theta.device) if neurons is None else neurons.to(theta.device)
    scale_rows = torch.where(mask, torch.tensor(alpha, dtype=theta.dtype, device=theta.device),
                             torch.tensor(1.0, dtype=theta.dtype, device=theta.device))
    d[a.weight] = scale_rows.unsqueeze(1).expand(a.shape).reshape(-1)
    if a.bias is not None:
        d[a.bias] = scale_rows
    d[b.weight] = (1.0 / scale_rows).unsqueeze(0).expand(b.shape).reshape(-1)
    return d
