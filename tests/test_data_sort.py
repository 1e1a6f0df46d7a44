"""data.kind = "sort": the central-flows code's sorting task, its layout for the transformer, and
the schema's refusal to feed integer tokens to an MLP."""

from __future__ import annotations

import numpy as np
import pytest

from eos_tui.data import DataError, sort
from eos_tui.scenario import ScenarioError, load_scenario_text


def test_shapes_dtypes_and_targets():
    ds = sort.load(50, length=6, vocab=5, seed=3, test_n=7)
    assert ds.X.shape == ds.y.shape == (50, 6) and ds.X.dtype == ds.y.dtype == np.int64 and ds.classes == 5
    assert ds.X_test.shape == ds.y_test.shape == (7, 6) and ds.image_shape is None
    assert np.array_equal(ds.y, np.sort(ds.X, axis=1)) and np.array_equal(ds.y_test, np.sort(ds.X_test, axis=1))
    assert ds.X.min() >= 0 and ds.X.max() <= 4 and len(np.unique(ds.X)) == 5
    assert sort.load(50, 6, 5, seed=3).X.tolist() == ds.X.tolist() and sort.load(50, 6, 5, seed=4).X.tolist() != ds.X.tolist()


def test_the_draw_is_the_central_flows_codes():
    """Their Sorting.make: default_rng(0).integers(0, vocab, (n + n_test, length)); train the first n."""
    rng = np.random.default_rng(0)
    theirs = rng.integers(0, 4, size=(1000 + 1000, 8))
    X, Y, Xt, Yt = sort.make(1000, 8, 4, seed=0, test_n=1000)
    assert np.array_equal(X, theirs[:1000]) and np.array_equal(Xt, theirs[1000:])
    assert np.array_equal(sort.make(1000, 8, 4, seed=0)[0], theirs[:1000])  # without a test split, the same rows


def test_next_token_is_their_causal_layout():
    X, Y, _, _ = sort.make(3, 4, 3, seed=1)
    inputs, targets = sort.next_token(X, Y)
    cat = np.concatenate([X, Y], axis=1)
    assert inputs.shape == targets.shape == (3, 7)
    assert np.array_equal(inputs, cat[:, :-1]) and np.array_equal(targets[:, 3:], Y)
    assert (targets[:, :3] == sort.MASK).all()


def test_bad_sizes_are_one_line():
    with pytest.raises(DataError, match="length ≥ 2"):
        sort.make(3, 1, 3)


def toml(model: str = "", extra: str = "") -> str:
    return f'loss = "cross-entropy"\n[optimizer]\nlr = 0.1\n{model}[data]\nkind = "sort"\n{extra}'


def test_the_schema_keys_and_defaults():
    from eos_tui.scenario.schema import SortData

    d = SortData.model_validate({})  # the central-flows code's defaults
    assert (d.n, d.length, d.vocab, d.test_n, d.seed) == (1000, 8, 4, 0, None)
    with pytest.raises(ScenarioError, match="data.vocab"):
        load_scenario_text(toml(extra="vocab = 1\n"), source="t", default_name="t")
    with pytest.raises(ScenarioError, match="data.classes: does not apply to kind 'sort'"):
        load_scenario_text(toml(extra="classes = 3\n"), source="t", default_name="t")


@pytest.mark.parametrize("model", ['[model]\nkind = "mlp"\n', '[model]\nkind = "cnn"\n', ""])
def test_an_mlp_or_cnn_on_tokens_is_refused_by_name(model):
    with pytest.raises(ScenarioError, match="'sort' is sequences of integer tokens, for a sequence model") as e:
        load_scenario_text(toml(model=model), source="t", default_name="t")
    assert "\n" not in str(e.value)
