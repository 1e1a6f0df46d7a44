"""Input the CLI must refuse with one clear line and exit 2, writing nothing: a --set that would be
silently dropped or ignored, and the app started where it cannot work (no terminal, TERM=dumb, an
absurd --fps), which used to hang, write escape codes into a pipe and spin the CPU."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from eos_tui.scenario import ScenarioError, load_scenario, load_scenario_text

MINIMAL = "[optimizer]\nlr = 0.1\n"
TWO_ARMS = MINIMAL + '[[arm]]\nname = "a"\noptimizer.lr = 0.2\n[[arm]]\nname = "b"\noptimizer.lr = 0.3\n'


def eos(*args: str, cwd: Path, timeout: float = 60, **kwargs) -> subprocess.CompletedProcess:
    env = dict(os.environ, COLUMNS="120", OMP_NUM_THREADS="1")
    env.update(kwargs.pop("env", {}))
    kwargs.setdefault("stdin", subprocess.DEVNULL)
    kwargs.setdefault("capture_output", True)
    return subprocess.run([sys.executable, "-m", "eos_tui.cli", *args], cwd=cwd, text=True, timeout=timeout, env=env, **kwargs)


def refused(r: subprocess.CompletedProcess, cwd: Path, *words: str) -> str:
    """Exit 2, one line on stderr naming `words`, no traceback, nothing written under cwd."""
    err = r.stderr
    assert r.returncode == 2, (r.returncode, r.stdout, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    for w in words:
        assert w in err, err
    assert not list(cwd.iterdir()), list(cwd.iterdir())
    return err


def error_of(text: str, overrides: list[str]) -> str:
    with pytest.raises(ScenarioError) as info:
        load_scenario_text(text, source="t.toml", default_name="t", overrides=overrides)
    msg = str(info.value)
    assert "\n" not in msg
    return msg


# ---- --set -------------------------------------------------------------------------------------


def test_set_with_a_newline_is_refused_not_half_applied():
    # TOML read the second line as a second key, and the loader kept only the first.
    msg = error_of(MINIMAL, ["optimizer.lr=0.05\nsteps=999999"])
    assert "one KEY=VALUE per --set" in msg
    for bad in ["optimizer.lr=0.05\rsteps=9", "steps=5\x1b]2;x\x07"]:
        assert "one KEY=VALUE per --set" in error_of(MINIMAL, [bad])


def test_set_below_a_value_is_refused_not_ignored():
    # optimizer.lr.x put a table where lr goes; every arm's own lr then replaced it silently.
    for text in (MINIMAL, TWO_ARMS):
        msg = error_of(text, ["optimizer.lr.x=1"])
        assert "optimizer.lr is a value, not a table" in msg
    assert "steps is a value, not a table" in error_of(MINIMAL, ["steps.x=1"])
    assert "optimizer.lr takes a value, not a table" in error_of(TWO_ARMS, ["optimizer.lr={x=1}"])
    assert "nosuch: unknown key" in error_of(MINIMAL, ["nosuch.lr=1"])
    assert "arms cannot be set" in error_of(MINIMAL, ["arm.name=x"])


def test_set_name_is_refused_for_the_right_reason():
    for text in (MINIMAL, TWO_ARMS):
        msg = error_of(text, ["name=foo"])
        assert "the scenario's name cannot be set with --set" in msg and "changes no arm" not in msg
    with pytest.raises(ScenarioError, match="scenario's name"):
        load_scenario("eos", overrides=["name=foo"])


def test_good_sets_still_work():
    sc = load_scenario_text(
        TWO_ARMS, source="t.toml", default_name="t", overrides=["steps=7", "optimizer.momentum=0.5", "measure = {eigenvalues = 2}"]
    )
    assert [(a.steps, a.optimizer.momentum, a.measure.eigenvalues) for a in sc.arms] == [(7, 0.5, 2)] * 2


@pytest.mark.parametrize(
    "bad, words",
    [
        ("optimizer.lr=0.05\nsteps=999999", ["one KEY=VALUE per --set"]),
        ("optimizer.lr.x=1", ["optimizer.lr is a value"]),
        ("name=foo", ["scenario's name"]),
    ],
)
def test_cli_refuses_bad_sets(tmp_path, bad, words):
    for mode in (["--headless"], ["--detach"]):
        refused(eos("run", "quadratic", *mode, "--set", bad, cwd=tmp_path), tmp_path, "--set", *words)


# ---- the app without a proper terminal ---------------------------------------------------------


def fake_run_dir(root: Path) -> Path:
    run = root / "r"
    run.mkdir()
    (run / "manifest.json").write_text('{"format": 1, "status": "completed", "scenario": "x", "arms": {}}\n')
    (run / "metrics.jsonl").write_text("")
    return run


def test_run_without_a_tty_refuses_with_a_hint(tmp_path):
    # stdout a pipe (the common case: `eos-tui run x | tee`), stdin a pipe or /dev/null.
    r = eos("run", "quadratic", "--steps", "5", cwd=tmp_path, timeout=60)
    err = refused(r, tmp_path, "needs a terminal", "--headless", "--detach")
    assert "\x1b" not in r.stdout + err


def test_watch_without_a_tty_refuses(tmp_path):
    run = fake_run_dir(tmp_path)
    r = eos("watch", str(run), cwd=run, timeout=60)
    err = r.stderr
    assert r.returncode == 2 and "needs a terminal" in err and len(err.strip().splitlines()) == 1, err
    assert "\x1b" not in r.stdout


def in_pty(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """stdin, stdout and stderr on a pseudo-terminal (so the TTY check passes; the app draws on
    stderr), the terminal's output returned as `stderr` (a refusal is all a refused run writes)."""
    import pty
    import select

    master, slave = pty.openpty()
    try:
        full_env = dict(os.environ, COLUMNS="120", OMP_NUM_THREADS="1", **env)
        proc = subprocess.Popen(
            [sys.executable, "-m", "eos_tui.cli", *args], cwd=cwd, env=full_env, stdin=slave, stdout=slave, stderr=slave
        )
        os.close(slave)
        chunks: list[bytes] = []
        while True:
            ready, _, _ = select.select([master], [], [], 20)
            if not ready:
                proc.kill()
                break
            try:
                data = os.read(master, 4096)
            except OSError:  # EIO: the child closed its side
                break
            if not data:
                break
            chunks.append(data)
        code = proc.wait(timeout=60)
    finally:
        os.close(master)
    text = b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")
    return subprocess.CompletedProcess(proc.args, code, stdout="", stderr=text)


@pytest.mark.skipif(sys.platform == "win32", reason="pty")
def test_term_dumb_is_refused(tmp_path):
    r = in_pty(["run", "quadratic", "--steps", "5"], tmp_path, {"TERM": "dumb"})
    refused(r, tmp_path, "TERM=dumb", "--headless")
    run = fake_run_dir(tmp_path)
    r = in_pty(["watch", str(run)], tmp_path, {"TERM": "dumb"})
    assert r.returncode == 2 and "TERM=dumb" in r.stderr, r.stderr


@pytest.mark.parametrize("fps", ["1e9", "0", "-1", "nan", "0.1", "31"])
def test_fps_out_of_range_is_refused(tmp_path, fps):
    r = eos("run", "quadratic", "--fps", fps, cwd=tmp_path)
    refused(r, tmp_path, "--fps", "between 0.5 and 30")
    run = fake_run_dir(tmp_path)
    r = eos("watch", str(run), "--fps", fps, cwd=tmp_path)
    assert r.returncode == 2 and "between 0.5 and 30" in r.stderr, r.stderr


def test_headless_needs_no_terminal(tmp_path):
    r = eos("run", "quadratic", "--headless", "--steps", "3", "--out", "q", cwd=tmp_path, timeout=120)
    assert r.returncode == 0, r.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="pty")
def test_a_redirected_stderr_is_refused(tmp_path):
    """Review regression: `eos-tui run eos 2>file` in a terminal left the screen blank and wrote
    the app's escape codes into the file (Textual draws on stderr)."""
    import pty

    master, slave = pty.openpty()
    try:
        r = eos("run", "quadratic", "--steps", "5", cwd=tmp_path, stdin=slave, stdout=slave, capture_output=False, stderr=subprocess.PIPE)
    finally:
        os.close(slave)
        os.close(master)
    refused(r, tmp_path, "stderr", "--headless")
