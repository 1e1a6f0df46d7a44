"""No file runs code, and nothing read from a run directory drives the terminal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from eos_tui.rundir import format as rf
from eos_tui.rundir.reader import MetricsFollower, list_runs, read_manifest, read_records, run_info

ESC_TITLE = "\x1b]2;pwned\x07"
CONTROLS = [chr(c) for c in range(0x20) if chr(c) not in "\t\n"] + ["\x7f"] + [chr(c) for c in range(0x80, 0xA0)]


def strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from strings(k)
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)


def clean(value) -> bool:
    return all(not any(c in s for c in CONTROLS) for s in strings(value))


# ---- 11. the engine never imports from the current directory -------------------------------------
def test_a_numpy_py_in_the_cwd_is_not_run_by_the_engine(tmp_path, monkeypatch):
    from eos_tui.engine.launch import start_engine

    cwd = tmp_path / "cwd"
    cwd.mkdir()
    marker = tmp_path / "PWNED"
    (cwd / "numpy.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\nraise ImportError('planted')\n")
    run = tmp_path / "run"  # no scenario.toml: the engine imports everything, then exits 2
    run.mkdir()
    monkeypatch.chdir(cwd)
    proc = start_engine(run)
    assert proc.wait(timeout=180) == 2
    log = (run / rf.ENGINE_LOG).read_text()
    assert "eos-tui engine:" in log  # it did get as far as reading the run directory
    assert not marker.exists(), log


def test_engine_code_keeps_pythonpath(tmp_path):
    from eos_tui.engine.launch import ENGINE_CODE, engine_env

    # -c puts '' first on sys.path; the engine's code removes exactly that and nothing else.
    probe = ENGINE_CODE.split("from eos_tui")[0] + "print(sys.path)\n"
    extra = tmp_path / "extra"
    extra.mkdir()
    env = dict(os.environ, PYTHONPATH=f"{extra}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    for safe in ("", "1"):
        out = subprocess.run(
            [sys.executable, "-c", probe],
            cwd=tmp_path,
            env={**engine_env(env), "PYTHONSAFEPATH": safe},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        path = eval(out)  # noqa: S307 - our own print of a list of str
        assert "" not in path and str(tmp_path) not in path
        assert str(extra) in path


# ---- 12. control characters from a run directory never reach the terminal -------------------------
def _evil_run(root: Path) -> Path:
    run = root / "evil"
    run.mkdir(parents=True)
    arm = f"arm{ESC_TITLE}\x9b31m"
    m = rf.new_manifest(
        scenario=f"s{ESC_TITLE}[bold red]markup[/]", seed=0, device="cpu\x1b[2J", arms=[arm], versions={}, pid=os.getpid(), total_steps=10
    )
    m["error"] = f"boom{ESC_TITLE}\r\x08\x7f"
    rf.write_json_atomic(run / rf.MANIFEST_FILE, m)
    with rf.MetricsWriter(run) as w:
        w.write_many(
            [
                {"type": "step", "arm": arm, "step": 0, "loss": 1.0, "lr": 0.1, "grad_norm": 1.0, "proj": None, "disp": None},
                {"type": "event", "arm": arm, "step": 0, "kind": "catapult", "message": f"hi{ESC_TITLE}\x9d0;x\x9c"},
            ]
        )
    with open(run / rf.METRICS_FILE, "ab") as fh:  # raw DEL and C1 (valid JSON, written by someone else)
        fh.write(
            json.dumps({"type": "event", "arm": "b", "step": 1, "kind": "x", "message": "raw\x7f\x9b2J"}, ensure_ascii=False).encode()
            + b"\n"
        )
    return run


def test_records_and_manifests_are_read_without_control_characters(tmp_path):
    run = _evil_run(tmp_path)
    recs = read_records(run)
    assert len(recs) == 3 and clean(recs)
    assert recs[1]["message"] == "hi\\x1b]2;pwned\\x07\\x9d0;x\\x9c"  # visible, not obeyed
    from eos_tui.rundir.reader import tail_records

    assert clean(tail_records(run / rf.METRICS_FILE))
    assert clean(MetricsFollower(run / rf.METRICS_FILE).poll())
    m = read_manifest(run)
    assert clean(m)
    assert "\r" not in m["error"]
    info = run_info(run)
    assert clean(info.as_dict())
    assert clean([r.as_dict() for r in list_runs(tmp_path)])


def test_plain_records_take_the_fast_path(monkeypatch):
    from eos_tui.rundir import reader

    calls = []
    monkeypatch.setattr(reader, "sanitize", lambda v: calls.append(v) or v)
    line = rf.dumps_record({"type": "step", "arm": "a", "step": 3, "loss": 0.5, "lr": 0.1}).encode()
    assert reader.parse_line(line)["step"] == 3
    assert calls == []
    reader.parse_line(rf.dumps_record({"type": "event", "arm": "a", "step": 3, "kind": "k", "message": "\x1b"}).encode())
    assert len(calls) == 1


def test_runs_table_shows_run_data_as_text(tmp_path):
    root = tmp_path / "runs"
    _evil_run(root)
    env = dict(os.environ, COLUMNS="200", OMP_NUM_THREADS="1")
    r = subprocess.run(
        [sys.executable, "-m", "eos_tui.cli", "runs", "--root", str(root)], capture_output=True, text=True, env=env, timeout=60
    )
    assert r.returncode == 0, r.stderr
    assert not any(c in r.stdout for c in CONTROLS), repr(r.stdout)
    assert "[bold red]markup[/]" in r.stdout  # shown, not interpreted as rich markup
    assert "\\x1b]2;pwned\\x07" in r.stdout
