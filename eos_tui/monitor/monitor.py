"""eos_tui.Monitor: the edge of stability of any PyTorch training loop, in a run directory that
`eos-tui watch` follows live.

    with eos_tui.Monitor(model, loss_fn, (X, y), run_dir="runs/mine", every=10, eigenvalues=2) as mon:
        for step in range(steps):
            opt.zero_grad(); loss = loss_fn(model(X), y); loss.backward(); opt.step()
            mon.step(loss=loss.item(), lr=opt.param_groups[0]["lr"], optimizer=opt)

The records mean what the engine's mean (rundir/format.py): call t of `step` (t = 0, 1, ...) comes
after the update θ_t → θ_{t+1} and writes the step record of step t (the loss the loop computed at
θ_t, η_t, the norm of the gradient the optimizer used, ⟨∇, u⟩ and ⟨θ_{t+1} − θ_t, u⟩); every `every`
updates it measures λ_max at the current parameters θ_{t+1}: the sharpness record of step t + 1. The
first, at θ_0, is measured as the monitor starts. Engine and monitor therefore write the same
records for the same full-batch GD loop (tests/test_monitor_engine.py).

What is measured, and against which threshold, follows the optimizer (stability.py). Adam and
RMSprop measure λ_max(P⁻¹H) with the P of the update just made, read from the optimizer's state:
there is none before the first update, so their runs have no record at step 0.

The measurement never changes the model (params.Preserved): no .grad is left behind, buffers
(BatchNorm's running statistics) and random generators are put back. It never stops the loop
either: parameters or a loss that are not finite end the run as "diverged" (the engine's record),
and any other failure of the monitor ends its run as "failed" with a warning, after which `step`
does nothing. Ctrl-C through the `with` leaves a run marked "interrupted", and goes on up.

Imports torch (never textual).
"""

from __future__ import annotations

import atexit
import math
import os
import time
import warnings
from typing import Any

import torch
from torch import nn

from ..analysis.detectors import Catapult, EosOnset, Oscillation
from ..engine.determinism import batch_dependent_layers, check_repeatable, random_layers
from ..rundir import format as rf
from ..rundir.records import end_record, event_record, sharpness_record, step_record
from .curvature import Solver
from .data import Chunk, FullData
from .errors import MonitorError
from .params import FlatParams, LossFn, Preserved
from .rundir import MonitorRun
from .stability import Stability, read_optimizer


def _device_label(device: torch.device) -> str:
    if device.type == "cuda":
        idx = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{idx} ({torch.cuda.get_device_name(idx)})"
    return str(device)


def _float(value: Any) -> float | None:
    if value is None:
        return None
    return float(value.item() if isinstance(value, torch.Tensor) else value)


class Monitor:
    """Measure the sharpness of `model` under `loss_fn` on the full `data` while a loop trains it.

    model        an nn.Module; its trainable parameters (requires_grad) are θ
    loss_fn      loss_fn(model(inputs), targets) -> a scalar, the mean over the batch
    data         (X, y) tensors, or a DataLoader that does not shuffle (batches weighted by size)
    run_dir      the run directory to create (must not exist, or be empty); default runs/NAME-STAMP
    every        measure λ_max every this many updates (and at θ_0)
    eigenvalues  how many top eigenvalues to measure
    tol, max_iter  the Lanczos solve's relative residual and its cap on products
    name, arm    the run's and its arm's names in the readers
    steps        the loop's length if known (readers show progress against it)
    optimizer    the optimizer, if `step` is not given it
    seed         the seed of the solver's own random start vectors

    Raises MonitorError (one line) when the arguments are bad or the curvature cannot be measured
    honestly (dropout, BatchNorm over a DataLoader's batches); nothing is written then.
    """

    def __init__(
        self,
        model: nn.Module,
        loss_fn: LossFn,
        data: Any,
        *,
        run_dir: str | os.PathLike[str] | None = None,
        every: int = 10,
        eigenvalues: int = 1,
        tol: float = 1e-3,
        max_iter: int = 100,
        name: str | None = None,
        arm: str = "train",
        steps: int | None = None,
        optimizer: torch.optim.Optimizer | None = None,
        seed: int = 0,
    ):
        if not isinstance(model, nn.Module):
            raise MonitorError(f"model must be a torch.nn.Module, not {type(model).__name__}")
        if not callable(loss_fn):
            raise MonitorError("loss_fn must be callable: loss_fn(model(inputs), targets)")
        for key, value, low in (("every", every, 1), ("eigenvalues", eigenvalues, 1), ("max_iter", max_iter, 2)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise MonitorError(f"{key} must be an integer ≥ {low}, not {value!r}")
        if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
            raise MonitorError(f"steps must be a positive integer or None, not {steps!r}")
        if not (isinstance(tol, (int, float)) and 0 < tol < 1):
            raise MonitorError(f"tol must be in (0, 1), not {tol!r}")
        if max_iter < eigenvalues:
            raise MonitorError(f"max_iter={max_iter} cannot resolve eigenvalues={eigenvalues}")
        self.model, self.loss_fn, self.every = model, loss_fn, every
        self.flat = FlatParams(model)
        self.data = FullData(data)
        self.device = self.flat.device
        self.optimizer = optimizer
        self.solver = Solver(eigenvalues, float(tol), max_iter, seed)
        chunks = self.data.chunks(self.device)
        self._check_measurable(chunks)

        run_name = name or (os.path.basename(os.path.normpath(run_dir)) if run_dir is not None else "monitor")
        for key, label in (("name", run_name), ("arm", arm)):
            if not (isinstance(label, str) and rf.is_safe_name(label)):
                raise MonitorError(f"{key} {label!r} cannot name a run or an arm: use letters, digits, '.', '_' and '-'")
        versions = {"torch": str(torch.__version__)}
        try:
            self.run = MonitorRun(run_dir, name=run_name, arm=arm, seed=seed, steps=steps, versions=versions)
        except FileExistsError as e:
            raise MonitorError(f"{run_dir}: exists and is not empty (or was just claimed): give Monitor another run_dir") from e
        except (OSError, ValueError) as e:
            raise MonitorError(f"cannot create the run directory {run_dir or 'under runs/'}: {e}") from e
        self.run_dir = self.run.run_dir
        self.arm = arm
        self.calls = 0
        self.done = False
        self.stability: Stability | None = None
        self.sharpness: float | None = None  # the latest λ_max (of P⁻¹H for Adam, RMSprop)
        self.last_loss: float | None = None
        self.hvps = 0
        self.measure_seconds = 0.0  # wall time spent in measurements (their HVPs, mostly): bench/monitor.py
        self.onset, self.oscillation, self.catapult = EosOnset(), Oscillation(), Catapult()
        self.u_grad: torch.Tensor | None = None  # dotted with the gradient: ⟨∇, u⟩ (u in P^{1/2} coordinates with P)
        self.u_theta: torch.Tensor | None = None  # dotted with the step: ⟨Δθ, u⟩
        self.prev_theta = self.flat.flat()
        self.info: dict[str, Any] = {
            "model": type(model).__name__,
            "parameters": self.flat.numel,
            "dtype": str(self.flat.dtype).replace("torch.", ""),
            "data": self.data.description,
            "every": every,
            "eigenvalues": eigenvalues,
            "tolerance": float(tol),
            "max_iter": max_iter,
        }
        if optimizer is not None:
            self.stability = read_optimizer(optimizer, self.flat)
            self.info["stability"] = self.stability.describe()
        self.run.start(_device_label(self.device), self.info)
        atexit.register(self._at_exit)
        # λ_max(H) at θ_0, written with the first step once the optimizer says that H is the operator
        # its threshold is on (Adam's and RMSprop's P⁻¹H has no P before the first update).
        self.first: rf.SharpnessRecord | None = None
        try:
            if self.stability is None or not self.stability.preconditioned:
                self.first = self._measure(0, chunks, None)
        except KeyboardInterrupt:
            self._end(rf.INTERRUPTED, rf.INTERRUPTED)
            raise
        except Exception as e:  # noqa: BLE001 - the run records it; the user's loop is not stopped
            self._fail(e)

    # ---- honesty ------------------------------------------------------------------------------
    def _modes(self) -> tuple[bool, ...]:
        return tuple(m.training for m in self.model.modules())

    def _check_measurable(self, chunks: list[Chunk]) -> None:
        """Refuse (MonitorError, one line) what has no Hessian to measure on these batches
        (determinism.py): BatchNorm normalizing by a DataLoader batch's statistics, dropout or any
        other randomness (two evaluations differ). Checked at the start and again whenever a module
        changes between train and eval mode (the loop's model.train() or model.eval())."""
        self.modes = self._modes()
        batchnorm = batch_dependent_layers(self.model)
        if batchnorm and len(chunks) > 1:
            raise MonitorError(
                f"BatchNorm in training mode ({', '.join(batchnorm)}) normalizes by its batch's statistics, so the "
                f"loss over the DataLoader's {len(chunks)} batches is not the full-batch loss: give the data as one "
                "tensor pair (X, y), or put the model in eval mode"
            )
        theta = self.flat.flat()
        first = chunks[0]

        def evaluate() -> torch.Tensor:
            return self.flat.chunk_loss(self.loss_fn, first)(theta)

        with Preserved(self.model, self.flat.params, self.device):
            try:
                value = evaluate()
            except Exception as e:  # noqa: BLE001 - bad input: one line
                raise MonitorError(f"loss_fn(model(inputs), targets) failed on the data given: {type(e).__name__}: {e}") from None
            if value.numel() != 1:
                raise MonitorError(f"loss_fn must return a scalar, not a tensor of shape {tuple(value.shape)}")
            why = check_repeatable(evaluate)
        if why is not None:
            dropout = random_layers(self.model)
            where = f" (active dropout: {', '.join(dropout)})" if dropout else ""
            raise MonitorError(f"{why}{where}")

    # ---- the loop -----------------------------------------------------------------------------
    def step(self, loss: Any = None, lr: float | None = None, optimizer: torch.optim.Optimizer | None = None) -> None:
        """After the loop's update: its step record and, every `every` updates, λ_max at the new θ.

        loss       the loss the loop computed before the update (a float or a 0-d tensor)
        lr         the step size of that update (default: the optimizer's first group's)
        optimizer  the optimizer (default: the one given to the constructor); it sets the threshold
        """
        if self.done:
            return
        opt = optimizer if optimizer is not None else self.optimizer
        if lr is None:
            if opt is None:
                raise MonitorError("Monitor.step needs lr= (or optimizer=, whose first group's lr it reads)")
            lr = opt.param_groups[0]["lr"]
        try:
            step_size, value = float(lr), _float(loss)
        except (TypeError, ValueError, RuntimeError):  # the caller's mistake: said once, in one line
            raise MonitorError(f"Monitor.step: lr and loss must be numbers (or 0-d tensors), not {lr!r} and {loss!r}") from None
        try:
            self._step(value, step_size, opt)
        except KeyboardInterrupt:
            self._end(rf.INTERRUPTED, rf.INTERRUPTED)
            raise
        except Exception as e:  # noqa: BLE001 - the run records it; the user's loop is not stopped
            self._fail(e)

    def _step(self, loss: float | None, lr: float, optimizer: Any) -> None:
        t = self.calls
        if self.stability is None or optimizer is not self.optimizer:
            self.optimizer = optimizer
            self.stability = read_optimizer(optimizer, self.flat)
            self.info["stability"] = self.stability.describe()
            self.run.save()
        stab = self.stability
        out: list[rf.Record] = []
        thr = stab.threshold(lr)
        if self.first is not None:  # λ_max at θ_0: of H, which Adam's and RMSprop's records are not
            if not stab.preconditioned:
                out += [self.first, *self._onset(0, thr)]
            self.first = None

        theta, g = self.flat.snapshot()
        u_grad, u_theta = self.u_grad, self.u_theta
        with torch.no_grad():
            if g is not None and u_grad is not None and u_theta is not None:
                # ⟨θ_{t+1} − θ_t, u⟩ is finite only if θ_{t+1} is (θ_t was; every entry enters it): it
                # doubles as the divergence test, without a pass over θ of its own
                back = self.prev_theta.sub_(theta)  # θ_t − θ_{t+1}, in place: no allocation a step
                picks = [back @ u_theta, torch.linalg.vector_norm(g), g @ u_grad]
            else:
                picks = [theta.sum(), *([torch.linalg.vector_norm(g)] if g is not None else [])]
            values = torch.stack(picks).tolist()  # one transfer from the device per step
        finite = math.isfinite(values[0]) or bool(torch.isfinite(theta).all())
        grad_norm = values[1] if g is not None else None
        proj, disp = (values[2], -values[0]) if len(values) == 3 else (None, None)
        self.calls = t + 1
        self.last_loss = loss
        self.prev_theta.copy_(theta)  # θ is a view of the snapshot's buffer, overwritten next step

        rec = step_record(arm=self.arm, step=t, loss=loss, lr=lr, grad_norm=grad_norm, proj=proj, disp=disp)
        if stab.writes_threshold:
            rec["threshold"] = thr
        if loss is not None and not math.isfinite(loss):
            rec["grad_norm"] = rec["proj"] = rec["disp"] = None
            self._diverge(out + [rec], t, f"loss {loss:.3g} (not finite) at step {t}", t)
            return
        out.append(rec)
        ratio = self.sharpness / thr if self.sharpness is not None and thr else None
        if self.oscillation.update(t, proj, disp, ratio):
            frac = self.oscillation.flip_fraction
            out.append(self._event(t, "period2_onset", f"⟨∇L, u⟩ flips sign on {frac:.0%} of the last {self.oscillation.window} steps"))
        if loss is not None:
            cat = self.catapult.update(t, loss, self.sharpness, thr)
            if cat:
                ev = self._event(t, "catapult", f"loss peaked at {cat['peak_loss_ratio']:.3g}× its start (step {cat['peak_step']})")
                ev["data"] = cat
                out.append(ev)
        if not finite:
            self._diverge(out, t + 1, f"parameters not finite after the update of step {t}", t + 1)
            return
        self.run.write(out)  # before measuring: a measurement that fails must not take this step's records with it
        self.run.tick(self.calls)
        if self.calls % self.every == 0:
            precond = stab.preconditioner(self.optimizer, self.flat) if stab.preconditioned else None
            if not stab.preconditioned or precond is not None:
                self.run.write([self._measure(self.calls, self.data.chunks(self.device), precond), *self._onset(self.calls, thr)])

    # ---- measuring ----------------------------------------------------------------------------
    def _measure(self, step: int, chunks: list[Chunk], precond: torch.Tensor | None) -> rf.SharpnessRecord:
        """The sharpness record at the current θ (of P⁻¹H with `precond` P, and the raw λ_max beside)."""
        start = time.perf_counter()
        if self._modes() != self.modes:  # a refusal here ends the run as failed, with its reason
            self._check_measurable(chunks)
        theta = self.flat.flat()
        decay = self.stability.decay if self.stability is not None else 0.0
        with Preserved(self.model, self.flat.params, self.device):
            parts = [self.flat.chunk_loss(self.loss_fn, c) for c in chunks]
            pairs, raw = self.solver.measure(parts, theta, precond, decay)
        self.measure_seconds += time.perf_counter() - start
        values = [float(v) for v in pairs.eigenvalues]
        hvps = pairs.hvps + (raw.hvps if raw is not None else 0)
        self.hvps += hvps
        top = values[0] if values and math.isfinite(values[0]) else None
        self.sharpness = top
        u = self.solver.vectors[0] if top is not None and self.solver.vectors is not None else None
        if u is None:
            self.u_grad = self.u_theta = None
        elif precond is None:
            self.u_grad = self.u_theta = u
        else:  # u lives in the coordinates P^{1/2}θ: the gradient there is P^{-1/2}g, the step P^{1/2}Δθ
            d = precond.rsqrt()
            self.u_grad, self.u_theta = u * d, u / d
        rec = sharpness_record(arm=self.arm, step=step, eigenvalues=[*values], hvps=hvps, residual=float(pairs.residual))
        if raw is not None:
            rec["operator"] = "preconditioned"
            rec["raw_eigenvalues"] = [float(v) for v in raw.eigenvalues]
        return rec

    def _onset(self, step: int, thr: float | None) -> list[rf.Record]:
        kind = self.onset.update(self.sharpness, thr)
        if kind is None or self.stability is None or thr is None:
            return []
        what = "λ_max(P⁻¹H)" if self.stability.preconditioned else "λ_max"
        at = f"{what} {self.sharpness:.4g} ≥ {self.stability.rule} = {thr:.4g}"
        if kind == "unstable_start":
            return [self._event(step, kind, f"{at} at the first measurement: above the stability threshold from the start")]
        return [self._event(step, "eos_onset", at)]

    def _event(self, step: int, kind: str, message: str) -> rf.EventRecord:
        return event_record(arm=self.arm, step=step, kind=kind, message=message)

    # ---- endings ------------------------------------------------------------------------------
    def _diverge(self, out: list[rf.Record], step: int, why: str, steps_done: int) -> None:
        """Divergence is a result: the engine's event and end record, and the run completed."""
        out.append(self._event(step, "diverged", why))
        self.run.steps_done = steps_done
        self._end(rf.COMPLETED, rf.DIVERGED, out, final_loss=self.last_loss)

    def _end(self, run_status: str, arm_status: str, records: list[rf.Record] | None = None, *, final_loss=None, error=None) -> None:
        if self.done:
            return
        self.done = True
        atexit.unregister(self._at_exit)
        out = list(records or [])
        if self.first is not None:  # no step was made: λ_max(H) at θ_0 is the run's one record
            out.insert(0, self.first)
        self.first = None
        out.append(end_record(arm=self.arm, status=arm_status, steps_done=self.run.steps_done, final_loss=final_loss, hvps=self.hvps))
        try:
            self.run.write(out)
        except OSError:
            pass  # the writer keeps the error; run.end marks the run failed with it
        self.run.end(run_status, arm_status, error)

    def _fail(self, exc: BaseException) -> None:
        message = f"{type(exc).__name__}: {exc}"
        warnings.warn(f"eos_tui.Monitor stopped measuring ({message}); the run {self.run_dir} ends as failed", stacklevel=3)
        self._end(rf.FAILED, rf.FAILED, error=message)

    def close(self, exception: BaseException | None = None) -> None:
        """End the run: completed (with the final loss on the full data at the last θ), or, given
        the exception that stopped the training, "interrupted" (KeyboardInterrupt) or "failed"
        with its message. A trainer's exception hook calls it so; `with` does it by itself."""
        if self.done:
            return
        self.run.steps_done = self.calls
        if isinstance(exception, KeyboardInterrupt):
            self._end(rf.INTERRUPTED, rf.INTERRUPTED)
            return
        if exception is not None:
            self._end(rf.FAILED, rf.FAILED, error=f"{type(exception).__name__}: {exception}")
            return
        try:
            final = self._final_loss()
        except KeyboardInterrupt:
            self._end(rf.INTERRUPTED, rf.INTERRUPTED)
            raise
        except Exception:  # noqa: BLE001 - a final loss that cannot be computed is left out
            final = None
        self._end(rf.COMPLETED, rf.COMPLETED, final_loss=final)

    def _final_loss(self) -> float | None:
        theta = self.flat.flat()
        with Preserved(self.model, self.flat.params, self.device), torch.no_grad():
            value = sum(float(self.flat.chunk_loss(self.loss_fn, c)(theta)) for c in self.data.chunks(self.device))
        return value if math.isfinite(value) else None

    def _at_exit(self) -> None:
        """The process ends with the run still open (no close, no `with`): it did not complete."""
        self.run.steps_done = self.calls
        self._end(rf.INTERRUPTED, rf.INTERRUPTED, error="the process exited before Monitor.close()")

    def __enter__(self) -> Monitor:
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self.close(exc)  # an exception goes on up (None returned): Ctrl-C reaches the user's code
