"""PerStepTracker: λ_max at every step of a small float64 GD run, against the exact Hessian; and
the engine's use of it (measure.track_every_step).

HVP counts are deterministic (seeded generators), so asserting them is fine; no wall-time asserts.
"""

import torch

from eos_tui.engine.batched import batch_key, plan
from eos_tui.engine.curvature.hessian import dense_hessian, exact_top, make_hvp
from eos_tui.engine.problems import build_problem
from eos_tui.engine.tracking import PerStepTracker

from .helpers import arm_of, of, scenario, train

SMALL = """
name = "track"
seed = 0
steps = 80
dtype = "float64"
loss = "mse"
[data]
kind = "random-labels"
n = 24
dim = 6
classes = 3
[model]
kind = "mlp"
hidden = [10]
activation = "tanh"
[optimizer]
kind = "gd"
lr = 0.2
"""


def _run(tracker, steps=80, lr=0.2):
    prob = build_problem(scenario(SMALL).arms[0], torch.device("cpu"))
    grad = torch.func.grad(prob.loss)
    theta = prob.theta0.clone()
    errs, hvps = [], []
    for _ in range(steps):
        exact = float(exact_top(dense_hessian(prob.loss, theta), 1)[0][0])
        res = tracker.update(make_hvp(prob.loss, theta), theta.numel(), dtype=theta.dtype)
        errs.append(abs(float(res.eigenvalues[0]) - exact) / abs(exact))
        hvps.append(res.hvps)
        theta = theta - lr * grad(theta)
    return errs, hvps


def test_per_step_error_under_one_percent_at_under_two_hvps():
    # Progressive sharpening at η = 0.2, below the edge: the defaults, every step against eigvalsh
    # of the dense Hessian. 1% is the goal; measured: max 0.96% (step 6, while the Hessian still
    # moves fast after the cold start), 0.1–0.4% after, 1.73 HVPs/step. The two cold starts (31
    # HVPs in the first 4 steps) weigh 0.4/step over 80 steps (2.03 measured): averaged over 160.
    tr = PerStepTracker()
    errs, hvps = _run(tr, steps=160)
    assert max(errs) < 0.01
    assert tr.mean_hvps <= 2.0
    assert sum(hvps) == tr.total_hvps and tr.updates == 160
    assert tr.refreshes >= 160 // (2 * 6)  # the drift check ran, on each parity


def test_ordinary_steps_stop_on_the_residual_and_vectors_stay_unit_and_aligned():
    tr = PerStepTracker(k=2, period=1)
    prob = build_problem(scenario(SMALL).arms[0], torch.device("cpu"))
    theta = prob.theta0
    first = tr.update(make_hvp(prob.loss, theta), theta.numel(), dtype=theta.dtype)
    assert first.refreshed
    second = tr.update(make_hvp(prob.loss, theta), theta.numel(), dtype=theta.dtype)
    # Same Hessian: the warm start is nearly converged, so the step stops early on its residual.
    assert not second.refreshed and 2 <= second.hvps < first.hvps and second.residual <= tr.tol
    assert torch.allclose(torch.linalg.vector_norm(second.eigenvectors, dim=1), torch.ones(2, dtype=theta.dtype))
    assert ((second.eigenvectors * first.eigenvectors).sum(dim=1) > 0).all()
    assert second.eigenvalues[0] >= second.eigenvalues[1]
    vals, vecs, hvps, residual = second  # unpacks like Arm.eigenpairs
    assert hvps == second.hvps


def test_tight_tolerance_gives_converged_values():
    # The stopping rule is the residual: at 1e-8 every step is a converged solve (error ≲ residual²).
    n = 103
    tr = PerStepTracker(tol=1e-8, refresh_tol=1e-8, max_hvps=n, refresh_max_hvps=n, period=1)
    errs, hvps = _run(tr, steps=10)
    assert max(errs) < 1e-6
    assert min(hvps) > 5  # and that is what it costs


def test_make_hvp_builds_the_gradient_graph_once_per_theta():
    """Regression (issue 9: an HVP cost 4–10 gradients): make_hvp used torch.func.jvp(grad(L)), which
    re-ran the forward and backward of L on every product, through functorch's wrappers. Now the
    gradient's graph is built at the first product and each product is one backward through it:
    the loss runs once however many products are taken, with the same result to rounding."""
    prob = build_problem(scenario(SMALL).arms[0], torch.device("cpu"))
    theta = prob.theta0
    calls = []

    def loss(th):
        calls.append(None)
        return prob.loss(th)

    hvp = make_hvp(loss, theta)
    H = dense_hessian(prob.loss, theta)
    with torch.no_grad():  # the engine calls it outside autograd too
        for i in range(5):
            v = torch.randn(theta.numel(), generator=torch.Generator().manual_seed(i), dtype=theta.dtype)
            torch.testing.assert_close(hvp(v), H @ v, rtol=1e-10, atol=1e-12)
    assert len(calls) == 1
    # A loss whose gradient does not depend on θ has H = 0 (no graph to differentiate).
    lin = make_hvp(lambda th: th.sum(), theta)
    assert torch.equal(lin(torch.ones_like(theta)), torch.zeros_like(theta))


# A smaller float64 problem driven *through* the edge of stability: λ_max(θ₀) ≈ 2.0, η = 0.78 puts
# 2/η ≈ 2.56 within reach of progressive sharpening, which crosses it at step ≈ 45, overshoots
# (catapult, ηλ/2 up to ≈ 1.4 near step 110) and settles at ηλ/2 ≈ 1 from step ≈ 140 on.
EOS_LR = 0.78


def _run_eos(tracker, steps=200, lr=EOS_LR):
    prob = build_problem(scenario(SMALL).arms[0], torch.device("cpu"))
    grad = torch.func.grad(prob.loss)
    theta = prob.theta0.clone()
    tracked, exact = [], []
    for _ in range(steps):
        H = dense_hessian(prob.loss, theta)
        exact.append(float(torch.linalg.eigvalsh(H)[-1]))
        res = tracker.update(make_hvp(prob.loss, theta), theta.numel(), dtype=theta.dtype)
        tracked.append(float(res.eigenvalues[0]))
        theta = theta - lr * grad(theta)
    return torch.tensor(tracked, dtype=torch.float64), torch.tensor(exact, dtype=torch.float64)


def test_tracks_lambda_max_through_the_edge_of_stability():
    """The issue's goals on a problem small enough for the exact Hessian at every step: ≤ 2 HVPs per
    step on average, error ≤ 1% at every step at the edge (steps 140–300) and ≤ 3% through the
    catapult (steps 45–140).

    Tolerances are the goals themselves; measured with the defaults: 1.78 HVPs/step over the 300
    steps (2.02 over the first 200, which are half catapult and cold start: the tracker spends where
    the Hessian moves), max 0.58% at the edge and 0.48% in the catapult. HVP counts and errors are
    deterministic (seeded generator)."""
    tr = PerStepTracker()
    tracked, exact = _run_eos(tr, steps=300)
    err = (exact - tracked) / exact
    ratio = EOS_LR * exact / 2
    assert 0.9 < float(ratio[140:].median()) < 1.1  # the run really is at the edge of stability
    assert float(ratio.max()) > 1.2  # and went through a catapult
    assert tr.mean_hvps <= 2.0
    assert float(err[140:].max()) < 0.01
    assert float(err[45:140].max()) < 0.03
    # Every reported value is a Ritz value of the current Hessian, hence a lower bound on λ_max
    # (up to float64 rounding, relative 1e-10 is ~10⁵ ulps of slack).
    assert bool((tracked <= exact * (1 + 1e-10)).all())


def test_a_moving_ritz_value_buys_more_hvps():
    """In a catapult the top eigenvalue moves by several % a step and eigenvectors swap; a step whose
    Ritz value moved by more than `jump` (5%) from the same parity's last one runs to the refresh
    tolerance. Without that rule the same tracker is worse in the catapult (measured: max 1.17%
    without, 0.48% with) and spends fewer HVPs (2.13 vs 2.24 a step over these 140 steps)."""
    with_rule, without = PerStepTracker(), PerStepTracker(jump=None)
    tracked, exact = _run_eos(with_rule, steps=140)
    tracked_off, _ = _run_eos(without, steps=140)
    err, err_off = (exact - tracked) / exact, (exact - tracked_off) / exact
    assert float(err[45:140].max()) < float(err_off[45:140].max())
    assert with_rule.total_hvps > without.total_hvps


# ---- the engine: measure.track_every_step ------------------------------------------------------

# SMALL's problem through the edge of stability (EOS_LR, as above), trained by the engine: the arm's
# tracker at every step, and the dense exact λ_max at every step beside it (exact, sharpness_every 1).
ARM_EOS = (
    SMALL.replace("steps = 80", "steps = 300").replace("lr = 0.2", f"lr = {EOS_LR}")
    + """
[measure]
sharpness_every = 1
exact = true
track_every_step = true
"""
)


def test_engine_tracks_lambda_max_at_every_step_through_the_edge_of_stability():
    """Each step record carries the tracker's λ_max at θ_t, the point of that step's exact solve.

    Tolerances: every tracked value is a Ritz value of that step's Hessian, so ≤ exact λ_max up to
    float64 rounding (relative 1e-9, far above the ~1e-15 of one eigh; measured: tracked is never
    above, at least 1.7e-6 below). Max error ≤ 1% at the edge (steps 140–300) and ≤ 3% in the
    catapult, ≤ 2 HVPs/step: the issue's goals (measured: max 0.59%, mean 0.06%, 1.77 HVPs/step,
    deterministic: seeded)."""
    recs = train(arm_of(ARM_EOS))
    steps, exact_recs = of(recs, "step"), of(recs, "sharpness")
    assert len(steps) == len(exact_recs) == 300
    assert [s["step"] for s in steps] == [e["step"] for e in exact_recs]
    tracked = torch.tensor([s["sharpness_tracked"] for s in steps], dtype=torch.float64)
    exact = torch.tensor([e["eigenvalues"][0] for e in exact_recs], dtype=torch.float64)
    hvps = [s["tracked_hvps"] for s in steps]
    ratio = EOS_LR * exact / 2
    assert 0.9 < float(ratio[140:].median()) < 1.1 and float(ratio.max()) > 1.2  # through EoS
    assert bool((tracked <= exact * (1 + 1e-9)).all())
    err = (exact - tracked) / exact
    assert float(err[140:].max()) < 0.01 and float(err.max()) < 0.03
    assert all(isinstance(h, int) and h >= 1 for h in hvps)
    assert sum(hvps) / len(hvps) <= 2.0
    # The exact solves cost no HVPs, so the arm's total is the tracker's.
    [end] = of(recs, "end")
    assert end["status"] == "completed" and end["hvps"] == sum(hvps)


SGD_TRACK = (
    SMALL.replace("steps = 80", "steps = 20").replace('kind = "gd"', 'kind = "sgd"\nbatch_size = 8')
    + """
[measure]
sharpness_every = 1
exact = true
on = "batch"
track_every_step = true
"""
)


def test_engine_tracks_the_mini_batch_hessian_when_measure_on_batch():
    # The exact solve is on the step's mini-batch; the tracked value must be a lower bound of that
    # Hessian's λ_max (same 1e-9 rounding slack as above) and close to it (measured mean 0.01%, max 0.23%).
    recs = train(arm_of(SGD_TRACK))
    tracked = torch.tensor([s["sharpness_tracked"] for s in of(recs, "step")], dtype=torch.float64)
    exact = torch.tensor([e["eigenvalues"][0] for e in of(recs, "sharpness")], dtype=torch.float64)
    assert len(tracked) == len(exact) == 20
    assert bool((tracked <= exact * (1 + 1e-9)).all())
    assert float(((exact - tracked) / exact).mean()) < 0.01


def test_tracking_off_adds_no_field_and_tracking_arms_train_alone():
    text = (
        SMALL.replace("steps = 80", "steps = 5") + '[[arm]]\nname = "a"\n[[arm]]\nname = "b"\n'
        '[[arm]]\nname = "c"\nmeasure.track_every_step = true\n'
    )
    arms = [arm_of(text, i) for i in range(3)]
    assert arms[0].spec.measure.track_every_step is False and arms[0].tracker is None
    assert batch_key(arms[0]) == batch_key(arms[1]) is not None and batch_key(arms[2]) is None
    assert [[a.name for a in g] for g in plan(arms)] == [["a", "b"], ["c"]]
    off = of(train(arms[0]), "step")
    assert off and not any("sharpness_tracked" in s or "tracked_hvps" in s for s in off)
    on = of(train(arms[2]), "step")
    assert all(isinstance(s["sharpness_tracked"], float) and s["tracked_hvps"] >= 1 for s in on)


def test_non_finite_hvp_writes_null_and_training_goes_on(monkeypatch):
    import eos_tui.engine.curvature.hessian as hessian_module  # where the arm's Hessian operator takes its HVPs

    made = []

    def nan_at_step_2(loss, theta, parts=None):  # the third step's HVPs are all nan
        inner = make_hvp(loss, theta, parts=parts)
        made.append(None)
        bad = len(made) == 3
        return (lambda v: inner(v) * float("nan")) if bad else inner

    monkeypatch.setattr(hessian_module, "make_hvp", nan_at_step_2)
    arm = arm_of(SMALL.replace("steps = 80", "steps = 6") + "[measure]\nsharpness_every = 0\ntrack_every_step = true\n")
    recs = train(arm)
    steps = of(recs, "step")
    assert arm.status == "completed" and len(steps) == 6
    # The first nan product stops the update (1 HVP spent, counted) and resets the tracker...
    assert steps[2]["sharpness_tracked"] is None and steps[2]["tracked_hvps"] == 1
    # ...which starts afresh with a converged solve at the next step.
    assert all(isinstance(s["sharpness_tracked"], float) for i, s in enumerate(steps) if i != 2)
    assert of(recs, "end")[0]["hvps"] == sum(s["tracked_hvps"] for s in steps)


def test_divergence_with_tracking_ends_the_arm_cleanly():
    arm = arm_of(SMALL.replace("lr = 0.2", "lr = 40.0") + "[measure]\nsharpness_every = 0\ntrack_every_step = true\n")
    recs = train(arm)
    assert arm.status == "diverged"
    last = of(recs, "step")[-1]
    assert last["sharpness_tracked"] is None and last["tracked_hvps"] == 0


# The catapult scenario's mlp-catapult arm, shrunk and in float64 (ReLU 8→16→1 on 64 teacher
# points, η = 3/λ0): ηλ/2 starts at 1.5, the loss spikes ~10×, λ_max overshoots to ηλ/2 ≈ 2.4 and
# collapses to ≈ 0.7 within 12 steps, then sharpens back to the edge.
CATAPULT = """
name = "cat"
seed = 0
steps = 60
dtype = "float64"
data = { kind = "teacher", n = 64, dim = 8, outputs = 1 }
model = { kind = "mlp", hidden = [16], activation = "relu" }
[optimizer]
kind = "gd"
lr_relative = 3.0
[measure]
sharpness_every = 1
exact = true
track_every_step = true
"""


def test_engine_tracks_lambda_max_through_a_catapult():
    """Goal ≤ 3% at every step of a catapult, against the dense Hessian (exact, every step).

    Measured: max 0.06%. HVPs: this run is nearly all catapult and cold start, where the tracker
    spends more by design (a moving Ritz value runs to the refresh tolerance): 2.6/step over 60
    steps, hence the looser < 3 asserted here; over a long run the catapult is a small part."""
    recs = train(arm_of(CATAPULT))
    steps, exact_recs = of(recs, "step"), of(recs, "sharpness")
    tracked = torch.tensor([s["sharpness_tracked"] for s in steps], dtype=torch.float64)
    exact = torch.tensor([e["eigenvalues"][0] for e in exact_recs], dtype=torch.float64)
    ratio = steps[0]["lr"] * exact / 2
    assert float(ratio.max()) > 2 and float(ratio[5:20].min()) < 0.8  # a real catapult
    assert max(s["loss"] for s in steps) > 5 * steps[0]["loss"]
    err = (exact - tracked) / exact
    assert float(err.max()) < 0.03
    assert bool((tracked <= exact * (1 + 1e-9)).all())
    hvps = [s["tracked_hvps"] for s in steps]
    assert sum(hvps) / len(hvps) < 3
