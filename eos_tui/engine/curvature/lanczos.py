"""Lanczos: top eigenpairs of the training-loss Hessian from Hessian-vector products alone.

The sharpness λ_max is the largest *algebraic* eigenvalue of the Hessian. Near the edge of
stability the Hessian is indefinite and can have a negative eigenvalue of larger magnitude than
λ_max; power iteration (and tools built on it, e.g. PyHessian) then converges to that negative
eigenvalue. Lanczos does not have this problem: it builds a Krylov basis and takes the largest
Ritz values of the small tridiagonal T, so the algebraic order is explicit.

Cost model: one HVP costs about two backward passes over the full training set; everything else
here (reorthogonalizing against ≤ max_iter basis vectors, eigh of an m×m tridiagonal) is
negligible next to it. So the solver checks convergence after every single HVP and stops as soon
as the requested pairs are accurate enough, and it accepts a warm start from the previous
training step's eigenvectors, which usually makes a solve cost only a handful of HVPs.

Two drivers run the one recurrence (`warm_start`, `recurrence`, `restart`, `orthogonalize`): the
converged solve (`top_eigenpairs`, and the batched engine with one vmapped HVP per iteration) and
the per-step tracker's short solve (`track_step`, engine/tracking.py). The tracker's loop keeps its
own arithmetic, as it was measured (BENCHMARKS.md, "Per-step tracking"): one reorthogonalization pass after
the three-term step instead of two, α and β on the host, the tridiagonal's eigh in NumPy (torch's
fixed cost per call on tiny tensors exceeds the arithmetic on the smallest models). Folding it into
`Lanczos.absorb` would change the last bits of every tracked λ_max, so the shared steps take the
number of passes and α as a tensor or a float, and the two stopping rules stay apart.

Engine code: imports torch, never textual.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypedDict

import numpy as np
import torch

from ..interrupt import check as check_stop
from .hessian import HVP

if TYPE_CHECKING:  # typing.Unpack for **kwargs is Python 3.12's; torch brings typing_extensions
    from typing_extensions import Unpack


@dataclass
class Eigenpairs:
    """Top eigenpairs of a Hessian and what they cost: the one result type of every solve (Lanczos,
    the dense eigvalsh of `measure.exact`, the vmapped batch)."""

    eigenvalues: torch.Tensor  # (k,), the k largest algebraic eigenvalues, descending
    eigenvectors: torch.Tensor  # (k, n), unit norm, rows match eigenvalues
    hvps: int  # Hessian-vector products spent (0 for a dense solve)
    residual: float  # max_i ||H y_i − r_i y_i|| / |r_i| over Ritz pairs (r_i, y_i)  (|r_i| floored at √eps·max_j |r_j|)
    converged: bool = True


EigResult = Eigenpairs  # the former name


# ---------------------------------------------------------------------------------------------
# Lanczos
# ---------------------------------------------------------------------------------------------


def random_unit(n: int, dtype, device, generator: torch.Generator | None) -> torch.Tensor:
    # Draw on the generator's own device (a CUDA generator cannot feed a CPU randn), then move.
    gen_device = generator.device if generator is not None else torch.device("cpu")
    v = torch.randn(n, generator=generator, dtype=dtype, device=gen_device).to(device)
    return v / torch.linalg.vector_norm(v)


def warm_start(
    v0: torch.Tensor | None,
    n: int,
    dtype,
    device,
    generator: torch.Generator | None,
    warm_noise: float,
) -> torch.Tensor:
    """Unit start vector: random, or the previous eigenvectors' sum plus a small random kick of
    relative size `warm_noise`. The one warm-start builder: the converged solve and the per-step
    tracker both start here.

    Summing the old eigenvectors gives a start with a component along each of them, so the
    Krylov space contains (approximately) the whole old top-k span after k steps. The random kick
    keeps every other direction represented too: without it, an eigenvector that is about to
    overtake the old top ones would have (numerically) zero weight and could never be found.
    """
    r = random_unit(n, dtype, device, generator)
    if v0 is None:
        return r
    v0 = v0.detach().to(dtype=dtype, device=device)
    if v0.dim() == 2:
        v0 = v0.sum(dim=0)
    if v0.shape != (n,):
        raise ValueError(f"v0 must have shape (n,) or (j, n) with n={n}, got {tuple(v0.shape)}")
    norm = torch.linalg.vector_norm(v0)
    if not torch.isfinite(norm) or norm == 0:
        return r
    v = v0 / norm + warm_noise * r
    return v / torch.linalg.vector_norm(v)


def orthogonalize(w: torch.Tensor, V: torch.Tensor, passes: int = 2) -> torch.Tensor:
    """w minus its projection on the rows of V (orthonormal), applied `passes` times.

    "Twice is enough" (classical Gram–Schmidt, repeated): one pass loses orthogonality once
    w has shrunk a lot through cancellation, which is exactly what happens as Ritz pairs
    converge; a second pass restores it to working precision. Two (m, n) matvecs each, cheap
    next to an HVP, and they run as single BLAS / GPU kernels. The per-step tracker makes one
    pass after its three-term step (`track`): its records were measured with exactly that
    arithmetic, so it keeps it.
    """
    for _ in range(passes):
        w = w - V.T @ (V @ w)
    return w


def recurrence(w: torch.Tensor, V: torch.Tensor, j: int, betas: list[float], alpha, passes: int) -> torch.Tensor:
    """The Lanczos step from w = H q_j: w − α q_j − β_{j−1} q_{j−1}, then `passes` passes of
    reorthogonalization against q_0 … q_j (`orthogonalize`). Both drivers expand their basis here;
    α is a 0-dim tensor (the solver, which fetches α and β in one transfer) or a float (the
    tracker): the same product either way."""
    w = w - alpha * V[j]
    if j > 0:
        w = w - betas[j - 1] * V[j - 1]
    return orthogonalize(w, V[: j + 1], passes)


def restart(V: torch.Tensor, n: int, dtype, device, generator: torch.Generator | None, passes: int) -> torch.Tensor:
    """After a breakdown (span(V) invariant under H): a fresh random unit direction orthogonal to V,
    so that eigenvectors the start missed, or further copies of a repeated eigenvalue, can still
    be found. β = 0 couples it to the old block, which keeps T block-diagonal."""
    q = orthogonalize(random_unit(n, dtype, device, generator), V, passes)
    return q / torch.linalg.vector_norm(q)


class LanczosOptions(TypedDict, total=False):
    """`Lanczos`'s keyword arguments (defaults there), which `top_eigenpairs` hands on unchanged."""

    v0: torch.Tensor | None
    tol: float
    max_iter: int
    dtype: torch.dtype | None
    device: torch.device | str | None
    generator: torch.Generator | None
    warm_noise: float | None


def top_eigenpairs(hvp: HVP, n: int, k: int = 1, **options: Unpack[LanczosOptions]) -> Eigenpairs:
    """The k largest algebraic eigenpairs of the symmetric operator `hvp`, by Lanczos.

    Full reorthogonalization: the whole Krylov basis is kept as an (m, n) tensor and every new
    vector is orthogonalized against it. Without that, Lanczos in floating point produces
    spurious copies of converged eigenvalues ("ghosts"), which would wreck k > 1 and clusters.

    v0: None (random start from `generator`), a (n,) vector, or a (j, n) block of previous
    eigenvectors (see `warm_start`). warm_noise: size of the random kick added to a warm
    start, relative to it; default ties it to `tol` (clamped to [√eps, 1e-2]), because a
    kick below the requested accuracy barely delays convergence yet still seeds every direction.

    Stops after the first step at which the top-k Ritz pairs all have relative residual
    ≤ tol, or after min(max_iter, n) HVPs. On breakdown (an exactly invariant Krylov subspace:
    its Ritz pairs are exact) it probes the orthogonal complement before declaring convergence,
    so that repeated eigenvalues are counted with their multiplicity.

    dtype defaults to v0's dtype, else torch's default dtype; device to v0's, else the CPU.

    The iteration itself lives in `Lanczos`, driven here by one HVP at a time; the batched engine
    (`batched.py`) drives several `Lanczos` at once with one vmapped HVP per iteration, so both
    paths run the very same recurrence, stopping rule and breakdown handling.
    """
    solver = Lanczos(n, k, **options)
    while not solver.done:
        solver.absorb(hvp(solver.query()))
    return solver.result()


class Lanczos:
    """One Lanczos solve as a state machine: `query()` is the vector to multiply by H next,
    `absorb(H @ query())` takes one step and sets `done`, `result()` gives the eigenpairs.

    Why a state machine rather than a loop that calls an HVP: so that the caller owns the HVP.
    Several solves (one per arm) can then share one batched HVP per iteration, each stopping on its
    own residual; see `top_eigenpairs` for the method and its arguments.
    """

    def __init__(
        self,
        n: int,
        k: int = 1,
        *,
        v0: torch.Tensor | None = None,
        tol: float = 1e-3,
        max_iter: int = 100,
        dtype=None,
        device=None,
        generator: torch.Generator | None = None,
        warm_noise: float | None = None,
    ):
        if k < 1 or k > n:
            raise ValueError(f"need 1 <= k <= n, got k={k}, n={n}")
        if max_iter < k:
            raise ValueError(f"max_iter={max_iter} cannot resolve k={k} eigenpairs")
        if dtype is None:
            dtype = v0.dtype if v0 is not None and v0.is_floating_point() else torch.get_default_dtype()
        if device is None:
            device = v0.device if v0 is not None else torch.device("cpu")
        self.n, self.k, self.tol = n, k, tol
        self.dtype, self.device, self.generator = dtype, device, generator
        self.eps = torch.finfo(dtype).eps
        if warm_noise is None:
            warm_noise = min(max(tol, self.eps**0.5), 1e-2)
        self.limit = min(max_iter, n)

        # The basis grows by doubling instead of allocating max_iter rows up front: for a
        # 10^6-parameter model, 100 float64 rows are 800 MB, while a warm solve needs ~3.
        self.V = torch.empty(min(self.limit, max(2 * k, 8)), n, dtype=dtype, device=device)
        self.V[0] = warm_start(v0, n, dtype, device, generator, warm_noise)
        self.alphas: list[float] = []  # diagonal of T
        self.betas: list[float] = []  # off-diagonal of T; betas[j] couples V[j] and V[j+1]
        self.hvps = 0
        self.converged = False
        self.done = False
        self.block_start = 0  # first row of the current Lanczos block (> 0 after a breakdown restart)
        self.m = 0
        self.ritz: torch.Tensor | None = None  # Ritz values of T, ascending (not parameters θ)
        self.S: torch.Tensor | None = None
        self.residual = float("inf")

    def query(self) -> torch.Tensor:
        """The basis vector to expand next (the caller returns H times it to `absorb`)."""
        return self.V[len(self.alphas)]

    def absorb(self, w: torch.Tensor) -> bool:
        """One Lanczos step given w = H @ query(); returns (and sets) `done`."""
        check_stop()  # a stop request ends a long solve here (interrupt.py), between two HVPs
        if self.done:
            raise RuntimeError("this Lanczos solve has already stopped")
        n, k, tol, dtype, device, eps = self.n, self.k, self.tol, self.dtype, self.device, self.eps
        V, alphas, betas = self.V, self.alphas, self.betas
        j = len(alphas)  # index of the vector being expanded; basis size after this step: j + 1
        q = V[j]
        w = w.to(dtype=dtype, device=device).reshape(n)
        self.hvps += 1
        # α and β stay on the device until both are known, then come to the host together: one
        # transfer (one GPU sync) per iteration, which the per-iteration convergence test needs.
        alpha_t = torch.dot(w, q)
        w = recurrence(w, V, j, betas, alpha_t, passes=2)
        alpha, beta = torch.stack((alpha_t, torch.linalg.vector_norm(w))).tolist()
        alphas.append(alpha)

        # Ritz pairs of the (j+1)×(j+1) tridiagonal. Solved in float64 on the CPU whatever
        # the working dtype: it is tiny, and its accuracy bounds what we report.
        m = j + 1
        T = torch.diag(torch.tensor(alphas, dtype=torch.float64))
        if m > 1:
            off = torch.tensor(betas, dtype=torch.float64)
            T += torch.diag(off, 1) + torch.diag(off, -1)
        ritz, S = torch.linalg.eigh(T)  # Ritz values, ascending
        scale = ritz.abs().max().item()
        self.m, self.ritz, self.S = m, ritz, S

        # Breakdown: w is (numerically) zero, so span(V) is invariant under H and the Ritz
        # pairs are exact eigenpairs. Judged relative to the spectral-radius estimate since H's
        # overall scale is arbitrary; a reorthogonalized w that should be zero comes out at a
        # few eps·‖H‖. Missing a breakdown is harmless anyway: w/β is then a rounding-noise
        # direction orthogonal to V, i.e. a random restart, coupled to T by a negligible β.
        broke_down = beta <= 100 * eps * max(scale, 1e-300)
        if broke_down:
            beta = 0.0

        top = min(k, m)
        s_last = S[-1, m - top :]  # last components of the top Ritz vectors
        # ||H y_i − r_i y_i|| = |β_m s_{m,i}| exactly when V is orthonormal (which full
        # reorthogonalization guarantees), so no extra HVP is spent to measure it.
        # Relative to each pair's own |r_i|, not to the spectral radius: with a Hessian
        # eigenvalue of −10⁴ and λ_max = 3, "1e-3 of the radius" would accept λ_max off by 10.
        # The floor √eps·radius is where rounding in the HVPs makes a smaller r_i unresolvable.
        res_abs = (beta * s_last).abs()
        denom = ritz[m - top :].abs().clamp_min(max(self.eps**0.5 * scale, 1e-300))
        residual = 0.0 if beta == 0.0 else (res_abs / denom).max().item()
        self.residual = residual

        # After a breakdown restart (below), T is block-diagonal and the current block's own
        # top Ritz value estimates the largest eigenvalue of H on the still-unexplored
        # complement; it must be resolved before that complement can be ruled out.
        block_start = self.block_start
        block_ritz, block_S = torch.linalg.eigh(T[block_start:, block_start:])
        block_top = block_ritz[-1].item()
        block_res = abs(beta * block_S[-1, -1].item()) / max(abs(block_top), self.eps**0.5 * scale, 1e-300)

        if broke_down:
            # The pairs found are exact, but single-vector Lanczos sees only one copy of each
            # distinct eigenvalue, and nothing of eigenvectors the start missed: H = diag(2, 2,
            # 1, ...) with k = 2 breaks down at m = 2 with {2, 1}. So probe the orthogonal
            # complement with a fresh random block; once a probe block has broken down too, its
            # top value bounds what is left, and we are done when the k-th value found beats it.
            # (One extra HVP on a first breakdown; real network Hessians essentially never
            # break down, low-rank or degenerate toy quadratics do.)
            if m >= n:
                return self._stop(True)
            if m >= k and block_start > 0 and ritz[m - k].item() >= block_top - 100 * eps * scale:
                return self._stop(True)
        elif m >= k and residual <= tol and block_res <= tol:
            return self._stop(True)
        if m >= self.limit:
            return self._stop(residual <= tol)

        if m == V.shape[0]:  # grow the basis storage
            grown = torch.empty(min(self.limit, 2 * m), n, dtype=dtype, device=device)
            grown[:m] = V
            V = self.V = grown
        if broke_down:
            # Continue from a fresh random direction orthogonal to the invariant subspace.
            # β = 0 keeps T block-diagonal, which is exactly what the restarted recurrence
            # computes, so the Ritz machinery above needs no special case.
            self.block_start = m
            w = restart(V[:m], n, dtype, device, self.generator, passes=2)
            beta_next = 0.0
        else:
            beta_next = beta
            w = w / beta
        betas.append(beta_next)
        V[m] = w
        return False

    def _stop(self, converged: bool) -> bool:
        self.converged = converged
        self.done = True
        return True

    def result(self) -> Eigenpairs:
        if not self.done:
            raise RuntimeError("this Lanczos solve has not stopped yet")
        m, ritz, S, dtype, device = self.m, self.ritz, self.S, self.dtype, self.device
        assert ritz is not None and S is not None
        top = min(self.k, m)
        idx = torch.arange(m - 1, m - 1 - top, -1)  # descending order
        values = ritz[idx].to(dtype=dtype, device=device)
        coeffs = S[:, idx].T.to(dtype=dtype, device=device)  # (k, m)
        vectors = coeffs @ self.V[:m]
        vectors = vectors / torch.linalg.vector_norm(vectors, dim=1, keepdim=True)
        return Eigenpairs(values, vectors, self.hvps, self.residual, self.converged)


class TrackSettings(Protocol):
    """What `track_step` reads from its tracker (engine/tracking.py's PerStepTracker)."""

    k: int
    generator: torch.Generator
    noise: float
    refresh_tol: float
    refresh_max_hvps: int
    jump: float | None


def track_step(
    hvp: HVP, n: int, start: torch.Tensor | None, tol: float, cap: int, dtype, device, settings: TrackSettings, prev: float | None = None
):
    """The per-step tracker's short Lanczos (engine/tracking.py): full reorthogonalization, stopped
    when the top-k relative residuals are ≤ tol (at ≥ k products) or after `cap` products; a top
    Ritz value more than `settings.jump` (relative) away from `prev` extends the solve to
    `refresh_tol` within `refresh_max_hvps`. Starts from `warm_start(start, …, settings.noise)`.
    Returns (values (k,), Ritz vectors Y (k, n), HY, products spent, residual). HY comes from the
    products already made: no extra HVP. See the module docstring for why its arithmetic is not
    `Lanczos.absorb`'s."""
    k, generator, noise, jump = settings.k, settings.generator, settings.noise, settings.jump
    refresh_tol, refresh_max_hvps = settings.refresh_tol, settings.refresh_max_hvps
    eps = torch.finfo(dtype).eps
    most = min(n, max(cap, refresh_max_hvps if prev is not None else cap))  # the jump rule may extend
    V = torch.empty(most, n, dtype=dtype, device=device)  # basis, preallocated: no stacking per product
    W = torch.empty(most, n, dtype=dtype, device=device)  # its products
    V[0] = warm_start(start, n, dtype, device, generator, noise)
    alphas: list[float] = []
    betas: list[float] = []
    while True:
        j = len(alphas)
        m = j + 1
        w = W[j] = hvp(V[j]).reshape(n).to(dtype=dtype, device=device)
        alpha = torch.dot(w, V[j]).item()
        alphas.append(alpha)
        r = recurrence(w, V, j, betas, alpha, passes=1 if j > 0 else 0)  # one pass after the three-term step
        beta = torch.linalg.vector_norm(r).item()
        # Ritz pairs of the m×m tridiagonal, in float64 NumPy: tiny, and torch calls on tiny
        # tensors cost more than the arithmetic on the smallest models.
        if m == 1:
            theta, S = np.array([alpha]), np.ones((1, 1))
        else:
            theta, S = np.linalg.eigh(np.diag(alphas) + np.diag(betas, 1) + np.diag(betas, -1))  # ascending
        top = min(k, m)
        scale = max(float(np.abs(theta).max()), 1e-300)
        if not (math.isfinite(beta) and math.isfinite(scale)):  # a non-finite product: report it
            residual, broke_down = math.inf, False
            break
        # ‖H y_i − θ_i y_i‖ = |β s_{m,i}| (V orthonormal), relative to each pair's own |θ_i|
        # floored at √eps·radius, as in `Lanczos.absorb`.
        denom = np.maximum(np.abs(theta[m - top :]), eps**0.5 * scale)
        residual = float((np.abs(beta * S[-1, m - top :]) / denom).max())
        broke_down = beta <= 100 * eps * scale  # span(V) invariant: its Ritz pairs are exact
        if prev is not None and jump is not None and abs(theta[-1] - prev) > jump * abs(prev):
            tol, cap, prev = refresh_tol, most, None  # the Hessian moves: go on to the refresh tolerance
        if m >= k and (residual <= tol or broke_down or m >= cap) or m >= most:
            break
        if broke_down:  # fewer than k pairs in an invariant subspace: continue from a random direction
            betas.append(0.0)
            V[m] = restart(V[:m], n, dtype, device, generator, passes=1)
        else:
            betas.append(beta)
            V[m] = r / beta
    C = torch.from_numpy(S[:, m - top :][:, ::-1].T.copy()).to(dtype=dtype, device=device)  # (k, m), descending
    Y = C @ V[:m]
    HY = C @ W[:m]
    Y = Y / torch.linalg.vector_norm(Y, dim=1, keepdim=True)
    values = torch.from_numpy(theta[m - top :][::-1].copy()).to(dtype=dtype, device=device)
    return values, Y, HY, m, (0.0 if broke_down else residual)


def align_signs(new: torch.Tensor, old: torch.Tensor | None) -> torch.Tensor:
    """Flip rows of `new` that point against the matching rows of `old`.

    An eigenvector's sign is arbitrary, and Lanczos picks one afresh every solve. The engine
    projects the gradient and the step on u every training step, so an unaligned sign flip
    would show up as a fake oscillation in those traces.
    """
    if old is None or old.shape != new.shape:
        return new
    dots = (new * old.to(new)).sum(dim=-1)
    signs = torch.where(dots < 0, -1.0, 1.0).to(new)
    return new * signs.unsqueeze(-1) if new.dim() == 2 else new * signs
