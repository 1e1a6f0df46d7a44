"""MNIST and Fashion-MNIST from their four official gzipped IDX files, preprocessed as CIFAR-10.

Where the files are (`locate`): `data.path`, else $EOS_TUI_DATA/NAME, else the per-user cache
($XDG_CACHE_HOME or ~/.cache)/eos-tui/NAME, NAME being `mnist` or `fashion-mnist`; the folder holds
the four files under their published names (FILES), gzipped as published or unpacked (the same name
without .gz, as torchvision's raw/ folder has them).

What `load` returns: the first `n` training images in file order among those with label <
`classes`, and the first `test_n` such test images; pixels scaled to [0, 1], then each of the 784
features centered and divided by its standard deviation, both taken over the n training images
(the test split gets the training statistics; a feature constant over them is centered only).
Rows stay flat, (n, 784); `IMAGE_SHAPE` = (1, 28, 28) reshapes them.

`eos-tui data fetch mnist|fashion-mnist` (`fetch`) downloads each file into a hidden temporary file
beside its final name, checks the published MD5 and the IDX header, and only then renames it into
place: an interrupted or corrupt download leaves nothing behind. A file already there with the
published MD5 is kept; anything else already at a file's name (another version, a link, a device)
is not ours and is never replaced.

`locate`, `default_root`, `missing_message` and `fetch` import nothing heavy (the scenario layer and
the CLI call them); `load` imports numpy.
"""

from __future__ import annotations

import http.client
import os
import stat
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from . import cifar10, idx
from .cifar10 import Dataset
from .errors import DataError

FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
IMAGE_SHAPE = (1, 28, 28)
DIM = 28 * 28
CLASSES = 10
TRAIN_SIZE, TEST_SIZE = 60_000, 10_000


@dataclass(frozen=True)
class Set:
    name: str  # data.kind, the fetch argument and the folder's name
    title: str
    base_url: str  # FILES are fetched from base_url + file name
    md5: tuple[str, ...]  # the published MD5 of each of FILES, in order
    size_mb: int  # the four files together, for the fetch message


SETS = {
    # torchvision's mirror of LeCun's files (yann.lecun.com now asks for a login); the MD5s are LeCun's files'.
    "mnist": Set(
        "mnist",
        "MNIST",
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        (
            "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "d53e105ee54ea40749a09fcbcd1e9432",
            "9fb629c4189551a2d022fa330f9573f3",
            "ec29112dd5afa0611ce80d1b7f02629c",
        ),
        12,
    ),
    # Zalando's own bucket, as its README links it.
    "fashion-mnist": Set(
        "fashion-mnist",
        "Fashion-MNIST",
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        (
            "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "25c81989df183df01b3e8a0aad5dffbe",
            "bef4ecab320f06d8554ea6380940ec79",
            "bb300cfdad3c16e7a12a480ee83cd310",
        ),
        31,
    ),
}


def _set(name: str) -> Set:
    try:
        return SETS[name]
    except KeyError:
        raise DataError(f"unknown data set {name!r}: one of {', '.join(SETS)}") from None


def default_root(name: str) -> Path:
    """$EOS_TUI_DATA/NAME, else ($XDG_CACHE_HOME or ~/.cache)/eos-tui/NAME (as cifar10's)."""
    return cifar10.default_root().parent / name


def root_for(name: str, path: str | os.PathLike[str] | None) -> Path:
    return Path(path).expanduser() if path else default_root(name)


def _member(root: Path, file: str) -> Path | None:
    for candidate in (root / file, root / file[: -len(".gz")]):
        try:
            if candidate.is_file():
                return candidate
        except OSError:
            return None
    return None


def locate(name: str, path: str | os.PathLike[str] | None) -> Path | None:
    """The folder that holds all four files (gzipped or unpacked), or None."""
    root = root_for(name, path)
    return root if all(_member(root, f) is not None for f in FILES) else None


def missing_message(name: str, path: str | os.PathLike[str] | None) -> str:
    s = _set(name)
    root = root_for(name, path)
    where = "data.path" if path else (f"$EOS_TUI_DATA/{name}" if os.environ.get("EOS_TUI_DATA") else "the default folder")
    lacking = [f for f in FILES if _member(root, f) is None]
    fetch = f"eos-tui data fetch {name}" + (f" --path {root}" if path or os.environ.get("EOS_TUI_DATA") else "")
    return (
        f"data.path: no {s.title} files in {root} ({where}; missing {', '.join(lacking)}); "
        f"fetch them with `{fetch}` (about {s.size_mb} MB), or set data.path to where they are"
    )


def _read_split(root: Path, images: str, labels: str, limit: int) -> tuple[Any, Any]:
    ip, lp = _member(root, images), _member(root, labels)
    assert ip is not None and lp is not None  # locate() found them
    X = idx.read(ip, ndim=3, tail=(28, 28), max_bytes=limit * DIM + 64)
    y = idx.read(lp, ndim=1, max_bytes=limit + 64)
    if X.shape[0] != y.shape[0]:
        raise DataError(f"{ip}: {X.shape[0]} images, but {lp} has {y.shape[0]} labels")
    if y.size and int(y.max()) >= CLASSES:
        raise DataError(f"{lp}: a label of {int(y.max())}, outside 0..{CLASSES - 1}")
    return X, y


def _take(X: Any, y: Any, n: int, classes: int, root: Path, key: str, what: str) -> tuple[Any, Any]:
    keep = y < classes
    X, y = X[keep][:n], y[keep][:n]
    if len(y) < n:
        raise DataError(f"{key}: asks for {n} {what} images of classes < {classes}, but {root} holds only {len(y)}")
    return X.reshape(n, DIM), y.astype("int64")


def load(name: str, path: str | os.PathLike[str] | None, n: int, classes: int = CLASSES, test_n: int = 0) -> Dataset:
    """MNIST or Fashion-MNIST as a Dataset (see the module's docstring). Raises DataError."""
    import numpy as np

    _set(name)
    if not 2 <= classes <= CLASSES:
        raise DataError(f"data.classes: must be between 2 and {CLASSES} (got {classes})")
    root = locate(name, path)
    if root is None:
        raise DataError(missing_message(name, path))
    X, y = _take(*_read_split(root, FILES[0], FILES[1], TRAIN_SIZE), n, classes, root, "data.n", "training")
    Xt = yt = None
    if test_n:
        Xt, yt = _take(*_read_split(root, FILES[2], FILES[3], TEST_SIZE), test_n, classes, root, "data.test_n", "test")
    X = X.astype(np.float64) / 255.0
    mean = X.mean(axis=0)
    std = X.std(axis=0)
    std[std == 0] = 1.0  # MNIST's border pixels are blank in every image: centered, not scaled
    X -= mean
    X /= std
    if Xt is not None:
        Xt = (Xt.astype(np.float64) / 255.0 - mean) / std
    return Dataset(X, y, classes, Xt, yt, IMAGE_SHAPE, str(root))


# ---- eos-tui data fetch mnist | fashion-mnist ---------------------------------------------------


def _ours(target: Path, md5: str) -> bool:
    """Whether the file at `target` is the published one (True), or absent (False); anything else
    there is not ours to replace (DataError)."""
    try:
        st = target.lstat()
    except FileNotFoundError:
        return False
    except OSError as e:
        raise DataError(f"{target}: cannot check it: {e.strerror or e}") from None
    if not stat.S_ISREG(st.st_mode):
        raise DataError(f"{target}: something that is not a plain file is in the way (a link, a folder, a device); move it away")
    if cifar10.md5_of(target) == md5:
        return True
    raise DataError(f"{target}: already there and not the published file (its MD5 differs); move it away, or fetch into another --path")


def _place(tmp: Path, target: Path) -> None:
    """Give the verified download its final name without ever replacing what is there: a hard link
    fails if the name exists (something that appeared while downloading is not ours), atomically,
    unlike a check then a rename. Where the file system has no hard links, check then rename."""
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise DataError(f"{target}: appeared while downloading; nothing was replaced") from None
    except OSError:
        if target.exists() or target.is_symlink():
            raise DataError(f"{target}: appeared while downloading; nothing was replaced") from None
        os.replace(tmp, target)


def _fetch_one(url: str, target: Path, md5: str, opener: Callable[..., Any], progress: Callable[[int, int | None], None] | None) -> None:
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    except OSError as e:
        raise DataError(f"{target.parent}: cannot write there: {e.strerror or e}; choose another folder with --path") from None
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            digest = cifar10.download(url, fh, opener, progress)
            fh.flush()
            os.fsync(fh.fileno())
        if digest != md5:
            raise DataError(f"{url}: the download's MD5 is {digest}, not the published {md5}; nothing was kept; try again")
        with idx.open_stream(tmp) as fh:
            idx.header(fh, url)
        _place(tmp, target)
    except urllib.error.HTTPError as e:  # the server answered: not a matter of being offline
        raise DataError(f"cannot download {url}: HTTP {e.code} {e.reason}; nothing was kept") from None
    except urllib.error.URLError as e:
        reason = getattr(e, "reason", e)
        raise DataError(
            f"cannot download {url}: {reason} (offline? fetch the four files on a machine with internet and copy them into {target.parent})"
        ) from None
    except (OSError, ValueError, EOFError, http.client.HTTPException) as e:
        if isinstance(e, DataError):
            raise
        raise DataError(f"cannot download {url}: {e}; nothing was kept") from None
    finally:
        if tmp.exists():
            tmp.unlink()


def fetch(
    name: str,
    path: str | os.PathLike[str] | None = None,
    *,
    base_url: str | None = None,
    md5: tuple[str, ...] | None = None,
    opener: Callable[..., Any] = urllib.request.urlopen,
    progress: Callable[[str, int, int | None], None] | None = None,
) -> Path:
    """Download the four files of `name` into `path` (None: the default root); return the folder.
    Files already there with the published MD5 are kept. Raises DataError."""
    s = _set(name)
    base, sums = base_url or s.base_url, md5 or s.md5
    root = root_for(name, path)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"{root}: cannot write there: {e.strerror or e}; choose another folder with --path") from None
    todo = [(f, m) for f, m in zip(FILES, sums) if not _ours(root / f, m)]
    for f, m in todo:
        report = (lambda done, total, f=f: progress(f, done, total)) if progress else None
        _fetch_one(base + f, root / f, m, opener, report)
    return root
