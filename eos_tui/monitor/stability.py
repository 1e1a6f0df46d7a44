"""What the optimizer given to the Monitor says about stability: which operator's λ_max to
measure, and its threshold (the engine's rules, engine/optimizers.py threshold_factor).

    SGD                  λ_max(H) against 2/η; heavy-ball momentum β 2(1+β)/η; Nesterov 2(1+β)/((1+2β)η)
    Adam, AdamW          λ_max(P⁻¹H) against (2+2β1)/((1−β1)η) (Cohen et al. 2022), P from the optimizer's
                         state: (1−β1^t)(√v_t/√(1−β2^t) + ε), the P_t of format.py's SharpnessExtras
    RMSprop              λ_max(P⁻¹H), P = √v_t + ε (centered: √(v_t − ḡ_t²) + ε), 2/η or 2(1+β)/η
    anything else        λ_max(H), no threshold and no claim (the manifest says why)

Exact extensions of the same linear-stability analysis, for settings the engine has no arm for:
  * coupled weight decay w (SGD, Adam, RMSprop: the gradient is ∇L + wθ): the optimizer descends
    L + w‖θ‖²/2, whose Hessian is H + wI. For SGD that shifts every eigenvalue by w, so the
    threshold on λ_max(H) is c/η − w; the preconditioned operator becomes P⁻¹(H + wI).
  * SGD's dampening δ (b_t = βb_{t−1} + (1−δ)g_t): the step along λ is η(1−δ)λ, threshold
    2(1+β)/((1−δ)η).
  * AdamW's decoupled decay (θ ← (1−ηw)θ − ηP⁻¹m): along an eigenvector of P⁻¹H the iterate follows
    z² − (c + β1 − a)z + β1c = 0 with c = 1 − ηw, a = η(1−β1)λ, which has a root at −1 when
    a = (1 + c)(1 + β1): threshold (2 − ηw)(1+β1)/((1−β1)η), Adam's at w = 0.
The threshold needs one η and one rule for every parameter, and that the optimizer update exactly
the parameters measured: otherwise there is no claim either.

Imports torch only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from ..engine.optimizers import threshold_factor
from .params import FlatParams

# The hyperparameters of each known optimizer that the threshold or P depends on.
_KNOWN = {
    torch.optim.SGD: ("momentum", "dampening", "nesterov", "weight_decay", "maximize"),
    torch.optim.Adam: ("betas", "eps", "weight_decay", "amsgrad", "maximize", "decoupled_weight_decay"),
    torch.optim.AdamW: ("betas", "eps", "weight_decay", "amsgrad", "maximize"),
    torch.optim.RMSprop: ("alpha", "eps", "weight_decay", "momentum", "centered", "maximize"),
}


@dataclass
class Stability:
    """One optimizer's stability rule. `kind`: "gd", "momentum", "nesterov", "adam", "adamw",
    "rmsprop", or None: no claim (`reason` says why)."""

    optimizer: str  # the optimizer's class name
    kind: str | None
    rule: str | None = None  # the threshold in words, "2(1+β)/η"
    reason: str | None = None  # no claim: why
    hyper: dict[str, Any] = field(default_factory=dict)

    @property
    def preconditioned(self) -> bool:
        return self.kind in ("adam", "adamw", "rmsprop")

    @property
    def writes_threshold(self) -> bool:
        """Step records carry their threshold unless it is plain 2/η on λ_max(H) (readers' default)."""
        return not (self.kind == "gd" and not self.hyper.get("weight_decay"))

    def threshold(self, lr: float) -> float | None:
        """The threshold on the recorded λ_max at step size `lr`; None without one (η ≤ 0, no claim)."""
        if self.kind is None or not lr > 0:
            return None
        h = self.hyper
        if self.kind == "adamw":
            return (2.0 - lr * h["weight_decay"]) * (1.0 + h["beta1"]) / ((1.0 - h["beta1"]) * lr)
        if self.kind == "adam":
            return threshold_factor("adam", beta1=h["beta1"]) / lr
        factor = threshold_factor("sgd", h.get("momentum", 0.0), self.kind == "nesterov")
        if self.kind == "rmsprop":
            return factor / lr
        value = factor / ((1.0 - h.get("dampening", 0.0)) * lr) - h.get("weight_decay", 0.0)
        return value if value > 0 else None

    @property
    def decay(self) -> float:
        """Coupled weight decay that the preconditioned operator includes: P⁻¹(H + wI)."""
        return float(self.hyper.get("weight_decay", 0.0)) if self.kind in ("adam", "rmsprop") else 0.0

    def preconditioner(self, optimizer: torch.optim.Optimizer, flat: FlatParams) -> torch.Tensor | None:
        """P as one vector from the optimizer's state, None before its first step."""
        h, state = self.hyper, optimizer.state
        per = [state.get(p, {}) for p in flat.params]
        if self.kind in ("adam", "adamw"):
            key = "max_exp_avg_sq" if h["amsgrad"] else "exp_avg_sq"
            v = flat.flat_state([s.get(key) for s in per])
            steps = {float(s["step"]) for s in per if "step" in s}
            if v is None or len(steps) != 1:
                return None
            t = steps.pop()
            b1, b2, eps = h["beta1"], h["beta2"], h["eps"]
            return (1 - b1**t) * (v.sqrt() / (1 - b2**t) ** 0.5 + eps)
        if self.kind == "rmsprop":
            v = flat.flat_state([s.get("square_avg") for s in per])
            if v is None:
                return None
            if h["centered"]:
                avg = flat.flat_state([s.get("grad_avg") for s in per])
                if avg is None:
                    return None
                v = v - avg * avg
            return v.sqrt() + h["eps"]
        return None

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"optimizer": self.optimizer, "operator": "P⁻¹H" if self.preconditioned else "H"}
        if self.kind is None:
            out["threshold"] = None
            out["no_claim"] = self.reason
        else:
            out["threshold"] = self.rule
            out["hyperparameters"] = dict(self.hyper)
        return out


def no_claim(name: str, reason: str) -> Stability:
    return Stability(optimizer=name, kind=None, reason=reason)


def read_optimizer(optimizer: Any, flat: FlatParams) -> Stability:
    """The stability rule of `optimizer` (a torch.optim.Optimizer, or None) for the parameters `flat`."""
    if optimizer is None:
        return no_claim("none", "no optimizer given to Monitor.step: λ_max(H) is recorded with no threshold")
    name = type(optimizer).__name__
    keys = _KNOWN.get(type(optimizer))
    if keys is None:
        return no_claim(name, f"{name} is not one of SGD, Adam, AdamW, RMSprop: λ_max(H) is recorded with no threshold")
    groups = optimizer.param_groups
    settings = [{k: g.get(k) for k in ("lr", *keys)} for g in groups]
    if any(s != settings[0] for s in settings[1:]):
        return no_claim(name, "its parameter groups have different hyperparameters: there is no single threshold")
    trained = {id(p) for g in groups for p in g["params"]}
    if trained != {id(p) for p in flat.params}:
        return no_claim(name, "it does not update exactly the model's trainable parameters: the threshold would not apply")
    s = settings[0]
    if s.get("maximize"):
        return no_claim(name, "maximize=True: it ascends the loss")
    wd = float(s.get("weight_decay") or 0.0)
    if type(optimizer) is torch.optim.SGD:
        beta, nesterov = float(s["momentum"] or 0.0), bool(s["nesterov"])
        damp = float(s["dampening"] or 0.0) if beta else 0.0
        hyper = {"momentum": beta, "dampening": damp, "weight_decay": wd}
        kind = ("nesterov" if nesterov else "momentum") if beta else "gd"
        rule = {"gd": "2/η", "momentum": "2(1+β)/η", "nesterov": "2(1+β)/((1+2β)η)"}[kind]
        if damp:
            rule = rule.replace("η", "((1−δ)η)", 1) if kind == "momentum" else rule
        if wd:
            rule += " − w"
        return Stability(name, kind, rule, hyper=hyper)
    if type(optimizer) in (torch.optim.Adam, torch.optim.AdamW):
        beta1, beta2 = (float(b) for b in s["betas"])
        decoupled = type(optimizer) is torch.optim.AdamW or bool(s.get("decoupled_weight_decay"))
        hyper = {"beta1": beta1, "beta2": beta2, "eps": float(s["eps"]), "weight_decay": wd, "amsgrad": bool(s["amsgrad"])}
        if decoupled and wd:
            return Stability(name, "adamw", "(2−ηw)(1+β1)/((1−β1)η)", hyper=hyper)
        rule = "(2+2β1)/((1−β1)η)" + (" on P⁻¹(H + wI)" if wd else "")
        return Stability(name, "adam", rule, hyper=hyper)
    beta = float(s["momentum"] or 0.0)
    hyper = {"alpha": float(s["alpha"]), "eps": float(s["eps"]), "momentum": beta, "weight_decay": wd, "centered": bool(s["centered"])}
    rule = ("2(1+β)/η" if beta else "2/η") + (" on P⁻¹(H + wI)" if wd else "")
    return Stability(name, "rmsprop", rule, hyper=hyper)
