"""Shared test set-up: one torch thread per test process (CI has 2 cores and pytest-xdist uses both),
and the slow tests first, handed out one at a time, so that none is left to run alone at the end."""

import os

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")

try:  # the app tests must run without importing torch in *their* subprocesses; here it is fine
    import torch

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover
    pass


def pytest_configure(config: pytest.Config) -> None:
    """`-n 2` alone means xdist's "load": it sends each worker a chunk of ~30 consecutive tests up
    front, so the slow tests, which come first (below), would all land on one worker. "loadgroup"
    without any xdist_group mark hands out one test at a time to whichever worker is free: the
    longest-first order then balances the workers. An explicit --dist is left alone."""
    given = any(a == "--dist" or a.startswith("--dist=") for a in config.invocation_params.args)
    if getattr(config.option, "dist", "no") == "load" and not given:
        config.option.dist = "loadgroup"


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked slow (seconds each: they train) first, the rest in their usual order after them."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
