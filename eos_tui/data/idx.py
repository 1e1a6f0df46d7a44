"""IDX files (LeCun's format for MNIST and Fashion-MNIST), gzipped or not, read with numpy only.

The format: two zero bytes, a type code (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32,
0x0E float64), the number of dimensions, each dimension as a big-endian uint32, then the values,
big-endian, in C order. Nothing else: no pickle, no code.

A file is trusted for nothing. Its header is checked against what the caller expects (the number
of dimensions, and the sizes after the first) and its declared size against `max_bytes` before
anything is allocated; the values are then read at most that many bytes (plus one, to see whether
more follows), so a gzip bomb decompresses no further than a genuine file would. Every problem
(truncated, wrong magic, wrong shape, huge dimensions, trailing bytes, a broken gzip stream) is one
DataError line naming the file.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from typing import IO, Any, cast

from .errors import DataError

DTYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
GZIP_MAGIC = b"\x1f\x8b"
# The largest file this reader accepts by default: MNIST's training images are 47 MB.
MAX_BYTES = 256 << 20
# What a damaged gzip stream or file raises while being read.
_READ_ERRORS = (OSError, EOFError, zlib.error, ValueError)


def open_stream(path: str | os.PathLike[str]) -> IO[bytes]:
    """The file's bytes, decompressed when it starts with gzip's magic. gzip.open owns the file it
    opens (closing the stream closes it), which GzipFile(fileobj=...) would not."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(2)
        return cast(IO[bytes], gzip.open(path, "rb")) if head == GZIP_MAGIC else open(path, "rb")
    except OSError as e:
        raise DataError(f"{path}: cannot read: {e.strerror or e}") from None


def _read_exactly(fh: IO[bytes], n: int, path: Any, what: str) -> bytes:
    """n bytes, reading in pieces (a GzipFile returns at most what one member yields at a time)."""
    parts, have = [], 0
    while have < n:
        block = fh.read(min(n - have, 16 << 20))
        if not block:
            raise DataError(f"{path}: cut short: its {what} ends after {have} of {n} bytes; fetch it again")
        parts.append(block)
        have += len(block)
    return b"".join(parts)


def header(fh: IO[bytes], path: Any) -> tuple[str, tuple[int, ...]]:
    """(numpy dtype string, dimensions) from the first bytes of an IDX stream."""
    magic = _read_exactly(fh, 4, path, "header")
    if magic[:2] != b"\x00\x00" or magic[2] not in DTYPES or not 1 <= magic[3] <= 8:
        raise DataError(f"{path}: not an IDX file (its first bytes are {magic.hex()}, not 0000 then a type code and 1 to 8 dimensions)")
    raw = _read_exactly(fh, 4 * magic[3], path, "header")
    dims = tuple(int.from_bytes(raw[i : i + 4], "big") for i in range(0, len(raw), 4))
    return DTYPES[magic[2]], dims


def read(path: str | os.PathLike[str], *, ndim: int, tail: tuple[int, ...] = (), dtype: str = "u1", max_bytes: int = MAX_BYTES) -> Any:
    """The array in an IDX file (gzipped or not) as a native-endian numpy array.

    ndim: the dimensions it must have; tail: the sizes it must have after the first (28, 28 for
    MNIST's images); dtype: the type code it must have. Raises DataError."""
    import numpy as np

    fh = open_stream(path)
    try:
        with fh:
            code, dims = header(fh, path)
            if len(dims) != ndim or dims[1:] != tuple(tail) or code != dtype:
                want = f"{ndim} dimensions (n, {', '.join(map(str, tail))})" if tail else f"{ndim} dimension (n)"
                raise DataError(
                    f"{path}: an IDX array of {np.dtype(code).name} with shape {dims}, "
                    f"but this file must hold {np.dtype(dtype).name} of {want}"
                )
            size = math.prod(dims) * np.dtype(code).itemsize
            if size > max_bytes:
                raise DataError(
                    f"{path}: its header declares {size:,} bytes of data (shape {dims}), more than a genuine file holds ({max_bytes:,})"
                )
            body = _read_exactly(fh, size, path, "data")
            if fh.read(1):
                raise DataError(f"{path}: more bytes follow the {size:,} its header declares: a damaged or foreign file; fetch it again")
    except _READ_ERRORS as e:
        if isinstance(e, DataError):
            raise
        raise DataError(
            f"{path}: unreadable ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else 'no detail'}); fetch it again"
        ) from None
    return np.frombuffer(body, dtype=code).reshape(dims).astype(np.dtype(code).newbyteorder("="))


def write(path: str | os.PathLike[str], array: Any, *, compress: bool = True) -> None:
    """Write `array` as an IDX file (gzipped by default): for tests and for users' own data."""
    import numpy as np

    a = np.asarray(array)
    codes = {np.dtype(v).newbyteorder("="): k for k, v in DTYPES.items()}
    code = codes[a.dtype.newbyteorder("=")]
    head = bytes([0, 0, code, a.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in a.shape)
    body = head + a.astype(np.dtype(DTYPES[code])).tobytes()
    with open(path, "wb") as fh:
        fh.write(gzip.compress(body, mtime=0) if compress else body)
