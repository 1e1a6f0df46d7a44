"""`python -m eos_tui.engine RUN_DIR`: the background engine process the live app starts.

(launch.start_engine starts it with `python -c`, never with the current directory on sys.path;
started by hand with -m, the current directory is dropped here, before torch and numpy are
imported, so that a numpy.py lying there is not run.)"""

import os
import sys

if sys.path and sys.path[0] in ("", ".", os.getcwd()):
    del sys.path[0]

from .boot import main  # noqa: E402 - after the sys.path fix, on purpose

if __name__ == "__main__":
    sys.exit(main())
