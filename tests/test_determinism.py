"""engine/determinism.py: which networks' curvature can be measured honestly."""

from __future__ import annotations

import torch
from torch import nn

from eos_tui.engine.determinism import batch_dependent_layers, check_repeatable, random_layers


def test_batchnorm_is_batch_dependent_in_training_mode_and_without_running_stats():
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Tanh(), nn.Linear(4, 1))
    assert batch_dependent_layers(net) == ["1"]
    net.eval()
    assert batch_dependent_layers(net) == []
    net[1] = nn.BatchNorm1d(4, track_running_stats=False).eval()
    assert batch_dependent_layers(net) == ["1"]
    assert batch_dependent_layers(nn.Sequential(nn.Linear(3, 1), nn.LayerNorm(1))) == []


def test_dropout_is_found_and_refused_by_evaluating_twice():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 16), nn.Dropout(0.5), nn.Linear(16, 1)).double()
    X = torch.randn(32, 5, dtype=torch.float64)
    assert random_layers(net) == ["1"]
    reason = check_repeatable(lambda: net(X).square().mean())
    assert reason is not None and "dropout" in reason
    net.eval()
    assert random_layers(net) == []
    assert check_repeatable(lambda: net(X).square().mean()) is None
    assert random_layers(nn.Sequential(nn.Dropout(0.0)).train()) == []
