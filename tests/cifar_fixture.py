"""A tiny CIFAR-10 in the exact format of the official "python version" files, for the tests.

The official batches were written by Python 2's cPickle at protocol 2; Python 3 cannot write that
byte for byte (it pickles bytes through _codecs.encode at protocol 2), so `py2_pickle` emits the
opcodes by hand: SHORT_BINSTRING/BINSTRING for byte strings, numpy arrays as
numpy.core.multiarray._reconstruct + BUILD, dtypes as numpy.dtype + BUILD with the byte-order state.
"""

from __future__ import annotations

import io
import struct
import tarfile
from pathlib import Path

import numpy as np


def _str(b: bytes) -> bytes:
    return (b"U" + bytes([len(b)]) + b) if len(b) < 256 else (b"T" + struct.pack("<i", len(b)) + b)


def _int(v: int) -> bytes:
    if 0 <= v < 256:
        return b"K" + bytes([v])
    if 0 <= v < 65536:
        return b"M" + struct.pack("<H", v)
    return b"J" + struct.pack("<i", v)


def _global(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def _dtype(code: str) -> bytes:
    return (
        _global("numpy", "dtype")
        + _str(code.encode())
        + _int(0)
        + _int(1)
        + b"\x87R"
        + b"("
        + _int(3)
        + _str(b"|" if code[-1] == "1" else b"<")
        + b"NNN"
        + b"J\xff\xff\xff\xff"
        + b"J\xff\xff\xff\xff"
        + _int(0)
        + b"tb"
    )


def _obj(v) -> bytes:
    if isinstance(v, bytes):
        return _str(v)
    if isinstance(v, bool):
        return b"\x88" if v else b"\x89"
    if isinstance(v, int):
        return _int(v)
    if isinstance(v, list):
        return b"](" + b"".join(_obj(x) for x in v) + b"e" if v else b"]"
    if isinstance(v, dict):
        return b"}(" + b"".join(_obj(k) + _obj(x) for k, x in v.items()) + b"u"
    if isinstance(v, np.ndarray):
        code = {np.dtype(np.uint8): "u1", np.dtype("<f8"): "f8", np.dtype("<i8"): "i8"}[v.dtype]
        shape = b"(" + b"".join(_int(s) for s in v.shape) + b"t"
        return (
            _global("numpy.core.multiarray", "_reconstruct")
            + _global("numpy", "ndarray")
            + _int(0)
            + b"\x85"
            + _str(b"b")
            + b"\x87R"
            + b"("
            + _int(1)
            + shape
            + _dtype(code)
            + b"\x89"
            + _str(np.ascontiguousarray(v).tobytes())
            + b"tb"
        )
    raise TypeError(type(v))


def py2_pickle(obj) -> bytes:
    return b"\x80\x02" + _obj(obj) + b"."


NAMES = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]


def make_batches(per_batch: int = 8, test: int = 10, seed: int = 0) -> dict[str, dict]:
    rng = np.random.default_rng(seed)
    out = {}
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        m = test if name == "test_batch" else per_batch
        out[name] = {
            b"batch_label": f"batch {i + 1} of 5".encode(),
            b"labels": [int(v) for v in rng.integers(0, 10, m)],
            b"data": rng.integers(0, 256, (m, 3072), dtype=np.uint8),
            b"filenames": [f"img_{i}_{j}.png".encode() for j in range(m)],
        }
    out["batches.meta"] = {b"num_cases_per_batch": per_batch, b"label_names": NAMES, b"num_vis": 3072}
    return out


def write_folder(root: Path, batches: dict[str, dict]) -> Path:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    for name, d in batches.items():
        (folder / name).write_bytes(py2_pickle(d))
    return folder


def write_archive(path: Path, batches: dict[str, dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, d in batches.items():
            data = py2_pickle(d)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path
