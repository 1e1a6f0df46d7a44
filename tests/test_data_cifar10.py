"""CIFAR-10 (eos_tui/data): the restricted unpickler, the loader on a tiny archive in the exact
format (as a folder and as the .tar.gz itself), preprocessing, missing files, and the fetch logic
(never a download: file:// URLs and a fake opener)."""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import urllib.error

import numpy as np
import pytest

from eos_tui.data import DataError, cifar10, safe_pickle
from tests.cifar_fixture import make_batches, py2_pickle, write_archive, write_folder


@pytest.fixture(scope="module")
def batches():
    return make_batches(per_batch=8, test=10, seed=3)


def _all(batches, names):
    data = np.concatenate([batches[n][b"data"] for n in names])
    labels = np.concatenate([np.array(batches[n][b"labels"]) for n in names])
    return data, labels


# ---- the restricted unpickler -------------------------------------------------------------------


def test_py2_format_decodes_exactly(batches):
    d = safe_pickle.load(py2_pickle(batches["data_batch_1"]), "data_batch_1")
    assert set(d) == {b"batch_label", b"labels", b"data", b"filenames"}
    assert d[b"data"].dtype == np.uint8 and d[b"data"].shape == (8, 3072)
    assert np.array_equal(d[b"data"], batches["data_batch_1"][b"data"])
    assert d[b"labels"] == batches["data_batch_1"][b"labels"]
    meta = safe_pickle.load(py2_pickle(batches["batches.meta"]), "batches.meta")
    assert meta[b"label_names"][0] == b"airplane"


@pytest.mark.parametrize("protocol", [2, 5])
def test_numpy_pickles_written_by_python3_decode_too(batches, protocol):
    """Same arrays through numpy's own pickling (numpy._core names, _codecs.encode, _frombuffer)."""
    raw = pickle.dumps(batches["data_batch_2"], protocol=protocol)
    d = safe_pickle.load(raw, "x")
    assert np.array_equal(d[b"data"], batches["data_batch_2"][b"data"])
    f = safe_pickle.load(pickle.dumps({b"a": np.arange(6, dtype=">f8").reshape(2, 3)}, protocol=protocol), "f")
    assert np.array_equal(f[b"a"], np.arange(6.0).reshape(2, 3))


class _System:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def test_a_pickle_carrying_a_callable_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "ran"
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    payload = {b"data": _System(f"touch {marker}"), b"labels": [0]}
    (folder / "data_batch_1").write_bytes(pickle.dumps(payload, protocol=2))
    with pytest.raises(DataError) as e:
        cifar10.load(tmp_path, n=1)
    msg = str(e.value)
    assert "\n" not in msg
    assert str(folder / "data_batch_1") in msg
    assert "refused global" in msg and "system" in msg
    assert not marker.exists()


@pytest.mark.parametrize(
    "raw",
    [
        pickle.dumps(eval, protocol=2),  # builtins.eval
        b"\x80\x02cbuiltins\nexec\nX\x04\x00\x00\x00passq\x00\x85R.",
        b"cos\nsystem\n(S'true'\ntR.",  # protocol 0
        b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncos\nsystem\nK\x00\x85U\x01b\x87R.",  # an allowed name, a wrong class
        pickle.dumps(np.array([object()], dtype=object), protocol=2),  # object arrays carry pickles inside
        b"\x80\x02X\x01\x00\x00\x00aP.",  # a persistent id
    ],
)
def test_hostile_or_foreign_pickles_are_refused_in_one_line(raw):
    with pytest.raises(DataError) as e:
        safe_pickle.load(raw, "evil_batch")
    assert str(e.value).startswith("evil_batch: not a CIFAR-10 pickle") and "\n" not in str(e.value)


@pytest.mark.parametrize("raw", [b"", b"\x80\x02}(U\x04data", py2_pickle({b"data": np.zeros(3, np.uint8)})[:-40]])
def test_truncated_files_are_one_clear_line(raw):
    with pytest.raises(DataError, match=r"^b1: not a CIFAR-10 pickle"):
        safe_pickle.load(raw, "b1")


def test_array_size_must_match_its_bytes():
    raw = py2_pickle({b"data": np.zeros((2, 3), np.uint8)}).replace(b"K\x02K\x03t", b"K\x02K\x04t")
    with pytest.raises(DataError, match="needs 8 bytes, the file has 6"):
        safe_pickle.load(raw, "b")


# ---- the loader ---------------------------------------------------------------------------------


@pytest.fixture(params=["folder", "archive", "archive-as-path", "batches-folder-as-path"])
def source(request, tmp_path, batches):
    if request.param == "folder":
        write_folder(tmp_path, batches)
        return tmp_path
    if request.param == "archive":
        write_archive(tmp_path / cifar10.ARCHIVE, batches)
        return tmp_path
    if request.param == "archive-as-path":
        return write_archive(tmp_path / "somewhere" / "c10.tar.gz", batches)
    return write_folder(tmp_path, batches)


def test_first_n_in_file_order_standardized_with_training_statistics(source, batches):
    ds = cifar10.load(source, n=20, test_n=6)  # 8 per batch: batches 1, 2 and half of 3
    raw, labels = _all(batches, ["data_batch_1", "data_batch_2", "data_batch_3"])
    raw, labels = raw[:20].astype(np.float64) / 255, labels[:20]
    mean, std = raw.mean(0), raw.std(0)
    assert ds.X.shape == (20, 3072) and ds.X.dtype == np.float64
    assert np.allclose(ds.X, (raw - mean) / std)
    assert np.allclose(ds.X.mean(0), 0) and np.allclose(ds.X.std(0), 1)
    assert np.array_equal(ds.y, labels) and ds.classes == 10 and ds.outputs == 10
    test = batches["test_batch"][b"data"][:6].astype(np.float64) / 255
    assert np.allclose(ds.X_test, (test - mean) / std)  # the training statistics, not its own
    assert np.array_equal(ds.y_test, batches["test_batch"][b"labels"][:6])
    assert ds.image_shape == (3, 32, 32)


def test_classes_keeps_the_first_k_classes(tmp_path, batches):
    write_folder(tmp_path, batches)
    raw, labels = _all(batches, cifar10.TRAIN_FILES)
    keep = labels < 3
    n = int(keep.sum())
    ds = cifar10.load(tmp_path, n=n, classes=3)
    assert ds.classes == 3 and ds.y.max() < 3
    assert np.array_equal(ds.y, labels[keep])
    expect = raw[keep].astype(np.float64) / 255
    assert np.allclose(ds.X, (expect - expect.mean(0)) / expect.std(0))
    with pytest.raises(DataError, match=rf"data.n: asks for {n + 1} training images of classes < 3, .* holds only {n}"):
        cifar10.load(tmp_path, n=n + 1, classes=3)


def test_too_few_test_images_names_test_n(tmp_path, batches):
    write_folder(tmp_path, batches)
    with pytest.raises(DataError, match="data.test_n: asks for 11 test images"):
        cifar10.load(tmp_path, n=4, test_n=11)


def test_missing_files_name_the_path_and_the_fetch_command(tmp_path, monkeypatch):
    monkeypatch.delenv("EOS_TUI_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert cifar10.default_root() == tmp_path / "cache" / "eos-tui" / "cifar10"
    with pytest.raises(DataError) as e:
        cifar10.load(None, n=4)
    msg = str(e.value)
    assert str(tmp_path / "cache" / "eos-tui" / "cifar10") in msg and "eos-tui data fetch cifar10" in msg
    monkeypatch.setenv("EOS_TUI_DATA", str(tmp_path / "d"))
    assert cifar10.default_root() == tmp_path / "d" / "cifar10"
    assert f"--path {tmp_path / 'd' / 'cifar10'}" in cifar10.missing_message(None)
    assert cifar10.locate(tmp_path / "nothing") is None


def test_a_corrupt_archive_is_one_line(tmp_path):
    (tmp_path / cifar10.ARCHIVE).write_bytes(b"\x1f\x8b\x08\x00garbage" * 10)
    with pytest.raises(DataError) as e:
        cifar10.load(tmp_path, n=4)
    assert str(tmp_path / cifar10.ARCHIVE) in str(e.value) and "\n" not in str(e.value)


def test_a_batch_of_the_wrong_shape_is_named(tmp_path, batches):
    bad = dict(batches)
    bad["data_batch_1"] = {**batches["data_batch_1"], b"data": np.zeros((8, 100), np.uint8)}
    write_folder(tmp_path, bad)
    with pytest.raises(DataError, match=r"data_batch_1: b'data' must be uint8 of shape \(images, 3072\)"):
        cifar10.load(tmp_path, n=4)


# ---- eos-tui data fetch -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def archive_bytes(tmp_path_factory, batches):
    return write_archive(tmp_path_factory.mktemp("src") / "a.tar.gz", batches).read_bytes()


def test_fetch_from_a_file_url_checks_md5_and_renames_into_place(tmp_path, archive_bytes):
    src = tmp_path / "src.tar.gz"
    src.write_bytes(archive_bytes)
    dest = tmp_path / "data"
    seen = []
    got = cifar10.fetch(dest, url=src.as_uri(), md5=hashlib.md5(archive_bytes).hexdigest(), progress=lambda done, total: seen.append(done))
    assert got == dest / cifar10.ARCHIVE and got.read_bytes() == archive_bytes
    assert sorted(p.name for p in dest.iterdir()) == [cifar10.ARCHIVE]  # no temporary left
    assert seen and seen[-1] == len(archive_bytes)
    assert cifar10.load(dest, n=4).X.shape == (4, 3072)  # and the loader reads it where it lies


def test_fetch_with_a_wrong_md5_leaves_nothing(tmp_path, archive_bytes):
    src = tmp_path / "src.tar.gz"
    src.write_bytes(archive_bytes)
    dest = tmp_path / "data"
    with pytest.raises(DataError, match="MD5 is .* not the published 0123"):
        cifar10.fetch(dest, url=src.as_uri(), md5="0123" + "0" * 28)
    assert list(dest.iterdir()) == []
    assert cifar10.locate(dest) is None


class _Response(io.BytesIO):
    headers: dict = {}


def test_fetch_cut_off_midway_leaves_nothing(tmp_path, archive_bytes):
    class Cut(_Response):
        def read(self, size=-1):
            if self.tell() > 1000:
                raise ConnectionResetError(104, "Connection reset by peer")
            return super().read(min(size, 600))

    dest = tmp_path / "data"
    with pytest.raises(DataError, match="cannot download .* nothing was kept"):
        cifar10.fetch(dest, md5=hashlib.md5(archive_bytes).hexdigest(), opener=lambda url, timeout: Cut(archive_bytes))
    assert list(dest.iterdir()) == []


def test_fetch_offline_is_one_clear_line(tmp_path):
    def offline(url, timeout):
        raise urllib.error.URLError(OSError(-3, "Temporary failure in name resolution"))

    with pytest.raises(DataError) as e:
        cifar10.fetch(tmp_path / "data", opener=offline)
    msg = str(e.value)
    assert msg.startswith(f"cannot download {cifar10.URL}") and "offline?" in msg and "\n" not in msg
    assert list((tmp_path / "data").iterdir()) == []


def test_fetch_of_something_else_with_the_right_md5_is_not_kept(tmp_path):
    body = b"not a tar"
    dest = tmp_path / "data"
    with pytest.raises(DataError, match="not the CIFAR-10 python archive"):
        cifar10.fetch(dest, md5=hashlib.md5(body).hexdigest(), opener=lambda url, timeout: _Response(body))
    assert list(dest.iterdir()) == []
