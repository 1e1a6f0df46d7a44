"""Shared test set-up: one torch thread per test process (CI has 2 cores and pytest-xdist uses both)."""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

try:  # the app tests must run without importing torch in *their* subprocesses; here it is fine
    import torch

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover
    pass
