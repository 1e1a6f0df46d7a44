"""Where `-o` writes, and how, so that nothing that is not ours is lost or replaced.

A regular file (or a name not there yet) is written into a hidden temporary file beside it and
renamed over it only once complete: an interrupted or failed write leaves nothing half-written.
Renaming over anything else would replace it: run as root, `-o /dev/null` turned the device into a
regular file, and `-o FIFO` left its reader waiting forever. So a character device or a FIFO
(`/dev/null`, a terminal, `mkfifo`) is written directly, as a shell's `>` would, and a name for one
of this process's descriptors (`/dev/stdout`, `/dev/fd/N`, `/proc/self/fd/N`) is written through
that descriptor, at its offset (`eos-tui export RUN -o /dev/stdout >> log` appends). A directory, a
socket or a block device is refused.

Inside a run directory or a sweep directory only a new file is written: never one of the run's own
files (metrics, checkpoints, status.json, landscape.json), a sweep's points.jsonl, or an earlier
export there, and never a name the engine or the sweep will write later.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Iterator

from ..rundir.format import (
    CHECKPOINT_DIR,
    ENGINE_LOG,
    LANDSCAPE_FILE,
    MANIFEST_FILE,
    METRICS_FILE,
    RESERVE_FILE,
    SCENARIO_FILE,
    STATUS_FILE,
)
from ..rundir.reader import is_eos_manifest, read_manifest, safe_text
from .errors import CommandError
from .exit import ExitCode

NEW, FILE, STREAM, DESCRIPTOR = "new", "file", "stream", "descriptor"

# A name for an open descriptor of this process: /dev/fd/N, /proc/self/fd/N, /proc/PID/fd/N (what
# /proc/self resolves to), /proc/PID/task/TID/fd/N, /proc/thread-self/fd/N.
_DESCRIPTOR = re.compile(r"/(?:dev/fd|proc/(?:self|thread-self|(\d+)(?:/task/\d+)?)/fd)/(\d+)")

# Sweep directories (eos_tui/sweep/store.py): spelled here, not imported, as importing the sweep
# package imports the scenario schema (a tenth of a second) for two names.
SWEEP_MARKERS = ("sweep.toml", "points.jsonl")
# Names in a run or sweep directory that are its own even while they do not exist yet (the engine
# writes status.json and landscape.json later, a sweep its points.jsonl), and the folders under
# which everything is its own: never a new export's.
OWN_NAMES = (
    METRICS_FILE,
    MANIFEST_FILE,
    SCENARIO_FILE,
    ENGINE_LOG,
    STATUS_FILE,
    LANDSCAPE_FILE,
    RESERVE_FILE,
    CHECKPOINT_DIR,
    *SWEEP_MARKERS,
    "points",
    ".lock",
)
_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISSOCK, "a socket"), (stat.S_ISBLK, "a block device"))


@dataclass(frozen=True)
class Destination:
    """What `-o PATH` names and how it is written: `kind` NEW or FILE (a regular file, or none yet:
    written atomically at `real`, symbolic links resolved), STREAM (a character device or FIFO:
    opened and written directly) or DESCRIPTOR (this process's descriptor `fd`)."""

    path: Path
    kind: str
    real: Path
    fd: int | None = None
    protected: Path | None = None  # the run or sweep directory `real` lies in: only a new file there


def descriptor_of(path: str | os.PathLike[str]) -> int | None:
    """The descriptor of this process that `path` names (following symbolic links one by one:
    /dev/stdout → /proc/self/fd/1), or None."""
    p = os.path.abspath(path)
    for _ in range(40):  # the kernel's own limit on a chain of links
        parent, name = os.path.split(p)
        for candidate in (p, os.path.join(os.path.realpath(parent), name)):
            m = _DESCRIPTOR.fullmatch(candidate)
            if m and (m.group(1) is None or int(m.group(1)) == os.getpid()):
                return int(m.group(2))
        try:
            link = os.readlink(p)
        except OSError:
            return None
        p = os.path.normpath(os.path.join(parent, link))
    return None


def protected_dir(real: Path) -> Path | None:
    """The run directory (an eos-tui manifest.json; a damaged one counts) or sweep directory
    (sweep.toml or points.jsonl) that `real` lies in, the nearest; None if none."""
    for d in real.parents:
        if (d / MANIFEST_FILE).is_file():
            manifest = read_manifest(d)
            if manifest is None or is_eos_manifest(manifest):
                return d
        if any((d / marker).is_file() for marker in SWEEP_MARKERS):
            return d
    return None


def destination(path: str | os.PathLike[str], *, run_dir: Path | None = None) -> Destination:
    """How `-o path` is written, or CommandError (one line) for what is refused. `run_dir`: the run
    being read, named in the refusal when `path` is one of its files."""
    path = Path(path)
    shown = safe_text(str(path))
    fd = descriptor_of(path)
    if fd is not None:
        try:
            mode = os.fstat(fd).st_mode
        except OSError:
            raise CommandError(f"-o {shown}: descriptor {fd} is not open") from None
        if stat.S_ISDIR(mode):
            raise CommandError(f"-o {shown}: descriptor {fd} is a directory; -o names the file to write")
        return Destination(path, DESCRIPTOR, path, fd=fd)
    real = Path(os.path.realpath(path))
    try:
        st = os.stat(real)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise CommandError(f"-o {shown}: cannot write: {e.strerror or e}", code=ExitCode.FAILED) from None
    if st is not None and (stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode)):
        return Destination(path, STREAM, real)
    if st is not None and not stat.S_ISREG(st.st_mode):
        what = next((words for test, words in _KINDS if test(st.st_mode)), "not a regular file")
        hint = "; -o names the file to write" if stat.S_ISDIR(st.st_mode) else ""
        raise CommandError(f"{shown}: is {what}, not a file that eos-tui may replace{hint}")
    if not real.parent.is_dir():
        raise CommandError(f"{shown}: the folder {safe_text(str(real.parent))} does not exist")
    owner = protected_dir(real)
    # a new name in a folder of the run's own (checkpoints/ARM/, a sweep's points/) is refused too:
    # the engine or the sweep writes there, and a sweep's point directory must be empty to start
    if owner is not None and (st is not None or real.relative_to(owner).parts[0] in OWN_NAMES):
        raise CommandError(_own_file_refusal(path, real, owner, run_dir))
    return Destination(path, FILE if st is not None else NEW, real, protected=owner)


def _own_file_refusal(path: Path, real: Path, owner: Path, run_dir: Path | None) -> str:
    shown = safe_text(str(path))
    sweep = any((owner / m).is_file() for m in SWEEP_MARKERS) and not (owner / MANIFEST_FILE).is_file()
    what = "sweep" if sweep else "run"
    whose = "the run's own" if run_dir is not None and not sweep and _same(owner, run_dir) else f"a {what}'s own"
    first = real.relative_to(owner).parts[0]
    if real.parent == owner and first in OWN_NAMES:
        return f"-o {shown}: that is {whose} {first}; write the export elsewhere"
    if first in OWN_NAMES:
        return f"-o {shown}: inside {safe_text(str(owner / first))}, where the {what} writes its own files; write elsewhere"
    return f"-o {shown}: a file that exists inside the {what} directory {safe_text(str(owner))}, never replaced; write to a new name"


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a.resolve() == Path(b).resolve()


@contextlib.contextmanager
def open_output(dest: Destination) -> Iterator[IO[bytes]]:
    """A binary file to write the whole output to. A FILE or NEW destination gets it only once the
    block ends without an error (a temporary file renamed over it; inside a run or sweep directory
    linked to its name, which fails if something took that name meanwhile); a STREAM or DESCRIPTOR
    gets what is written as it is written. A failed write (ENOSPC on /dev/full, a full disk) is
    CommandError with exit code 1."""
    shown = safe_text(str(dest.path))
    try:
        if dest.kind in (NEW, FILE):
            with _atomic(dest) as fh:
                yield fh
        elif dest.kind == STREAM:
            with open(dest.real, "wb") as fh:
                yield fh
        else:
            assert dest.fd is not None
            with os.fdopen(os.dup(dest.fd), "wb") as fh:  # a dup: closing it leaves stdout open
                yield fh
    except BrokenPipeError:
        raise  # `-o /dev/stdout | head`: the reader had enough; cli.main exits 1 quietly, as for stdout
    except OSError as e:
        raise CommandError(f"-o {shown}: cannot write: {e.strerror or e}", code=ExitCode.FAILED) from None


@contextlib.contextmanager
def _atomic(dest: Destination) -> Iterator[IO[bytes]]:
    target = dest.real
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fchmod(fh.fileno(), 0o666 & ~_umask())
        if dest.protected is not None:
            if _link_new(tmp, target, dest):
                os.unlink(tmp)
        else:
            os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _link_new(tmp: str, target: Path, dest: Destination) -> bool:
    """`tmp` as `target`, which must not exist: a hard link fails if the run wrote that name since
    `destination` looked (rename would replace it). True: linked (`tmp` is still there); False:
    renamed, on a file system without hard links (checked first: a narrow window)."""
    assert dest.protected is not None
    try:
        os.link(tmp, target)
        return True
    except FileExistsError:
        pass
    except OSError:
        if not os.path.lexists(target):
            os.replace(tmp, target)
            return False
    raise CommandError(_own_file_refusal(dest.path, target, dest.protected, None))


def write_bytes(dest: Destination, data: bytes | io.BytesIO) -> None:
    """Write `data` whole to `dest` (see open_output)."""
    with open_output(dest) as fh:
        fh.write(data.getvalue() if isinstance(data, io.BytesIO) else data)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# ---- standard streams that may be broken (`2>/dev/full`, a closed pipe): every command --------


class SafeStream:
    """stderr for the progress display: a write that fails (`2>/dev/full`, a closed pipe) is dropped,
    and the stream goes quiet. Progress output failing must not fail the run. Its descriptor is then
    pointed at /dev/null, so that Python's own flush at exit has nothing to fail on either."""

    def __init__(self, stream: Any):
        self._stream = stream
        self.broken = False

    def _broke(self) -> None:
        self.broken = True
        silence(self._stream)

    def write(self, text: str) -> int:
        if not self.broken:
            try:
                return self._stream.write(text)
            except (OSError, ValueError):
                self._broke()
        return len(text)

    def flush(self) -> None:
        if not self.broken:
            try:
                self._stream.flush()
            except (OSError, ValueError):
                self._broke()

    def isatty(self) -> bool:
        try:
            return bool(self._stream.isatty())
        except (OSError, ValueError):
            return False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def silence(stream: Any) -> None:
    """Point a broken standard stream's descriptor at /dev/null (best effort)."""
    try:
        fd = stream.fileno()
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, fd)
        finally:
            os.close(null)
    except (OSError, ValueError, AttributeError):
        pass
