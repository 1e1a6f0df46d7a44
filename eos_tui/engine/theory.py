"""Exact predictions the measured trajectory is drawn against (the theory overlays).

- Quadratic, plain GD: along eigenvector q_i the coordinate c_i = ⟨θ, q_i⟩ is multiplied by exactly
  (1 − η_t λ_i) each step, so the loss ½ Σ λ_i c_i² is known in closed form at every step.
- The uv model of Lewkowycz et al. 2020 (f = u·v/√n, one example x = 1, y = 0, loss ½f²): with the
  neural tangent kernel λ = (‖u‖² + ‖v‖²)/n, one GD step maps (f, λ) exactly to
      f' = f (1 − ηλ + η² f²/n),      λ' = λ + (η f²/n)(ηλ − 4).
  So while ηλ < 2 the output shrinks and λ barely moves; for 2 < ηλ < 4, |f| first grows (the loss
  spikes) and the growth of f² drives λ down until ηλ < 2 (the catapult); for ηλ > 4, λ grows too
  and nothing stops the divergence.
"""

from __future__ import annotations

import math

import torch


class QuadraticTheory:
    """Closed-form GD on ½θᵀHθ, carried in float64 alongside the measured run."""

    def __init__(self, H: torch.Tensor, theta0: torch.Tensor):
        H64 = H.detach().to("cpu", torch.float64)
        self.lam, Q = torch.linalg.eigh(H64)
        self.coords = Q.T @ theta0.detach().to("cpu", torch.float64)

    def loss(self) -> float:
        return float(0.5 * (self.lam * self.coords**2).sum())

    def step(self, lr: float) -> None:
        self.coords = self.coords * (1 - lr * self.lam)


def uv_state(theta: torch.Tensor, width: int) -> tuple[float, float]:
    """(f, λ_NTK) of the uv model at θ = [u; v]."""
    # float64 on the CPU, not .double() where θ lives: Apple's MPS has no float64.
    th = theta.detach().to("cpu", torch.float64)
    u, v = th[:width], th[width:]
    return float(u @ v / math.sqrt(width)), float((u @ u + v @ v) / width)


def uv_map(f: float, ntk: float, lr: float, width: int) -> tuple[float, float]:
    """Lewkowycz et al.'s exact one-step map of (f, λ) for the uv model."""
    return f * (1 - lr * ntk + lr * lr * f * f / width), ntk + (lr * f * f / width) * (lr * ntk - 4)
