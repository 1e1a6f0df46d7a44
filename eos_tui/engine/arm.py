"""One arm of a scenario: a model, an optimizer and a schedule, stepped one update at a time.

Each call to `Arm.step()` does, at parameters θ_t:
  1. the full-batch loss L(θ_t) and gradient ∇L(θ_t) (the numbers the edge-of-stability story is
     about, also under SGD);
  2. every `sharpness_every` steps, the top eigenpairs of the full-batch Hessian, warm-started from
     the last eigenvectors and sign-aligned with them; with `measure.track_every_step`, also λ_max
     at every step by `PerStepTracker` (≈ 2 HVPs a step, a lower bound on λ_max);
  3. the update θ_{t+1} = θ_t − η_t·d_t, d_t from the update rule (optimizers.py: the gradient,
     heavy-ball or Nesterov momentum, Adam, RMSprop), with the mini-batch gradient under SGD, or an
     RK4 integration of gradient flow over time η_t for the "flow" reference arm. Adam and RMSprop
     take the update first and measure λ_max(P_t⁻¹H(θ_t)) in step 2 with the preconditioner P_t of
     that very update (v_t holds g_t, so P_0 = |g_0| + ε for Adam: defined from step 0 on), beside
     the raw λ_max of H;
and returns the records to append to metrics.jsonl, with the events of the detectors
(analysis/detectors.py: EoS onset, period-2, catapult) and of the reparameterization checks
(reparam.py). Divergence ends the arm with status
"diverged", a result, not a crash: a non-finite loss or parameter, or a loss above
`measure.diverge_above` (default 1e6 × max(1, initial loss); see `Arm.diverge_bound`), checked at
every θ_t and at the final parameters. At η_t = 0 (a cosine schedule's last step) there is no
stability threshold: the record's threshold is null and no EoS or catapult comparison is made.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from ..analysis.detectors import Catapult, EosOnset, Oscillation, threshold_name
from ..rundir.format import EventRecord, Record, SharpnessRecord, StepExtras
from ..rundir.records import end_record, event_record, sharpness_record, step_record
from . import optimizers, schedules
from .central_flow import Flows
from .curvature.flow import grad, grad_and_value, rk4_flow
from .curvature.hessian import HessianOperator, exact_top
from .curvature.lanczos import Eigenpairs, LanczosOptions, align_signs, top_eigenpairs
from .errors import ScenarioRefused
from .precision import mps_available
from .problems import UV, Problem, Quadratic, build_problem
from .reparam import ReparamChecks
from .selfstab import SelfStabilization
from .theory import QuadraticTheory, uv_map, uv_state
from .tracking import PerStepTracker

# Divergence by default: the loss above 1e6 × max(1, its initial value). Relative, so that a loss
# that starts large (init_scale ≫ 1) is not "diverged" at step 0; floored at 1 × 1e6, because a
# catapult's peak does not scale with the starting loss (the uv model from f0 = 0.01, i.e. a loss of
# 5e-5, peaks near 10² at width 300: 10⁶ × its start), while every model here starts at a loss of
# order 1 or below, so 10⁶ is past any recovery. measure.diverge_above sets the bound absolutely.
DIVERGENCE_FACTOR = 1e6
# Tolerance of the eigen-solve that fixes η from lr_relative: η·λ0 is the quantity that decides
# between a catapult and plain descent, so it is measured tightly once, before training.
INIT_TOL = 1e-6


def losses_and_finite(losses: torch.Tensor, theta: torch.Tensor) -> tuple[list[float], list[bool]]:
    """The losses (one per arm: shape () or (B,)) and whether each arm's θ (shape (n,) or (B, n)) is
    finite, in one transfer to the host. This runs at every step, so it tests Σθ: finite whenever
    every θ_i is, and a fraction of the cost of isfinite(θ).all() (one reduction, no boolean tensor
    of θ's size); only a sum that is not finite (a θ_i that is not, or one
    so large that the sum overflows) is checked element by element."""
    rows = theta.reshape(max(losses.numel(), 1), -1)
    values, sums = torch.stack([losses.detach().reshape(-1), rows.sum(dim=1).to(losses.dtype)]).tolist()
    finite = [math.isfinite(s) or bool(torch.isfinite(rows[i]).all()) for i, s in enumerate(sums)]
    return values, finite


# The arm's scalars and detectors that an ArmState holds by name (a checkpoint's "scalars" and
# "detectors" keep these names: engine/checkpoint.py).
SCALARS = ("final_loss", "initial_loss", "sharpness", "base_lr", "lambda0", "hvps_total")
DETECTORS = ("oscillation", "catapult", "onset")


@dataclass
class ArmState:
    """Everything of an arm that one step carries to the next, as tensors and plain values: what a
    checkpoint holds and what undoing a step puts back (`Arm.state_dict`, `Arm.load_state_dict`).

    Tensors are held by reference: a step replaces θ, the optimizer state and the eigenvectors,
    never writes into them. A generator state of None is one that was not taken (a step that does
    not draw from that generator), and loading leaves that generator as it is; so does a tracker
    or a quadratic's coordinates of None."""

    theta: torch.Tensor
    t: int
    status: str | None
    rule_state: Any
    vectors: torch.Tensor | None
    raw_vector: torch.Tensor | None
    eig_rng: torch.Tensor | None
    sgd_rng: torch.Tensor | None
    scalars: dict[str, Any] = field(default_factory=dict)
    detectors: dict[str, dict[str, Any]] = field(default_factory=dict)
    reparam: dict[str, Any] = field(default_factory=dict)
    tracker: dict[str, Any] | None = None
    theory_coords: torch.Tensor | None = None
    selfstab: dict[str, Any] | None = None  # measure.self_stabilization's (SelfStabilization.state_dict)

    def with_rule_state(self, rule_state: Any) -> ArmState:
        """The same state with another optimizer state (an arm's row of a vmapped batch's)."""
        return replace(self, rule_state=rule_state)


class _NonFiniteHVP(ArithmeticError):
    """A Hessian-vector product with a nan or inf in it (the arm is blowing up)."""


class Arm:
    def __init__(self, spec, device: torch.device):
        self.spec = spec
        self.name = spec.name
        self.device = device
        self.problem: Problem = build_problem(spec, device)
        self.theta = self.problem.theta0.clone()
        self.dtype = self.theta.dtype
        self.steps = int(spec.steps)
        self.schedule = schedules.from_spec(spec.schedule, self.steps)
        self.lr_changes = schedules.changes(spec.schedule)
        self.t = 0
        self.status: str | None = None  # None while running
        self.final_loss: float | None = None
        self.initial_loss: float | None = None
        self.vectors: torch.Tensor | None = None  # (k, n) latest eigenvectors, sign-aligned
        self.sharpness: float | None = None  # latest λ_max
        self.eig_gen = torch.Generator().manual_seed(int(spec.seed) + 17)
        self.sgd_gen = torch.Generator().manual_seed(int(spec.seed) + 29)
        self.oscillation = Oscillation()
        self.catapult = Catapult()
        self.onset = EosOnset()
        # Held-out metrics (test_loss, test_accuracy) every test_every steps, where the data has a
        # held-out split: measure.test_every, or, when it is None, at every sharpness measurement.
        m = spec.measure
        every = m.test_every if getattr(m, "test_every", None) is not None else m.sharpness_every
        has_split = getattr(self.problem, "X_test", None) is not None
        self.test_every = int(every) if has_split else 0
        # Linear stability of heavy-ball momentum β along an eigendirection λ: |roots of
        # z² − (1 + β − ηλ) z + β| < 1 iff ηλ < 2(1 + β) (Cohen et al. 2021, appendix). β = 0 is GD's 2/η.
        # Nesterov, Adam and RMSprop: engine/optimizers.py derives theirs (threshold_factor).
        opt = spec.optimizer
        self.momentum = float(getattr(opt, "momentum", 0.0)) if opt.kind != "flow" else 0.0
        self.nesterov = bool(getattr(opt, "nesterov", False))
        # The update rule (engine/optimizers.py): d_t from g_t, θ_{t+1} = θ_t − η_t·d_t.
        if opt.kind == "adam":
            self.rule = optimizers.adam(opt.beta1, opt.beta2, opt.eps)
        elif opt.kind == "rmsprop":
            self.rule = optimizers.rmsprop(opt.alpha, opt.eps, self.momentum)
        else:
            self.rule = optimizers.from_momentum(self.momentum, self.nesterov)
        self.rule_state = self.rule.init(self.theta)
        self.threshold_factor = optimizers.threshold_factor(opt.kind, self.momentum, self.nesterov, getattr(opt, "beta1", 0.9))
        # The events name this arm's own threshold by its factor ("38/η" for Adam at β1 = 0.9), as the
        # app's labels do from the step records' `threshold` (analysis.detectors.threshold_name).
        self.threshold_name = threshold_name(self.threshold_factor)
        # Adam and RMSprop: λ_max is that of P⁻¹H (P the step's diagonal preconditioner), measured on
        # P^{-1/2} H P^{-1/2}; `raw_vector` warm-starts the raw λ_max solved beside it.
        self.preconditioned = self.rule.preconditioner is not None
        self.raw_vector: torch.Tensor | None = None
        # Step records carry their threshold unless it is plain GD's 2/η on H (readers' default).
        self.writes_threshold = self.threshold_factor != 2.0 or self.preconditioned
        self.base_lr: float | None = spec.optimizer.lr
        self.lambda0: float | None = None
        self.reparam = ReparamChecks(self.name, self.problem, list(spec.measure.reparam_alphas), spec.dtype)
        self.hvps_total = 0
        # λ_max at every step (measure.track_every_step): k = 1, the tracker's measured defaults,
        # and a generator of its own so that the converged solves draw exactly what they draw without it.
        self.tracker = (
            PerStepTracker(k=1, generator=torch.Generator().manual_seed(int(spec.seed) + 41)) if spec.measure.track_every_step else None
        )
        # The central flow and the stable flow beside this GD arm (measure.central_flow, stable_flow).
        self.flows = Flows(self.name, self.problem.loss, self.theta, m, int(spec.seed)) if m.central_flow or m.stable_flow else None
        # Self-stabilization's constrained trajectory and (x, y) beside it (measure.self_stabilization).
        self.selfstab = (
            SelfStabilization(self.name, self.problem.loss, self.theta, max_iter=m.max_iter, seed=int(spec.seed))
            if m.self_stabilization
            else None
        )
        # Theory overlays: exact only for plain GD (no momentum) on the quadratic and the uv model.
        plain_gd = spec.optimizer.kind == "gd" and not self.momentum
        self.quadratic_theory = QuadraticTheory(self.problem.H, self.theta) if plain_gd and isinstance(self.problem, Quadratic) else None
        self.uv_width = self.problem.width if plain_gd and isinstance(self.problem, UV) else None

    # ---- state -----------------------------------------------------------------------------
    def state_dict(self, *, eig_rng: bool = True, sgd_rng: bool = True) -> ArmState:
        """The arm's state between two steps. eig_rng / sgd_rng False: that generator's state is not
        taken (None), for a caller that knows the next step does not draw from it (StepStart)."""
        return ArmState(
            theta=self.theta,
            t=self.t,
            status=self.status,
            rule_state=self.rule_state,
            vectors=self.vectors,
            raw_vector=self.raw_vector,
            eig_rng=self.eig_gen.get_state() if eig_rng else None,
            sgd_rng=self.sgd_gen.get_state() if sgd_rng else None,
            scalars={k: getattr(self, k) for k in SCALARS},
            detectors={k: getattr(self, k).state_dict() for k in DETECTORS},
            reparam=self.reparam.state_dict(),
            tracker=self.tracker.state_dict() if self.tracker is not None else None,
            theory_coords=self.quadratic_theory.coords if self.quadratic_theory is not None else None,
            selfstab=self.selfstab.state_dict() if self.selfstab is not None else None,
        )

    def load_state_dict(self, state: ArmState) -> None:
        """Put the arm where `state` says (see ArmState for what None leaves as it is). KeyError, with
        nothing changed, for a scalar or detector the arm has not got."""
        stray = [k for k in state.scalars if k not in SCALARS] + [k for k in state.detectors if k not in DETECTORS]
        if stray:
            raise KeyError(f"{stray[0]!r} is not part of an arm's state")
        self.theta, self.t, self.status = state.theta, state.t, state.status
        self.rule_state, self.vectors, self.raw_vector = state.rule_state, state.vectors, state.raw_vector
        if state.eig_rng is not None:
            self.eig_gen.set_state(state.eig_rng)
        if state.sgd_rng is not None:
            self.sgd_gen.set_state(state.sgd_rng)
        for k, v in state.scalars.items():
            setattr(self, k, v)
        for k, d in state.detectors.items():
            getattr(self, k).load_state_dict(d)
        self.reparam.load_state_dict(state.reparam)
        if state.tracker is not None and self.tracker is not None:
            self.tracker.load_state_dict(state.tracker)
        if state.theory_coords is not None and self.quadratic_theory is not None:
            self.quadratic_theory.coords = state.theory_coords
        if state.selfstab is not None and self.selfstab is not None:
            self.selfstab.load_state_dict(state.selfstab)

    # ---- curvature -------------------------------------------------------------------------
    def eigenpairs(
        self,
        theta: torch.Tensor,
        *,
        k: int | None = None,
        tol: float | None = None,
        v0: torch.Tensor | None = None,
        loss=None,
        transform: torch.Tensor | None = None,
    ) -> Eigenpairs:
        """Top-k eigenpairs of the full-batch Hessian at θ (of D H D when `transform` is D)."""
        m = self.spec.measure
        k = k or m.eigenvalues
        parts = self.problem.loss_parts() if loss is None else None  # the full-data loss, maybe chunked
        loss = loss or self.problem.loss
        n = theta.numel()
        H = HessianOperator(loss, theta, parts=parts, precond=transform)
        if m.exact:
            vals, vecs = exact_top(H.to_dense(), k)
            return Eigenpairs(vals, vecs, hvps=0, residual=0.0)
        return top_eigenpairs(H, n, min(k, n), **self.lanczos_options(v0, tol))

    def lanczos_options(self, v0: torch.Tensor | None, tol: float | None = None) -> LanczosOptions:
        """This arm's Lanczos settings (measure.tolerance unless `tol`; its eigen generator), the same
        for a solve of its own (`eigenpairs`) and one the batched engine drives."""
        m = self.spec.measure
        return LanczosOptions(
            v0=v0, tol=tol or m.tolerance, max_iter=m.max_iter, dtype=self.dtype, device=self.device, generator=self.eig_gen
        )

    def measure(
        self, theta: torch.Tensor, step: int, batch: torch.Tensor | None = None, precond: torch.Tensor | None = None
    ) -> SharpnessRecord:
        """The sharpness record at θ. With `precond` P (Adam, RMSprop): the eigenvalues of P⁻¹H, solved
        on P^{-1/2} H P^{-1/2} ("operator": "preconditioned"), and the raw λ_max of H beside them
        ("raw_eigenvalues", its own warm start); `hvps` counts both solves."""
        loss = None if batch is None else (lambda th: self.problem.loss(th, batch))
        if precond is None:
            return self.measured(step, self.eigenpairs(theta, v0=self.vectors, loss=loss))
        rec = self.measured(step, self.eigenpairs(theta, v0=self.vectors, loss=loss, transform=precond.rsqrt()))
        raw = self.eigenpairs(theta, k=1, v0=self.raw_vector, loss=loss)
        self.raw_vector = align_signs(raw.eigenvectors, self.raw_vector)
        self.hvps_total += raw.hvps
        rec["hvps"] += raw.hvps
        rec["operator"] = "preconditioned"
        rec["raw_eigenvalues"] = [float(v) for v in raw.eigenvalues]
        return rec

    def measured(self, step: int, pairs: Eigenpairs) -> SharpnessRecord:
        """Keep a solve's eigenpairs (sign-aligned, the warm start of the next one) and record them.
        Shared by `measure` and the batched engine, which solves several arms at once."""
        self.vectors = align_signs(pairs.eigenvectors, self.vectors)
        self.sharpness = float(pairs.eigenvalues[0])
        self.hvps_total += pairs.hvps
        return sharpness_record(
            arm=self.name,
            step=step,
            eigenvalues=[float(v) for v in pairs.eigenvalues],
            hvps=pairs.hvps,
            residual=float(pairs.residual),
        )

    def track(self, theta: torch.Tensor, batch: torch.Tensor | None = None, precond: torch.Tensor | None = None) -> StepExtras:
        """λ_max at θ by the per-step tracker: the step record's `sharpness_tracked` (null when an HVP
        was not finite, e.g. on the way to divergence) and `tracked_hvps` (every HVP spent, counted
        in the arm's total too). `batch`: the mini-batch whose Hessian to track (measure.on = "batch")."""
        tracker = self.tracker
        assert tracker is not None, "track() needs measure.track_every_step"
        loss = self.problem.loss if batch is None else (lambda th: self.problem.loss(th, batch))
        # Adam, RMSprop (precond P): λ_max of P⁻¹H, as `measure`
        parts = self.problem.loss_parts() if batch is None else None
        inner = HessianOperator(loss, theta, parts=parts, precond=None if precond is None else precond.rsqrt())
        spent = 0

        def hvp(v: torch.Tensor) -> torch.Tensor:
            nonlocal spent
            spent += 1
            w = inner(v)
            if not bool(torch.isfinite(w).all()):
                raise _NonFiniteHVP
            return w

        value: float | None
        try:
            value = float(tracker.update(hvp, theta.numel(), dtype=self.dtype, device=self.device).eigenvalues[0])
        except _NonFiniteHVP:
            value = None
        if value is None or not math.isfinite(value):
            value = None
            tracker.reset()  # start afresh (a converged solve) at the next finite step
        self.hvps_total += spent
        return {"sharpness_tracked": value, "tracked_hvps": spent}

    def measures_at(self, t: int) -> bool:
        every = self.spec.measure.sharpness_every
        return bool(every) and t % every == 0

    # ---- set-up ----------------------------------------------------------------------------
    def begin(self) -> list[Record]:
        """Resolve lr_relative (η = lr_relative / λ0, λ0 measured at θ0) before the first step."""
        opt = self.spec.optimizer
        out: list[Record] = []
        if self.spec.device == "auto" and self.spec.dtype == "float64" and self.device.type == "cpu" and mps_available():
            out.append(self._event(0, "device_notice", "device 'auto': Apple's MPS has no float64, so this float64 arm runs on the CPU"))
        needs_lambda0 = opt.lr_relative is not None
        if needs_lambda0:
            pairs = self.eigenpairs(self.theta, k=1, tol=INIT_TOL)
            self.lambda0 = float(pairs.eigenvalues[0])
            self.hvps_total += pairs.hvps
            if not self.lambda0 > 0:
                raise ScenarioRefused(
                    f"arm {self.name!r}: optimizer.lr_relative sets η = lr_relative / λ0, but λ0 = λ_max at "
                    f"initialization is {self.lambda0:.4g}, not > 0: set optimizer.lr instead "
                    "(or a model.init_scale that gives the loss curvature)"
                )
            self.base_lr = opt.lr_relative / self.lambda0
            out.append(
                event_record(
                    arm=self.name,
                    step=0,
                    kind="lr_resolved",
                    message=f"η = {opt.lr_relative:g}/λ0 = {self.base_lr:.4g} (λ0 = {self.lambda0:.4g})",
                    data={"lr": self.base_lr, "lambda0": self.lambda0},
                )
            )
        return out

    def lr_at(self, t: int) -> float:
        assert self.base_lr is not None, "lr_relative is resolved by begin()"
        return self.base_lr * self.schedule(t)

    # ---- one step --------------------------------------------------------------------------
    # `step` is split into phases (loss check, measured-step checks, scheduled checks, finish) so
    # that the batched engine (batched.py), which computes gradients, eigenpairs and updates for
    # several arms at once, builds every record and event through this same code.
    def step(self) -> list[Record]:
        """One update; returns its records. Sets `status` when the arm ends."""
        t, spec = self.t, self.spec
        lr = self.lr_at(t)
        g, loss_t = grad_and_value(self.problem.loss, self.theta)
        (loss,), (finite,) = losses_and_finite(loss_t, self.theta)
        ended = self.check_loss(t, lr, loss, params_finite=finite)
        if ended:
            return ended

        # SGD draws its mini-batch first, so that sharpness can be measured on that same batch.
        batch = None
        if spec.optimizer.kind == "sgd":
            batch = torch.randperm(self.problem.n_examples, generator=self.sgd_gen)[: spec.optimizer.batch_size]
            batch = batch.to(self.device)
        out: list[Record] = []
        # Adam, RMSprop: the update first, for the preconditioner P_t of this very step (v_t holds g_t),
        # which the sharpness at θ_t is measured with: defined from step 0 on (v_0 = (1−β2)·g_0²).
        precond = None
        if self.rule.preconditioner is not None:
            new_theta = self._update(g, lr, batch)
            precond = self.rule.preconditioner(self.rule_state)
        if self.measures_at(t):
            out.append(self.measure(self.theta, t, batch if spec.measure.on == "batch" else None, precond))
            out += self.onset_check(t, lr)
        tracked = None
        if self.tracker is not None:
            tracked = self.track(self.theta, batch if spec.measure.on == "batch" else None, precond)
        out += self.scheduled_checks(t, lr)

        u = self.vectors[0] if self.vectors is not None else None
        if not self.preconditioned:
            new_theta = self._update(g, lr, batch)
        proj: float | None
        disp: float | None
        if u is not None and precond is not None:
            # u lives in the coordinates P^{1/2}θ: the gradient there is P^{-1/2}g, the step P^{1/2}Δθ
            d = precond.rsqrt()
            proj, disp = float((g * d) @ u), float(((new_theta - self.theta) / d) @ u)
        else:
            proj = float(g @ u) if u is not None else None
            disp = float((new_theta - self.theta) @ u) if u is not None else None
        if self.flows is not None:  # in lockstep: the flows at step t, then one step further
            spent = self.flows.hvps
            out += self.flows.step(t, lr, self.theta)
            self.hvps_total += self.flows.hvps - spent
        if self.selfstab is not None:  # at θ_t and θ†_t, then θ† one projected step further
            spent = self.selfstab.hvps
            out += self.selfstab.step(t, lr, self.theta)
            self.hvps_total += self.selfstab.hvps - spent
        return out + self.finish(t, lr, loss, float(torch.linalg.vector_norm(g)), proj, disp, new_theta, tracked=tracked)

    def check_loss(self, t: int, lr: float, loss: float, params_finite: bool = True) -> list[Record]:
        """The loss at θ_t; if it diverged, the step's records and the arm's end (else [])."""
        if self.initial_loss is None:
            self.initial_loss = loss
        why = self.divergence(loss, params_finite)
        if why is not None:
            rec = step_record(arm=self.name, step=t, loss=loss, lr=lr, grad_norm=None, proj=None, disp=None)
            if self.writes_threshold:
                rec["threshold"] = self.threshold(lr)
            if self.tracker is not None:
                rec["sharpness_tracked"], rec["tracked_hvps"] = None, 0
            return [rec, *self._end("diverged", loss, f"{why} at step {t}")]
        return []

    def diverge_bound(self) -> float:
        """The loss above which the arm has diverged: measure.diverge_above, else
        DIVERGENCE_FACTOR × max(1, initial loss)."""
        bound = self.spec.measure.diverge_above
        if bound is not None:
            return float(bound)
        return DIVERGENCE_FACTOR * max(1.0, self.initial_loss if self.initial_loss is not None else 1.0)

    def divergence(self, loss: float, params_finite: bool = True) -> str | None:
        """Why the parameters with this loss are past any recovery, or None if they are not."""
        if not params_finite:
            return f"parameters not finite (loss {loss:.3g})"
        if not math.isfinite(loss):
            return f"loss {loss:.3g} (not finite)"
        bound = self.diverge_bound()
        if loss > bound:
            return f"loss {loss:.3g} > {bound:.3g}"
        return None

    def threshold(self, lr: float) -> float | None:
        """The stability threshold on λ_max (of P⁻¹H for Adam and RMSprop) at step size lr: 2/η, 2(1+β)/η
        with momentum β, 2(1+β)/((1+2β)η) with Nesterov's, (2+2β1)/((1−β1)η) for Adam (bias
        correction's factor 1/(1−β1^t) left out: it is 1 after the first few dozen steps).
        None at η = 0 (a cosine schedule's last step): every λ_max is stable there."""
        return self.threshold_factor / lr if lr > 0 else None

    def onset_check(self, t: int, lr: float) -> list[Record]:
        """Right after a sharpness measurement: has λ_max reached the threshold from below?
        (analysis.detectors.EosOnset decides; this builds its event.)"""
        thr = self.threshold(lr)
        kind = self.onset.update(self.sharpness, thr)
        if kind is None:
            return []
        what = "λ_max(P⁻¹H)" if self.preconditioned else "λ_max"
        at = f"{what} {self.sharpness:.4g} ≥ {self.threshold_name} = {thr:.4g}"
        if kind == "unstable_start":
            return [
                self._event(
                    t, "unstable_start", f"{at} at the first measurement: above the stability threshold from the start, not by sharpening"
                )
            ]
        return [self._event(t, "eos_onset", at)]

    def scheduled_checks(self, t: int, lr: float) -> list[Record]:
        """Reparameterization checks and schedule events due at step t (before the update)."""
        out: list[Record] = []
        if self.spec.measure.reparam_every and t % self.spec.measure.reparam_every == 0:
            out.extend(self.reparam_checks(t))
        if t in self.lr_changes:
            out.append(
                self._event(t, "lr_change", f"{self.lr_changes[t]}: η = {lr:.4g}, {self.threshold_name} = {_g4(self.threshold(lr))}")
            )
        return out

    def finish(
        self,
        t: int,
        lr: float,
        loss: float,
        grad_norm: float,
        proj: float | None,
        disp: float | None,
        new_theta: torch.Tensor,
        tracked: StepExtras | None = None,
    ) -> list[Record]:
        """The step record at θ_t (theory overlays and `track`'s fields included), θ ← θ_{t+1},
        detectors, end of arm."""
        out: list[Record] = []
        step = step_record(arm=self.name, step=t, loss=loss, lr=lr, grad_norm=grad_norm, proj=proj, disp=disp)
        if self.writes_threshold:  # readers take 2/η otherwise
            step["threshold"] = self.threshold(lr)
        if tracked is not None:
            step.update(tracked)
        if self.test_every and t % self.test_every == 0:
            step.update(self.problem.test_metrics(self.theta))  # at θ_t, as the loss
        if self.quadratic_theory is not None:
            step["loss_theory"] = self.quadratic_theory.loss()
            self.quadratic_theory.step(lr)
        if self.uv_width is not None:
            # measured (f, λ) at θ_t, and the map's prediction for θ_{t+1} from them
            f, ntk = uv_state(self.theta, self.uv_width)
            step["f"], step["ntk"] = f, ntk
            step["f_next_theory"], step["ntk_next_theory"] = uv_map(f, ntk, lr, self.uv_width)
        self.theta = new_theta
        out.append(step)

        thr = self.threshold(lr)
        ratio = self.sharpness / thr if self.sharpness is not None and thr else None  # λη/2: flips count near the edge only
        if self.oscillation.update(t, proj, disp, ratio):
            out.append(
                self._event(
                    t,
                    "period2_onset",
                    f"⟨∇L, u⟩ flips sign on {self.oscillation.flip_fraction:.0%} of the last {self.oscillation.window} steps",
                )
            )
        cat = self.catapult.update(t, loss, self.sharpness, self.threshold(lr))
        if cat:
            ev = self._event(
                t,
                "catapult",
                f"loss peaked at {cat['peak_loss_ratio']:.3g}× its start (step {cat['peak_step']}), "
                f"λ_max {_g4(cat['sharpness_before'])} → {_g4(cat['sharpness_after'])}",
            )
            ev["data"] = cat
            out.append(ev)

        self.t += 1
        if self.t >= self.steps:
            # The final parameters go through the same divergence rule as every θ_t.
            final_t = self.problem.loss(self.theta)
            (final,), (finite,) = losses_and_finite(final_t, self.theta)
            why = self.divergence(final, finite)
            if why is not None:
                out += self._end("diverged", final, f"{why} after the last step")
            else:
                out += self._end("completed", final)
        return out

    def _update(self, g: torch.Tensor, lr: float, batch: torch.Tensor | None) -> torch.Tensor:
        opt = self.spec.optimizer
        if opt.kind == "flow":
            return self._flow(lr)
        if batch is not None:
            g = grad(self.problem.loss, self.theta, batch)
        d, self.rule_state = self.rule.update(g, self.rule_state)
        return self.theta - lr * d

    def _flow(self, lr: float) -> torch.Tensor:
        """Gradient flow dθ/dτ = −∇L over time η_t (one GD step's worth), by RK4.

        Substeps of size at most α/λ_max keep RK4 stable and accurate (Cohen et al.'s choice);
        λ_max is the latest measurement, so the flow arm needs sharpness measured.
        """
        lam = self.sharpness
        if lam is None or lam <= 0:
            pairs = self.eigenpairs(self.theta, k=1)
            lam = max(float(pairs.eigenvalues[0]), 1e-12)
            self.hvps_total += pairs.hvps
        alpha = self.spec.optimizer.flow_alpha
        n_sub = max(1, math.ceil(lr * lam / alpha))
        h = lr / n_sub

        return rk4_flow(lambda th: grad(self.problem.loss, th), self.theta, h, n_sub)

    # ---- reparameterization ----------------------------------------------------------------
    def reparam_checks(self, t: int) -> list[Record]:
        """Dinh et al.'s T_α at θ_t for each α (engine/reparam.py: the records, and the events of
        checks that could not be made)."""
        return self.reparam.run(t, self.theta, self.eigenpairs, self.vectors)

    # ---- endings ---------------------------------------------------------------------------
    def _event(self, step: int, kind: str, message: str) -> EventRecord:
        return event_record(arm=self.name, step=step, kind=kind, message=message)

    def _end(self, status: str, final_loss: float | None, message: str | None = None) -> list[Record]:
        self.status = status
        self.final_loss = final_loss
        out: list[Record] = []
        if status == "diverged":
            out.append(self._event(self.t, "diverged", message or "diverged"))
        out.append(end_record(arm=self.name, status=status, steps_done=self.t, final_loss=final_loss, hvps=self.hvps_total))
        return out

    def stop(self, status: str) -> list[Record]:
        """End a still-running arm from outside (interrupted or failed)."""
        if self.status is not None:
            return []
        return self._end(status, None)


def _g4(x: float | None) -> str:
    return "?" if x is None else f"{x:.4g}"
