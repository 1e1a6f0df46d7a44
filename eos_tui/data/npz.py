"""The user's own data from a .npz file (np.savez): `X` and `y`, optionally `X_test` and `y_test`.

    X   (examples, features) or (examples, *image shape): numeric; an MLP sees each row flattened
    y   integer labels (examples,): classification, `classes` = max(y) + 1 unless data.classes says
        more; MSE takes them one-hot, cross-entropy as they are.
        float targets (examples,) or (examples, k): regression (MSE), 1 or k outputs.

The arrays are used as they are (no scaling). Pickles are never loaded (allow_pickle=False: an
array of Python objects is refused). `inspect` reads only the headers (and the labels, to count
the classes), so a scenario can be checked and its parameters counted without loading X.
"""

from __future__ import annotations

import functools
import math
import os
import zipfile
import zlib
from dataclasses import dataclass
from typing import Any

from .cifar10 import Dataset
from .errors import DataError


@dataclass(frozen=True)
class NpzInfo:
    n: int  # training rows used (data.n, or all)
    dim: int  # features per row, flattened
    outputs: int  # classes, or regression targets per row
    classes: int | None  # None: regression
    y_dtype: str
    image_shape: tuple[int, ...] | None  # X's row shape when it is not flat
    test_n: int  # rows of X_test (0: none)


# Read the labels this many bytes at a time: counting the classes never holds the whole of y.
CHUNK = 4 << 20
# deflate cannot compress more than 1032:1 (a run of one byte); a zip entry that says it holds more
# than this per compressed byte says something false about itself.
DEFLATE_MAX_RATIO = 1100
# The errors reading a member can raise: a damaged deflate stream raises zlib.error, neither an
# OSError nor a ValueError; an encrypted member RuntimeError, an unknown compression NotImplementedError.
_READ_ERRORS = (ValueError, OSError, zipfile.BadZipFile, EOFError, zlib.error, RuntimeError, NotImplementedError)


def _why(e: BaseException) -> str:
    return str(e).splitlines()[0] if str(e) else type(e).__name__


def _size(n: int) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e9 else f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n} bytes"


def _open_array(zf: zipfile.ZipFile, key: str, path: str) -> tuple[Any, tuple[int, ...], Any]:
    """The member's stream positioned at its first data byte, its shape and dtype, after checking
    that the member holds the bytes its header declares (the zip directory's sizes, and that those
    are possible): a hand-made header of 2·10⁹ labels over a few bytes, or a directory that lies,
    is refused here rather than after numpy allocated 2 GB to read it."""
    import numpy as np

    try:
        member = zf.getinfo(key + ".npy")
    except KeyError:
        raise DataError(f"{path}: no array {key!r} (it has {', '.join(_keys(zf)) or 'none'}); save X and y with np.savez") from None
    archive = os.path.getsize(path)
    impossible = member.compress_size > archive
    if member.compress_type == zipfile.ZIP_STORED:
        impossible |= member.file_size > member.compress_size
    elif member.compress_type == zipfile.ZIP_DEFLATED:
        impossible |= member.file_size > DEFLATE_MAX_RATIO * member.compress_size + (1 << 16)
    if impossible:
        raise DataError(
            f"{path}: array {key!r}: its zip entry claims {_size(member.file_size)} from {_size(member.compress_size)} "
            f"in a {_size(archive)} file, which cannot be: a damaged or hand-made file"
        )
    try:
        fh = zf.open(member)
    except _READ_ERRORS as e:
        raise DataError(f"{path}: array {key!r} is unreadable: {_why(e)}") from None
    try:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
        start = fh.tell()
    except _READ_ERRORS as e:
        fh.close()
        raise DataError(f"{path}: array {key!r} is unreadable: {_why(e)}") from None
    except BaseException:
        fh.close()
        raise
    shape = tuple(int(s) for s in shape)
    if dtype.hasobject:
        fh.close()
        raise DataError(f"{path}: array {key!r} holds Python objects, which are never loaded (pickles); save numbers")
    declared = math.prod(shape) * dtype.itemsize  # Python ints: no overflow however large the shape
    if start + declared > member.file_size:
        fh.close()
        raise DataError(
            f"{path}: array {key!r} declares shape {shape} of {dtype} ({_size(declared)}) but holds "
            f"{_size(max(0, member.file_size - start))}: a damaged or hand-made file"
        )
    return fh, shape, dtype


def _header(zf: zipfile.ZipFile, key: str, path: str) -> tuple[tuple[int, ...], Any]:
    fh, shape, dtype = _open_array(zf, key, path)
    fh.close()
    return shape, dtype


def _keys(zf: zipfile.ZipFile) -> list[str]:
    return sorted(n[:-4] for n in zf.namelist() if n.endswith(".npy"))


def _labels(path: str, key: str, rows: int) -> tuple[int, int]:
    try:
        with zipfile.ZipFile(path) as zf:
            return _label_range(zf, key, path, rows)
    except (zipfile.BadZipFile, OSError) as e:
        raise DataError(f"{path}: array {key!r} is unreadable: {_why(e)}") from None


def _label_range(zf: zipfile.ZipFile, key: str, path: str, rows: int) -> tuple[int, int]:
    """(smallest, largest) of the first `rows` labels of a 1-D integer array, read CHUNK bytes at a
    time: memory stays a few MB whatever the file declares."""
    import numpy as np

    fh, _, dtype = _open_array(zf, key, path)
    lo = hi = None
    left = rows * dtype.itemsize
    step = max(1, CHUNK // dtype.itemsize) * dtype.itemsize
    with fh:
        try:
            while left > 0:
                raw = fh.read(min(step, left))
                if len(raw) < min(step, left):
                    raise DataError(f"{path}: array {key!r} is cut short (its data ends before its shape says)")
                left -= len(raw)
                part = np.frombuffer(raw, dtype=dtype)
                a, b = int(part.min()), int(part.max())
                lo, hi = (a, b) if lo is None or hi is None else (min(lo, a), max(hi, b))
        except _READ_ERRORS as e:
            raise DataError(f"{path}: array {key!r} is unreadable: {_why(e)}") from None
    assert lo is not None and hi is not None  # rows > 0: checked against X's rows
    return lo, hi


def _check_y(path: str, key: str, shape: tuple[int, ...], dtype: Any, rows: int) -> None:
    if not shape or shape[0] != rows:
        raise DataError(f"{path}: {key!r} has shape {shape}, but X{'_test' if key != 'y' else ''} has {rows} rows: one target per row")
    if dtype.kind in "biu" and len(shape) != 1:
        raise DataError(f"{path}: {key!r} holds integer labels and must be 1-D (got shape {shape}); save float targets for regression")
    if dtype.kind == "f" and len(shape) > 2:
        raise DataError(f"{path}: {key!r} must have shape (examples,) or (examples, outputs) (got {shape})")
    if dtype.kind not in "biuf":
        raise DataError(f"{path}: {key!r} has dtype {dtype}: integer labels or float targets only")


@functools.lru_cache(maxsize=32)
def _inspect(path: str, n: int | None, classes: int | None, stamp: tuple[int, int]) -> NpzInfo:
    try:
        zf = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file (data.path names your .npz)") from None
    except (zipfile.BadZipFile, OSError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else "not an .npz file (np.savez writes one)"
        raise DataError(f"{path}: {reason}") from None
    with zf:
        xs, xd = _header(zf, "X", path)
        ys, yd = _header(zf, "y", path)
        keys = set(_keys(zf))
        test = ("X_test" in keys, "y_test" in keys)
        if test[0] != test[1]:
            raise DataError(
                f"{path}: has {'X_test' if test[0] else 'y_test'} without {'y_test' if test[0] else 'X_test'}: give both or neither"
            )
        xts = yts = None
        if test[0]:
            xts, xtd = _header(zf, "X_test", path)
            yts, ytd = _header(zf, "y_test", path)
    if len(xs) < 2 or xs[0] == 0 or 0 in xs[1:]:
        raise DataError(f"{path}: 'X' must have shape (examples, features) with both > 0 (got {xs})")
    if xd.kind not in "biuf":
        raise DataError(f"{path}: 'X' has dtype {xd}: numbers only")
    _check_y(path, "y", ys, yd, xs[0])
    rows = xs[0]
    if n is not None and n > rows:
        raise DataError(f"{path}: data.n = {n}, but X has only {rows} rows")
    used = n if n is not None else rows
    dim = 1
    for s in xs[1:]:
        dim *= s
    found: int | None = None
    if yd.kind in "biu":
        lo, hi = _labels(path, "y", used)
        if lo < 0:
            raise DataError(f"{path}: 'y' has a negative label ({lo}); labels are 0..classes-1")
        found = hi + 1
    elif classes is not None:
        raise DataError(f"{path}: data.classes is for integer labels, but 'y' is {yd} (regression)")
    test_n = 0
    if xts is not None and yts is not None:
        if tuple(xts[1:]) != tuple(xs[1:]) or not xts or xts[0] == 0:
            raise DataError(f"{path}: 'X_test' has shape {xts}, but X's rows have shape {xs[1:]}")
        _check_y(path, "y_test", yts, ytd, xts[0])
        if (ytd.kind in "biu") != (yd.kind in "biu") or tuple(yts[1:]) != tuple(ys[1:]):
            raise DataError(f"{path}: 'y_test' ({ytd}, {yts}) does not match 'y' ({yd}, {ys})")
        if ytd.kind in "biu":
            lo, hi = _labels(path, "y_test", yts[0])
            if lo < 0:
                raise DataError(f"{path}: 'y_test' has a negative label ({lo})")
            found = max(found or 0, hi + 1)
        test_n = xts[0]
    k: int | None = None
    if found is not None:
        k = max(found, 2) if classes is None else classes
        if classes is not None and classes < found:
            raise DataError(f"{path}: data.classes = {classes}, but the labels go up to {found - 1}")
        outputs = k
    else:
        outputs = 1 if len(ys) == 1 else ys[1]
    image = tuple(xs[1:]) if len(xs) > 2 else None
    return NpzInfo(used, dim, int(outputs), k, str(yd), image, test_n)


def _stamp(path: str) -> tuple[int, int]:
    try:
        st = os.stat(path)
    except OSError:
        return (0, 0)
    return (st.st_mtime_ns, st.st_size)


def inspect(path: str, n: int | None = None, classes: int | None = None) -> NpzInfo:
    """Shapes, dtypes and class count from the file's headers (X is not read). Raises DataError."""
    return _inspect(path, n, classes, _stamp(path))


def load(path: str, n: int | None = None, classes: int | None = None) -> Dataset:
    """The arrays as a Dataset: X flattened to float64, labels int64 or targets float64 (n, k)."""
    info = inspect(path, n, classes)
    try:
        return _load(path, info)
    except MemoryError:
        # The sizes are the file's true ones (inspect checked them against the zip entries), but the
        # machine cannot hold them: one line, as for any other file that cannot be used.
        need = (info.n + info.test_n) * info.dim * 8
        raise DataError(f"{path}: too large for this machine's memory (X alone is {_size(need)} as float64); set data.n smaller") from None


def _load(path: str, info: NpzInfo) -> Dataset:
    import numpy as np

    out: dict[str, Any] = {}
    try:
        with np.load(path, allow_pickle=False) as z:
            for key in ("X", "y", "X_test", "y_test") if info.test_n else ("X", "y"):
                out[key] = z[key]
    except _READ_ERRORS as e:
        raise DataError(f"{path}: unreadable: {_why(e)}") from None

    def rows(key: str, a: Any, count: int | None) -> Any:
        a = a[:count] if count is not None else a
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            raise DataError(f"{path}: {key!r} has NaN or infinite values")
        return a

    X = rows("X", out["X"], info.n).astype(np.float64).reshape(info.n, info.dim)
    y = rows("y", out["y"], info.n)
    Xt = yt = None
    if info.test_n:
        Xt = rows("X_test", out["X_test"], None).astype(np.float64).reshape(info.test_n, info.dim)
        yt = rows("y_test", out["y_test"], None)
    if info.classes is not None:
        y = y.astype(np.int64)
        yt = yt.astype(np.int64) if yt is not None else None
    else:
        y = y.astype(np.float64).reshape(info.n, -1)
        yt = yt.astype(np.float64).reshape(info.test_n, -1) if yt is not None else None
    return Dataset(X, y, info.classes, Xt, yt, info.image_shape, path)
