"""Shared test set-up: one torch thread per test process (CI has 2 cores and pytest-xdist uses both),
and the slow tests first, handed out one at a time, so that none is left to run alone at the end."""

import os
import shlex

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
    hands out one test at a time to whichever worker is free (the longest-first order then balances
    the workers), and keeps the tests of one xdist_group mark on one worker (tests/app/test_real_run.py
    makes its engine runs once for all its tests). An explicit --dist is left alone."""
    # xdist registers this mark itself; without xdist (-p no:xdist) it would warn as unknown
    config.addinivalue_line("markers", "xdist_group(name): tests that pytest-xdist runs on one worker")
    args = [*config.invocation_params.args, *config.getini("addopts"), *shlex.split(os.environ.get("PYTEST_ADDOPTS", ""))]
    if any(a == "--dist" or a.startswith("--dist=") for a in args):
        return
    if getattr(config.option, "dist", "no") == "load":  # the controller
        config.option.dist = "loadgroup"
    elif hasattr(config, "workerinput"):  # a worker: it reads the mode from the command line, not from us
        config.option.loadgroup = True


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked slow (seconds each: they train) first, the rest in their usual order after them."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(autouse=True)
def _signal_handlers_restored():
    """Each test starts with the signal handlers the test process had. A headless run stopped by a
    signal in-process leaves SIGINT and SIGTERM ignored on purpose (a CLI process then only exits,
    cli/headless.py), and a child started later inherits SIG_IGN: a test of `eos-tui stop` then
    waited 60 s on a fake engine that could no longer be interrupted, whenever it ran after one."""
    import signal

    names = ("SIGINT", "SIGTERM", "SIGHUP")
    saved = {s: signal.getsignal(s) for s in (getattr(signal, n, None) for n in names) if s is not None}
    yield
    for sig, handler in saved.items():
        if handler is not None and signal.getsignal(sig) is not handler:
            signal.signal(sig, handler)
