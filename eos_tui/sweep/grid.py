"""Sweep grids and sweep files (no torch, no textual).

A grid is KEY=VALUES: KEY a scenario key as `--set` takes it (optimizer.lr, model.width, steps) or
`seed`; VALUES a list (`0.5,1,2`), a linear range START:STOP:N (N points, both ends included), a log
range START..STOP:N (N points spaced evenly in log, START and STOP > 0) or an integer range A..B
(every integer from A to B). Several grids make the product, the first one varying slowest.

A sweep file is TOML:

    name = "catapult-phase"          # names the default sweep directory
    description = "..."
    scenario = "catapult"            # a built-in scenario or a path (relative to this file), or a
                                     # [scenario] table holding the scenario itself
    set = ["steps=100"]              # fixed overrides, as --set
    field = "eos_ratio"              # optional: the map colours this summary field, not the class
    [[grid]]
    key = "optimizer.lr_relative"
    values = "0.5:5:19"              # a range as above, or a TOML list [0.5, 1, 2]
    boundaries = [2, 4]              # optional: where theory puts a phase boundary on this axis
                                     # (here ηλ0 = 2 and 4); the map marks them

Every problem is one SweepError naming the file (or the --grid flag) and the key.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import tomli_w

from ..rundir.parsing import loads_toml
from ..scenario.loader import ScenarioError, find_scenario, parse_override, resolve_data_paths

FLAG_KEYS = ("seed", "steps", "device")  # applied to every arm, as run's --seed/--steps/--device
SWEEP_KEYS = ("name", "description", "scenario", "set", "field", "grid")
GRID_KEYS = ("key", "values", "boundaries")
MAX_POINTS = 100_000


class SweepError(ScenarioError):
    """A sweep that cannot be run, in one line naming the file or flag and the key."""


def sweeps_dir() -> Path:
    """The built-in sweeps: inside the package in a wheel, the repo's sweeps/ when editable."""
    import eos_tui

    pkg = Path(eos_tui.__file__).resolve().parent
    inside = pkg / "sweeps"
    return inside if inside.is_dir() else pkg.parent / "sweeps"


def list_builtin_sweeps() -> list[str]:
    return sorted(p.stem for p in sweeps_dir().glob("*.toml"))


# ---- values ----------------------------------------------------------------------------------

_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_LINEAR = re.compile(rf"^({_NUM}):({_NUM}):(\S+)$")
_LOG = re.compile(rf"^({_NUM})\.\.({_NUM}):(\S+)$")
_INTS = re.compile(r"^([-+]?\d+)\.\.([-+]?\d+)$")


def _tidy(x: float) -> float:
    """12 significant digits: 0.1 + 2 × 0.45 is 1.0, not 1.0000000000000002."""
    return float(f"{x:.12g}")


def _count(text: str, raw: str) -> int:
    try:
        n = int(raw)
    except ValueError:
        raise SweepError(f"{text}: {raw!r} is not a number of points (an integer ≥ 2)") from None
    if n < 2:
        raise SweepError(f"{text}: a range needs at least 2 points (got {n}); for one value write it alone")
    if n > MAX_POINTS:
        raise SweepError(f"{text}: {n} points is more than {MAX_POINTS}")
    return n


def _is_int_literal(raw: str) -> bool:
    return re.fullmatch(r"[-+]?\d+", raw) is not None


def _scalar(text: str, raw: str) -> Any:
    """One value in TOML syntax, or a bare word (relu, cuda:0)."""
    raw = raw.strip()
    if not raw:
        raise SweepError(f"{text}: an empty value (VALUES is a list like 0.5,1,2 or a range like 1:5:17)")
    try:
        parsed = loads_toml(f"v = {raw}")
        if set(parsed) == {"v"}:
            return parsed["v"]
    except ValueError:
        pass
    if all(c.isalnum() or c in "-_.:" for c in raw):
        return raw
    raise SweepError(f"{text}: {raw!r} is not a TOML value (quote strings)")


def parse_values(spec: str, text: str | None = None) -> list[Any]:
    """VALUES → the list of values. `text` names the flag or file key in error messages."""
    text = text or repr(spec)
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in spec):
        raise SweepError(f"{text}: control characters in the values")
    s = spec.strip()
    if m := _LINEAR.match(s):
        a, b, n = float(m[1]), float(m[2]), _count(text, m[3])
        values: list[Any] = [_tidy(a + (b - a) * i / (n - 1)) for i in range(n)]
        if _is_int_literal(m[1]) and _is_int_literal(m[2]) and all(v == int(v) for v in values):
            values = [int(v) for v in values]
    elif m := _LOG.match(s):
        a, b, n = float(m[1]), float(m[2]), _count(text, m[3])
        if not (a > 0 and b > 0):
            raise SweepError(f"{text}: a log range START..STOP:N needs START and STOP > 0")
        values = [_tidy(math.exp(math.log(a) + (math.log(b) - math.log(a)) * i / (n - 1))) for i in range(n)]
        values[0], values[-1] = _tidy(a), _tidy(b)
    elif m := _INTS.match(s):
        a, b = int(m[1]), int(m[2])
        if b < a:
            raise SweepError(f"{text}: the integer range {a}..{b} is empty (write the smaller end first)")
        if b - a + 1 > MAX_POINTS:
            raise SweepError(f"{text}: {b - a + 1} points is more than {MAX_POINTS}")
        values = list(range(a, b + 1))
    elif (".." in s or ":" in s) and re.fullmatch(r"[-+0-9.eE:]+", s):
        raise SweepError(f"{text}: {s!r} is not a range: START:STOP:N (linear, N points), START..STOP:N (log), A..B (integers A to B)")
    else:
        values = [_scalar(text, part) for part in _split_list(s)]
    return _checked(text, values)


def _split_list(s: str) -> list[str]:
    """Split on commas outside quotes and brackets."""
    parts, depth, quote, cur = [], 0, "", ""
    for c in s:
        if quote:
            quote = "" if c == quote else quote
        elif c in "\"'":
            quote = c
        elif c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        cur += c
    parts.append(cur)
    return parts


def _checked(text: str, values: list[Any]) -> list[Any]:
    if not values:
        raise SweepError(f"{text}: no values")
    for v in values:
        if isinstance(v, float) and not math.isfinite(v):
            raise SweepError(f"{text}: {v} is not a finite number")
        if isinstance(v, dict):
            raise SweepError(f"{text}: a grid value cannot be a table")
    seen: set[tuple[str, str]] = set()  # (type, JSON): a set, not a list scanned per value (10⁵ values: 10¹⁰ comparisons)
    for v in values:
        key = (type(v).__name__, json.dumps(v, sort_keys=True))
        if key in seen:
            raise SweepError(f"{text}: the value {_show(v)} comes twice")
        seen.add(key)
    return values


def _show(v: Any) -> str:
    """A value in TOML syntax on one line (JSON agrees with TOML on numbers, strings, booleans and lists)."""
    return json.dumps(v)


def check_key(key: str, text: str) -> str:
    """A grid key: a key path as --set takes it (optimizer.lr, steps) or seed/steps/device."""
    key = key.strip()
    if key in FLAG_KEYS:
        return key
    try:
        node = parse_override(f"{key}=0")
    except ScenarioError as e:
        raise SweepError(f"{text}: {str(e).replace('--set ' + repr(key + '=0') + ': ', '')}") from None
    if "name" in node:
        raise SweepError(f"{text}: name: the scenario's name is not a setting to sweep")
    return key


def parse_grid_flag(text: str) -> tuple[str, list[Any]]:
    """ "KEY=VALUES" (one --grid) → (key, values)."""
    label = f"--grid {text!r}"
    if "=" not in text:
        raise SweepError(f"{label}: expected KEY=VALUES, e.g. --grid optimizer.lr=0.05,0.1 or --grid seed=0..4")
    key, values = text.split("=", 1)
    return check_key(key, label), parse_values(values, label)


# ---- the sweep -------------------------------------------------------------------------------


@dataclass
class Sweep:
    name: str
    description: str
    scenario: dict[str, Any]  # the scenario file's own data, arms included, before any override
    source: str  # where the scenario came from, for error messages
    sets: list[str] = field(default_factory=list)
    grid: list[tuple[str, list[Any]]] = field(default_factory=list)
    map_field: str | None = None  # the map's default --field
    # per grid key, the values where theory puts a phase boundary (the sweep file's data: the map marks
    # them, and nothing else reads them, so a --grid over the same key keeps its file's boundaries)
    boundaries: dict[str, list[float]] = field(default_factory=dict)

    @property
    def keys(self) -> list[str]:
        return [k for k, _ in self.grid]

    def points(self) -> list[dict[str, Any]]:
        """Every point of the grid, in order: the product, the first grid varying slowest."""
        keys = self.keys
        return [dict(zip(keys, combo)) for combo in itertools.product(*(v for _, v in self.grid))]

    def add_grid(self, key: str, values: list[Any]) -> None:
        """A --grid on the command line: replaces a file's grid over the same key, else adds one."""
        for i, (k, _) in enumerate(self.grid):
            if k == key:
                self.grid[i] = (key, values)
                return
        self.grid.append((key, values))

    def resolved(self) -> dict[str, Any]:
        """What sweep.toml holds: the sweep with the scenario inline and every grid's values listed."""
        out: dict[str, Any] = {"name": self.name, "description": self.description, "set": list(self.sets)}
        if self.map_field:
            out["field"] = self.map_field
        out["scenario"] = self.scenario
        out["grid"] = []
        for k, v in self.grid:
            table: dict[str, Any] = {"key": k, "values": list(v)}
            if self.boundaries.get(k):
                table["boundaries"] = list(self.boundaries[k])
            out["grid"].append(table)
        return out

    def to_toml(self) -> str:
        header = f"# The resolved sweep (scenario from {self.source}): eos-tui sweep this-file --out DIR reruns it.\n"
        return header + tomli_w.dumps(self.resolved())

    def check(self) -> None:
        n = 1
        for _, values in self.grid:
            n *= len(values)
        if not self.grid:
            raise SweepError(f"{self.name}: no grid: give at least one --grid KEY=VALUES")
        if n > MAX_POINTS:
            raise SweepError(f"{self.name}: the grid has {n} points, more than {MAX_POINTS}")


def point_overrides(sweep: Sweep, point: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    """A point as the scenario loader takes it: (--set texts, {seed/steps/device flags})."""
    sets = list(sweep.sets)
    flags: dict[str, Any] = {}
    for key, value in point.items():
        if key in FLAG_KEYS:
            flags[key] = value
        else:
            sets.append(f"{key}={_show(value)}")
    return sets, flags


def load_point_scenario(sweep: Sweep, point: dict[str, Any]):
    """The scenario of one point (a ScenarioError for a combination the schema refuses)."""
    from ..scenario.loader import build_scenario

    sets, flags = point_overrides(sweep, point)
    return build_scenario(sweep.scenario, source=sweep.source, default_name=sweep.name, overrides=sets, **flags)


def _type_error(where: str, key: str, what: str, got: Any) -> SweepError:
    return SweepError(f"{where}: {key}: must be {what} (got {_show(got) if not isinstance(got, dict) else 'a table'})")


def sweep_from_data(data: dict[str, Any], *, source: str, base_dir: Path | None, default_name: str) -> Sweep:
    """A sweep file's parsed TOML → Sweep, strictly: unknown keys and wrong types are errors."""
    for key in data:
        if key not in SWEEP_KEYS:
            raise SweepError(f"{source}: {key}: unknown key (allowed: {', '.join(SWEEP_KEYS)})")
    name = data.get("name", default_name)
    if not isinstance(name, str):
        raise _type_error(source, "name", "a string", name)
    from ..rundir.format import is_safe_name

    if not is_safe_name(name):
        raise SweepError(f"{source}: name: {name!r} cannot name a directory (letters, digits, '.', '_', '-')")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise _type_error(source, "description", "a string", description)
    sets = data.get("set", [])
    if not isinstance(sets, list) or not all(isinstance(s, str) for s in sets):
        raise _type_error(source, "set", 'a list of "KEY=VALUE" strings', sets)
    for s in sets:
        try:
            parse_override(s)
        except ScenarioError as e:
            raise SweepError(f"{source}: set: {e}") from None
    fld = data.get("field")
    if fld is not None and not (isinstance(fld, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", fld)):
        raise SweepError(f"{source}: field: must be an arm summary field's name, such as eos_ratio")
    if "scenario" not in data:
        raise SweepError(f"{source}: scenario: required (a built-in scenario's name, a path, or a [scenario] table)")
    sc = data["scenario"]
    if isinstance(sc, dict):
        scenario, sc_source = sc, f"{source} [scenario]"
    elif isinstance(sc, str):
        target = sc
        if base_dir is not None and ("/" in sc or sc.endswith(".toml")) and not Path(sc).is_absolute():
            target = str(base_dir / sc)
        scenario, sc_source = read_scenario_data(target)
    else:
        raise _type_error(source, "scenario", "a scenario's name or path, or a table", sc)
    grids = data.get("grid", [])
    if not isinstance(grids, list) or not all(isinstance(g, dict) for g in grids):
        raise SweepError(f"{source}: grid: must be an array of tables ([[grid]])")
    sweep = Sweep(name=name, description=description, scenario=scenario, source=sc_source, sets=list(sets), map_field=fld)
    for i, g in enumerate(grids):
        where = f"{source}: grid[{i}]"
        for key in g:
            if key not in GRID_KEYS:
                raise SweepError(f"{where}.{key}: unknown key (allowed: {', '.join(GRID_KEYS)})")
        if "key" not in g or not isinstance(g["key"], str):
            raise SweepError(f"{where}.key: required, a scenario key such as optimizer.lr or seed")
        key = check_key(g["key"], f"{where}.key")
        if key in sweep.keys:
            raise SweepError(f"{where}.key: {key} has a grid already")
        raw = g.get("values")
        if isinstance(raw, str):
            values = parse_values(raw, f"{where}.values")
        elif isinstance(raw, list):
            values = _checked(f"{where}.values", list(raw))
        else:
            raise SweepError(f'{where}.values: required, a list [0.5, 1] or a range string "1:5:17" / "1e-3..1e-1:9" / "0..4"')
        if "boundaries" in g:
            sweep.boundaries[key] = check_boundaries(g["boundaries"], values, f"{where}.boundaries")
        sweep.grid.append((key, values))
    return sweep


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def check_boundaries(raw: Any, values: list[Any], where: str) -> list[float]:
    """A grid's `boundaries`: finite numbers, on an axis of numbers (a boundary between `relu` and
    `tanh` means nothing), in increasing order."""
    if not isinstance(raw, list) or not all(_is_number(b) for b in raw):
        got = "a table" if isinstance(raw, dict) else json.dumps(raw, default=str)  # TOML has dates
        raise SweepError(f"{where}: must be a list of numbers, e.g. [2, 4] (got {got})")
    if raw and not all(_is_number(v) for v in values):
        raise SweepError(f"{where}: boundaries need a grid of numbers")
    return sorted(float(b) for b in raw)


def read_scenario_data(name_or_path: str) -> tuple[dict[str, Any], str]:
    """A scenario file's parsed TOML (before arms and overrides) and its source label; the name of a
    built-in scenario, unless the file names itself, is written in so that sweep.toml keeps it."""
    path = find_scenario(name_or_path)
    source = str(path) if ("/" in name_or_path or name_or_path.endswith(".toml")) else f"{path.name} (built-in)"
    data = resolve_data_paths(_read_toml(path, name_or_path), path.resolve().parent)
    data.setdefault("name", path.stem)
    return data, source


def _read_toml(path: Path, label: str) -> dict[str, Any]:
    from ..scenario.loader import parse_toml

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise SweepError(f"{label}: cannot read: {e}") from None
    return parse_toml(text, label)


def is_sweep_file(path: Path) -> bool:
    try:
        return "grid" in loads_toml(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False


def load_sweep(target: str, grids: Iterable[str] = (), sets: Iterable[str] = ()) -> Sweep:
    """TARGET: a built-in sweep, a sweep file (one with [[grid]] tables), or a scenario (built-in or
    file) to sweep with the --grid flags. --grid replaces a file's grid over the same key."""
    builtin = sweeps_dir() / f"{target}.toml"
    p = Path(target)
    if "/" not in target and not target.endswith(".toml") and not p.is_file() and builtin.is_file():
        sweep = sweep_from_data(
            _read_toml(builtin, f"{target} (built-in sweep)"), source=f"{target} (built-in sweep)", base_dir=None, default_name=target
        )
    elif p.is_file() and is_sweep_file(p):
        sweep = sweep_from_data(_read_toml(p, target), source=target, base_dir=p.parent, default_name=p.stem)
    else:
        try:
            data, source = read_scenario_data(target)
        except ScenarioError as e:
            if "no built-in scenario named" in str(e):
                raise SweepError(f"{e} Built-in sweeps: {', '.join(list_builtin_sweeps())}.") from None
            raise
        name = data.get("name")
        sweep = Sweep(name=name if isinstance(name, str) else p.stem, description="", scenario=data, source=source)
    for s in sets:
        parse_override(s)
        sweep.sets.append(s)
    flagged: set[str] = set()
    for text in grids:
        key, values = parse_grid_flag(text)
        if key in flagged:  # the product of a key with itself: the earlier flag was dropped silently
            raise SweepError(f"--grid {text!r}: {key} has a --grid already (give its values in one flag: --grid {key}=A,B,C)")
        flagged.add(key)
        sweep.add_grid(key, values)
    sweep.check()
    return sweep


def read_resolved(path: Path) -> Sweep:
    """A sweep directory's sweep.toml (SweepError, one line naming it, for one that is not TOML)."""
    try:
        data = _read_toml(path, str(path))
    except ScenarioError as e:  # the callers (`sweep show`, a resumed sweep) expect SweepError
        raise SweepError(str(e)) from None
    sweep = sweep_from_data(data, source=str(path), base_dir=path.parent, default_name=path.parent.name)
    sweep.check()  # a grid of 10¹⁰ points in a sweep.toml from outside: refused, not listed point by point
    return sweep
