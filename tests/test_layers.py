"""The layers keep their imports clean (the brief's rule), checked in fresh interpreters.

- the run-directory format and reader import neither torch nor textual;
- the CLI module, and so `eos-tui --help`, `list` and `runs`, import neither;
- the engine never imports textual; the app never imports torch (tests/app checks the app).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

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
        "eos_tui.rundir.lock",
        "eos_tui.rundir.parsing",
        "eos_tui.rundir.records",
        "eos_tui.analysis.summary",
        "eos_tui.scenario",
        "eos_tui.rundir.prepare",
        "eos_tui.cli",
        "eos_tui.cli.extras",
        # chooses the thread count before torch is imported (OpenMP reads the environment as torch starts)
        "eos_tui.engine.threads",
        "eos_tui.engine.boot",
        # the app and the commands start and stop engines: no torch until the engine process
        "eos_tui.engine.launch",
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


@pytest.mark.parametrize("argv", [["--help"], ["list"], ["runs", "--root", "/nonexistent"], ["stop", "/nonexistent"]])
def test_cli_commands_that_must_stay_instant_import_neither(argv):
    code = "import sys\nsys.argv = ['eos-tui', *%r]\nfrom eos_tui.cli import app\ntry:\n    app()\nexcept SystemExit:\n    pass\n" % (argv,)
    mods = imported_after(code)
    assert "torch" not in mods
    assert "textual" not in mods


# ---- braille drawing without Textual (issue 19) --------------------------------------------------


def test_braille_imports_neither_textual_nor_torch():
    mods = imported_after(
        "import eos_tui.braille.canvas, eos_tui.braille.ticks, eos_tui.braille.downsample, eos_tui.braille.robust, eos_tui.braille.offscale"
    )
    assert "textual" not in mods and "torch" not in mods


def headless_command(argv: list[str]) -> set[str]:
    """The modules loaded by the end of `eos-tui ARGV` (its output goes to a pipe, not a terminal)."""
    code = "import sys\nsys.argv = ['eos-tui', *%r]\nfrom eos_tui.cli import app\n" % (argv,)
    code += "try:\n    app()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
    return imported_after(code)


def test_landscape_draws_without_loading_textual(tmp_path):
    """It printed with the app's canvas, which loaded ~140 Textual modules (3 s) for a print."""
    from eos_tui.engine.runner import run_scenario
    from eos_tui.rundir.prepare import prepare_run
    from eos_tui.scenario import load_scenario_text

    text = (
        'name = "layers"\nseed = 0\nsteps = 10\ndtype = "float64"\ndevice = "cpu"\n[data]\nkind = "none"\n'
        '[model]\nkind = "quadratic"\neigenvalues = [4.0, 1.0]\n[optimizer]\nkind = "gd"\nlr = 0.1\n[measure]\nsharpness_every = 0\n'
        '[[arm]]\nname = "a"\nmodel.init = [1.0, 1.0]\n[[arm]]\nname = "b"\nmodel.init = [-1.0, 2.0]\n'
    )
    sc = load_scenario_text(text, source="<test>")
    run = prepare_run(sc, out=tmp_path / "run")
    run_scenario(sc, run)
    mods = headless_command(["landscape", str(run), "--points", "5"])
    assert "eos_tui.braille.canvas" in mods  # it drew
    assert "textual" not in mods


def test_sweep_show_never_loads_textual(tmp_path):
    from eos_tui.sweep.grid import Sweep
    from eos_tui.sweep.store import SweepDir

    sweep = Sweep(name="m", description="", scenario={"name": "m"}, source="<test>", grid=[("optimizer.lr", [0.1, 0.2]), ("seed", [0])])
    with SweepDir.open(tmp_path / "m", sweep) as d:
        for i, p in enumerate(sweep.points()):
            arm = {"name": "main", "status": "completed", "eos_ratio": 1.0, "outcome": "lazy"}
            d.append({"index": i, "point": p, "run_dir": f"points/p{i:04d}", "status": "completed", "outcome": "lazy", "arms": [arm]})
    mods = headless_command(["sweep", "show", str(tmp_path / "m")])
    assert "eos_tui.sweep.show" in mods
    assert "textual" not in mods


# ---- one house for the commands (issue 21) ------------------------------------------------------

PACKAGE = Path(__file__).resolve().parent.parent / "eos_tui"
COMMANDS = sorted(f"eos_tui.cli.{f.stem}" for f in (PACKAGE / "cli").glob("*.py") if f.stem not in ("__init__", "__main__"))


def test_the_package_root_holds_only_its_init_and_main():
    """Commands live in cli/, the engine's launching in engine/, a run directory's making in rundir/."""
    assert sorted(f.name for f in PACKAGE.glob("*.py")) == ["__init__.py", "__main__.py"]


@pytest.mark.parametrize("module", COMMANDS)
def test_every_command_module_imports_neither_torch_nor_textual(module):
    """Each command imports what is heavy inside its function: `serve` and `watch` load textual only
    when they open the app, `run --headless`, `resume`, `landscape` load torch only when they train."""
    mods = imported_after(f"import {module}")
    assert "torch" not in mods
    assert "textual" not in mods


def _modules() -> list[tuple[Path, ast.Module]]:
    return [(f, ast.parse(f.read_text(encoding="utf-8"))) for f in sorted(PACKAGE.rglob("*.py"))]


def test_no_module_reaches_for_another_modules_private_names():
    """The brief's rule: a name another module needs is public (headless's stream wrapper, the
    run-directory format's NaN cleaning and the reader's string cleaning were reached for as _names)."""
    private = []
    for f, tree in _modules():
        ours = set()  # names bound by imports of eos_tui's own modules
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("eos_tui")):
                for a in node.names:
                    if a.name.startswith("_") and not a.name.startswith("__"):
                        private.append(f"{f.relative_to(PACKAGE)}:{node.lineno} imports {a.name}")
                    ours.add(a.asname or a.name)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in ours:
                if node.attr.startswith("_") and not node.attr.startswith("__"):
                    private.append(f"{f.relative_to(PACKAGE)}:{node.lineno} uses {node.value.id}.{node.attr}")
    assert private == []


def test_exit_codes_are_defined_once():
    """cli/exit.py's ExitCode: five modules each had their own EXIT_OK … EXIT_INTERRUPTED = 0, 1, 2, 130."""
    defined = []
    for f, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
                defined += [f"{f.relative_to(PACKAGE)}:{node.lineno} {n}" for n in names if n.startswith("EXIT_")]
    assert defined == []
    from eos_tui.cli.exit import ExitCode

    assert (ExitCode.OK, ExitCode.FAILED, ExitCode.USAGE, ExitCode.INTERRUPTED) == (0, 1, 2, 130)
