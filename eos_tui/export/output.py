"""Writing a file so that an interrupted or failed write leaves nothing half-written: into a hidden
temporary file beside the target, renamed over it only once complete."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

from ..rundir.reader import safe_text
from .errors import CommandError


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """A temporary path to write to; on success it replaces `target`, on any error (Ctrl-C too)
    it is removed and `target` is left as it was."""
    target = Path(target)
    if target.is_dir():
        raise CommandError(f"{safe_text(str(target))}: is a directory; -o names the file to write")
    parent = target.parent
    if not parent.is_dir():
        raise CommandError(f"{safe_text(str(target))}: the folder {safe_text(str(parent))} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as e:
        raise CommandError(f"{safe_text(str(target))}: cannot write: {e.strerror or e}", code=1) from None
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
