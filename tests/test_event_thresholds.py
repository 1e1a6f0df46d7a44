"""Each arm's events name its own stability threshold (issue 23: Adam's unstable start read
"above 2/η" where its threshold is 38/η): the engine's messages, by the factor c of c/η."""

from __future__ import annotations

import pytest

from eos_tui.analysis.detectors import threshold_name
from eos_tui.engine import optimizers

from .helpers import arm_of, train

QUADRATIC = """
name = "thresholds"
steps = 3
dtype = "float64"
[data]
kind = "none"
[model]
kind = "quadratic"
eigenvalues = [10.0, 1.0]
[measure]
sharpness_every = 1
[[arm]]
name = "gd"
optimizer.lr = 0.3
[[arm]]
name = "heavy-ball"
optimizer.lr = 0.5
optimizer.momentum = 0.9
[[arm]]
name = "adam"
optimizer.kind = "adam"
optimizer.lr = 10.0  # P⁻¹H at step 0: λ 32, above 38/η = 3.8
"""


def test_threshold_names_by_factor():
    assert threshold_name(optimizers.threshold_factor("gd")) == "2/η"
    assert threshold_name(optimizers.threshold_factor("gd", momentum=0.9)) == "3.8/η"  # 2(1+β)/η
    assert threshold_name(optimizers.threshold_factor("gd", momentum=0.9, use_nesterov=True)) == "1.36/η"  # 2(1+β)/((1+2β)η)
    assert threshold_name(optimizers.threshold_factor("adam", beta1=0.9)) == "38/η"  # (2+2β1)/((1−β1)η)
    assert threshold_name(optimizers.threshold_factor("adam", beta1=0.99)) == "398/η"
    for unknown in (None, 0.0, -2.0, float("nan"), float("inf")):
        assert threshold_name(unknown) == "its threshold"


@pytest.mark.parametrize(("index", "name"), [(0, "2/η"), (1, "3.8/η"), (2, "38/η")])
def test_an_unstable_start_names_the_arms_own_threshold(index, name):
    """All three start above their threshold (λ = 10 against 6.7 and 7.6; Adam's λ_max(P⁻¹H) 32
    against 3.8): each event says its own c/η, and the value it stands for."""
    arm = arm_of(QUADRATIC, index)
    events = [r for r in train(arm) if r["type"] == "event" and r["kind"] == "unstable_start"]
    assert len(events) == 1
    message = events[0]["message"]
    assert f"≥ {name} = " in message, message
    thr = float(message.split(f"≥ {name} = ")[1].split()[0])
    lr = {0: 0.3, 1: 0.5, 2: 10.0}[index]
    assert thr == pytest.approx(float(name.split("/")[0]) / lr, rel=1e-3)
