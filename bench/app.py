"""The app as a person meets it, in a pseudo-terminal: `python bench/app.py`.

1. Startup of `eos-tui --help` (goal < 0.3 s), beside a bare `python -c pass` in the same run.
2. `eos-tui run eos` at 120×40 with the real engine training on the machine's cores:
   - time to the first drawn frame (the panels' titles and a braille dot on screen);
   - bytes per second written to the terminal while the run is live (goal < 60 KB/s);
   - the app process's CPU share (user + system time of its pid / wall time), and the engine's;
   - key latency: `space` (pause the view) pressed every ~0.7 s, time until the header says
     "paused" (goal < 100 ms while the engine trains at full speed).
The app process is the pty's child; the engine is the app's child (found through /proc).
Linux only (it reads /proc).
"""

from __future__ import annotations

import argparse
import os
import pty
import select
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def eos_tui_command() -> list[str]:
    exe = Path(sys.executable).with_name("eos-tui")
    return [str(exe)] if exe.exists() else [shutil.which("eos-tui") or "eos-tui"]


def startup(runs: int) -> dict[str, float]:
    def timed(cmd: list[str]) -> float:
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    python = timed([sys.executable, "-c", "pass"])
    help_s = timed(eos_tui_command() + ["--help"])
    return {"help_s": help_s, "python_s": python, "help_over_python": help_s / python}


def cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def live(scenario: str, overrides: list[str], cols: int, rows: int, seconds: float, presses: int) -> dict:
    out_dir = Path(tempfile.mkdtemp(prefix="bench-app-")) / "run"
    cmd = eos_tui_command() + ["run", scenario, "--out", str(out_dir)]
    for o in overrides:
        cmd += ["--set", o]
    env = dict(os.environ, TERM="xterm-256color", COLUMNS=str(cols), LINES=str(rows))
    pid, fd = pty.fork()
    if pid == 0:
        import fcntl
        import termios

        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        os.execvpe(cmd[0], cmd, env)
    import fcntl
    import termios

    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    t_start = time.perf_counter()
    buf = bytearray()
    first_frame = None
    latencies: list[float] = []

    def pump(timeout: float) -> bytes:
        got = bytearray()
        end = time.perf_counter() + timeout
        while True:
            left = end - time.perf_counter()
            if left <= 0:
                return bytes(got)
            r, _, _ = select.select([fd], [], [], left)
            if not r:
                return bytes(got)
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                return bytes(got)
            if not chunk:
                return bytes(got)
            got += chunk

    # First frame: the sharpness panel's title and at least one braille dot.
    deadline = t_start + 60
    while first_frame is None and time.perf_counter() < deadline:
        buf += pump(0.02)
        text = buf.decode("utf-8", "ignore")
        if "Sharpness" in text and any(0x2801 <= ord(ch) <= 0x28FF for ch in text[-20000:]):
            first_frame = time.perf_counter() - t_start
    if first_frame is None:
        raise SystemExit("the app drew no frame within 60 s")

    # Let the engine get going, then watch.
    buf += pump(1.0)
    engine = next(iter(children(pid)), None)
    cpu_app0, cpu_eng0 = cpu_seconds(pid), cpu_seconds(engine) if engine else None
    t0, watched = time.perf_counter(), 0
    gap = seconds / max(1, presses)
    for _ in range(presses):
        watched += len(pump(gap * 0.5))
        os.write(fd, b" ")
        t_key = time.perf_counter()
        seen = bytearray()
        while time.perf_counter() - t_key < 2.0:
            chunk = pump(0.005)
            seen += chunk
            if b"paused" in seen:
                latencies.append(time.perf_counter() - t_key)
                break
        watched += len(seen)
        watched += len(pump(gap * 0.3))
        os.write(fd, b" ")  # resume
        watched += len(pump(gap * 0.2))
    wall = time.perf_counter() - t0
    cpu_app1, cpu_eng1 = cpu_seconds(pid), cpu_seconds(engine) if engine else None

    os.write(fd, b"q")
    pump(10.0)
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
    shutil.rmtree(out_dir.parent, ignore_errors=True)
    return {
        "first_frame_s": first_frame,
        "bytes_per_second": watched / wall,
        "app_cpu_share": (cpu_app1 - cpu_app0) / wall if cpu_app0 is not None and cpu_app1 is not None else None,
        "engine_cpu_share": (cpu_eng1 - cpu_eng0) / wall if cpu_eng0 is not None and cpu_eng1 is not None else None,
        "key_latency_ms": [1000 * x for x in latencies],
        "key_latency_median_ms": 1000 * statistics.median(latencies) if latencies else None,
        "key_latency_max_ms": 1000 * max(latencies) if latencies else None,
        "keys_missed": presses - len(latencies),
        "watched_s": wall,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common.add_common_args(ap, "app")
    ap.add_argument("--cols", type=int, default=120)
    ap.add_argument("--rows", type=int, default=40)
    ap.add_argument("--seconds", type=float, default=20.0, help="how long to watch the live run")
    ap.add_argument("--presses", type=int, default=20, help="space presses for the key latency")
    a = ap.parse_args()
    if a.tiny:
        scenario, overrides, a.seconds, a.presses, runs = "quadratic", ["steps=100000"], 3.0, 3, 2
    else:
        scenario, overrides, runs = "eos", ["steps=100000"], 7
    start = startup(runs)
    lv = live(scenario, overrides, a.cols, a.rows, a.seconds, a.presses)
    _common.table(
        f"eos-tui app at {a.cols}×{a.rows}, live `{scenario}` run",
        ["measure", "value", "goal"],
        [
            ("eos-tui --help (median)", f"{start['help_s']:.3f} s", "< 0.3 s"),
            ("python -c pass (median)", f"{start['python_s']:.3f} s", ""),
            ("first drawn frame", f"{lv['first_frame_s']:.2f} s", ""),
            ("bytes to the terminal", f"{lv['bytes_per_second'] / 1000:.1f} KB/s", "< 60 KB/s"),
            ("app CPU share", _common.fmt(lv["app_cpu_share"], ".0%"), ""),
            ("engine CPU share", _common.fmt(lv["engine_cpu_share"], ".0%"), ""),
            (
                "key latency median / max",
                f"{_common.fmt(lv['key_latency_median_ms'], '.0f')} / {_common.fmt(lv['key_latency_max_ms'], '.0f')} ms",
                "< 100 ms",
            ),
            ("keys missed", str(lv["keys_missed"]), "0"),
        ],
    )
    _common.write_json(a.json_out, {"startup": start, "live": lv, "scenario": scenario, "size": [a.cols, a.rows], "seconds": a.seconds})
    return 0


if __name__ == "__main__":
    sys.exit(main())
