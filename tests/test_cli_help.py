"""The command line's front door: `eos-tui` alone, --version, --help without <bool> placeholders,
shell completion of scenario names, and what --json without --headless does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.main import get_command
from typer.testing import CliRunner

import eos_tui
from eos_tui.cli import app
from eos_tui.cli.completion import builtin_names, builtin_sweep_names, complete_scenario, complete_sweep


def eos(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    full = dict(os.environ, COLUMNS="100", OMP_NUM_THREADS="1", **(env or {}))
    return subprocess.run([sys.executable, "-m", "eos_tui.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=full)


def test_bare_command_prints_the_help_and_exits_0(tmp_path):
    r = eos(cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "Usage: eos-tui" in r.stdout and "run" in r.stdout and "--version" in r.stdout


def test_version(tmp_path):
    r = eos("--version", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"eos-tui {eos_tui.__version__}"


def _commands(group, prefix=()):
    yield prefix
    for name, cmd in getattr(group, "commands", {}).items():
        yield from _commands(cmd, (*prefix, name))


@pytest.mark.parametrize("path", list(_commands(get_command(app))), ids=lambda p: " ".join(p) or "eos-tui")
def test_help_shows_no_bool_placeholder(path):
    r = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "120"})
    assert r.exit_code == 0, r.output
    assert "<bool>" not in r.output
    assert "--help" in r.output


def test_run_help_still_shows_value_types():
    r = CliRunner().invoke(app, ["run", "--help"], env={"COLUMNS": "120"})
    assert "<int>" in r.output and "KEY=VALUE" in r.output  # only flags lost their type


def test_completion_options_are_offered(tmp_path):
    r = eos("--show-completion", "bash", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "_EOS_TUI_COMPLETE" in r.stdout and "complete" in r.stdout


def test_complete_scenario_names_and_toml_paths(tmp_path, monkeypatch):
    assert {"catapult", "eos", "quadratic"} <= set(builtin_names())
    (tmp_path / "mine.toml").write_text("")
    (tmp_path / "notes.txt").write_text("")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "deep.toml").write_text("")
    (tmp_path / ".hidden.toml").write_text("")
    monkeypatch.chdir(tmp_path)
    assert complete_scenario("ca") == ["catapult"]
    assert complete_scenario("m") == ["mine.toml"]
    assert complete_scenario("") == [*builtin_names(), "mine.toml", "sub/"]
    assert complete_scenario("sub/") == ["sub/deep.toml"]
    assert complete_scenario("./s") == ["./sub/"]
    assert complete_scenario(f"{tmp_path}/m") == [f"{tmp_path}/mine.toml"]
    assert complete_scenario("nowhere/x") == []


def test_complete_sweep_offers_the_builtin_sweeps(tmp_path, monkeypatch):
    """Regression: `eos-tui sweep <Tab>` offered no built-in sweep (they are in sweeps/, not scenarios/)."""
    assert builtin_sweep_names() == ["catapult-phase", "sgd-batch", "warmup-phase"]
    (tmp_path / "grid.toml").write_text("")
    monkeypatch.chdir(tmp_path)
    assert complete_sweep("catapult") == ["catapult-phase", "catapult"]
    assert complete_sweep("sgd") == ["sgd-batch", "sgd_vs_gd"]
    assert complete_sweep("sh") == ["show"]
    assert complete_sweep("g") == ["grid.toml"]
    assert complete_sweep("") == ["catapult-phase", "sgd-batch", "warmup-phase", "show", *builtin_names(), "grid.toml"]


def test_shell_completion_completes_scenarios_without_heavy_imports(tmp_path):
    """Through the shell protocol, as bash calls it on Tab; the completion must import neither
    torch, textual nor the scenario schema, or every Tab would wait for them. (pydantic itself typer
    0.29 imports to convert option values, in every command: not ours to avoid.)"""
    (tmp_path / "cat-mine.toml").write_text("")
    probe = (
        "import json, sys\nfrom eos_tui.cli import app\ntry:\n    app(prog_name='eos-tui')\nexcept SystemExit:\n    pass\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'textual') or m.startswith('eos_tui.scenario'))))"
    )
    for cmd in ("run", "show", "validate", "sweep"):
        env = dict(os.environ, _EOS_TUI_COMPLETE="complete_bash", COMP_WORDS=f"eos-tui {cmd} ca", COMP_CWORD="2")
        r = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=60)
        lines = r.stdout.strip().splitlines()
        assert json.loads(lines[-1]) == [], lines[-1]
        sweeps = ["catapult-phase"] if cmd == "sweep" else []
        assert lines[:-1] == [*sweeps, "catapult", "cat-mine.toml"], (cmd, r.stdout, r.stderr)


def test_json_implies_headless_and_says_so(tmp_path):
    r = CliRunner().invoke(app, ["run", "--help"], env={"COLUMNS": "200"})
    assert "implies --headless" in r.output
    r = eos("run", "quadratic", "--json", "--steps", "3", "--out", "q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["scenario"] == "quadratic"


def test_json_with_detach_is_refused_naming_json(tmp_path):
    r = eos("run", "quadratic", "--json", "--detach", "--out", "q", cwd=tmp_path)
    assert r.returncode == 2
    assert "--json (which implies --headless) and --detach" in r.stderr
    assert not (tmp_path / "q").exists()
