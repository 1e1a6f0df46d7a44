"""The install command in every "needs X, which is not installed" message (eos_tui/cli/extras.py) fits how
eos-tui was installed: from a package index, from a clone (editable or not), or unknown."""

from __future__ import annotations

import json
from importlib import metadata

import pytest

from eos_tui.cli import extras


class FakeDist:
    def __init__(self, direct_url):
        self.direct_url = direct_url

    def read_text(self, name):
        assert name == "direct_url.json"
        return None if self.direct_url is None else json.dumps(self.direct_url)


def installed(monkeypatch, direct_url, found=True):
    def distribution(name):
        assert name == "eos-tui"
        if not found:
            raise metadata.PackageNotFoundError(name)
        return FakeDist(direct_url)

    monkeypatch.setattr(extras.metadata, "distribution", distribution)


@pytest.mark.parametrize(
    "direct_url, found, want",
    [
        (None, True, "pip install 'eos-tui[plot]'"),  # from the index: no direct URL recorded
        ({"url": "file:///src/eos-tui", "dir_info": {"editable": True}}, True, "pip install -e '/src/eos-tui[plot]'"),
        ({"url": "file:///src/my%20clone", "dir_info": {}}, True, "pip install '/src/my clone[plot]'"),
        ({"url": "https://example.org/eos_tui-1.0-py3-none-any.whl", "archive_info": {}}, True, "pip install 'eos-tui[plot]'"),
        (None, False, "pip install 'eos-tui[plot]', or from a clone: pip install '.[plot]'"),  # a source tree on PYTHONPATH
    ],
    ids=["index", "editable-clone", "clone", "archive", "unknown"],
)
def test_install_hint_fits_the_install(monkeypatch, direct_url, found, want):
    installed(monkeypatch, direct_url, found)
    assert extras.install_hint("plot") == want


@pytest.mark.parametrize(
    "module, call",
    [
        ("eos_tui.cli.errors", lambda m: str(m.missing_extra("matplotlib", "plot", "eos-tui plot"))),
        ("eos_tui.sweep.executors", lambda m: m.ray_missing()),
    ],
)
def test_every_missing_extra_message_uses_it(monkeypatch, module, call):
    """Regression: the messages said pip install 'eos-tui[EXTRA]' also from a clone, where it is wrong."""
    import importlib

    installed(monkeypatch, {"url": "file:///src/eos-tui", "dir_info": {"editable": True}})
    msg = call(importlib.import_module(module))
    assert "pip install -e '/src/eos-tui[" in msg and "eos-tui[" not in msg.replace("/src/eos-tui[", ""), msg
    assert "\n" not in msg
