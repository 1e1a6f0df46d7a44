"""Commands whose stdout cannot be written (`> /dev/full`, a closed pipe) end with one line and
exit 1, never a traceback (regression: `eos-tui list > /dev/full` printed an OSError traceback)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

CLI = [sys.executable, "-c", "from eos_tui.cli import main; main()"]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("argv", [["list"], ["show", "eos"], ["runs", "--json"]])
def test_a_full_stdout_is_one_line_and_exit_1(argv, tmp_path):
    with open("/dev/full", "w") as full:
        proc = subprocess.run([*CLI, *argv], stdout=full, stderr=subprocess.PIPE, text=True, cwd=tmp_path, timeout=60)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip() == "eos-tui: No space left on device"


def test_a_closed_pipe_is_quiet():
    proc = subprocess.Popen([*CLI, "show", "eos"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    assert proc.wait(timeout=60) == 1
    assert proc.stderr.read() == b""
