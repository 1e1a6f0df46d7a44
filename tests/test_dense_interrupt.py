"""measure.exact's dense Hessian is built a block of columns at a time, so that a stop request ends
it between blocks (regression: one torch.func.hessian call ignored SIGINT for minutes, and only
SIGKILL stopped the run, leaving the manifest "running")."""

from __future__ import annotations

import threading
import time

import pytest
import torch

from eos_tui.engine import interrupt
from eos_tui.engine.curvature import hessian  # where the dense Hessian lives


def _loss(theta: torch.Tensor) -> torch.Tensor:
    # a small tanh network's loss, so that H has no special structure
    W = theta[:60].reshape(6, 10)
    v = theta[60:]
    x = torch.linspace(-1, 1, 60, dtype=theta.dtype).reshape(6, 10).T
    return 0.5 * ((torch.tanh(x @ W) @ v) ** 2).mean() + (theta**4).sum() / 8


def test_blocks_give_torch_func_hessian(monkeypatch):
    theta = torch.randn(70, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    reference = torch.func.hessian(_loss)(theta)
    reference = (reference + reference.T) / 2
    for entries in (70 * 70, 70 * 7, 1):  # one block, ten blocks, a column at a time
        monkeypatch.setattr(hessian, "DENSE_BLOCK_ENTRIES", entries)
        torch.testing.assert_close(hessian.dense_hessian(_loss, theta), reference, rtol=1e-12, atol=1e-14)


def test_a_stop_request_ends_the_dense_hessian_between_blocks(monkeypatch):
    monkeypatch.setattr(hessian, "DENSE_BLOCK_ENTRIES", 70)  # one column a block: 70 blocks
    theta = torch.randn(70, dtype=torch.float64)
    calls = 0
    real_check = hessian.check_stop

    def check() -> None:
        nonlocal calls
        calls += 1
        if calls == 5:
            interrupt.request()
        real_check()

    monkeypatch.setattr(hessian, "check_stop", check)
    try:
        with pytest.raises(interrupt.Interrupted):
            hessian.dense_hessian(_loss, theta)
    finally:
        interrupt.clear()
    assert calls == 5  # stopped at the fifth block, not after all seventy


def test_sigint_style_request_from_another_thread_is_seen(monkeypatch):
    monkeypatch.setattr(hessian, "DENSE_BLOCK_ENTRIES", 70)
    theta = torch.randn(70, dtype=torch.float64)
    slow = hessian.check_stop

    def check() -> None:
        time.sleep(0.02)  # 70 blocks × 20 ms: 1.4 s if nothing stops it
        slow()

    monkeypatch.setattr(hessian, "check_stop", check)
    timer = threading.Timer(0.1, interrupt.request)
    timer.start()
    t0 = time.monotonic()
    try:
        with pytest.raises(interrupt.Interrupted):
            hessian.dense_hessian(_loss, theta)
    finally:
        timer.cancel()
        interrupt.clear()
    assert time.monotonic() - t0 < 1.0
