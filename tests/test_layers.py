"""The layers keep their imports clean (the brief's rule), checked in fresh interpreters.

- the run-directory format and reader import neither torch nor textual;
- the CLI module, and so `eos-tui --help`, `list` and `runs`, import neither;
- the engine never imports textual; the app never imports torch (tests/app checks the app);
- no module of eos_tui imports another that imports it back (not even inside a function);
- no module of eos_tui uses another's private (_name) names.
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
        # a run's lifecycle, used by the light commands (stop) as by the engine
        "eos_tui.rundir.session",
        "eos_tui.rundir.parsing",
        "eos_tui.rundir.records",
        "eos_tui.analysis.summary",
        # the self-stabilization map and stages, for the app's portrait as for the engine
        "eos_tui.analysis.selfstab",
        "eos_tui.scenario",
        "eos_tui.rundir.prepare",
        "eos_tui.cli",
        "eos_tui.cli.extras",
        # chooses the thread count before torch is imported (OpenMP reads the environment as torch starts)
        "eos_tui.engine.threads",
        "eos_tui.engine.boot",
        # the app and the commands start and stop engines: no torch until the engine process
        "eos_tui.engine.launch",
        # the architectures' registry: the schema and the engine read it; its families import torch
        "eos_tui.models",
    ],
)
def test_light_modules_import_neither_torch_nor_textual(module):
    mods = imported_after(f"import {module}")
    assert "torch" not in mods
    assert "textual" not in mods


def test_checking_a_scenario_on_the_new_data_kinds_imports_no_heavy_library():
    """`validate` and the app's scenario checks look for the digits' scikit-learn and MNIST's files
    without importing scikit-learn (and scipy behind it), numpy or torch: those come with the engine."""
    mods = imported_after(
        "import eos_tui.data.mnist, eos_tui.data.idx, eos_tui.data.digits, eos_tui.data.sort\n"
        "from eos_tui.scenario import load_scenario\nfrom eos_tui.scenario.checks import check_data\n"
        "check_data(load_scenario('digits'))"
    )
    assert not {"torch", "textual", "sklearn", "scipy", "numpy"} & mods


def test_import_eos_tui_is_light_and_the_monitor_loads_on_first_use():
    """`import eos_tui` (every command, the readers, the app) never pulls torch in; eos_tui.Monitor,
    which a training script imports, loads eos_tui.monitor (and torch) on first use, never textual."""
    assert not {"torch", "textual", "eos_tui.monitor"} & imported_after("import eos_tui")
    mods = imported_after("import eos_tui\nassert eos_tui.Monitor.__module__ == 'eos_tui.monitor.monitor'")
    assert "torch" in mods and "eos_tui.monitor" in mods
    assert "textual" not in mods


def test_monitor_run_directory_writer_imports_no_torch():
    """eos_tui/monitor/rundir.py takes plain values only: the run directory is written without torch."""
    mods = imported_after("import sys\n" + _LOAD_ALONE % "eos_tui.monitor.rundir")
    assert "eos_tui.monitor.rundir" in mods
    assert not {"torch", "textual"} & mods


# Loads one submodule of a package without running the package's __init__ (eos_tui/monitor/__init__
# imports the Monitor, hence torch).
_LOAD_ALONE = """
import importlib, types, eos_tui
name = %r
pkg = name.rsplit(".", 1)[0]
sys.modules[pkg] = types.ModuleType(pkg)
sys.modules[pkg].__path__ = [eos_tui.__path__[0] + "/" + pkg.split(".", 1)[1]]
importlib.import_module(name)
"""


def test_engine_never_imports_textual():
    mods = imported_after("import eos_tui.engine.runner")
    assert "torch" in mods
    assert "textual" not in mods


def test_architectures_never_import_textual():
    from eos_tui.models import ARCHITECTURES

    families = sorted({target.split(":")[0] for target in ARCHITECTURES.values()})
    assert families
    mods = imported_after("import " + ", ".join(families))
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


# format.py's writers of a run's manifest and status.json: only the run session (rundir/session.py)
# calls them, so a run's lifecycle has one owner (issue 21).
MANIFEST_WRITERS = {"new_manifest", "mark_run_ended", "overwrite_in_place", "manifest_lock", "write_status"}


def test_only_the_run_session_writes_the_manifest():
    import ast
    from pathlib import Path

    import eos_tui

    root = Path(eos_tui.__file__).parent
    owners = {root / "rundir" / "format.py", root / "rundir" / "session.py"}
    found = []
    for path in sorted(root.rglob("*.py")):
        if path in owners:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in MANIFEST_WRITERS:
                found.append(f"{path.relative_to(root)}:{node.lineno}: .{node.attr}")
            elif isinstance(node, ast.Name) and node.id in MANIFEST_WRITERS:
                found.append(f"{path.relative_to(root)}:{node.lineno}: {node.id}")
            elif isinstance(node, ast.ImportFrom):
                found += [f"{path.relative_to(root)}:{node.lineno}: imports {a.name}" for a in node.names if a.name in MANIFEST_WRITERS]
            elif isinstance(node, ast.Call) and "MANIFEST_FILE" in ast.dump(node) and "write_json_atomic" in ast.dump(node.func):
                found.append(f"{path.relative_to(root)}:{node.lineno}: write_json_atomic(... MANIFEST_FILE ...)")
    assert found == []


# ---- the import graph, read from the source --------------------------------------------------------

PACKAGE = Path(__file__).resolve().parents[1] / "eos_tui"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imported(name: str, tree: ast.Module) -> dict[str, str]:
    """The eos_tui modules `name` imports, anywhere in it (a function's body too), each bound to the
    local name it is known by ('' where none is bound: `from x import y` of a function or class)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in MODULES:
                    found[alias.name] = alias.asname or ""
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(up + ([node.module] if node.module else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if sub in MODULES:  # `from . import checks`: the module itself
                    found[sub] = alias.asname or alias.name
                elif base in MODULES:
                    found.setdefault(base, "")
    found.pop(name, None)
    return found


def _graph() -> dict[str, set[str]]:
    return {name: set(_imported(name, ast.parse(path.read_text(encoding="utf-8")))) for name, path in MODULES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            w = next(children, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                component = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    component.append(w)
                    if w == v:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_in_eos_tui():
    """scenario/checks.py imported the loader, and the loader imported checks back inside a function
    to dodge the cycle; a rule that needs the whole scenario belongs in the schema (ArmSpec) instead.
    Function-level imports count: they only hide a cycle."""
    assert "eos_tui.scenario.loader" in MODULES
    assert _cycles(_graph()) == []


# ---- private names ---------------------------------------------------------------------------------


def _private_uses(name: str, tree: ast.Module) -> list[tuple[int, str]]:
    """`from eos_tui.x import _name`, and `module._name` where `module` is an eos_tui module imported here."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    uses = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(up + ([node.module] if node.module else []))
            if base == "eos_tui" or base.startswith("eos_tui."):
                uses += [(node.lineno, a.name) for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
    bound = {local for local in _imported(name, tree).values() if local}
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in bound
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        ):
            uses.append((node.lineno, node.attr))
    return uses


def test_the_private_name_finder_finds_both_forms():
    name = "eos_tui.sweep.show"
    tree = ast.parse("from ..rundir.reader import _sanitize\nfrom ..rundir import reader as r\nr._suspect(b'')\n")
    assert _private_uses(name, tree) == [(1, "_sanitize"), (3, "_suspect")]


def test_no_module_of_eos_tui_uses_another_modules_private_names():
    """sweep/show.py took rundir.reader's `_sanitize`; it is `sanitize` now. A name another module
    needs is public: made so, or moved to where it is used."""
    offenders = []
    for name, path in MODULES.items():
        for line, private in _private_uses(name, ast.parse(path.read_text(encoding="utf-8"))):
            offenders.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {private}")
    assert offenders == []


# ---- one house for the commands (issue 21) ------------------------------------------------------

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


def test_the_app_takes_its_exit_code_without_the_command_line():
    """app.py uses cli.exit's ExitCode: that must not load typer and every command (cli/__init__.py is empty)."""
    mods = imported_after("import eos_tui.cli.exit")
    assert "typer" not in mods and "eos_tui.cli.commands" not in mods


def test_exit_codes_are_defined_once():
    """cli/exit.py's ExitCode: five modules each had their own EXIT_OK … EXIT_INTERRUPTED = 0, 1, 2, 130."""
    defined = []
    for f in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(f.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
                defined += [f"{f.relative_to(PACKAGE)}:{node.lineno} {n}" for n in names if n.startswith("EXIT_")]
    assert defined == []
    from eos_tui.cli.exit import ExitCode

    assert (ExitCode.OK, ExitCode.FAILED, ExitCode.USAGE, ExitCode.INTERRUPTED) == (0, 1, 2, 130)
