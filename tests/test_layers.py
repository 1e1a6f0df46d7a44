"""The layers keep their imports clean (the brief's rule), checked in fresh interpreters.

- the run-directory format and reader import neither torch nor textual;
- the CLI module, and so `eos-tui --help`, `list` and `runs`, import neither;
- the engine never imports textual; the app never imports torch (tests/app checks the app).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def imported_after(code: str) -> set[str]:
    probe = code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "module",
    [
        "eos_tui.rundir",
        "eos_tui.rundir.reader",
        "eos_tui.analysis.summary",
        "eos_tui.scenario",
        "eos_tui.prepare",
        "eos_tui.cli",
        # chooses the thread count before torch is imported (OpenMP reads the environment as torch starts)
        "eos_tui.engine.threads",
        "eos_tui.engine.boot",
    ],
)
def test_light_modules_import_neither_torch_nor_textual(module):
    mods = imported_after(f"import {module}")
    assert "torch" not in mods
    assert "textual" not in mods


def test_engine_never_imports_textual():
    mods = imported_after("import eos_tui.engine.runner")
    assert "torch" in mods
    assert "textual" not in mods


@pytest.mark.parametrize("argv", [["--help"], ["list"], ["runs", "--root", "/nonexistent"]])
def test_cli_commands_that_must_stay_instant_import_neither(argv):
    code = "import sys\nsys.argv = ['eos-tui', *%r]\nfrom eos_tui.cli import app\ntry:\n    app()\nexcept SystemExit:\n    pass\n" % (argv,)
    mods = imported_after(code)
    assert "torch" not in mods
    assert "textual" not in mods
