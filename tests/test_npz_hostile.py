"""An npz that declares more than it holds, or more than memory holds (issue 20): `validate` read
all of y to count the classes, 2 GB for a file of a few MB whose header said 2·10⁹ int8 labels, and
under a memory limit ended in numpy's traceback. The headers are now checked against the zip entries
before any data is read, the labels counted a few MB at a time, and a MemoryError in `load` is one
line like any other unusable file."""

from __future__ import annotations

import io
import os
import resource
import struct
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from eos_tui.data import DataError, npz

HUGE = 2_000_000_000


def header(shape: tuple[int, ...], descr: str = "|i1") -> bytes:
    b = io.BytesIO()
    np.lib.format.write_array_header_1_0(b, {"descr": descr, "fortran_order": False, "shape": shape})
    return b.getvalue()


def lying_npz(path: Path) -> Path:
    """X (2·10⁹, 1) and y (2·10⁹,) int8 by their headers, 1000 bytes each in fact."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("X.npy", header((HUGE, 1)) + bytes(1000))
        zf.writestr("y.npy", header((HUGE,)) + bytes(1000))
    return path


def zeros_npz(path: Path, rows: int) -> Path:
    """X (rows, 1) and y (rows,) int8 zeros, deflated: what the file says is true, and it is small."""
    chunk = bytes(1 << 22)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, shape in (("X.npy", (rows, 1)), ("y.npy", (rows,))):
            with zf.open(name, "w", force_zip64=True) as fh:
                fh.write(header(shape))
                left = rows
                while left:
                    fh.write(chunk[: min(left, len(chunk))])
                    left -= min(left, len(chunk))
    return path


def scenario(tmp_path: Path, data: Path) -> Path:
    text = f"""\
        steps = 3
        dtype = "float64"
        device = "cpu"
        loss = "cross-entropy"
        [optimizer]
        lr = 0.01
        [model]
        hidden = [4]
        [data]
        kind = "npz"
        path = "{data}"
        """
    path = tmp_path / "s.toml"
    path.write_text(textwrap.dedent(text))
    return path


def limited(code: str, limit_bytes: int, cwd: Path) -> subprocess.CompletedProcess:
    """`code` in a fresh interpreter whose address space is capped (ulimit -v)."""

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))

    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120, env=env, preexec_fn=cap)


def test_a_header_that_declares_more_than_the_member_holds_is_refused_at_once(tmp_path):
    path = str(lying_npz(tmp_path / "lie.npz"))
    t = time.perf_counter()
    with pytest.raises(DataError) as e:
        npz.inspect(path)
    assert time.perf_counter() - t < 1.0
    assert str(e.value) == (
        f"{path}: array 'X' declares shape ({HUGE}, 1) of int8 (2.0 GB) but holds 1000 bytes: a damaged or hand-made file"
    )


def test_validate_under_a_memory_limit_says_one_line(tmp_path):
    """Under `ulimit -v` numpy's 2 GB allocation for y was a traceback (_ArrayMemoryError)."""
    toml = scenario(tmp_path, lying_npz(tmp_path / "lie.npz"))
    code = f"import sys; sys.argv = ['eos-tui', 'validate', {str(toml)!r}]; from eos_tui.cli import main; main()"
    r = limited(code, 1536 << 20, tmp_path)
    out = r.stdout + r.stderr
    assert r.returncode == 2, out
    assert "Traceback" not in out and "MemoryError" not in out, out
    assert [line for line in out.splitlines() if "lie.npz: array 'X' declares shape" in line], out


def _patch_sizes(path: Path, member: str, size: int) -> None:
    """Write `size` as the member's uncompressed size, in its local header and the central directory."""
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(member)
    raw[info.header_offset + 22 : info.header_offset + 26] = struct.pack("<I", size)
    central = raw.index(b"PK\x01\x02")  # the first entry of the central directory
    while True:
        name_len = struct.unpack("<H", raw[central + 28 : central + 30])[0]
        if raw[central + 46 : central + 46 + name_len].decode() == member:
            raw[central + 24 : central + 28] = struct.pack("<I", size)
            break
        extra, comment = struct.unpack("<HH", raw[central + 30 : central + 34])
        central += 46 + name_len + extra + comment
    path.write_bytes(bytes(raw))


def test_a_zip_entry_that_claims_more_than_deflate_can_hold_is_refused(tmp_path):
    """The directory lies too (it says the 2 GB are there): no deflated member of a few hundred bytes
    holds 2 GB, so the file is refused before numpy allocates them."""
    path = tmp_path / "dir-lie.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("X.npy", header((HUGE, 1)) + bytes(1000))
        zf.writestr("y.npy", header((HUGE,)) + bytes(1000))
    _patch_sizes(path, "X.npy", HUGE + len(header((HUGE, 1))))
    with zipfile.ZipFile(path) as zf:
        assert zf.getinfo("X.npy").file_size == HUGE + len(header((HUGE, 1)))
    with pytest.raises(DataError, match=r"array 'X': its zip entry claims 2\.0 GB from \d+ bytes .* cannot be"):
        npz.inspect(str(path))


ROWS = 100_000_000


@pytest.fixture(scope="module")
def big(tmp_path_factory) -> Path:
    """A true, compressible file of 10⁸ rows: 100 MB of int8 labels, a few hundred KB deflated."""
    path = zeros_npz(tmp_path_factory.mktemp("npz") / "big.npz", ROWS)
    assert path.stat().st_size < 1 << 20
    return path


def test_the_labels_are_counted_in_bounded_memory(big):
    """The class count read all of y at once (+100 MB here, 2 GB for the issue's file); now a few
    MB at a time."""
    path = big
    code = textwrap.dedent(
        f"""
        from eos_tui.data import npz
        import numpy, zipfile

        def peak_kb():  # VmHWM: this process's peak (ru_maxrss would count the parent's, from before exec)
            return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))

        before = peak_kb()
        info = npz.inspect({str(path)!r})
        print(info.classes, info.n, (peak_kb() - before) // 1024)
        """
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    classes, n, grew_mb = map(int, r.stdout.split())
    assert (classes, n) == (2, ROWS)
    assert grew_mb < 32, grew_mb  # a 4 MB chunk and its copy; reading all of y: about 100


def test_load_beyond_memory_is_one_line(big, tmp_path):
    """A file whose sizes are true but whose X, as float64, is more than the memory there is (800 MB
    under a 600 MB limit; the interpreter with numpy is about 110 MB of it)."""
    path = big
    code = textwrap.dedent(
        f"""
        from eos_tui.data import DataError, npz
        try:
            npz.load({str(path)!r})
        except DataError as e:
            print(e)
        """
    )
    r = limited(code, 600 << 20, tmp_path)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert r.stdout.strip() == f"{path}: too large for this machine's memory (X alone is 800.0 MB as float64); set data.n smaller"
