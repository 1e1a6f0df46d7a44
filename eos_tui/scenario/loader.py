"""Loading scenarios: TOML → base dict → arms merged deeply over it → validated ArmSpecs.

Every failure becomes one `ScenarioError` whose message names the file, the arm, the dotted key
path and what is allowed — the CLI prints it and exits 2, never a traceback.
"""

from __future__ import annotations

import copy
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import tomli_w
from pydantic import ValidationError

from ..rundir.parsing import InputError, loads_toml
from .code import absolute_factory
from .schema import ArmSpec, DisplayConfig, KeyProblem, Section

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SECTIONS = ("data", "model", "optimizer", "schedule", "measure", "engine")
TOP_KEYS = ("name", "description", "seed", "steps", "dtype", "device", "loss")
DISPLAY = "display"  # [display]: the app's view of the whole scenario (schema.DisplayConfig); not an arm's
DEFAULT_ARM = "main"


class ScenarioError(Exception):
    """A scenario that cannot be run, with one message a person can act on."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


# ---- where scenarios live --------------------------------------------------------------------


def builtin_dir() -> Path:
    """The built-in scenarios: inside the package in a wheel, the repo's scenarios/ when editable."""
    import eos_tui

    pkg = Path(eos_tui.__file__).resolve().parent
    inside = pkg / "scenarios"
    return inside if inside.is_dir() else pkg.parent / "scenarios"


def list_builtins() -> list[tuple[str, str]]:
    """(name, first sentence of the description) for each built-in scenario, sorted by name."""
    out = []
    for path in sorted(builtin_dir().glob("*.toml")):
        try:
            data = loads_toml(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        desc = " ".join(str(data.get("description", "")).split())
        first = re.split(r"(?<!\bal)(?<!e\.g)\.\s", desc)[0].rstrip(".")
        out.append((str(data.get("name", path.stem)), first))
    return out


def find_scenario(name_or_path: str) -> Path:
    """A path to an existing file, or a built-in scenario by name."""
    p = Path(name_or_path)
    if "/" in name_or_path or name_or_path.endswith(".toml") or p.is_file():
        if p.is_dir():
            raise ScenarioError(f"{name_or_path}: is a directory, not a scenario file")
        if not p.is_file():
            raise ScenarioError(f"{name_or_path}: no such scenario file")
        return p
    candidate = builtin_dir() / f"{name_or_path}.toml"
    if candidate.is_file():
        return candidate
    names = ", ".join(n for n, _ in list_builtins()) or "(none found)"
    raise ScenarioError(f"no built-in scenario named {name_or_path!r}; built-in: {names}. Or give a path to a .toml file.")


# ---- merging ---------------------------------------------------------------------------------


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` merged into a copy of `base`: tables merge key by key, everything else replaces."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


class _Unset:
    """The value of `--set KEY=` (nothing after the '='): remove KEY from the scenario's base."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


def parse_override(text: str) -> dict[str, Any]:
    """ "optimizer.lr=0.05" → {"optimizer": {"lr": 0.05}}; the value in TOML syntax, or a bare word.
    "optimizer.lr_relative=" (no value) → {"optimizer": {"lr_relative": UNSET}}: remove the key."""
    # One key per --set: a newline would let TOML read a second `key = value` that was then dropped.
    if any((ord(c) < 0x20 and c != "\t") or ord(c) == 0x7F for c in text):
        raise ScenarioError(
            f"--set {text!r}: one KEY=VALUE per --set, on one line (found a newline or control character); repeat --set for more keys"
        )
    if "=" not in text:
        raise ScenarioError(f"--set {text!r}: expected KEY.PATH=VALUE, e.g. --set optimizer.lr=0.05")
    key, raw = text.split("=", 1)
    key, raw = key.strip(), raw.strip()
    parts = key.split(".")
    if not key or any(not p or not p.replace("_", "").replace("-", "").isalnum() for p in parts):
        raise ScenarioError(f"--set {text!r}: {key!r} is not a key path like optimizer.lr")
    _check_override_key(text, parts)
    if not raw:
        return _node(parts, UNSET)
    try:
        parsed = loads_toml(f"v = {raw}")
        if set(parsed) != {"v"}:
            raise ValueError("more than one value")
        value = parsed["v"]
    except ValueError:
        if raw and all(c.isalnum() or c in "-_.:" for c in raw):
            value = raw  # a bare word: --set model.activation=relu
        else:
            raise ScenarioError(f"--set {text!r}: {raw!r} is not a TOML value (quote strings: 'x=\"a b\"')") from None
    if len(parts) == 2 and isinstance(value, dict) and parts[1] == "args":
        # A factory's args merge as the arms' do: one argument per --set says which is meant.
        raise ScenarioError(f"--set {text!r}: set one argument at a time: --set {key}.NAME=VALUE")
    if len(parts) == 2 and isinstance(value, dict):
        # A table where a section's key holds a value: the arms would replace it whole, or the schema
        # reject it far from the flag; either way it is not what was meant.
        raise ScenarioError(f"--set {text!r}: {key} takes a value, not a table")
    return _node(parts, value)


def _node(parts: list[str], value: Any) -> dict[str, Any]:
    node: dict[str, Any] = {}
    cur = node
    for p in parts[:-1]:
        cur = cur.setdefault(p, {})
    cur[parts[-1]] = value
    return node


def _check_override_key(text: str, parts: list[str]) -> None:
    """A --set key names a top-level key (steps) or a section's key (optimizer.lr), nothing deeper:
    every section is flat, and a deeper path (optimizer.lr.x) would put a table where a value goes,
    which an arm's own value then silently replaces."""
    top = parts[0]
    if top == "arm":
        raise ScenarioError(f"--set {text!r}: arms cannot be set with --set; copy the scenario and edit its [[arm]] tables")
    if top in TOP_KEYS:
        if len(parts) > 1:
            raise ScenarioError(f"--set {text!r}: {top} is a value, not a table: use --set {top}=VALUE")
    elif top in SECTIONS or top == DISPLAY:
        if parts[:2] in (["model", "args"], ["data", "args"]):  # a Python factory's (scenario/code.py)
            if len(parts) > 3:
                raise ScenarioError(f"--set {text!r}: set one argument of {top}.args: --set {'.'.join(parts[:3])}=VALUE")
            return  # one argument: --set model.args.width=16
        if len(parts) > 2:
            raise ScenarioError(f"--set {text!r}: {'.'.join(parts[:2])} is a value, not a table: use --set {'.'.join(parts[:2])}=VALUE")
    else:
        raise ScenarioError(f"--set {text!r}: {top}: unknown key (allowed: {', '.join(TOP_KEYS + SECTIONS)})")


# ---- errors ----------------------------------------------------------------------------------

# pydantic error types → the words people read (strict mode's "Input should be a valid integer"
# says the same, but "must be an integer (got \"many\")" reads better next to a TOML file).
_TYPE_WORDS = {
    "int_type": "must be an integer",
    "int_from_float": "must be an integer",
    "float_type": "must be a number",
    "bool_type": "must be true or false",
    "string_type": "must be a string",
    "list_type": "must be a list",
    "dict_type": "must be a table",
    "model_type": "must be a table",
    "model_attributes_type": "must be a table",
    "finite_number": "must be a finite number (not nan or inf)",
    "missing": "required",
    "extra_forbidden": "unknown key",
}
_BOUNDS = {"greater_than": ("gt", ">"), "greater_than_equal": ("ge", "≥"), "less_than": ("lt", "<"), "less_than_equal": ("le", "≤")}


def _path(loc: Iterable[Any]) -> str:
    """('model', 'hidden', 0) → 'model.hidden[0]'."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _show(value: Any) -> str:
    """A value as it would look in TOML (near enough: JSON agrees on strings, numbers, bools, lists)."""
    if isinstance(value, float) and value != value:
        return "nan"
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return "inf" if value > 0 else "-inf"
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def _describe(err: Mapping[str, Any]) -> str:
    loc = list(err.get("loc", ()))
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    msg = err.get("msg", "invalid")
    given = err.get("input")
    show_given = kind not in ("extra_forbidden", "missing") and not isinstance(given, dict)
    exc = ctx.get("error")
    if isinstance(exc, KeyProblem):
        # A rule about one key, raised by a model validator: its path completes pydantic's loc.
        loc += exc.path.split(".")
        msg, show_given = exc.message, False
    elif kind in _TYPE_WORDS:
        msg = _TYPE_WORDS[kind]
    elif kind in _BOUNDS and _BOUNDS[kind][0] in ctx:
        key, sign = _BOUNDS[kind]
        bound = ctx[key]
        msg = f"must be {sign} {bound:g}" if isinstance(bound, float) else f"must be {sign} {bound}"
    elif kind == "too_short" and "min_length" in ctx:
        msg = f"must have at least {ctx['min_length']} item(s)"
    elif kind == "literal_error" and "expected" in ctx:
        msg = f"must be one of {ctx['expected']}"
    elif msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    shown = f" (got {_show(given)})" if show_given else ""
    path = _path(loc)
    return f"{path}: {msg}{shown}" if path else f"{msg}{shown}"


def _validation_message(where: str, exc: ValidationError) -> str:
    errors = exc.errors(include_url=False)
    lines = [_describe(e) for e in errors[:5]]
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return f"{where}: " + "; ".join(lines) + more


# ---- the scenario ----------------------------------------------------------------------------


@dataclass
class Scenario:
    name: str
    description: str
    source: str
    arms: list[ArmSpec]
    raw: dict[str, Any] = field(default_factory=dict)
    display: DisplayConfig = field(default_factory=lambda: DisplayConfig.model_validate({}))
    # What the command line changed, for messages: {"device": "--device cuda"}; and notes to show
    # before running (a --set that some arms override keeps their values: which arms, which key).
    flags: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def steps(self) -> int:
        return max(a.steps for a in self.arms)

    @property
    def seed(self) -> int:
        return int(self.raw.get("seed", 0))

    def to_toml(self) -> str:
        """The resolved scenario, arms expanded: every arm written out in full (a valid scenario file)."""
        # Top-level seed too, so that `Scenario.seed` survives the round trip (every arm sets its own).
        # The description once, at the top: an arm writes its own only where it differs (arms inherit the
        # top-level one on loading), or a 1 MB description would be copied into each of 100 arms.
        arms = [arm_to_dict(a) for a in self.arms]
        for arm in arms:
            if arm.get("description") == self.description:
                del arm["description"]
        doc: dict[str, Any] = {"name": self.name, "description": self.description, "seed": self.seed}
        doc[DISPLAY] = self.display.model_dump()
        doc["arm"] = arms
        header = f"# Resolved from {self.source}: every arm written out in full.\n"
        return header + tomli_w.dumps(doc)


def _section_dict(section: Section) -> dict[str, Any]:
    """The keys of a section (its kind's class has only the keys of that kind), without None (TOML
    has no null)."""
    return {k: v for k, v in section.model_dump().items() if v is not None}


def arm_to_dict(arm: ArmSpec) -> dict[str, Any]:
    # `name` here is the arm's name; its description is written too, since an arm may override it.
    out: dict[str, Any] = {k: getattr(arm, k) for k in TOP_KEYS}
    for s in SECTIONS:
        out[s] = _section_dict(getattr(arm, s))
    return out


def parse_toml(text: str, source: str) -> dict[str, Any]:
    """A scenario or sweep file's TOML; ScenarioError naming `source` and the line where it is not
    TOML (or nests too deep to read: parsing.InputError)."""
    try:
        return loads_toml(text)
    except InputError as e:
        where = f"line {e.line}: " if e.line is not None else ""
        raise ScenarioError(f"{source}: {where}invalid TOML: {e.reason}") from None
    except tomllib.TOMLDecodeError as e:
        # tomllib says "Invalid value (at line 3, column 7)": put the position first, like a compiler.
        text_e = str(e)
        m = re.search(r"\s*\(at line (\d+), column (\d+)\)$", text_e)
        if m:
            raise ScenarioError(f"{source}: line {m[1]}, column {m[2]}: invalid TOML: {text_e[: m.start()]}") from None
        raise ScenarioError(f"{source}: invalid TOML: {text_e}") from None


def build_scenario(
    data: dict[str, Any],
    *,
    source: str,
    default_name: str | None = None,
    overrides: Iterable[str] = (),
    seed: int | None = None,
    steps: int | None = None,
    device: str | None = None,
) -> Scenario:
    data = dict(data)
    arms_raw = data.pop("arm", None)
    for key in data:
        if key not in TOP_KEYS and key not in SECTIONS and key != DISPLAY:
            raise ScenarioError(f"{source}: {key}: unknown key (allowed: {', '.join(TOP_KEYS + SECTIONS)}, {DISPLAY}, arm)")
    if default_name is not None:
        data.setdefault("name", default_name)
    set_paths: dict[tuple[str, ...], str] = {}  # key path → the --set that wrote it, to blame it by name
    set_leaves: dict[tuple[str, ...], str] = {}  # every key a --set wrote, tables flattened → that --set
    original = data  # the base before any --set, to tell a --set's fault from the scenario's
    for text in overrides:
        node = parse_override(text)
        path = _leaf_path(node)
        leaves = _key_paths(node)
        for leaf in leaves:
            # Two values for one key: the last would win silently, and one of them is a mistake; also
            # through a table (`--set data.n=64 --set 'data={n=32, ...}'`) or a key above it.
            for done, label in set_leaves.items():
                if done[: len(leaf)] == leaf or leaf[: len(done)] == done:
                    key = ".".join(leaf if len(leaf) >= len(done) else done)
                    raise ScenarioError(f"{source}: --set {text}: {key} is already set by {label}; give each key once")
        set_leaves.update(dict.fromkeys(leaves, f"--set {text}"))
        if "name" in node:
            # The scenario's name is what the run directory is called and each arm has its own:
            # neither is a setting to override.
            raise ScenarioError(
                f"{source}: --set {text!r}: the scenario's name cannot be set with --set "
                "(it names the run directory; choose the directory with --out DIR, "
                "or copy the scenario and rename it)"
            )
        if _leaf(node) is UNSET:
            data = _unset(data, path, text, source, arms_raw)
        else:
            data = deep_merge(data, node)
        set_paths[path] = f"--set {text}"
    flags = {k: v for k, v in (("seed", seed), ("steps", steps), ("device", device)) if v is not None}
    # Flags beat everything, arms included; in the base too, so `Scenario.seed` reports --seed.
    data.update(flags)
    flag_paths: dict[tuple[str, ...], str] = {(k,): f"--{k} {v}" for k, v in flags.items()}

    if arms_raw is None:
        arms_raw = [{"name": DEFAULT_ARM}]
    if not isinstance(arms_raw, list) or not all(isinstance(a, dict) for a in arms_raw):
        raise ScenarioError(f"{source}: arm: must be an array of tables ([[arm]])")
    if not arms_raw:
        raise ScenarioError(f"{source}: arm: at least one [[arm]] (or none at all, for a single arm)")

    name = data.get("name")
    if not isinstance(name, str) or not _safe(name):
        raise ScenarioError(
            f"{source}: name: {name!r} cannot name a run directory (letters, digits, '.', '_', '-'; no '/', no '..', no leading dot)"
        )
    display = _display(data.pop(DISPLAY, {}), source)
    base = {k: v for k, v in data.items() if k != "name"}
    arms: list[ArmSpec] = []
    seen: set[str] = set()
    for i, over in enumerate(arms_raw):
        arm_name = over.get("name")
        where = f"{source}: arm {arm_name!r} (arm[{i}])" if len(arms_raw) > 1 or arm_name != DEFAULT_ARM else source
        if not isinstance(arm_name, str):
            raise ScenarioError(f"{source}: arm[{i}]: name: every [[arm]] needs a name")
        if arm_name in seen:
            raise ScenarioError(f"{source}: arm[{i}]: name: {arm_name!r} is used by two arms")
        seen.add(arm_name)
        merged = deep_merge(base, over)
        merged.update(flags)
        merged.setdefault("optimizer", {})
        try:
            arm = ArmSpec.model_validate(merged)
        except ValidationError as e:
            # A bad --set value fails in every arm; name the flag, not the first arm, unless the arm set it.
            for err in e.errors(include_url=False):
                loc = _full_loc(err)
                # A rule across keys (KeyProblem: 'mps' has no float64, batch_size under kind "gd") can
                # fail in one arm only: name it.
                in_arm = (
                    f"in arm {arm_name!r}: " if len(arms_raw) > 1 and isinstance((err.get("ctx") or {}).get("error"), KeyProblem) else ""
                )
                for path, label in flag_paths.items():
                    if loc[: len(path)] == path:
                        raise ScenarioError(f"{source}: {label}: {in_arm}{_describe(err)}") from None
                for path, label in set_paths.items():
                    if loc[: len(path)] == path and not _has_path(over, path):
                        raise ScenarioError(f"{source}: {label}: {in_arm}{_describe(err)}") from None
            if set_paths:
                _blame_sets(e, original, over, flags, set_paths, source, arm_name, name)
            raise ScenarioError(_validation_message(where, e)) from None
        if arm.data.seed is None:
            arm.data.seed = arm.seed
        arms.append(arm)
    for path, label in set_paths.items():
        # --set edits the base and arms win over it: one that every arm overrides would be silently
        # ignored (`run eos --set optimizer.lr=0.2` training at 0.15/0.30/0.50). Refuse it instead.
        if all(_has_path(over, path) for over in arms_raw):
            key = ".".join(path)
            how = (
                f"copy the scenario (eos-tui show {name} > mine.toml) and edit its arms"
                if source.endswith("(built-in)")
                else "edit the arms in the file"
            )
            raise ScenarioError(
                f"{source}: {label}: changes no arm: every arm sets {key} itself, and an arm's own value wins over --set; {how}"
            )
    notes = []
    for path, label in set_paths.items():
        # An arm's own value wins over --set: say which arms keep theirs, or it looks applied to all.
        # (an arm whose own value is the --set's keeps nothing different: not worth a note)
        value = _get(data, path) if _has_path(data, path) else UNSET
        kept = [f"{over['name']!r} ({_show(_get(over, path))})" for over in arms_raw if _has_path(over, path) and _get(over, path) != value]
        if kept:
            key = ".".join(path)
            who = (
                f"arm {kept[0]} sets {key} itself and keeps it"
                if len(kept) == 1
                else f"arms {', '.join(kept)} set {key} themselves and keep it"
            )
            notes.append(f"{label}: {who}; the --set applies to the other arms")
    scenario = Scenario(
        name=name,
        description=str(data.get("description", "")),
        source=source,
        arms=arms,
        raw=data,
        flags={k: label for (k,), label in flag_paths.items()},
        notes=notes,
        display=display,
    )
    _one_thread_count(scenario)
    return scenario


def _one_thread_count(scenario: Scenario) -> None:
    """engine.threads, one value for every arm: the arms run in one process and share its thread
    pool, so the engine cannot give each arm its own. A rule across arms: no arm's schema sees it."""
    arms = scenario.arms
    threads = {a.engine.threads for a in arms}
    if len(threads) > 1:
        i = next(i for i, a in enumerate(arms) if a.engine.threads != arms[0].engine.threads)
        where = f"{scenario.source}: arm {arms[i].name!r} (arm[{i}])"  # two values: two arms, both named
        shown = ", ".join(sorted("unset" if t is None else str(t) for t in threads))
        raise ScenarioError(
            f"{where}: engine.threads: the arms run in one process and share its threads, "
            f"so every arm needs the same value (got {shown}); set it once at the top level"
        )


def _display(value: Any, source: str) -> DisplayConfig:
    """The [display] table, validated as strictly as the arms' sections, errors named display.KEY."""
    if not isinstance(value, dict):
        raise ScenarioError(f"{source}: {DISPLAY}: must be a table ([{DISPLAY}])")
    try:
        return DisplayConfig.model_validate(value)
    except ValidationError as e:
        errors = e.errors(include_url=False)
        raise ScenarioError(f"{source}: " + "; ".join(_describe({**err, "loc": (DISPLAY, *err["loc"])}) for err in errors[:5])) from None


def _leaf(node: Any) -> Any:
    while isinstance(node, dict) and len(node) == 1:
        node = next(iter(node.values()))
    return node


def _get(d: dict[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        d = d[key]
    return d


def _full_loc(err: Mapping[str, Any]) -> tuple[str, ...]:
    """pydantic's loc, completed by a KeyProblem's own path (a model validator's rule about one key)."""
    loc = tuple(str(x) for x in err.get("loc", ()))
    exc = (err.get("ctx") or {}).get("error")
    return loc + tuple(exc.path.split(".")) if isinstance(exc, KeyProblem) else loc


def _unset(data: dict[str, Any], path: tuple[str, ...], text: str, source: str, arms_raw: Any) -> dict[str, Any]:
    """`--set KEY=`: the base without KEY (the schema's default, or for lr/lr_relative, the other one)."""
    key = ".".join(path)
    if not _has_path(data, path):
        arms = [a.get("name") for a in arms_raw if isinstance(a, dict) and _has_path(a, path)] if isinstance(arms_raw, list) else []
        own = f"; arm(s) {', '.join(repr(a) for a in arms)} set it themselves, which --set cannot change" if arms else ""
        raise ScenarioError(f"{source}: --set {text}: the scenario does not set {key}, so there is nothing to unset{own}")
    out = copy.deepcopy(data)
    parent = _get(out, path[:-1])
    del parent[path[-1]]
    return out


def _blame_sets(
    exc: ValidationError,
    original: dict[str, Any],
    over: dict[str, Any],
    flags: dict[str, Any],
    set_paths: dict[tuple[str, ...], str],
    source: str,
    arm_name: str,
    name: str,
) -> None:
    """An arm that is valid without the --sets but not with them: the --sets' fault (`--set
    optimizer.lr=0.1` where the arm sets lr_relative). Name the --set, the arm and the key, and
    how to get what was meant; return (the scenario's own fault) otherwise."""
    merged = deep_merge({k: v for k, v in original.items() if k not in ("name", DISPLAY)}, over)  # as the arms are built
    merged.update(flags)
    merged.setdefault("optimizer", {})
    try:
        ArmSpec.model_validate(merged)
    except ValidationError:
        return  # invalid without the --sets too
    errors = exc.errors(include_url=False)
    hints = []
    for err in errors:
        path = _full_loc(err)
        key = ".".join(path)
        if _has_path(over, path):
            how = (
                f"copy the scenario (eos-tui show {name} > mine.toml) and edit its arms"
                if source.endswith("(built-in)")
                else "edit the arm"
            )
            hints.append(f"arm {arm_name!r} sets {key} = {_show(_get(over, path))} itself, which --set cannot change; {how}")
        elif _has_path(original, path) and path not in set_paths:
            hints.append(f"the scenario sets {key} = {_show(_get(original, path))}; remove it with --set {key}=")
    labels = ", ".join(set_paths.values())
    described = "; ".join(_describe(e) for e in errors[:5])
    raise ScenarioError(
        f"{source}: {labels}: in arm {arm_name!r}: {described}" + "".join(f" ({h})" for h in dict.fromkeys(hints))
    ) from None


def _key_paths(node: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every key a --set writes: {"data": {"n": 1, "dim": 2}} → [("data", "n"), ("data", "dim")]."""
    if isinstance(node, dict) and node:
        return [p for key, value in node.items() for p in _key_paths(value, (*prefix, key))]
    return [prefix]


def _leaf_path(node: dict[str, Any]) -> tuple[str, ...]:
    path: list[str] = []
    while isinstance(node, dict) and len(node) == 1:
        key, node = next(iter(node.items()))
        path.append(key)
    return tuple(path)


def _has_path(d: dict[str, Any], path: tuple[str, ...]) -> bool:
    for key in path:
        if not isinstance(d, dict) or key not in d:
            return False
        d = d[key]
    return True


def _safe(name: str) -> bool:
    from ..rundir.format import is_safe_name

    return is_safe_name(name)


def resolve_data_paths(data: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    """`data` (a scenario file's parsed TOML) with each relative data.path and FILE.py factory
    (model.factory, data.factory), of the base and of every arm, joined to `base_dir`, the file's
    folder: a scenario names its data where it lies, so that
    `eos-tui run ../digits/digits.toml` reads ../digits/X.npz, whatever the current directory (as a
    sweep file names its scenario). A --set path is the user's, typed here: relative to the current
    directory, so it is not given to this. Anything not a non-empty string is left for the schema."""

    def fix(table: Any) -> Any:
        if not isinstance(table, dict):
            return table
        for section in ("model", "data"):  # a factory's file, "models.py:make" (scenario/code.py), likewise
            factory = table.get(section, {}).get("factory") if isinstance(table.get(section), dict) else None
            if isinstance(factory, str):
                try:
                    table = {**table, section: {**table[section], "factory": absolute_factory(factory, base_dir)}}
                except ValueError:
                    pass  # malformed: the schema says why
        if not isinstance(table.get("data"), dict):
            return table
        value = table["data"].get("path")
        if not isinstance(value, str) or not value.strip() or "\x00" in value:
            return table
        path = Path(value).expanduser()
        if path.is_absolute():
            return table
        return {**table, "data": {**table["data"], "path": str(base_dir / path)}}

    out = fix(data)
    if isinstance(out.get("arm"), list):
        out = {**out, "arm": [fix(a) for a in out["arm"]]}
    return out


def load_scenario_text(text: str, *, source: str, default_name: str | None = None, **kwargs) -> Scenario:
    return build_scenario(parse_toml(text, source), source=source, default_name=default_name, **kwargs)


def load_scenario(
    name_or_path: str, *, overrides: Iterable[str] = (), seed: int | None = None, steps: int | None = None, device: str | None = None
) -> Scenario:
    path = find_scenario(name_or_path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ScenarioError(f"{name_or_path}: cannot read: {e}") from None
    source = str(path) if ("/" in name_or_path or name_or_path.endswith(".toml")) else f"{path.name} (built-in)"
    data = resolve_data_paths(parse_toml(text, source), path.resolve().parent)
    return build_scenario(data, source=source, default_name=path.stem, overrides=overrides, seed=seed, steps=steps, device=device)
