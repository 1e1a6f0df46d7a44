"""docs/monitor.md's examples run as written, with fewer steps: the plain loop and the trainer
callback each leave a completed run directory that the readers read."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from eos_tui.rundir.format import step_threshold
from eos_tui.rundir.reader import read_manifest, run_info

from .helpers import eos

DOC = Path(__file__).resolve().parents[1] / "docs" / "monitor.md"
STEPS = 30


def examples() -> list[str]:
    """The doc's python blocks: the plain loop, then the callback and its stand-in trainer as one."""
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 3, "docs/monitor.md: the plain loop, the callback, the stand-in trainer"
    return [blocks[0], blocks[1] + blocks[2]]


def shortened(code: str) -> str:
    """The example with STEPS steps: it states its length once, as `steps = N`."""
    code, n = re.subn(r"^steps = \d+$", f"steps = {STEPS}", code, flags=re.M)
    assert n == 1, "each example sets `steps = N` once"
    return code


@pytest.mark.parametrize(
    "index, run, threshold", [(0, "runs/mine", 2 / 0.1), (1, "runs/callback", 2 * 1.9 / 0.2)], ids=["loop", "callback"]
)
def test_the_docs_examples_run_and_write_a_run_the_readers_read(tmp_path, monkeypatch, index, run, threshold):
    monkeypatch.chdir(tmp_path)
    exec(compile(shortened(examples()[index]), f"{DOC}:example{index + 1}", "exec"), {"__name__": "__doc_example__"})
    info = run_info(tmp_path / run)
    assert info.status == "completed" and info.steps_done == STEPS
    m = read_manifest(tmp_path / run)
    assert m["arms"]["train"]["status"] == "completed"
    out = eos("export", run, "--format", "jsonl", "--records", "step,sharpness", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    steps = [r for r in rows if r["type"] == "step"]
    assert [r["step"] for r in steps] == list(range(STEPS))
    assert [r["step"] for r in rows if r["type"] == "sharpness"] == [0, 10, 20, 30]
    assert all(step_threshold(r) == pytest.approx(threshold, rel=1e-12) for r in steps)
