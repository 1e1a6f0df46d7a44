"""The session lock: one process at a time writes a run directory (no torch, no textual).

The engine (a first `run`, in the background or headless) and `eos-tui resume` hold an exclusive
flock on RUN_DIR/.lock for their whole session. Two resumes started at once used to both train and
append, leaving every step twice in metrics.jsonl; the pid in the manifest cannot stop that (both
read "interrupted" before either writes). A flock is released by the kernel when its holder dies,
even by SIGKILL, so a lost engine never leaves the directory locked.

This is not `format.manifest_lock`, which is held for the moment of one manifest update (by the
engine and by the launcher alike); this one is held from the start of a session to its end, and a
second taker is refused at once (LOCK_NB), not made to wait. The file stays when the session ends:
unlinking a lock file races with the next taker (who may lock the unlinked file while a third
creates and locks a new one).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

LOCK_FILE = ".lock"


class RunBusy(RuntimeError):
    """Another process holds the run directory's session lock: one line saying so."""


class SessionLock:
    """An exclusive flock on RUN_DIR/.lock, taken by `acquire` (RunBusy if another process has it)
    and given back by `release` (or when the process exits). Not re-entrant: a second SessionLock
    on the same directory, even in the same process, is refused."""

    def __init__(self, run_dir: str | os.PathLike[str]):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_FILE
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> SessionLock:
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock (the pid check in the manifest still applies)
            return self
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(self.path, flags, 0o666)  # the umask applies, as to every file of the run
        except OSError as e:
            raise RunBusy(f"{self.path}: cannot open the run's lock file: {e.strerror or e}") from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):  # a FIFO or device put there is not ours to use
                raise RunBusy(f"{self.path} is not a regular file; the run's lock file must be one")
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RunBusy(f"{self.run_dir}: another eos-tui process is writing this run (it holds {LOCK_FILE})") from None
            except OSError:  # a file system without flock (some network mounts): go on unlocked
                pass
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return self

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # releases the flock

    def __enter__(self) -> SessionLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __del__(self) -> None:  # a Resume planned but never run: its lock goes with it
        try:
            self.release()
        except Exception:  # noqa: BLE001 - at interpreter exit; the kernel releases it anyway
            pass
