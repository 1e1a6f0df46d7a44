"""What the schema cannot see: whether the engine can run a valid scenario, here (no torch).

A scenario can be valid and still fail at run time: a CUDA device on a machine without one, a run
directory name longer than the file system allows, more memory than the machine has. Each of these
used to pass `validate` and then exit 1 after the run directory was written. They are checked here,
before anything is written. (The engine's own limits, which hold on any machine, are checked as
the scenario loads: one arm's by the schema, ArmSpec._fits_lanczos; one across arms, engine.threads,
by the loader.)

    preflight(scenario, out=, force=) about this machine and this run: the data files, the run
                                      directory's name, the devices, the memory. `eos-tui run` calls
                                      it before it writes anything, `eos-tui validate` too.

Each raises ScenarioError (ResourceError for memory, which --force overrides) with one line that
names the file and the key to change.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterable

from ..rundir.parsing import loads_json
from . import resources
from .loader import DEFAULT_ARM, Scenario, ScenarioError

# A run directory is <name>-YYYYmmdd-HHMMSS, with -N appended when two runs start in the same second.
RUN_SUFFIX = len("-YYYYmmdd-HHMMSS-NN")
NAME_MAX = 255  # bytes in one path component (Linux, macOS); pathconf is asked where the path exists
PATH_MAX = 4096
# The longest file name written inside a run directory (write_json_atomic's temporary manifest).
LONGEST_INSIDE = len("/.manifest.json.XXXXXXXXXX.tmp")


class ResourceError(ScenarioError):
    """The scenario would need more memory than the machine has; `estimate` says how much."""

    def __init__(self, message: str, estimate: resources.Estimate):
        super().__init__(message)
        self.estimate = estimate


def _where(scenario: Scenario, index: int) -> str:
    arm = scenario.arms[index]
    if len(scenario.arms) == 1 and arm.name == DEFAULT_ARM:
        return scenario.source
    return f"{scenario.source}: arm {arm.name!r} (arm[{index}])"


# ---- this run, on this machine -------------------------------------------------------------------


def _limit(path: Path, name: str, default: int) -> int:
    """pathconf of the nearest existing ancestor of `path` (the file system it will live on)."""
    p = path.absolute()
    while p != p.parent and not _exists(p):
        p = p.parent
    try:
        value = os.pathconf(p, name)
    except (OSError, ValueError, AttributeError):
        return default
    return value if value and value > 0 else default


def _exists(p: Path) -> bool:
    try:
        return p.exists()
    except OSError:  # ENAMETOOLONG, ELOOP: not a directory we can ask
        return False


def check_run_dir(scenario: Scenario, out: str | os.PathLike[str] | None = None, root: str | os.PathLike[str] = "runs") -> None:
    """The run directory's path must be one the file system accepts."""
    if out is None:
        name_max = _limit(Path(root), "PC_NAME_MAX", NAME_MAX)
        size = len(os.fsencode(scenario.name))
        if size + RUN_SUFFIX > name_max:
            raise ScenarioError(
                f"{scenario.source}: name: {size} bytes is too long to name a run directory "
                f"(<name>-YYYYmmdd-HHMMSS-N must fit the file system's {name_max}-byte limit); "
                f"shorten it to at most {name_max - RUN_SUFFIX} bytes, or choose the directory "
                f"with --out"
            )
        return
    path = Path(out)
    name_max = _limit(path, "PC_NAME_MAX", NAME_MAX)
    for part in path.parts:
        if len(os.fsencode(part)) > name_max:
            shown = part if len(part) <= 40 else part[:37] + "..."
            raise ScenarioError(
                f"--out: {shown!r} is {len(os.fsencode(part))} bytes, longer than the file system's {name_max}-byte limit on a file name"
            )
    path_max = _limit(path, "PC_PATH_MAX", PATH_MAX)
    full = len(os.fsencode(str(path.absolute()))) + LONGEST_INSIDE
    if full >= path_max:
        raise ScenarioError(
            f"--out: the path is too long for the file system ({full} bytes with the files "
            f"inside it, limit {path_max}); choose a shorter --out"
        )


_PROBE = (
    "import json, torch; mps = getattr(torch.backends, 'mps', None); "
    "print(json.dumps({'torch': torch.__version__, 'cuda': torch.cuda.is_available(), "
    "'count': torch.cuda.device_count() if torch.cuda.is_available() else 0, "
    "'mps': bool(mps is not None and mps.is_available())}))"
)
_probed: dict[str, Any] | None = None


def probe_devices(timeout: float = 120.0) -> dict[str, Any]:
    """What torch sees here, asked in a short-lived interpreter, so that this process (the CLI, the
    app's parent) never imports torch nor initializes CUDA itself. Cached for the process."""
    global _probed
    if _probed is None:
        # Never with the current directory on the import path: a numpy.py where the user stands would
        # run (torch imports numpy). -P drops it (3.11+); the empty working directory covers 3.10.
        safe = ["-P"] if sys.version_info >= (3, 11) else []
        try:
            with tempfile.TemporaryDirectory(prefix="eos-tui-probe-") as empty:
                done = subprocess.run(
                    [sys.executable, *safe, "-c", _PROBE],
                    capture_output=True,
                    text=True,
                    timeout=timeout,
                    stdin=subprocess.DEVNULL,
                    cwd=empty,
                )
            last = done.stdout.strip().splitlines()[-1:] or ["{}"]
            _probed = loads_json(last[0]) if done.returncode == 0 else {"error": done.stderr.strip()[-300:]}
        except (OSError, subprocess.SubprocessError, ValueError) as e:
            _probed = {"error": f"{type(e).__name__}: {e}"}
    return _probed


def needs_probe(devices: Iterable[str]) -> bool:
    return any(d not in ("auto", "cpu") for d in devices)


def check_devices(scenario: Scenario) -> None:
    """A named accelerator (cuda, cuda:N, mps) must exist here; auto and cpu always do.
    Only then is torch asked, in a subprocess (see `probe_devices`)."""
    named = sorted({a.device for a in scenario.arms if a.device not in ("auto", "cpu")})
    if not named:
        return
    info = probe_devices()
    # `--device cuda` is the command line's, not the file's: name the flag, and say how to change it there.
    flag = scenario.flags.get("device")
    where = f"{scenario.source}: {flag}: device" if flag else f"{scenario.source}: device"
    instead = "--device auto or cpu" if flag else 'device = "auto" or "cpu"'
    if "error" in info:
        raise ScenarioError(
            f"{where}: cannot check {named[0]!r}: torch failed to start "
            f"({info['error'].splitlines()[-1] if info['error'] else 'no output'})"
        )
    for name in named:
        kind, _, index = name.partition(":")
        if kind == "cuda" and not info.get("cuda"):
            raise ScenarioError(
                f"{where}: {name!r} asked for, but CUDA is not available here (torch {info.get('torch', '?')}); use {instead}"
            )
        if kind == "cuda" and index and int(index) >= int(info.get("count", 0)):
            raise ScenarioError(f"{where}: {name!r} asked for, but only {info.get('count', 0)} CUDA device(s) exist here")
        if kind == "mps" and not info.get("mps"):
            raise ScenarioError(f"{where}: 'mps' asked for, but MPS is not available here; use {instead}")


def check_memory(scenario: Scenario, *, force: bool = False, available: int | None = None) -> resources.Estimate | None:
    """Refuse (ResourceError) a scenario whose estimated host memory exceeds what is available.
    Arms on a named GPU are left out: GPU memory can only be known in the engine. Returns the
    estimate (None when no arm runs on the host)."""
    host = [a for a in scenario.arms if a.device in ("auto", "cpu")]
    if not host:
        return None
    est = resources.estimate(Scenario(name=scenario.name, description="", source=scenario.source, arms=host))
    source = "given"
    if available is None:
        available, source = resources.available_memory()
    if force or available is None or est.total <= available:
        return est
    # What to change: when what the arms hold for the whole run (data, parameters) does not fit by
    # itself, the model or the data; else the largest part, whatever it is.
    lasting_only = resources.BASELINE + sum(t.bytes for a in est.arms for t in a.lasting) > available
    candidates = [(a, t) for a in est.arms for t in (a.lasting if lasting_only else a.terms())]
    arm, term = max(candidates, key=lambda at: at[1].bytes)
    who = f" of arm {arm.arm!r}" if len(scenario.arms) > 1 or arm.arm != DEFAULT_ARM else ""
    count = f", {arm.params:,} parameters" if term.what == "parameters" else ""
    held = " held for the whole run" if lasting_only else ""
    part = f"; the largest single part{held} is the {term.what}{who} ({resources.human(term.bytes)}{count})"
    fix = {"measure.exact": "set measure.exact = false", "measure.track_every_step": "set measure.track_every_step = false"}.get(
        term.key, f"make {term.key} smaller"
    )
    raise ResourceError(
        f"{scenario.source}: needs about {resources.human(est.total)} of memory, more than the "
        f"{resources.human(available)} available ({source}){part}; {fix}, "
        f"or pass --force to run anyway",
        est,
    )


def check_data(scenario: Scenario) -> None:
    """The data an arm reads must be there: CIFAR-10's batches folder or archive, (Fashion-)MNIST's
    four files, scikit-learn for the digits (only whether they exist: reading them is the engine's
    work). An npz file was already checked by the schema, which reads its headers to count the
    parameters."""
    from ..data import cifar10, digits, mnist
    from .schema import Cifar10Data, DigitsData, MnistData

    for i, arm in enumerate(scenario.arms):
        d = arm.data
        if isinstance(d, Cifar10Data) and cifar10.locate(d.path) is None:
            raise ScenarioError(f"{_where(scenario, i)}: {cifar10.missing_message(d.path)}")
        if isinstance(d, MnistData) and mnist.locate(d.kind, d.path) is None:
            raise ScenarioError(f"{_where(scenario, i)}: {mnist.missing_message(d.kind, d.path)}")
        if isinstance(d, DigitsData) and not digits.installed():
            raise ScenarioError(f"{_where(scenario, i)}: {digits.MISSING}")


def preflight(
    scenario: Scenario, *, out: str | os.PathLike[str] | None = None, force: bool = False, devices: bool = True
) -> resources.Estimate | None:
    """Everything `eos-tui run` checks before it writes anything: the run directory's path, the named
    devices (devices=False skips it, for callers that resolve devices with torch themselves), and the
    memory (force=True skips the refusal), and before those the data files. Raises ScenarioError;
    returns the memory estimate."""
    check_data(scenario)
    check_run_dir(scenario, out)
    if devices:
        check_devices(scenario)
    return check_memory(scenario, force=force)
