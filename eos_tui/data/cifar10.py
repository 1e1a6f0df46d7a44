"""CIFAR-10 from the official "python version" files, preprocessed as in Cohen et al. 2021.

Where the files are (`locate`): `data.path`, else $EOS_TUI_DATA/cifar10, else the per-user cache
($XDG_CACHE_HOME or ~/.cache)/eos-tui/cifar10; in that folder either the `cifar-10-batches-py`
folder or the `cifar-10-python.tar.gz` archive itself (read in place, never extracted), or the
folder may be `cifar-10-batches-py` itself, or `data.path` may name the archive.

What `load` returns: the first `n` training images in file order (data_batch_1 first) among those
with label < `classes`, and the first `test_n` such test images; inputs scaled to [0, 1], then each
of the 3072 features centered and divided by its standard deviation, both taken over the n
training images (the test split gets the training statistics). The images stay flat, (n, 3072),
in the files' channel-major order, so `IMAGE_SHAPE` = (3, 32, 32) reshapes them.

`locate`, `default_root` and `missing_message` import nothing heavy (the scenario layer calls them
to check a scenario before it runs); `load` imports numpy.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Callable

from .errors import DataError

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
MD5 = "c58f30108f718f92721af3b95e74349a"
ARCHIVE = "cifar-10-python.tar.gz"
FOLDER = "cifar-10-batches-py"
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"
META_FILE = "batches.meta"
IMAGE_SHAPE = (3, 32, 32)
DIM = 3 * 32 * 32
CLASSES = 10
TRAIN_SIZE, TEST_SIZE = 50_000, 10_000
FETCH_COMMAND = "eos-tui data fetch cifar10"


def default_root() -> Path:
    """$EOS_TUI_DATA/cifar10, else ($XDG_CACHE_HOME or ~/.cache)/eos-tui/cifar10."""
    base = os.environ.get("EOS_TUI_DATA")
    if base:
        return Path(base).expanduser() / "cifar10"
    cache = os.environ.get("XDG_CACHE_HOME")
    root = Path(cache).expanduser() if cache and os.path.isabs(os.path.expanduser(cache)) else Path.home() / ".cache"
    return root / "eos-tui" / "cifar10"


def root_for(path: str | os.PathLike[str] | None) -> Path:
    return Path(path).expanduser() if path else default_root()


def locate(path: str | os.PathLike[str] | None) -> Path | None:
    """The batches folder or the archive that `path` (None: the default root) holds, or None."""
    root = root_for(path)
    try:
        if root.is_file():
            return root if tarfile.is_tarfile(root) else None
        for candidate in (root, root / FOLDER):
            if (candidate / TRAIN_FILES[0]).is_file():
                return candidate
        if (root / ARCHIVE).is_file():
            return root / ARCHIVE
    except OSError:
        return None
    return None


def missing_message(path: str | os.PathLike[str] | None) -> str:
    root = root_for(path)
    where = "data.path" if path else ("$EOS_TUI_DATA/cifar10" if os.environ.get("EOS_TUI_DATA") else "the default folder")
    fetch = FETCH_COMMAND + (f" --path {root}" if path or os.environ.get("EOS_TUI_DATA") else "")
    return (
        f"data.path: no CIFAR-10 files in {root} ({where}; looked for {FOLDER}/ and {ARCHIVE}); "
        f"fetch them with `{fetch}` (about 163 MB), or set data.path to where they are"
    )


class _Files:
    """Reads members by name from the batches folder or straight from the archive."""

    def __init__(self, where: Path):
        self.where = where
        self.tar: tarfile.TarFile | None = None
        self.names: dict[str, tarfile.TarInfo] = {}
        if where.is_file():
            try:
                self.tar = tarfile.open(where, "r:gz")
                for m in self.tar.getmembers():
                    if m.isfile():
                        self.names.setdefault(os.path.basename(m.name), m)
            except (tarfile.TarError, OSError, EOFError) as e:
                raise DataError(
                    f"{where}: not a readable CIFAR-10 archive ({type(e).__name__}: {e}); fetch it again with `{FETCH_COMMAND}`"
                ) from None

    def label(self, name: str) -> str:
        return f"{self.where}:{FOLDER}/{name}" if self.tar else str(self.where / name)

    def read(self, name: str) -> Any:
        from . import safe_pickle

        fh: IO[bytes] | None
        if self.tar is not None:
            member = self.names.get(name)
            fh = self.tar.extractfile(member) if member is not None else None
            if fh is None:
                raise DataError(f"{self.where}: the archive has no {FOLDER}/{name}; fetch it again with `{FETCH_COMMAND}`")
        else:
            try:
                fh = open(self.where / name, "rb")
            except OSError as e:
                raise DataError(f"{self.where / name}: cannot read: {e.strerror or e}") from None
        try:
            with fh:
                return safe_pickle.load(fh, self.label(name))
        except OSError as e:
            raise DataError(f"{self.label(name)}: cannot read: {e}") from None

    def close(self) -> None:
        if self.tar is not None:
            self.tar.close()


@dataclass
class Dataset:
    """Inputs, integer labels or float targets, and an optional held-out split (numpy arrays)."""

    X: Any  # (n, dim) float64
    y: Any  # (n,) int64 labels when classes is set, else (n, k) float64 targets
    classes: int | None  # the number of classes; None: regression
    X_test: Any = None
    y_test: Any = None
    image_shape: tuple[int, ...] | None = None  # X's rows reshape to this (3, 32, 32 for CIFAR-10)
    source: str = ""

    @property
    def dim(self) -> int:
        return int(self.X.shape[1])

    @property
    def outputs(self) -> int:
        return int(self.classes) if self.classes is not None else int(self.y.shape[1])


def _batch(files: _Files, name: str) -> tuple[Any, Any]:
    import numpy as np

    d = files.read(name)
    label = files.label(name)
    if not isinstance(d, dict) or b"data" not in d or b"labels" not in d:
        raise DataError(f"{label}: not a CIFAR-10 batch (no b'data' and b'labels' keys)")
    data, labels = d[b"data"], d[b"labels"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != DIM:
        shape = getattr(data, "shape", type(data).__name__)
        raise DataError(f"{label}: b'data' must be uint8 of shape (images, {DIM}) (got {shape})")
    if not isinstance(labels, list) or not all(type(v) is int for v in labels):
        raise DataError(f"{label}: b'labels' must be a list of ints")
    y = np.asarray(labels, dtype=np.int64)
    if y.shape[0] != data.shape[0]:
        raise DataError(f"{label}: {data.shape[0]} images but {y.shape[0]} labels")
    if y.size and (y.min() < 0 or y.max() >= CLASSES):
        raise DataError(f"{label}: labels outside 0..{CLASSES - 1}")
    return data, y


def _take(files: _Files, names: tuple[str, ...], n: int, classes: int, what: str) -> tuple[Any, Any]:
    """The first n images with label < classes, reading the batches in order only as far as needed."""
    import numpy as np

    xs, ys, have = [], [], 0
    for name in names:
        if have >= n:
            break
        data, y = _batch(files, name)
        keep = y < classes
        data, y = data[keep][: n - have], y[keep][: n - have]
        xs.append(data)
        ys.append(y)
        have += len(y)
    if have < n:
        key = "data.n" if what == "training" else "data.test_n"
        raise DataError(f"{key}: asks for {n} {what} images of classes < {classes}, but {files.where} holds only {have}")
    return np.concatenate(xs), np.concatenate(ys)


def load(path: str | os.PathLike[str] | None, n: int, classes: int = CLASSES, test_n: int = 0) -> Dataset:
    """CIFAR-10 as a Dataset (see the module's docstring). Raises DataError."""
    import numpy as np

    if not 2 <= classes <= CLASSES:
        raise DataError(f"data.classes: must be between 2 and {CLASSES} (got {classes})")
    where = locate(path)
    if where is None:
        raise DataError(missing_message(path))
    files = _Files(where)
    try:
        X, y = _take(files, TRAIN_FILES, n, classes, "training")
        Xt, yt = _take(files, (TEST_FILE,), test_n, classes, "test") if test_n else (None, None)
    finally:
        files.close()
    # In place: at n = 50,000 each float64 copy is 1.2 GB.
    X = X.astype(np.float64)
    X /= 255.0
    mean = X.mean(axis=0)
    std = X.std(axis=0)
    std[std == 0] = 1.0  # a constant feature (possible with few images): centered, not scaled
    X -= mean
    X /= std
    if Xt is not None:
        Xt = Xt.astype(np.float64)
        Xt /= 255.0
        Xt -= mean
        Xt /= std
    return Dataset(X, y, classes, Xt, yt, IMAGE_SHAPE, str(where))


# ---- eos-tui data fetch cifar10 ----------------------------------------------------------------


def download(
    url: str, fh: IO[bytes], opener: Callable[..., Any], progress: Callable[[int, int | None], None] | None, chunk: int = 1 << 20
) -> str:
    md5 = hashlib.md5()
    with opener(url, timeout=60) as response:
        total = response.headers.get("Content-Length") if getattr(response, "headers", None) else None
        total_n = int(total) if total and str(total).isdigit() else None
        done = 0
        while True:
            block = response.read(chunk)
            if not block:
                break
            fh.write(block)
            md5.update(block)
            done += len(block)
            if progress:
                progress(done, total_n)
    return md5.hexdigest()


def _has_batches(path: Path) -> bool:
    try:
        with tarfile.open(path, "r:gz") as tar:
            names = {os.path.basename(m.name) for m in tar.getmembers() if m.isfile()}
    except (tarfile.TarError, OSError, EOFError):
        return False
    return {*TRAIN_FILES, TEST_FILE} <= names


def fetch(
    path: str | os.PathLike[str] | None = None,
    *,
    url: str = URL,
    md5: str = MD5,
    opener: Callable[..., Any] = urllib.request.urlopen,
    progress: Callable[[int, int | None], None] | None = None,
) -> Path:
    """Download the official archive into `path` (None: the default root) and return where it is.

    It streams into a hidden temporary file in the target folder, checks the MD5 (and that the
    archive holds the batches), and only then renames it to cifar-10-python.tar.gz, atomically: an
    interrupted or corrupt download leaves nothing that `locate` would take for the data.
    Raises DataError (offline, an MD5 mismatch, a folder that cannot be written)."""
    root = root_for(path)
    target = root / ARCHIVE
    if target.is_file() and md5_of(target) == md5:
        return target
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=".cifar-10-python.", suffix=".part", dir=root)
    except OSError as e:
        raise DataError(f"{root}: cannot write there: {e.strerror or e}; choose another folder with --path") from None
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            digest = download(url, fh, opener, progress)
            fh.flush()
            os.fsync(fh.fileno())
        if digest != md5:
            raise DataError(f"{url}: the download's MD5 is {digest}, not the published {md5}; nothing was kept; try again")
        if not _has_batches(tmp):
            raise DataError(f"{url}: the download is not the CIFAR-10 python archive; nothing was kept")
        os.replace(tmp, target)
    except urllib.error.URLError as e:
        reason = getattr(e, "reason", e)
        raise DataError(
            f"cannot download {url}: {reason} (offline? fetch {ARCHIVE} on a machine with internet and copy it into {root})"
        ) from None
    except (OSError, ValueError, http.client.HTTPException) as e:
        if isinstance(e, DataError):
            raise
        raise DataError(f"cannot download {url}: {e}; nothing was kept") from None
    finally:
        if tmp.exists():
            tmp.unlink()
    return target


def md5_of(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
