"""MNIST and Fashion-MNIST: the IDX reader against hostile files, the loader's selection and
preprocessing, `eos-tui data fetch` end to end from a local HTTP server (MD5s, partial downloads,
files that are not ours), and the kinds in scenarios. No network: tiny IDX.gz fixtures."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import os
import threading
from pathlib import Path

import numpy as np
import pytest

from eos_tui.data import DataError, idx, mnist
from eos_tui.scenario import ScenarioError, load_scenario_text
from eos_tui.scenario.checks import check_data
from tests.helpers import cli

RNG = np.random.default_rng(7)


def make_files(folder: Path, train: int = 30, test: int = 12, seed: int = 0) -> dict[str, bytes]:
    """The four files, gzipped, of a tiny (Fashion-)MNIST: uint8 images and labels 0..9."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = (
        rng.integers(0, 256, size=(train, 28, 28), dtype=np.uint8),
        (np.arange(train) % 10).astype(np.uint8),
        rng.integers(0, 256, size=(test, 28, 28), dtype=np.uint8),
        (np.arange(test)[::-1] % 10).astype(np.uint8),
    )
    for name, a in zip(mnist.FILES, arrays):
        idx.write(folder / name, a)
    return {name: (folder / name).read_bytes() for name in mnist.FILES}


def md5s(files: dict[str, bytes]) -> tuple[str, ...]:
    return tuple(hashlib.md5(files[f]).hexdigest() for f in mnist.FILES)


# ---- the IDX reader ------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["u1", "i1", ">i2", ">i4", ">f4", ">f8"])
@pytest.mark.parametrize("compress", [True, False])
def test_idx_round_trips_every_type_gzipped_or_not(tmp_path, dtype, compress):
    a = (RNG.normal(size=(3, 4, 5)) * 50).astype(np.dtype(dtype).newbyteorder("="))
    idx.write(tmp_path / "a", a, compress=compress)
    got = idx.read(tmp_path / "a", ndim=3, tail=(4, 5), dtype=dtype)
    assert got.dtype == a.dtype and np.array_equal(got, a)


def _raw(magic: bytes, dims: tuple[int, ...], body: bytes) -> bytes:
    return magic + b"".join(d.to_bytes(4, "big") for d in dims) + body


@pytest.mark.parametrize(
    "raw, why",
    [
        (b"", "cut short"),
        (b"\x00\x00\x08", "cut short"),
        (_raw(b"\x00\x00\x08\x01", (5,), b"\x01\x02"), "cut short"),
        (_raw(b"PK\x03\x04", (5,), b"\x00" * 5), "not an IDX file"),
        (_raw(b"\x00\x00\x07\x01", (5,), b"\x00" * 5), "not an IDX file"),
        (_raw(b"\x00\x00\x08\x00", (), b""), "not an IDX file"),
        (_raw(b"\x00\x00\x08\x02", (5, 1), b"\x00" * 5), "must hold uint8 of 1 dimension"),
        (_raw(b"\x00\x00\x0d\x01", (5,), b"\x00" * 20), "float32"),
        (_raw(b"\x00\x00\x08\x01", (4_000_000_000,), b"\x00" * 8), "declares 4,000,000,000 bytes"),
        (_raw(b"\x00\x00\x08\x01", (5,), b"\x00" * 6), "more bytes follow"),
    ],
)
@pytest.mark.parametrize("compress", [True, False])
def test_hostile_idx_files_are_one_line_naming_the_file(tmp_path, raw, why, compress):
    path = tmp_path / "labels.gz"
    path.write_bytes(gzip.compress(raw) if compress else raw)
    with pytest.raises(DataError, match=why) as e:
        idx.read(path, ndim=1)
    assert str(path) in str(e.value) and "\n" not in str(e.value)


def test_a_gzip_bomb_is_refused_after_decompressing_no_more_than_the_header_declares(tmp_path):
    # 10 declared bytes, then 200 MB of zeros (a 200 kB file): refused after reading 11 bytes.
    body = _raw(b"\x00\x00\x08\x01", (10,), b"\x00" * 10)
    with gzip.open(tmp_path / "bomb.gz", "wb") as fh:
        fh.write(body)
        for _ in range(200):
            fh.write(b"\x00" * (1 << 20))
    assert (tmp_path / "bomb.gz").stat().st_size < 1 << 20
    import tracemalloc

    tracemalloc.start()
    with pytest.raises(DataError, match="more bytes follow"):
        idx.read(tmp_path / "bomb.gz", ndim=1)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 8 << 20


def test_a_broken_gzip_stream_is_one_line(tmp_path):
    good = gzip.compress(_raw(b"\x00\x00\x08\x01", (1000,), bytes(range(256)) * 4)[:1008])
    path = tmp_path / "bad.gz"
    path.write_bytes(good[:12] + bytes(b ^ 0x5A for b in good[12:40]) + good[40:])
    with pytest.raises(DataError) as e:
        idx.read(path, ndim=1)
    assert str(path) in str(e.value) and "\n" not in str(e.value)
    path.write_bytes(good[: len(good) // 2])  # a download cut off midway
    with pytest.raises(DataError, match=str(path)):
        idx.read(path, ndim=1)


# ---- loading ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("mnist")
    make_files(root)
    return root


def test_first_n_of_the_first_classes_standardized_with_training_statistics(folder):
    raw = idx.read(folder / mnist.FILES[0], ndim=3, tail=(28, 28)).reshape(-1, 784).astype(np.float64) / 255
    labels = idx.read(folder / mnist.FILES[1], ndim=1)
    ds = mnist.load("mnist", folder, n=9, classes=3, test_n=4)
    keep = np.flatnonzero(labels < 3)[:9]
    mean, std = raw[keep].mean(0), raw[keep].std(0)
    assert ds.X.shape == (9, 784) and ds.X.dtype == np.float64 and ds.image_shape == (1, 28, 28)
    assert np.array_equal(ds.y, labels[keep]) and ds.y.dtype == np.int64
    assert np.allclose(ds.X, (raw[keep] - mean) / std, rtol=0, atol=1e-12)
    traw = idx.read(folder / mnist.FILES[2], ndim=3, tail=(28, 28)).reshape(-1, 784) / 255
    tl = idx.read(folder / mnist.FILES[3], ndim=1)
    tkeep = np.flatnonzero(tl < 3)[:4]
    assert np.allclose(ds.X_test, (traw[tkeep] - mean) / std, rtol=0, atol=1e-12) and np.array_equal(ds.y_test, tl[tkeep])


def test_unpacked_files_are_read_too(tmp_path, folder):
    for f in mnist.FILES:
        (tmp_path / f[:-3]).write_bytes(gzip.decompress((folder / f).read_bytes()))
    assert mnist.locate("fashion-mnist", tmp_path) == tmp_path
    assert np.array_equal(mnist.load("fashion-mnist", tmp_path, n=5).X, mnist.load("mnist", folder, n=5).X)


def test_too_few_images_and_bad_labels_name_the_key_or_file(tmp_path, folder):
    with pytest.raises(DataError, match="data.n: asks for 31 training images"):
        mnist.load("mnist", folder, n=31)
    with pytest.raises(DataError, match="data.test_n: asks for 5 test images of classes < 2"):
        mnist.load("mnist", folder, n=2, classes=2, test_n=5)
    make_files(tmp_path)
    idx.write(tmp_path / mnist.FILES[1], np.full(30, 10, dtype=np.uint8))
    with pytest.raises(DataError, match="a label of 10"):
        mnist.load("mnist", tmp_path, n=2)
    idx.write(tmp_path / mnist.FILES[1], np.zeros(29, dtype=np.uint8))
    with pytest.raises(DataError, match="30 images, but .* has 29 labels"):
        mnist.load("mnist", tmp_path, n=2)


def test_missing_files_name_the_folder_the_missing_file_and_the_fetch_command(tmp_path, monkeypatch, folder):
    monkeypatch.setenv("EOS_TUI_DATA", str(tmp_path / "data"))
    msg = mnist.missing_message("fashion-mnist", None)
    assert str(tmp_path / "data" / "fashion-mnist") in msg and "eos-tui data fetch fashion-mnist --path" in msg and "\n" not in msg
    (tmp_path / "part").mkdir()
    (tmp_path / "part" / mnist.FILES[0]).write_bytes((folder / mnist.FILES[0]).read_bytes())
    with pytest.raises(DataError, match="missing train-labels-idx1-ubyte.gz, t10k-images"):
        mnist.load("mnist", tmp_path / "part", n=2)


# ---- fetch --------------------------------------------------------------------------------------


@pytest.fixture
def server(tmp_path):
    """A local HTTP server over tmp_path/www holding the four files; yields (base URL, their bytes)."""
    files = make_files(tmp_path / "www")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):
            super().__init__(*a, directory=str(tmp_path / "www"), **k)

        def log_message(self, *a):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/", files
    httpd.shutdown()
    httpd.server_close()


def test_fetch_over_http_checks_each_md5_and_the_files_load(tmp_path, server):
    base, files = server
    seen: list[str] = []
    got = mnist.fetch("mnist", tmp_path / "d", base_url=base, md5=md5s(files), progress=lambda f, done, total: seen.append(f))
    assert got == tmp_path / "d" and sorted(p.name for p in got.iterdir()) == sorted(mnist.FILES)
    assert all((got / f).read_bytes() == files[f] for f in mnist.FILES) and set(seen) == set(mnist.FILES)
    assert mnist.load("mnist", got, n=4).X.shape == (4, 784)
    # A second fetch keeps what is there (nothing downloaded: the server may be gone).
    assert mnist.fetch("mnist", got, base_url="http://127.0.0.1:9/", md5=md5s(files)) == got


def test_fetch_with_a_wrong_md5_keeps_nothing_of_that_file(tmp_path, server):
    base, files = server
    sums = list(md5s(files))
    sums[2] = "0" * 32
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte.gz: the download's MD5 is [0-9a-f]{32}, not the published 0{32}"):
        mnist.fetch("mnist", tmp_path / "d", base_url=base, md5=tuple(sums))
    # The two verified files stay (a second fetch skips them); no temporary file, no third file.
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == sorted(mnist.FILES[:2])
    assert mnist.locate("mnist", tmp_path / "d") is None


def test_a_download_cut_off_midway_leaves_nothing(tmp_path, server):
    base, files = server
    body = files[mnist.FILES[0]]

    class Cut:
        headers = {"Content-Length": str(len(body))}

        def __init__(self):
            self.sent = False

        def read(self, size=-1):
            if self.sent:
                raise ConnectionResetError("connection reset by peer")
            self.sent = True
            return body[: len(body) // 2]

        def __enter__(self):
            return self

        def __exit__(self, *a):
            pass

    with pytest.raises(DataError, match="connection reset by peer; nothing was kept"):
        mnist.fetch("mnist", tmp_path / "d", base_url=base, md5=md5s(files), opener=lambda url, timeout: Cut())
    assert list((tmp_path / "d").iterdir()) == []


def test_fetch_from_a_missing_url_or_offline_is_one_line(tmp_path, server):
    base, files = server
    with pytest.raises(DataError, match="cannot download .*404") as e:
        mnist.fetch("mnist", tmp_path / "d", base_url=base + "nowhere/", md5=md5s(files))
    assert "\n" not in str(e.value) and list((tmp_path / "d").iterdir()) == []
    with pytest.raises(DataError, match=r"cannot download .*offline\?"):
        mnist.fetch("mnist", tmp_path / "e", base_url="http://127.0.0.1:9/", md5=md5s(files))


def test_fetch_never_replaces_a_file_that_is_not_ours(tmp_path, server):
    base, files = server
    dest = tmp_path / "d"
    dest.mkdir()
    (dest / mnist.FILES[1]).write_bytes(b"my own labels")
    with pytest.raises(DataError, match="not the published file"):
        mnist.fetch("mnist", dest, base_url=base, md5=md5s(files))
    assert (dest / mnist.FILES[1]).read_bytes() == b"my own labels" and sorted(p.name for p in dest.iterdir()) == [mnist.FILES[1]]
    (dest / mnist.FILES[1]).unlink()
    os.mkfifo(dest / mnist.FILES[3])
    (dest / mnist.FILES[0]).symlink_to(tmp_path / "elsewhere")
    for name in (mnist.FILES[0], mnist.FILES[3]):
        with pytest.raises(DataError, match=f"{name}: something that is not a plain file"):
            mnist.fetch("mnist", dest, base_url=base, md5=md5s(files))
        (dest / name).unlink()
    assert list(dest.iterdir()) == []


def test_a_file_that_appears_during_the_download_is_kept_and_the_download_dropped(tmp_path, server):
    """Another process's file at the final name, made while ours downloads, is never replaced: the
    download takes its name by a hard link, which fails if the name exists (no check-then-rename window)."""
    import urllib.request

    base, files = server
    dest = tmp_path / "d"

    def opener(url, timeout):
        (dest / url.rsplit("/", 1)[1]).write_bytes(b"someone else's")
        return urllib.request.urlopen(url, timeout=timeout)

    with pytest.raises(DataError, match="appeared while downloading; nothing was replaced"):
        mnist.fetch("mnist", dest, base_url=base, md5=md5s(files), opener=opener)
    assert [(p.name, p.read_bytes()) for p in dest.iterdir()] == [(mnist.FILES[0], b"someone else's")]


def test_fetch_a_file_url_too(tmp_path):
    files = make_files(tmp_path / "src")
    got = mnist.fetch("fashion-mnist", tmp_path / "d", base_url=(tmp_path / "src").as_uri() + "/", md5=md5s(files))
    assert all((got / f).read_bytes() == files[f] for f in mnist.FILES)


def test_data_fetch_cli(tmp_path, server, monkeypatch):
    base, files = server
    monkeypatch.setitem(mnist.SETS, "mnist", mnist.Set("mnist", "MNIST", base, md5s(files), 1))
    r = cli("data", "fetch", "mnist", "--path", tmp_path / "d")
    assert r.exit_code == 0, r.output
    assert r.stdout.strip().endswith(str(tmp_path / "d")) and mnist.locate("mnist", tmp_path / "d") == tmp_path / "d"
    monkeypatch.setitem(mnist.SETS, "mnist", mnist.Set("mnist", "MNIST", base, ("0" * 32,) * 4, 1))
    r = cli("data", "fetch", "mnist", "--path", tmp_path / "e")
    assert r.exit_code == 1 and "MD5" in r.output and list((tmp_path / "e").iterdir()) == []


def test_the_published_md5s_are_lecuns_and_zalandos():
    # Changing one by mistake would refuse every genuine download; each is 32 hex digits, all distinct.
    sums = [m for s in mnist.SETS.values() for m in s.md5]
    assert len(set(sums)) == 8 and all(len(m) == 32 and int(m, 16) >= 0 for m in sums)
    assert mnist.SETS["mnist"].md5[0] == "f68b3c2dcbeaaa9fbdd348bbdeb94873"
    assert mnist.SETS["fashion-mnist"].md5[0] == "8d4fb7e6c68d591d4c3dfef9ec88bf0d"


# ---- in scenarios -------------------------------------------------------------------------------


def toml(kind: str, path, extra: str = "", model: str = "hidden = [5]") -> str:
    return (
        f'steps = 3\ndtype = "float64"\ndevice = "cpu"\n[optimizer]\nlr = 0.05\n[model]\n{model}\n'
        f'[data]\nkind = "{kind}"\npath = "{path}"\nn = 10\n{extra}[measure]\nsharpness_every = 1\n'
    )


@pytest.mark.parametrize("kind", ["mnist", "fashion-mnist"])
def test_a_scenario_trains_on_them_with_a_held_out_split(folder, kind):
    from eos_tui.engine.arm import Arm
    from tests.helpers import CPU, of, train

    sc = load_scenario_text(toml(kind, folder, "classes = 4\ntest_n = 3\n"), source="t.toml", default_name="t")
    arm = sc.arms[0]
    assert arm.data_shape() == (784, 4) and arm.parameter_count() == 784 * 5 + 5 + 5 * 4 + 4
    check_data(sc)
    recs = train(Arm(arm, CPU))
    assert len(of(recs, "step")) == 3 and "test_loss" in of(recs, "step")[0]
    cnn = load_scenario_text(toml(kind, folder, model='kind = "cnn"\nchannels = [2, 2]'), source="t.toml", default_name="t").arms[0]
    assert cnn.image_shape() == (1, 28, 28) and cnn.parameter_count() == (2 * 9 + 2) + (2 * 2 * 9 + 2) + 2 * 7 * 7 * 10 + 10


def test_a_scenario_without_the_files_is_refused_before_the_run(tmp_path):
    sc = load_scenario_text(toml("mnist", tmp_path / "nowhere"), source="t.toml", default_name="t")
    with pytest.raises(ScenarioError, match="eos-tui data fetch mnist --path") as e:
        check_data(sc)
    assert "\n" not in str(e.value)
    with pytest.raises(ScenarioError, match="data.n"):
        load_scenario_text(toml("mnist", tmp_path).replace("n = 10", "n = 60001"), source="t.toml", default_name="t")


def test_a_truncated_file_stops_a_headless_run_with_one_line(tmp_path):
    """The files are there (validate passes), but one was cut short: the engine refuses the scenario
    in one line naming the file (exit 2), no traceback."""
    import subprocess
    import sys

    files = make_files(tmp_path / "d")
    (tmp_path / "d" / mnist.FILES[0]).write_bytes(files[mnist.FILES[0]][: len(files[mnist.FILES[0]]) // 2])
    (tmp_path / "m.toml").write_text(toml("mnist", tmp_path / "d"))
    r = subprocess.run(
        [sys.executable, "-m", "eos_tui.cli", "run", "m.toml", "--headless", "--out", "run"],
        cwd=tmp_path,
        text=True,
        capture_output=True,
        timeout=120,
        env=dict(os.environ, OMP_NUM_THREADS="1", COLUMNS="200"),
        stdin=subprocess.DEVNULL,
    )
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and str(tmp_path / "d" / mnist.FILES[0]) in r.stderr, r.stderr
