"""The sorting task of the central-flows code (Cohen, Damian et al. 2024; after Karpathy's minGPT
demo): sequences of `length` tokens drawn uniformly from 0..vocab-1, to be sorted.

The draw is theirs: one numpy Generator seeded with `seed` (theirs: 0) draws all n + test_n rows at
once, `rng.integers(0, vocab, size=(n + test_n, length))`; the first n are the training set, the next
test_n the held-out split. With their defaults (vocab 4, length 8, n 1000) and seed 0 the rows are
theirs (their loader then shuffles them, which no full-batch loss can tell). `seed` is data.seed, or
the arm's seed where that is unset, passed here as it is.

The layout the engine and its transformer use (what `load` returns, as a Dataset):

    X  int64 (n, length)  the unsorted tokens, each in 0..vocab-1
    Y  int64 (n, length)  Y[i, j] = the j-th smallest token of X[i] (np.sort along the row): a class
                          index for cross-entropy over `vocab` classes at every one of the `length`
                          positions; the loss is the mean over all n·length positions
    classes = vocab; the model's output is (n, length, vocab) logits; its input shape is (length,)
    X_test, Y_test  the same for the test_n held-out rows, (test_n, length) each

That is the sequence-to-sequence form (one bidirectional pass reads X and emits the sorted row).
The central-flows code trains a causal decoder instead, on the concatenation [X, sort(X)] shifted by
one, with the first length-1 targets masked: `next_token(X, Y)` builds exactly that layout from the
same rows, for a model that wants it.
"""

from __future__ import annotations

from typing import Any

from .cifar10 import Dataset
from .errors import DataError

MASK = -1  # next_token's target where no loss is taken (the positions still reading the input)


def make(n: int, length: int, vocab: int, seed: int = 0, test_n: int = 0) -> tuple[Any, Any, Any, Any]:
    """(X, Y, X_test, Y_test) as numpy int64 arrays (see the module's docstring)."""
    import numpy as np

    if n <= 0 or length < 2 or vocab < 2 or test_n < 0:
        raise DataError(f"sort: needs n ≥ 1, length ≥ 2, vocab ≥ 2 and test_n ≥ 0 (got {n}, {length}, {vocab}, {test_n})")
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, vocab, size=(n + test_n, length)).astype(np.int64)
    ordered = np.sort(tokens, axis=1)
    return tokens[:n], ordered[:n], tokens[n:], ordered[n:]


def load(n: int, length: int, vocab: int, seed: int = 0, test_n: int = 0) -> Dataset:
    """The task as a Dataset: X and y int64 (n, length), classes = vocab; the test split when test_n > 0."""
    X, Y, Xt, Yt = make(n, length, vocab, seed, test_n)
    return Dataset(X, Y, vocab, Xt if test_n else None, Yt if test_n else None, None, f"sort(length={length}, vocab={vocab}, seed={seed})")


def next_token(X: Any, Y: Any) -> tuple[Any, Any]:
    """The central-flows code's causal layout of the same rows: inputs (n, 2·length − 1), the
    concatenation [X, Y] without its last token; targets (n, 2·length − 1), the concatenation without
    its first token, with the first length − 1 set to MASK (they would ask the model to predict the
    random input)."""
    import numpy as np

    cat = np.concatenate([X, Y], axis=1)
    inputs, targets = cat[:, :-1].copy(), cat[:, 1:].copy()
    targets[:, : X.shape[1] - 1] = MASK
    return inputs, targets
