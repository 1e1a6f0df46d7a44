"""The UCI handwritten digits that scikit-learn bundles: 1,797 images of 8×8 pixels, 10 classes.

Offline (the file ships inside scikit-learn), so the `digits` built-in runs anywhere without a
download; scikit-learn is an optional extra (`pip install "eos-tui[digits]"`), imported only here.

What `load` returns: the first `n` images in the file's order among those with label < `classes`,
the next `test_n` such images as a held-out split; pixels (0..16) scaled to [0, 1] and, with
`standardize`, each of the 64 features centered and divided by its standard deviation, both taken
over the n training images (a feature constant over them, such as a corner pixel that is always
blank, is centered only). Rows stay flat (n, 64); `IMAGE_SHAPE` = (1, 8, 8) reshapes them.
"""

from __future__ import annotations

from typing import Any

from .cifar10 import Dataset
from .errors import DataError

TOTAL = 1797
CLASSES = 10
IMAGE_SHAPE = (1, 8, 8)
DIM = 64
INSTALL = 'pip install "eos-tui[digits]"'
MISSING = f"data.kind = 'digits' reads scikit-learn's bundled copy of the UCI digits: install it with `{INSTALL}`"


def installed() -> bool:
    """Whether scikit-learn can be imported (without importing it: the scenario checks ask)."""
    import importlib.util

    try:
        return importlib.util.find_spec("sklearn") is not None
    except (ImportError, ValueError):  # ValueError: sys.modules holds None for it (import blocked)
        return False


def _raw() -> tuple[Any, Any]:
    """(pixels (1797, 64) float64 in 0..16, labels (1797,) int64), from scikit-learn's copy."""
    import numpy as np

    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise DataError(MISSING) from None
    bunch = load_digits()
    X = np.asarray(bunch.data, dtype=np.float64)
    y = np.asarray(bunch.target, dtype=np.int64)
    if X.shape != (TOTAL, DIM) or y.shape != (TOTAL,):
        raise DataError(f"scikit-learn's digits have shape {X.shape}, not ({TOTAL}, {DIM}): an unexpected scikit-learn")
    return X, y


def available(classes: int = CLASSES) -> int:
    """How many images have label < classes (without scikit-learn: the published class counts)."""
    return sum(COUNTS[:classes])


# Images per class in scikit-learn's copy (load_digits().target): fixed, so the schema can bound
# data.n + data.test_n without importing scikit-learn.
COUNTS = (178, 182, 177, 183, 181, 182, 181, 179, 174, 180)


def load(n: int, classes: int = CLASSES, test_n: int = 0, standardize: bool = True) -> Dataset:
    """The digits as a Dataset (see the module's docstring). Raises DataError."""
    if not 2 <= classes <= CLASSES:
        raise DataError(f"data.classes: must be between 2 and {CLASSES} (got {classes})")
    have = available(classes)
    if n + test_n > have:
        raise DataError(f"data.n + data.test_n = {n + test_n}, but the digits hold only {have} images of classes < {classes}")
    X, y = _raw()
    keep = y < classes
    X, y = X[keep], y[keep]
    Xt, yt = X[n : n + test_n], y[n : n + test_n]
    X, y = X[:n] / 16.0, y[:n]
    Xt = Xt / 16.0
    if standardize:
        mean = X.mean(axis=0)
        std = X.std(axis=0)
        std[std == 0] = 1.0
        X = (X - mean) / std
        Xt = (Xt - mean) / std
    return Dataset(X, y, classes, Xt if test_n else None, yt if test_n else None, IMAGE_SHAPE, "sklearn.datasets.load_digits")
