"""The scenario schema: one pydantic model per TOML section, unknown keys rejected.

A resolved arm (`ArmSpec`) is a whole scenario without arms: the base with the arm's overrides
merged in. Cross-field rules (lr xor lr_relative, batch_size ≤ n, which data goes with which
model) are checked on resolved arms, since the base alone may leave e.g. `lr` to each arm.
Keys that belong to another kind (a `width` on an MLP) are rejected too, so a typo'd or
misplaced key never silently does nothing.
"""

from __future__ import annotations

import re
from typing import ClassVar, List, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..rundir.format import is_safe_name

_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")

# Strict: a hand-written file with steps = "100" or seed = true is a mistake, not something to coerce.
# No NaN/inf: TOML allows `inf`, and an infinite lr or init_scale is never what was meant.
_CONFIG = ConfigDict(extra="forbid", validate_default=True, strict=True, allow_inf_nan=False)


class KeyProblem(ValueError):
    """A rule broken by one key. `path` is dotted and relative to the model being validated, so the
    loader can append it to pydantic's `loc` and name the exact key ("optimizer.batch_size"), which a
    plain ValueError from a model validator cannot (its `loc` stops at the section)."""

    def __init__(self, path: str, message: str):
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


class Section(BaseModel):
    model_config = _CONFIG

    # keys each kind may set (besides `kind` and the keys every kind shares)
    KIND_KEYS: ClassVar[dict[str, set[str]]] = {}
    SHARED: ClassVar[set[str]] = set()

    @model_validator(mode="after")
    def _keys_fit_the_kind(self):
        kind = getattr(self, "kind", None)
        if not self.KIND_KEYS or kind not in self.KIND_KEYS:
            return self
        allowed = self.KIND_KEYS[kind] | self.SHARED | {"kind"}
        stray = sorted(k for k in self.model_fields_set if k not in allowed)
        if stray:
            others = sorted(self.KIND_KEYS[kind]) or ["none"]
            raise KeyProblem(stray[0], f"does not apply to kind {kind!r} "
                                       f"(keys of that kind: {', '.join(others)})")
        return self


# torch generators take 64-bit seeds and the engine offsets them (seed + 41, + 1_000_003): keep a margin.
SEED_LIMIT = 2**62


class DataConfig(Section):
    kind: Literal["random-labels", "teacher", "none"] = "random-labels"
    n: int = Field(128, gt=0)
    dim: int = Field(16, gt=0)
    classes: int = Field(4, ge=2)
    outputs: int = Field(1, gt=0)
    seed: Optional[int] = Field(None, ge=-SEED_LIMIT, lt=SEED_LIMIT)

    KIND_KEYS = {"random-labels": {"n", "dim", "classes"}, "teacher": {"n", "dim", "outputs"}, "none": set()}
    SHARED = {"seed"}


class ModelConfig(Section):
    kind: Literal["mlp", "uv", "quadratic"] = "mlp"
    hidden: List[int] = Field(default_factory=lambda: [64, 64])
    activation: Literal["tanh", "relu", "gelu", "linear"] = "tanh"
    bias: bool = True
    width: int = Field(100, gt=0)
    eigenvalues: Optional[List[float]] = None
    init: Optional[List[float]] = None
    init_scale: float = Field(1.0, gt=0)

    KIND_KEYS = {"mlp": {"hidden", "activation", "bias"}, "uv": {"width"}, "quadratic": {"eigenvalues", "init"}}
    SHARED = {"init_scale"}

    @field_validator("hidden")
    @classmethod
    def _widths(cls, v: list[int]) -> list[int]:
        if any(w <= 0 for w in v):
            raise ValueError("hidden widths must be positive")
        return v

    @model_validator(mode="after")
    def _quadratic(self):
        if self.kind == "quadratic":
            if not self.eigenvalues:
                raise KeyProblem("eigenvalues", "required for kind 'quadratic' (a non-empty list of numbers)")
            if self.init is not None and len(self.init) != len(self.eigenvalues):
                raise KeyProblem("init", f"has {len(self.init)} entries but model.eigenvalues has "
                                         f"{len(self.eigenvalues)}")
        return self


class OptimizerConfig(Section):
    kind: Literal["gd", "sgd", "flow"] = "gd"
    lr: Optional[float] = Field(None, gt=0)
    lr_relative: Optional[float] = Field(None, gt=0)
    momentum: float = Field(0.0, ge=0, lt=1)
    batch_size: Optional[int] = Field(None, gt=0)
    flow_alpha: float = Field(0.5, gt=0, le=2)

    KIND_KEYS = {"gd": set(), "sgd": {"batch_size"}, "flow": {"flow_alpha"}}
    SHARED = {"lr", "lr_relative", "momentum"}

    @model_validator(mode="after")
    def _one_lr(self):
        if (self.lr is None) == (self.lr_relative is None):
            both = self.lr is not None
            raise KeyProblem("lr_relative" if both else "lr",
                             "set exactly one of optimizer.lr (η) and optimizer.lr_relative (η·λ0); "
                             + ("both given" if both else "neither given"))
        if self.kind == "sgd" and self.batch_size is None:
            raise KeyProblem("batch_size", "required for kind 'sgd' (a positive int ≤ data.n)")
        return self


class ScheduleConfig(Section):
    kind: Literal["constant", "warmup", "step", "cosine"] = "constant"
    warmup_steps: Optional[int] = Field(None, ge=0)
    milestones: List[int] = Field(default_factory=list)
    factors: List[float] = Field(default_factory=list)
    final_factor: float = Field(0.0, ge=0, le=1)

    KIND_KEYS = {"constant": set(), "warmup": {"warmup_steps"}, "step": {"milestones", "factors"},
                  "cosine": {"warmup_steps", "final_factor"}}

    @model_validator(mode="after")
    def _rules(self):
        if self.kind == "warmup" and not self.warmup_steps:
            raise KeyProblem("warmup_steps", f"kind 'warmup' needs warmup_steps ≥ 1 (got {self.warmup_steps})")
        if self.kind == "step":
            if not self.milestones:
                raise KeyProblem("milestones", "kind 'step' needs a non-empty list of milestones")
            if len(self.milestones) != len(self.factors):
                raise KeyProblem("factors", f"needs one factor per milestone: {len(self.factors)} factors "
                                            f"for {len(self.milestones)} milestones")
            if any(m < 0 for m in self.milestones) or any(b <= a for a, b in zip(self.milestones, self.milestones[1:])):
                raise KeyProblem("milestones", f"must be non-negative and strictly increasing (got {self.milestones})")
            if any(f <= 0 for f in self.factors):
                raise KeyProblem("factors", f"must be positive (got {self.factors})")
        return self


class MeasureConfig(Section):
    sharpness_every: int = Field(10, ge=0)
    eigenvalues: int = Field(1, ge=1)
    tolerance: float = Field(1e-3, gt=0, lt=1)
    exact: bool = False
    max_iter: int = Field(100, ge=2)
    reparam_every: int = Field(0, ge=0)
    reparam_alphas: List[float] = Field(default_factory=lambda: [0.5, 2.0])
    # "full": the Hessian of the full training loss (the edge-of-stability quantity, also under
    # SGD); "batch": of the loss on the step's own mini-batch (SGD only), what SGD actually feels.
    on: Literal["full", "batch"] = "full"
    # λ_max at every step too, at θ_t before the update, by PerStepTracker (eos_tui/engine/tracking.py):
    # ~2 HVPs a step, each value a Ritz value of that step's Hessian (of the data `on` picks), hence
    # a lower bound on λ_max, ~0.5% below it on average. Adds sharpness_tracked and tracked_hvps to
    # every step record. Such an arm trains on its own, never in a vmapped batch.
    track_every_step: bool = False
    # Divergence: the arm ends "diverged" when its loss or parameters are not finite, or its loss
    # exceeds this bound (absolute). None: 1e6 × max(1, the initial loss).
    diverge_above: Optional[float] = Field(None, gt=0)

    @field_validator("reparam_alphas")
    @classmethod
    def _positive(cls, v: list[float]) -> list[float]:
        if not v or any(a <= 0 for a in v):
            raise ValueError("reparam_alphas must be a non-empty list of positive numbers")
        return v


class EngineConfig(Section):
    # How the engine schedules this arm. "auto": train it in one vmapped batch with every other arm
    # it is compatible with (same shapes, dtype, device and loss, full-batch GD with or without
    # momentum, iterative sharpness, no measure.track_every_step; see eos_tui/engine/batched.py),
    # which gives the same numbers as training it alone, faster; "off": always train it on its
    # own, one step at a time.
    batch_arms: Literal["auto", "off"] = "auto"


class ArmSpec(BaseModel):
    """A fully resolved arm: everything the engine needs to train it."""

    model_config = _CONFIG

    name: str
    description: str = ""
    seed: int = Field(0, ge=-SEED_LIMIT, lt=SEED_LIMIT)
    steps: int = Field(1000, gt=0)
    dtype: Literal["float32", "float64"] = "float32"
    device: str = "auto"
    loss: Literal["mse", "cross-entropy"] = "mse"
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    optimizer: OptimizerConfig
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    measure: MeasureConfig = Field(default_factory=MeasureConfig)
    engine: EngineConfig = Field(default_factory=EngineConfig)

    @field_validator("name")
    @classmethod
    def _safe(cls, v: str) -> str:
        if not is_safe_name(v):
            raise ValueError(f"{v!r} is not a safe name (letters, digits, '.', '_', '-'; no '/' or '..')")
        return v

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        if not _DEVICE.fullmatch(v):
            raise ValueError(f"{v!r} is not a device: use auto, cpu, cuda, cuda:N or mps")
        return v

    @model_validator(mode="after")
    def _fit(self):
        m, d, o = self.model, self.data, self.optimizer
        if m.kind == "mlp" and d.kind == "none":
            raise KeyProblem("data.kind", "model.kind = 'mlp' needs data: set data.kind to 'random-labels' "
                                          "or 'teacher' (got 'none')")
        if m.kind in ("uv", "quadratic") and d.kind != "none":
            raise KeyProblem("data.kind", f"model.kind = {m.kind!r} carries its own objective and takes no "
                                          f"data: set data.kind = 'none' (got {d.kind!r})")
        if self.loss == "cross-entropy" and (m.kind != "mlp" or d.kind != "random-labels"):
            raise KeyProblem("loss", "'cross-entropy' needs model.kind = 'mlp' and data.kind = 'random-labels' "
                                     f"(got {m.kind!r} and {d.kind!r})")
        if o.kind == "sgd" and m.kind != "mlp":
            raise KeyProblem("optimizer.kind", "'sgd' needs a data set (model.kind = 'mlp')")
        if o.kind == "sgd" and o.batch_size is not None and o.batch_size > d.n:
            raise KeyProblem("optimizer.batch_size", f"must be ≤ data.n = {d.n} (got {o.batch_size})")
        if self.measure.on == "batch" and o.kind != "sgd":
            raise KeyProblem("measure.on", "'batch' needs optimizer.kind = 'sgd' (GD's batch is the full set)")
        if o.kind == "flow" and not self.measure.sharpness_every:
            raise KeyProblem("measure.sharpness_every", "optimizer.kind = 'flow' sizes its RK4 steps by λ_max: "
                                                        "set measure.sharpness_every ≥ 1")
        if o.lr_relative is not None and m.kind == "quadratic" and m.eigenvalues and max(m.eigenvalues) <= 0:
            top = max(m.eigenvalues)
            raise KeyProblem("optimizer.lr_relative", "sets η = lr_relative / λ_max, but every model.eigenvalues "
                                                      f"is ≤ 0 (λ_max = {top:g}): set optimizer.lr instead")
        if self.device == "mps" and self.dtype == "float64":
            raise KeyProblem("device", "'mps' has no float64: set dtype = 'float32', or device = 'cpu' "
                                       "(device = 'auto' runs float64 on the CPU by itself)")
        if self.measure.eigenvalues > self.parameter_count():
            raise KeyProblem("measure.eigenvalues", f"{self.measure.eigenvalues} exceeds the "
                                                    f"{self.parameter_count()} parameters")
        return self

    def parameter_count(self) -> int:
        m = self.model
        if m.kind == "quadratic":
            return len(m.eigenvalues or [])
        if m.kind == "uv":
            return 2 * m.width
        out = self.data.classes if self.data.kind == "random-labels" else self.data.outputs
        sizes = [self.data.dim, *m.hidden, out]
        return sum(a * b + (b if m.bias else 0) for a, b in zip(sizes[:-1], sizes[1:]))
