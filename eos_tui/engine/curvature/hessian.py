"""The training-loss Hessian as a linear operator, and the Hessian-vector products behind it.

`HessianOperator` is the one way the engine builds H(θ) (or the preconditioned D·H·D): from the loss,
θ, the loss split into chunks of data (engine.chunk_size) and a preconditioner diagonal D, in the
style of curvlinops' linear operators: `matvec(v)` / `H @ v`, `shape`, `dtype`, `device`, the count
of products spent (`hvps`) and `to_dense()` for checks on small models.

Two autodiff routes to H v, on purpose:
  * reverse-over-reverse (`make_hvp`, `chunked_hvp`): one backward pass through a retained
    gradient graph per product, the cheapest on the small models one arm runs (BENCHMARKS.md);
  * forward-over-reverse (`forward_over_reverse`, `dense_hessian`): `jvp(grad(L))`, which composes
    with `vmap`: the dense Hessian's blocks of columns, and the batched engine's one HVP for every
    arm (engine/batched.py). Same derivative, equal to rounding.

Engine code: imports torch, never textual.
"""

from __future__ import annotations

from typing import Callable

import torch

from ..interrupt import check as check_stop

HVP = Callable[[torch.Tensor], torch.Tensor]
Loss = Callable[[torch.Tensor], torch.Tensor]


class HessianOperator:
    """H(θ) of `loss` as a linear operator, matrix-free; D·H·D when `precond` is the diagonal D.

    `parts`: the same loss as a sum of per-chunk losses (`Problem.loss_parts()`, engine.chunk_size),
    for data too large for one double-backward graph (`chunked_hvp`). The gradient's graph is kept
    for the operator's lifetime (`make_hvp`): build a new operator when θ moves.
    D·H·D is applied as D ⊙ H(D ⊙ v): the symmetric form of P⁻¹H (P = D⁻²) that Lanczos needs, with
    P⁻¹H's eigenvalues.
    """

    def __init__(self, loss: Loss, theta: torch.Tensor, *, parts: list[Loss] | None = None, precond: torch.Tensor | None = None):
        n = theta.numel()
        self.loss, self.theta, self.precond = loss, theta, precond
        self.shape = (n, n)
        self.dtype, self.device = theta.dtype, theta.device
        self.hvps = 0
        self._hvp = make_hvp(loss, theta, parts=parts)

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        self.hvps += 1
        D = self.precond
        if D is None:
            return self._hvp(v)
        return D * self._hvp(D * v)

    __matmul__ = matvec
    __call__ = matvec  # an HVP callable, as the Lanczos drivers take

    def to_dense(self) -> torch.Tensor:
        """The (n, n) matrix (`dense_hessian`, of the whole loss), D·H·D with a preconditioner."""
        H = dense_hessian(self.loss, self.theta)
        D = self.precond
        return H if D is None else D[:, None] * H * D[None, :]


def forward_over_reverse(grad_fn: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    """(θ, v, *data) ↦ H(θ) v as `jvp(grad_fn)`: composes with torch.func.vmap (one call for several
    arms, engine/batched.py), which the retained-graph product of `make_hvp` does not."""

    def hvp(theta: torch.Tensor, v: torch.Tensor, *data) -> torch.Tensor:
        return torch.func.jvp(lambda th: grad_fn(th, *data), (theta,), (v,))[1]

    return hvp


# Entries of H computed per vmapped block of columns: the block's work and memory stay bounded,
# and a stop request is honoured between blocks (a whole torch.func.hessian is one uninterruptible
# call: minutes on a 10⁴-parameter model).
DENSE_BLOCK_ENTRIES = 2**22


def dense_hessian(loss_fn: Callable[[torch.Tensor], torch.Tensor], theta: torch.Tensor) -> torch.Tensor:
    """The full (n, n) Hessian, symmetrized: autodiff gives H and Hᵀ equal only up to rounding,
    and eigh assumes exact symmetry.

    Built as torch.func.hessian builds it (forward-over-reverse, vmapped over the identity's
    columns), but a block of columns at a time, checking for a stop request between blocks."""
    th = theta.detach().reshape(-1)
    n = th.numel()

    def flat_loss(x: torch.Tensor) -> torch.Tensor:
        return loss_fn(x.reshape(theta.shape))

    hvp = forward_over_reverse(torch.func.grad(flat_loss))

    def column(e: torch.Tensor) -> torch.Tensor:  # H e
        return hvp(th, e)

    block = max(1, min(n, DENSE_BLOCK_ENTRIES // max(n, 1)))
    H = torch.empty(n, n, dtype=th.dtype, device=th.device)
    for start in range(0, n, block):
        check_stop()
        b = min(block, n - start)
        basis = torch.zeros(b, n, dtype=th.dtype, device=th.device)  # columns start … start+b of I
        basis[torch.arange(b), torch.arange(start, start + b)] = 1
        H[start : start + b] = torch.func.vmap(column)(basis)
    return (H + H.T) / 2


def exact_top(H: torch.Tensor, k: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k largest algebraic eigenvalues (descending) of a dense symmetric H, and (k, n)
    eigenvectors. The ground truth the Lanczos solver is tested against."""
    values, vectors = torch.linalg.eigh(H)  # ascending
    return values[-k:].flip(0), vectors[:, -k:].flip(1).T.contiguous()


def make_hvp(
    loss_fn: Callable[[torch.Tensor], torch.Tensor],
    theta: torch.Tensor,
    *,
    parts: list[Callable[[torch.Tensor], torch.Tensor]] | None = None,
) -> HVP:
    """v ↦ H(θ) v by reverse-over-reverse autograd; never materializes H.

    The gradient's graph (∇L(θ) with create_graph) is built once, at the first product, and every
    product then is one backward pass through it, retained for the next: about one gradient's cost
    each, and two for the first (forward + graph-building backward + that pass). Measured against
    the alternatives on the small models this engine runs (bench/tracking.py, BENCHMARKS.md):
    `torch.func.jvp(torch.func.grad(L))` (forward-over-reverse) costs 4–10 gradients a product,
    almost all of it functorch's per-call wrapping, and `torch.autograd.functional.hvp` rebuilds
    the graph on every call (≈ 3 gradients). Same derivative, equal to rounding.

    The graph lives as long as the returned function: drop it when θ moves.

    `parts`: the same loss as a sum of per-chunk losses (`Problem.loss_parts()`, engine.chunk_size),
    differentiated chunk by chunk instead (`chunked_hvp`), for data too large for one graph.
    """
    if parts:
        return chunked_hvp(parts, theta)
    theta = theta.detach()
    graph: list[torch.Tensor] = []  # [θ leaf, ∇L(θ) with its graph], built at the first call

    def hvp(v: torch.Tensor) -> torch.Tensor:
        with torch.enable_grad():
            if not graph:
                x = theta.clone().requires_grad_()
                (g,) = torch.autograd.grad(loss_fn(x), x, create_graph=True)
                graph[:] = [x, g]
            x, g = graph
            if not g.requires_grad:  # ∇L does not depend on θ (a loss linear in θ): H = 0
                return torch.zeros_like(theta)
            (hv,) = vjp(g, x, v.detach().to(theta), retain_graph=True, allow_unused=True)
        return torch.zeros_like(theta) if hv is None else hv

    return hvp


def vjp(g: torch.Tensor, x: torch.Tensor, v: torch.Tensor, **kwargs) -> tuple[torch.Tensor, ...]:
    """`torch.autograd.grad(g, x, v, **kwargs)` bit for bit, as the gradient of the scalar ⟨g, v⟩: the
    backward of the sum and the product hands g's node 1·v, which is v exactly, and the rest of the
    pass is the same. Not written as grad(g, x, v): given an output gradient, torch.autograd.grad
    checks its shape with torch.fx.experimental.symbolic_shapes, whose first import loads sympy,
    seconds before the first λ_max of a run (BENCHMARKS.md, "Start-up")."""
    return torch.autograd.grad((g * v).sum(), x, **kwargs)


def chunked_hvp(parts: list[Callable[[torch.Tensor], torch.Tensor]], theta: torch.Tensor) -> HVP:
    """v ↦ Σ_c H_c(θ) v over the chunks' losses (which sum to the loss), each chunk's graph built,
    used and freed in turn: memory for one chunk's double-backward graph instead of every chunk's.
    Each product rebuilds them (forward + graph-building backward + backward per chunk): bounded
    memory for a little more time than one graph over checkpointed chunks built once and kept.
    Equal to the unchunked product to rounding (tested)."""
    theta = theta.detach()

    def hvp(v: torch.Tensor) -> torch.Tensor:
        v = v.detach().to(theta)
        out = torch.zeros_like(theta)
        with torch.enable_grad():
            for part in parts:
                x = theta.clone().requires_grad_()
                (g,) = torch.autograd.grad(part(x), x, create_graph=True)
                if not g.requires_grad:  # this chunk's gradient does not depend on θ
                    continue
                (hv,) = vjp(g, x, v, allow_unused=True)
                if hv is not None:
                    out += hv
        return out

    return hvp
