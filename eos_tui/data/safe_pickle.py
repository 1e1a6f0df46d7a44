"""A restricted unpickler for the CIFAR-10 "python version" files: no global of the pickle is ever run.

The official files were written by Python 2's cPickle (protocol 2): a dict of byte strings, ints,
lists and numpy arrays. An array is pickled as REDUCE(numpy.core.multiarray._reconstruct,
(numpy.ndarray, (0,), b"b")) followed by BUILD with (version, shape, dtype, is_fortran, raw bytes),
and its dtype as REDUCE(numpy.dtype, ("u1", 0, 1)) followed by BUILD with its byte-order state.
Those are the only globals a real file references (plus, in files written by Python 3 at protocol
2 or 5, `_codecs.encode` for byte strings and `numpy.core.numeric._frombuffer`).

`find_class` refuses every other global. And even those names are not resolved to numpy: each maps to
an inert stand-in here that only records its arguments (`_ArrayStub`, `_DtypeStub`), and the
arrays are built afterwards with `np.frombuffer` from the recorded bytes, for numeric dtypes only.
So a hostile file (an `os.system` in a __reduce__) is refused before anything of it runs, and a
file that names the allowed globals can at most produce wrong numbers, which the loader checks.
"""

from __future__ import annotations

import io
import pickle
from typing import IO, Any

from .errors import DataError

# Numeric dtype kinds an array may have: bool, signed and unsigned integers, floats.
_KINDS = set("biuf")


class _NdarrayMarker:
    """Stands for the global numpy.ndarray; only ever an argument of _reconstruct, never called."""

    def __call__(self, *args: Any) -> Any:
        raise pickle.UnpicklingError("numpy.ndarray called directly")


_NDARRAY = _NdarrayMarker()


class _DtypeStub:
    """Stands for numpy.dtype(code, align, copy); BUILD gives it the byte order."""

    def __init__(self, code: Any = None, align: Any = 0, copy: Any = 1):
        if isinstance(code, bytes):
            code = code.decode("ascii", "replace")
        if not isinstance(code, str) or len(code) > 4:
            raise pickle.UnpicklingError(f"dtype {code!r} is not a plain numeric type")
        self.code = code
        self.order = "|"

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) >= 2:
            order = state[1]
            if isinstance(order, bytes):
                order = order.decode("ascii", "replace")
            if order in ("<", ">", "|", "="):
                self.order = order
                return
        raise pickle.UnpicklingError(f"dtype state {state!r:.60} is not one numpy writes")

    def numpy(self) -> Any:
        import numpy as np

        code = self.code if self.code[:1] in "<>|=" else (self.order if self.order != "|" else "") + self.code
        try:
            dt = np.dtype(code)
        except TypeError as e:
            raise pickle.UnpicklingError(f"dtype {self.code!r}: {e}") from None
        if dt.kind not in _KINDS or dt.fields is not None or dt.subdtype is not None:
            raise pickle.UnpicklingError(f"dtype {self.code!r} is not a plain numeric type")
        return dt


class _ArrayStub:
    """Stands for numpy.core.multiarray._reconstruct(ndarray, shape, typecode); BUILD gives it
    (version, shape, dtype, is_fortran, raw bytes)."""

    def __init__(self) -> None:
        self.shape: tuple[int, ...] | None = None
        self.dtype: _DtypeStub | None = None
        self.fortran = False
        self.raw: bytes = b""

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 5:
            state = state[1:]  # (version, shape, dtype, is_fortran, raw)
        if not (isinstance(state, tuple) and len(state) == 4):
            raise pickle.UnpicklingError("array state is not one numpy writes")
        shape, dtype, fortran, raw = state
        if isinstance(raw, bytearray):
            raw = bytes(raw)
        if not (
            isinstance(shape, tuple)
            and all(isinstance(s, int) and s >= 0 for s in shape)
            and isinstance(dtype, _DtypeStub)
            and isinstance(fortran, bool)
            and isinstance(raw, bytes)
        ):
            raise pickle.UnpicklingError("array state is not (shape, dtype, is_fortran, bytes)")
        self.shape, self.dtype, self.fortran, self.raw = shape, dtype, fortran, raw

    def numpy(self) -> Any:
        import numpy as np

        if self.shape is None or self.dtype is None:
            raise pickle.UnpicklingError("an array without its data")
        dt = self.dtype.numpy()
        count = 1
        for s in self.shape:
            count *= s
        if count * dt.itemsize != len(self.raw):
            raise pickle.UnpicklingError(
                f"array of shape {self.shape} and dtype {dt} needs {count * dt.itemsize} bytes, the file has {len(self.raw)}"
            )
        return np.frombuffer(self.raw, dtype=dt).reshape(self.shape, order="F" if self.fortran else "C")


def _reconstruct(cls: Any, shape: Any = (0,), typecode: Any = b"b") -> _ArrayStub:
    if cls is not _NDARRAY:
        raise pickle.UnpicklingError("_reconstruct of something other than numpy.ndarray")
    return _ArrayStub()


def _frombuffer(buf: Any, dtype: Any, shape: Any, order: Any) -> _ArrayStub:
    """numpy.core.numeric._frombuffer, which numpy's protocol-5 pickles use."""
    arr = _ArrayStub()
    if isinstance(buf, pickle.PickleBuffer):
        buf = bytes(buf.raw())
    arr.__setstate__((shape, dtype, order == "F", buf))
    return arr


def _encode(text: Any, encoding: Any = "utf-8") -> bytes:
    """_codecs.encode, which Python 3 uses for byte strings at protocol 2: str to bytes, nothing else."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("_codecs.encode used for something other than bytes")
    return text.encode("latin1")


# The exact globals the format needs, each mapped to its stand-in (never to the real thing).
ALLOWED: dict[tuple[str, str], Any] = {}
for _mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
    ALLOWED[(_mod, "_reconstruct")] = _reconstruct
for _mod in ("numpy.core.numeric", "numpy._core.numeric"):
    ALLOWED[(_mod, "_frombuffer")] = _frombuffer
ALLOWED[("numpy", "ndarray")] = _NDARRAY
ALLOWED[("numpy", "dtype")] = _DtypeStub
ALLOWED[("_codecs", "encode")] = _encode


class RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refused global {module}.{name}: the CIFAR-10 format has only plain types and numeric numpy arrays"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("refused persistent id")


def _convert(obj: Any, depth: int = 0) -> Any:
    """Replace the stand-ins by numpy arrays, recursively through dicts, lists and tuples."""
    if depth > 20:
        raise pickle.UnpicklingError("nested too deeply")
    if isinstance(obj, _ArrayStub):
        return obj.numpy()
    if isinstance(obj, _DtypeStub):
        return obj.numpy()
    if isinstance(obj, dict):
        return {_convert(k, depth + 1): _convert(v, depth + 1) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_convert(v, depth + 1) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_convert(v, depth + 1) for v in obj)
    if obj is None or isinstance(obj, (bool, int, float, str, bytes)):
        return obj
    raise pickle.UnpicklingError(f"unexpected {type(obj).__name__} in the pickle")


def load(fh: IO[bytes] | bytes, name: str) -> Any:
    """Unpickle one CIFAR-10 file (a Python 2 pickle: byte strings stay bytes). Raises DataError with
    one line naming `name` for anything refused or malformed."""
    stream = io.BytesIO(fh) if isinstance(fh, (bytes, bytearray)) else fh
    try:
        obj = RestrictedUnpickler(stream, encoding="bytes").load()
        return _convert(obj)
    except DataError:
        raise
    except pickle.UnpicklingError as e:
        raise DataError(f"{name}: not a CIFAR-10 pickle: {e}") from None
    except RecursionError:
        raise DataError(f"{name}: not a CIFAR-10 pickle: nested too deeply") from None
    except Exception as e:  # a truncated or corrupt file: EOFError, ValueError, TypeError, ...
        msg = str(e).splitlines()[0] if str(e) else ""
        raise DataError(f"{name}: not a CIFAR-10 pickle: {type(e).__name__}{': ' + msg if msg else ''}") from None
