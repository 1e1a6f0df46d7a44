"""eos_tui.Monitor (eos_tui/monitor): the run directory it writes, its refusals, its failure modes,
and the promise that measuring never changes the model or the loop."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, SubsetRandomSampler, TensorDataset, WeightedRandomSampler

import eos_tui
from eos_tui.rundir.format import step_threshold
from eos_tui.rundir.reader import effective_status, read_manifest, run_info

from .helpers import cli_env, eos, of

MSE = nn.MSELoss()


def records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]


def data(n: int = 40, d: int = 5, k: int = 2, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64), torch.randn(n, k, generator=g, dtype=torch.float64)


def mlp(seed: int = 0, *extra: nn.Module) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 8), nn.Tanh(), *extra, nn.Linear(8, 2)).double()


def loop(model, mon, X, y, steps: int, lr: float = 0.1, opt=None) -> None:
    opt = opt or torch.optim.SGD(model.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        loss = MSE(model(X), y)
        loss.backward()
        opt.step()
        mon.step(loss=loss.item(), lr=opt.param_groups[0]["lr"], optimizer=opt)


# ---- the run directory ----------------------------------------------------------------------------
def test_a_reader_follows_the_run_while_the_loop_is_still_running(tmp_path):
    """The loop in another process stops half-way (it waits on its stdin): `eos-tui export` and
    `runs` see its records and its status "running" then; after it ends, `completed`."""
    run = tmp_path / "live"
    child = textwrap.dedent(
        f"""
        import sys, torch
        from torch import nn
        import eos_tui
        torch.manual_seed(0)
        X, y = torch.randn(32, 4), torch.randn(32, 1)
        model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 1))
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        loss_fn = nn.MSELoss()
        with eos_tui.Monitor(model, loss_fn, (X, y), run_dir={str(run)!r}, every=5, steps=30) as mon:
            for step in range(30):
                if step == 15:
                    print("waiting", flush=True)
                    sys.stdin.readline()
                opt.zero_grad(); loss = loss_fn(model(X), y); loss.backward(); opt.step()
                mon.step(loss=loss.item(), optimizer=opt)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", child], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=cli_env())
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "waiting"
        deadline = time.monotonic() + 60
        while True:  # the records reach the file within the writer's flush interval
            out = subprocess.run(
                [sys.executable, "-m", "eos_tui.cli", "export", str(run), "--format", "jsonl", "--records", "step,sharpness"],
                capture_output=True,
                text=True,
                env=cli_env(),
            )
            rows = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
            if sum(r["type"] == "step" for r in rows) == 15 or time.monotonic() > deadline:
                break
        assert [r["step"] for r in rows if r["type"] == "step"] == list(range(15))
        assert [r["step"] for r in rows if r["type"] == "sharpness"] == [0, 5, 10, 15]
        assert effective_status(read_manifest(run)) == "running"
        listed = subprocess.run(
            [sys.executable, "-m", "eos_tui.cli", "runs", str(tmp_path), "--json"], capture_output=True, text=True, env=cli_env()
        )
        (info,) = json.loads(listed.stdout)
        assert info["status"] == "running" and info["scenario"] == "live"
        proc.stdin.write("\n")
        proc.stdin.flush()
        assert proc.wait(timeout=120) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    info = run_info(run)
    assert info.status == "completed" and info.steps_done == 30 and info.steps == 30
    assert of(records(run), "end")[-1]["status"] == "completed"


def test_the_run_directory_is_the_engines_format(tmp_path):
    X, y = data()
    model = mlp()
    with eos_tui.Monitor(model, MSE, (X, y), run_dir=tmp_path / "run", every=4, eigenvalues=2) as mon:
        loop(model, mon, X, y, 10)
    recs = records(tmp_path / "run")
    assert [r["step"] for r in of(recs, "step")] == list(range(10))
    assert [r["step"] for r in of(recs, "sharpness")] == [0, 4, 8]
    assert all(len(r["eigenvalues"]) == 2 for r in of(recs, "sharpness"))
    assert all("threshold" not in r for r in of(recs, "step"))  # plain SGD: readers take 2/η
    m = read_manifest(tmp_path / "run")
    assert m["status"] == "completed" and m["arms"]["train"]["status"] == "completed"
    assert m["monitor"]["stability"]["threshold"] == "2/η" and m["monitor"]["parameters"] == 66
    assert m["arms"]["train"]["summary"]["steps_done"] == 10
    assert "not from a scenario" in (tmp_path / "run" / "scenario.toml").read_text()


def test_the_eigenvalues_are_the_full_data_hessians(tmp_path):
    """λ_max at θ_0 (every record's first) against the dense Hessian of the full loss, to 1e-8."""
    X, y = data()
    model = mlp()
    mon = eos_tui.Monitor(model, MSE, (X, y), run_dir=tmp_path / "run", eigenvalues=3, tol=1e-10, max_iter=66)
    mon.close()
    params = list(model.parameters())
    theta = torch.cat([p.detach().reshape(-1) for p in params])

    def loss(th):
        views, i = {}, 0
        for name, p in model.named_parameters():
            views[name] = th[i : i + p.numel()].view(p.shape)
            i += p.numel()
        return MSE(torch.func.functional_call(model, views, (X,)), y)

    exact = torch.linalg.eigvalsh(torch.autograd.functional.hessian(loss, theta)).flip(0)[:3]
    (rec,) = of(records(tmp_path / "run"), "sharpness")
    assert rec["eigenvalues"] == pytest.approx(exact.tolist(), rel=1e-8)


def test_a_dataloader_in_order_is_weighted_by_batch_size(tmp_path):
    """40 examples in batches of 16, 16 and 8: the same λ_max as the tensor pair (1e-8), not the
    mean of the batches' losses."""
    X, y = data()
    pair = eos_tui.Monitor(mlp(), MSE, (X, y), run_dir=tmp_path / "pair", tol=1e-10, max_iter=66)
    pair.close()
    loader = DataLoader(TensorDataset(X, y), batch_size=16, shuffle=False)
    chunked = eos_tui.Monitor(mlp(), MSE, loader, run_dir=tmp_path / "loader", tol=1e-10, max_iter=66)
    chunked.close()
    a = of(records(tmp_path / "pair"), "sharpness")[0]["eigenvalues"][0]
    b = of(records(tmp_path / "loader"), "sharpness")[0]["eigenvalues"][0]
    assert b == pytest.approx(a, rel=1e-8)
    assert of(records(tmp_path / "loader"), "end")[-1]["final_loss"] == pytest.approx(MSE(mlp()(X), y).detach().item(), rel=1e-12)


def test_measuring_changes_nothing_the_loop_can_see(tmp_path):
    """Two loops from the same seed, one monitored every step: the same parameters, gradients,
    BatchNorm running statistics and random stream, bit for bit."""
    X, y = data()

    def run(monitored: bool):
        model = mlp(1, nn.BatchNorm1d(8), nn.Dropout(0.0))
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        mon = eos_tui.Monitor(model, MSE, (X, y), run_dir=tmp_path / "m", every=1) if monitored else None
        torch.manual_seed(7)
        for _ in range(6):
            opt.zero_grad()
            loss = MSE(model(X + 0.01 * torch.randn_like(X)), y)  # the loop draws from torch's stream
            loss.backward()
            opt.step()
            if mon is not None:
                mon.step(loss=loss.item(), optimizer=opt)
        if mon is not None:
            mon.close()
        return model, torch.rand(3)

    plain, draw = run(False)
    watched, draw2 = run(True)
    assert torch.equal(draw, draw2)
    for (name, a), b in zip(plain.state_dict().items(), watched.state_dict().values()):
        assert torch.equal(a, b), name
    for a, b in zip(plain.parameters(), watched.parameters()):
        assert torch.equal(a.grad, b.grad)
    assert len(of(records(tmp_path / "m"), "sharpness")) == 7


# ---- refusals -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "make, needle",
    [
        (lambda X, y: (mlp(0, nn.Dropout(0.5)), (X, y)), "differs between two evaluations"),
        (lambda X, y: (mlp(0, nn.BatchNorm1d(8)), DataLoader(TensorDataset(X, y), batch_size=16)), "BatchNorm in training mode (2)"),
        (lambda X, y: (mlp(), DataLoader(TensorDataset(X, y), batch_size=16, shuffle=True)), "shuffle=False"),
        (lambda X, y: (mlp(), DataLoader(TensorDataset(X, y), batch_size=16, sampler=SubsetRandomSampler(range(40)))), "at random"),
        (
            lambda X, y: (mlp(), DataLoader(TensorDataset(X, y), batch_size=16, sampler=WeightedRandomSampler([1.0] * 40, 40))),
            "at random",
        ),
        (
            lambda X, y: (mlp(), DataLoader(TensorDataset(X, y), batch_size=16, sampler=DistributedSampler(TensorDataset(X, y), 1, 0))),
            "at random",
        ),
        (lambda X, y: (mlp(), DataLoader(TensorDataset(X, y), batch_size=16, drop_last=True)), "drop_last=False"),
        (
            lambda X, y: (
                mlp(),
                DataLoader(TensorDataset(X, y), batch_size=16, sampler=DistributedSampler(TensorDataset(X, y), 2, 0, shuffle=False)),
            ),
            "one shard of 2",
        ),
        (lambda X, y: (mlp(), X), "a pair (X, y)"),
        (lambda X, y: (mlp(), (X, y[:, :1].repeat(1, 3))), "loss_fn(model(inputs), targets) failed"),
    ],
    ids=[
        "dropout",
        "batchnorm-chunks",
        "shuffling",
        "subset-random",
        "weighted",
        "distributed",
        "drop-last",
        "shard",
        "not-a-pair",
        "bad-shapes",
    ],
)
def test_what_cannot_be_measured_honestly_is_refused_before_anything_is_written(tmp_path, make, needle):
    X, y = data()
    model, given = make(X, y)
    with pytest.raises(eos_tui.MonitorError) as err:
        eos_tui.Monitor(model, MSE, given, run_dir=tmp_path / "run")
    assert needle in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "run").exists()


def test_batchnorm_is_measured_on_the_full_batch_or_in_eval_mode(tmp_path):
    """BatchNorm in training mode on a tensor pair: the full-batch loss, measured; in eval mode a
    DataLoader's batches are fine (the running statistics are constants)."""
    X, y = data()
    eos_tui.Monitor(mlp(0, nn.BatchNorm1d(8)), MSE, (X, y), run_dir=tmp_path / "a").close()
    model = mlp(0, nn.BatchNorm1d(8)).eval()
    eos_tui.Monitor(model, MSE, DataLoader(TensorDataset(X, y), batch_size=16), run_dir=tmp_path / "b").close()
    for name in ("a", "b"):
        assert of(records(tmp_path / name), "sharpness")[0]["eigenvalues"][0] > 0


@pytest.mark.parametrize(
    "kwargs, needle",
    [({"every": 0}, "every must be an integer ≥ 1"), ({"eigenvalues": 0}, "eigenvalues"), ({"tol": 2}, "tol must be in (0, 1)")],
)
def test_bad_arguments_are_one_line(tmp_path, kwargs, needle):
    X, y = data()
    with pytest.raises(eos_tui.MonitorError, match=None) as err:
        eos_tui.Monitor(mlp(), MSE, (X, y), run_dir=tmp_path / "run", **kwargs)
    assert needle in str(err.value)
    assert not (tmp_path / "run").exists()


def test_a_run_directory_that_holds_something_is_never_reused(tmp_path):
    X, y = data()
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "mine.txt").write_text("keep")
    with pytest.raises(eos_tui.MonitorError, match="exists and is not empty"):
        eos_tui.Monitor(mlp(), MSE, (X, y), run_dir=tmp_path / "run")
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["mine.txt"]


# ---- thresholds -----------------------------------------------------------------------------------
def test_an_optimizer_without_a_rule_gets_no_threshold_and_no_claim(tmp_path):
    X, y = data()
    model = mlp()
    with eos_tui.Monitor(model, MSE, (X, y), run_dir=tmp_path / "run", every=5) as mon:
        loop(model, mon, X, y, 5, opt=torch.optim.Adagrad(model.parameters(), lr=0.1))
    steps = of(records(tmp_path / "run"), "step")
    assert all(s["threshold"] is None and step_threshold(s) is None for s in steps)
    assert [r["step"] for r in of(records(tmp_path / "run"), "sharpness")] == [0, 5]
    assert "Adagrad is not one of" in read_manifest(tmp_path / "run")["monitor"]["stability"]["no_claim"]


def test_a_null_threshold_is_no_threshold_not_two_over_eta():
    """Regression: step_threshold read a null "threshold" as 2/η (the Monitor's "no claim")."""
    assert step_threshold({"lr": 0.1, "threshold": None}) is None
    assert step_threshold({"lr": 0.1}) == pytest.approx(20.0)
    assert step_threshold({"lr": 0.1, "threshold": 38.0}) == 38.0


def test_momentum_writes_its_threshold(tmp_path):
    X, y = data()
    model = mlp()
    with eos_tui.Monitor(model, MSE, (X, y), run_dir=tmp_path / "run") as mon:
        loop(model, mon, X, y, 3, opt=torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9))
    assert [s["threshold"] for s in of(records(tmp_path / "run"), "step")] == [pytest.approx(38.0)] * 3


# ---- failure modes --------------------------------------------------------------------------------
def test_divergence_is_the_engines_record_not_an_exception(tmp_path):
    X, y = data()
    model = mlp()
    mon = eos_tui.Monitor(model, MSE, (X, y), run_dir=tmp_path / "run", every=5)
    loop(model, mon, X, y, 3)
    with torch.no_grad():
        model[0].weight[0, 0] = float("nan")
    loop(model, mon, X, y, 5)  # no exception; the calls after the divergence do nothing
    mon.close()
    recs = records(tmp_path / "run")
    # θ_3 holds the NaN: the loss the loop computed at step 3 is not finite, so step 3 diverged (the
    # engine's rule, engine/arm.py): its record without a loss, the event and the end at step 3
    (event,) = of(recs, "event")
    assert event["kind"] == "diverged" and event["step"] == 3
    (end,) = of(recs, "end")
    assert end["status"] == "diverged" and end["steps_done"] == 3
    assert [(s["step"], s["loss"] is None) for s in of(recs, "step")] == [(0, False), (1, False), (2, False), (3, True)]
    m = read_manifest(tmp_path / "run")
    assert m["status"] == "completed" and m["arms"]["train"]["status"] == "diverged"


def test_a_loss_that_is_not_finite_diverges_at_its_step(tmp_path):
    X, y = data()
    mon = eos_tui.Monitor(mlp(), MSE, (X, y), run_dir=tmp_path / "run")
    mon.step(loss=1.0, lr=0.1)
    mon.step(loss=float("inf"), lr=0.1)
    mon.step(loss=1.0, lr=0.1)
    mon.close()
    recs = records(tmp_path / "run")
    assert [(s["step"], s["loss"]) for s in of(recs, "step")] == [(0, 1.0), (1, None)]
    assert of(recs, "end")[0]["status"] == "diverged" and of(recs, "end")[0]["steps_done"] == 1


def test_ctrl_c_leaves_a_valid_run_marked_interrupted(tmp_path):
    X, y = data()
    model = mlp()
    with pytest.raises(KeyboardInterrupt):
        with eos_tui.Monitor(model, MSE, (X, y), run_dir=tmp_path / "run", every=2) as mon:
            loop(model, mon, X, y, 5)
            raise KeyboardInterrupt
    m = read_manifest(tmp_path / "run")
    assert m["status"] == "interrupted" and m["arms"]["train"]["status"] == "interrupted"
    recs = records(tmp_path / "run")
    end = {"type": "end", "arm": "train", "status": "interrupted", "steps_done": 5, "final_loss": None, "hvps": mon.hvps}
    assert of(recs, "end") == [end]
    assert run_info(tmp_path / "run").status == "interrupted"


def test_another_exception_through_the_with_marks_the_run_failed(tmp_path):
    X, y = data()
    with pytest.raises(RuntimeError):
        with eos_tui.Monitor(mlp(), MSE, (X, y), run_dir=tmp_path / "run"):
            raise RuntimeError("the user's own bug")
    m = read_manifest(tmp_path / "run")
    assert m["status"] == "failed" and "the user's own bug" in m["error"]


def test_a_failing_measurement_ends_the_run_not_the_loop(tmp_path):
    """A loss_fn that breaks at a later measurement: a warning and a failed run; the loop goes on."""
    X, y = data()
    calls = {"n": 0}

    def fragile(out, target):
        calls["n"] += 1
        if calls["n"] > 6:  # the checks at the start call it 3 times, each measurement once
            raise RuntimeError("out of memory (pretend)")
        return MSE(out, target)

    model = mlp()
    mon = eos_tui.Monitor(model, fragile, (X, y), run_dir=tmp_path / "run", every=2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(20):
            opt.zero_grad()
            loss = MSE(model(X), y)
            loss.backward()
            opt.step()
            mon.step(loss=loss.item(), optimizer=opt)
    mon.close()
    assert any("stopped measuring" in str(w.message) for w in caught)
    m = read_manifest(tmp_path / "run")
    assert m["status"] == "failed" and "out of memory (pretend)" in m["error"]
    recs = records(tmp_path / "run")
    assert of(recs, "end")[0]["status"] == "failed"
    # the start's checks (3 calls) and the measurements at steps 0, 2 and 4 (one each) use 6: the
    # one at 6 fails, and step 5's record, written before it, is kept (it was lost with it)
    assert [r["step"] for r in of(recs, "sharpness")] == [0, 2, 4]
    assert [r["step"] for r in of(recs, "step")] == list(range(6))


def test_close_without_with_and_twice(tmp_path):
    X, y = data()
    model = mlp()
    mon = eos_tui.Monitor(model, MSE, (X, y), run_dir=tmp_path / "run")
    loop(model, mon, X, y, 2)
    mon.close()
    mon.close()
    mon.step(loss=1.0, lr=0.1)  # after the end: nothing
    recs = records(tmp_path / "run")
    assert len(of(recs, "end")) == 1 and len(of(recs, "step")) == 2
    assert read_manifest(tmp_path / "run")["status"] == "completed"


def test_dropout_switched_on_after_the_start_ends_the_run_with_the_reason(tmp_path):
    """The checks ran in eval mode; the loop's model.train() turns dropout on: the next measurement
    would solve a random operator, so the run ends as failed with the refusal's reason (a warning,
    the loop goes on) instead of writing eigenvalues of nothing."""
    X, y = data()
    model = mlp(0, nn.Dropout(0.5)).eval()
    mon = eos_tui.Monitor(model, MSE, (X, y), run_dir=tmp_path / "run", every=2)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(4):
            opt.zero_grad()
            loss = MSE(model(X), y)
            loss.backward()
            opt.step()
            mon.step(loss=loss.item(), optimizer=opt)
    mon.close()
    assert any("stopped measuring" in str(w.message) for w in caught)
    m = read_manifest(tmp_path / "run")
    assert m["status"] == "failed" and "differs between two evaluations" in m["error"] and "active dropout: 2" in m["error"]
    recs = records(tmp_path / "run")
    assert [r["step"] for r in of(recs, "sharpness")] == [0]  # the one at θ_0, measured in eval mode
    assert [r["step"] for r in of(recs, "step")] == [0, 1]


def test_the_step_reads_a_parameter_whose_tensor_was_replaced(tmp_path):
    """The per-step snapshot reuses flat views of the parameters while they keep their storage: a
    parameter given a new tensor (p.data = ...) is read anew, not through the stale view."""
    from eos_tui.monitor.params import FlatParams

    model = mlp()
    flat = FlatParams(model)
    theta, grad = flat.snapshot()
    assert grad is None and torch.equal(theta, flat.flat())
    with torch.no_grad():
        model[0].weight.add_(1.0)  # in place: the views see it
    assert torch.equal(flat.snapshot()[0], flat.flat())
    model[0].weight.data = torch.zeros_like(model[0].weight)  # a new tensor: the views are rebuilt
    MSE(model(data()[0]), data()[1]).backward()
    theta, grad = flat.snapshot()
    assert torch.equal(theta, flat.flat()) and float(theta[:40].abs().sum()) == 0.0
    assert torch.equal(grad, torch.cat([p.grad.reshape(-1) for p in model.parameters()]))
    # a non-contiguous parameter is copied each time, never read through a stale view
    odd = nn.Linear(3, 4).double()
    odd.weight.data = torch.randn(3, 4, dtype=torch.float64).t()
    flat = FlatParams(odd)
    with torch.no_grad():
        odd.weight.mul_(2.0)
    assert torch.equal(flat.snapshot()[0], flat.flat())


@pytest.mark.parametrize("exc, status", [(KeyboardInterrupt(), "interrupted"), (RuntimeError("boom"), "failed"), (None, "completed")])
def test_close_with_the_exception_a_trainer_caught(tmp_path, exc, status):
    """A trainer's exception hook (docs/monitor.md's callback) ends the run with what stopped it."""
    X, y = data()
    model = mlp()
    mon = eos_tui.Monitor(model, MSE, (X, y), run_dir=tmp_path / "run")
    loop(model, mon, X, y, 2)
    mon.close(exc)
    m = read_manifest(tmp_path / "run")
    assert m["status"] == status and m["arms"]["train"]["status"] == status
    assert (status == "failed") == ("RuntimeError: boom" in m.get("error", ""))
    assert of(records(tmp_path / "run"), "end")[0]["steps_done"] == 2


@pytest.mark.parametrize("every", [1, 1000], ids=["with-u", "before-u"])
def test_parameters_that_turn_nan_in_the_update_diverge_after_it(tmp_path, every):
    """θ_{t+1} not finite while the loss at θ_t was: diverged at step t + 1, step t's record kept.
    With an eigenvector u the test is ⟨θ_{t+1} − θ_t, u⟩'s finiteness; before one, Σθ's."""
    X, y = data()
    model = mlp()
    mon = eos_tui.Monitor(model, MSE, (X, y), run_dir=tmp_path / "run", every=every)
    if every == 1000:
        mon.u_grad = mon.u_theta = None  # as for Adam before its first measurement
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for t in range(3):
        opt.zero_grad()
        loss = MSE(model(X), y)
        loss.backward()
        opt.step()
        if t == 2:
            with torch.no_grad():
                model[2].bias[1] = float("nan")
        mon.step(loss=loss.item(), optimizer=opt)
    mon.close()
    recs = records(tmp_path / "run")
    assert [s["step"] for s in of(recs, "step")] == [0, 1, 2] and of(recs, "step")[2]["loss"] is not None
    (event,) = of(recs, "event")
    assert event["kind"] == "diverged" and event["step"] == 3 and "parameters not finite" in event["message"]
    assert of(recs, "end")[0]["status"] == "diverged" and of(recs, "end")[0]["steps_done"] == 3


def test_adam_given_at_the_start_skips_the_measurement_it_could_not_use(tmp_path):
    """λ_max(H) at θ_0 is not what an Adam run records (P⁻¹H, no P before the first update): given
    the optimizer up front, the Monitor does not spend HVPs on it; its first record is at `every`."""
    X, y = data()
    model = mlp()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    mon = eos_tui.Monitor(model, MSE, (X, y), run_dir=tmp_path / "run", every=3, optimizer=opt)
    assert mon.hvps == 0
    with mon:
        loop(model, mon, X, y, 6, opt=opt)
    recs = records(tmp_path / "run")
    assert [r["step"] for r in of(recs, "sharpness")] == [3, 6]
    assert all(r["operator"] == "preconditioned" for r in of(recs, "sharpness"))
    assert read_manifest(tmp_path / "run")["monitor"]["stability"]["operator"] == "P⁻¹H"


@pytest.mark.parametrize("kwargs, needle", [({"lr": "fast"}, "lr and loss must be numbers"), ({"lr": 0.1, "loss": "low"}, "lr and loss")])
def test_a_step_given_nonsense_says_so_in_one_line(tmp_path, kwargs, needle):
    X, y = data()
    mon = eos_tui.Monitor(mlp(), MSE, (X, y), run_dir=tmp_path / "run")
    with pytest.raises(eos_tui.MonitorError, match=needle):
        mon.step(**kwargs)
    mon.close()
    assert read_manifest(tmp_path / "run")["status"] == "completed"


def test_an_arm_name_that_cannot_name_an_arm_is_refused(tmp_path):
    X, y = data()
    with pytest.raises(eos_tui.MonitorError, match="arm '../x' cannot name"):
        eos_tui.Monitor(mlp(), MSE, (X, y), run_dir=tmp_path / "run", arm="../x")
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_on_cuda_the_monitor_measures_what_it_measures_on_the_cpu(tmp_path):
    """The model on the GPU, the data on the CPU (moved by the monitor): the same eigenvalues and
    step records as the same loop on the CPU (float64, to 1e-9), and the CUDA random stream untouched."""
    X, y = data()

    def run(device: str):
        model = mlp(0, nn.BatchNorm1d(8)).to(device)
        with eos_tui.Monitor(model, MSE, (X, y), run_dir=tmp_path / device, every=2, tol=1e-10, max_iter=66) as mon:
            Xd, yd = X.to(device), y.to(device)
            opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.5)
            for _ in range(4):
                opt.zero_grad()
                loss = MSE(model(Xd), yd)
                loss.backward()
                opt.step()
                mon.step(loss=loss.item(), optimizer=opt)
        return records(tmp_path / device)

    before = torch.cuda.get_rng_state()
    gpu, cpu = run("cuda"), run("cpu")
    assert torch.equal(before, torch.cuda.get_rng_state())
    for a, b in zip(of(gpu, "sharpness"), of(cpu, "sharpness")):
        assert a["eigenvalues"] == pytest.approx(b["eigenvalues"], rel=1e-9)
    for a, b in zip(of(gpu, "step"), of(cpu, "step")):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-9) and a["grad_norm"] == pytest.approx(b["grad_norm"], rel=1e-9)
    assert read_manifest(tmp_path / "cuda")["device"].startswith("cuda:")


@pytest.mark.parametrize("command", [["resume"], ["landscape"]])
def test_commands_that_retrain_from_the_scenario_refuse_a_monitor_run_in_one_line(tmp_path, command):
    """Regression: `resume` and `landscape` read the monitor's scenario.toml as a scenario and failed
    on a missing optimizer.lr, a reason that says nothing about what the run is."""
    X, y = data()
    model = mlp()
    with pytest.raises(KeyboardInterrupt):
        with eos_tui.Monitor(model, MSE, (X, y), run_dir=tmp_path / "run") as mon:
            loop(model, mon, X, y, 2)
            raise KeyboardInterrupt
    out = eos(*command, str(tmp_path / "run"), cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    (line,) = out.stderr.strip().splitlines()
    assert "written by eos_tui.Monitor" in line and f"`eos-tui {command[0]}` cannot retrain it" in line
    assert read_manifest(tmp_path / "run")["status"] == "interrupted"  # untouched
