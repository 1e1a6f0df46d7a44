"""`python -m eos_tui.engine RUN_DIR`: the background engine process the live app starts."""

import sys

from .runner import main

if __name__ == "__main__":
    sys.exit(main())
