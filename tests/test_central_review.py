"""Review of the central flow (issue 12): defects found by trying it adversarially, each with its test."""

from __future__ import annotations

from eos_tui.analysis.summary import ArmSummarizer, central_loss_error


def _feed(gd_losses: list[float], predicted: list[float]) -> dict:
    s = ArmSummarizer("a")
    for t, (lg, lp) in enumerate(zip(gd_losses, predicted)):
        s.add({"type": "step", "arm": "a", "step": t, "loss": lg, "lr": 1.0})
        s.add(
            {
                "type": "flow",
                "arm": "a",
                "step": t,
                "flow": "central",
                "loss": lp,
                "distance": 0.0,
                "predicted_loss": lp,
                "sharpness": 1.0,
                "critical": 0,
                "sigma": [],
            }
        )
    s.add({"type": "end", "arm": "a", "status": "completed", "steps_done": len(gd_losses), "final_loss": gd_losses[-1]})
    return s.result()


def test_loss_error_of_a_converged_run_is_not_measured_against_rounding_level_losses():
    """catapult with --set measure.central_flow=true: the uv arm at η·λ0 = 1 converges (GD to 1e-30
    in a few steps, gradient flow more slowly, 1e-28): the summary said "central flow loss error
    71243356857581.9%". Windows where GD's loss is at rounding level (below 1e-12 × its initial loss)
    are left out: no such window, no number."""
    n = 40
    gd = [0.14 * 1e-5**t for t in range(n)]  # GD: converged to rounding level within a few steps
    flow = [0.14 * 0.1**t for t in range(n)]  # gradient flow: far slower, still far from GD's loss
    summary = _feed(gd, flow)
    assert summary["central_loss_error"] is None
    # a loss that is small but not at rounding level still counts, with the usual relative error
    gd2 = [1e-6 * (1.1 if t % 2 else 0.9) for t in range(n)]
    summary2 = _feed([0.14] + gd2[1:], [0.14] + [2e-6] * (n - 1))
    assert 0.9 < summary2["central_loss_error"] < 1.1  # pred 2e-6 against a mean of ≈1e-6


def test_central_loss_error_floor_keeps_the_unfloored_behaviour_by_default():
    gd = {t: 1e-30 for t in range(20)}
    pred = {t: 2e-30 for t in range(20)}
    assert abs(central_loss_error(gd, pred, 20) - 1.0) < 1e-12
    assert central_loss_error(gd, pred, 20, floor=1e-13) is None


def test_sigma_records_no_negative_variance(monkeypatch):
    """The records' sigma (eigenvalues of X ⪰ 0) held rounding-level negatives from the PSD projection
    (measured on eos with measure.central_flow: −1.78e-18): a variance below zero. Clipped at 0."""
    import numpy as np
    import torch

    from eos_tui.engine import central_flow, sdcp

    def rounded(A, B, **kw):
        k = A.shape[0]
        X = np.diag([1e-3] + [-1e-18] * (k - 1))
        return sdcp.SDCPResult(X, A + sdcp.apply(B, X), 1, 0.0)

    monkeypatch.setattr(central_flow.sdcp, "solve", rounded)
    torch.manual_seed(0)
    W = torch.randn(3, 4, dtype=torch.float64)

    def loss(th):
        return 0.5 * (torch.tanh(th @ W) ** 2).sum() + 0.25 * (th**4).sum()

    theta = torch.tensor([0.8, -0.5, 1.1], dtype=torch.float64)
    S = float(torch.linalg.eigvalsh(torch.autograd.functional.hessian(loss, theta))[-1])
    flow = central_flow.CentralFlow(loss, theta, substeps=1, max_critical=2, critical_factor=0.1, tolerance=1e-10)
    flow.k_critical = 2  # ask for the pairs at once
    got = flow.advance(2.0 / S * 1.02)
    assert got["critical"] >= 2
    assert got["sigma"][0] == 1e-3 and min(got["sigma"]) == 0.0
