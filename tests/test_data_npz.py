"""data.kind = "npz" (eos_tui/data/npz.py): the user's own X and y, classification or regression,
shapes checked from the headers with one line naming the file and the key; pickles never loaded."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from eos_tui.data import DataError, npz


def save(tmp_path, name="d.npz", **arrays):
    path = tmp_path / name
    np.savez(path, **arrays)
    return str(path)


def test_integer_labels_are_classification(tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(12, 5)), rng.integers(0, 3, 12)
    y[0] = 2
    path = save(tmp_path, X=X, y=y)
    info = npz.inspect(path)
    assert (info.n, info.dim, info.outputs, info.classes, info.test_n) == (12, 5, 3, 3, 0)
    ds = npz.load(path, n=7)
    assert np.array_equal(ds.X, X[:7]) and np.array_equal(ds.y, y[:7]) and ds.y.dtype == np.int64
    assert ds.classes == 3 and ds.X_test is None
    assert npz.inspect(path, classes=5).outputs == 5
    with pytest.raises(DataError, match=r"data.classes = 2, but the labels go up to 2"):
        npz.inspect(path, classes=2)


def test_float_targets_are_regression(tmp_path):
    X = np.arange(24.0).reshape(6, 4)
    path = save(tmp_path, X=X, y=np.linspace(0, 1, 6))
    info = npz.inspect(path)
    assert (info.classes, info.outputs) == (None, 1)
    assert npz.load(path).y.shape == (6, 1)
    path2 = save(tmp_path, "k.npz", X=X, y=np.ones((6, 3), np.float32))
    assert npz.inspect(path2).outputs == 3 and npz.load(path2).y.dtype == np.float64
    with pytest.raises(DataError, match="data.classes is for integer labels"):
        npz.inspect(path2, classes=3)


def test_images_are_flattened_and_their_shape_kept(tmp_path):
    X = np.zeros((4, 3, 2, 2), np.float32)
    ds = npz.load(save(tmp_path, X=X, y=np.array([0, 1, 0, 1])))
    assert ds.X.shape == (4, 12) and ds.image_shape == (3, 2, 2)


def test_a_held_out_split(tmp_path):
    path = save(tmp_path, X=np.ones((5, 2)), y=np.array([0, 1, 0, 1, 0]), X_test=np.zeros((3, 2)), y_test=np.array([1, 3, 0]))
    info = npz.inspect(path)
    assert info.test_n == 3 and info.classes == 4  # the test labels count too
    ds = npz.load(path)
    assert ds.X_test.shape == (3, 2) and list(ds.y_test) == [1, 3, 0]


@pytest.mark.parametrize(
    "arrays, words",
    [
        (dict(X=np.ones((4, 2))), "no array 'y' (it has X)"),
        (dict(X=np.ones(4), y=np.ones(4)), "'X' must have shape (examples, features)"),
        (dict(X=np.ones((4, 2)), y=np.ones(3)), "'y' has shape (3,), but X has 4 rows"),
        (dict(X=np.ones((4, 2)), y=np.ones((4, 2), int)), "'y' holds integer labels and must be 1-D"),
        (dict(X=np.ones((4, 2)), y=np.array([0, -1, 1, 0])), "'y' has a negative label"),
        (dict(X=np.array([["a", "b"]] * 4), y=np.ones(4)), "'X' has dtype <U1: numbers only"),
        (dict(X=np.ones((4, 2)), y=np.array(["a"] * 4)), "'y' has dtype <U1"),
        (dict(X=np.ones((4, 2)), y=np.ones(4), X_test=np.ones((2, 2))), "has X_test without y_test"),
        (dict(X=np.ones((4, 2)), y=np.ones(4), X_test=np.ones((2, 3)), y_test=np.ones(2)), "'X_test' has shape (2, 3)"),
        (dict(X=np.ones((4, 2)), y=np.ones(4), X_test=np.ones((2, 2)), y_test=np.ones(2, int)), "'y_test' (int64"),
        (dict(X=np.array([None] * 8, dtype=object).reshape(4, 2), y=np.ones(4)), "'X' holds Python objects"),
    ],
)
def test_bad_arrays_are_one_line_naming_the_file_and_the_key(tmp_path, arrays, words):
    path = save(tmp_path, **arrays)
    with pytest.raises(DataError) as e:
        npz.inspect(path)
    msg = str(e.value)
    assert msg.startswith(path) and words in msg and "\n" not in msg, msg


def test_n_beyond_the_rows_and_non_finite_values(tmp_path):
    X = np.ones((4, 2))
    X[3, 1] = np.nan
    path = save(tmp_path, X=X, y=np.ones(4))
    with pytest.raises(DataError, match="data.n = 5, but X has only 4 rows"):
        npz.inspect(path, n=5)
    assert npz.load(path, n=3).X.shape == (3, 2)  # the NaN is past the rows used
    with pytest.raises(DataError, match="'X' has NaN or infinite values"):
        npz.load(path)


def test_missing_and_not_npz_files(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        npz.inspect(str(tmp_path / "nope.npz"))
    (tmp_path / "t.npz").write_text("hello")
    with pytest.raises(DataError, match="not an .npz file"):
        npz.inspect(str(tmp_path / "t.npz"))


def test_the_headers_suffice(tmp_path):
    """inspect never reads X's data: X's bytes past its header are damaged, and only load notices."""
    path = tmp_path / "d.npz"
    X = np.ones((64, 64))
    with zipfile.ZipFile(path, "w") as zf:
        with zf.open("X.npy", "w") as fh:
            np.lib.format.write_array(fh, X)
        with zf.open("y.npy", "w") as fh:
            np.lib.format.write_array(fh, np.arange(64) % 2)
    raw = bytearray(path.read_bytes())
    at = raw.index(np.ones(4).tobytes()) + 1000  # inside X's data
    raw[at : at + 8] = b"\xff" * 8
    path.write_bytes(bytes(raw))
    assert npz.inspect(str(path)).dim == 64
    with pytest.raises(DataError, match="unreadable"):
        npz.load(str(path))
