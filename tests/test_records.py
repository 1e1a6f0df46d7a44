"""The records' constructors and parser (rundir/records.py) hold to format.py's TypedDicts, and
README's table of records names the same fields."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from eos_tui.rundir import format as rf
from eos_tui.rundir import records

README = Path(__file__).resolve().parents[1] / "README.md"

TYPED = {
    rf.STEP: (rf.StepRecord, records.step_record),
    rf.SHARPNESS: (rf.SharpnessRecord, records.sharpness_record),
    rf.REPARAM: (rf.ReparamRecord, records.reparam_record),
    rf.EVENT: (rf.EventRecord, records.event_record),
    rf.END: (rf.EndRecord, records.end_record),
    rf.FLOW: (rf.FlowRecord, records.flow_record),
    rf.SELFSTAB: (rf.SelfStabRecord, records.selfstab_record),
}


def test_every_record_type_has_a_typeddict_and_a_constructor():
    assert set(TYPED) == set(rf.RECORD_TYPES)
    assert {t for t, _ in TYPED.values()} == set(rf.Record.__args__)


def _fields(td: type) -> list[str]:
    return list(td.__annotations__)


@pytest.mark.parametrize("tag", rf.RECORD_TYPES)
def test_constructor_takes_the_required_fields_and_writes_them_in_order(tag):
    td, make = TYPED[tag]
    params = inspect.signature(make).parameters
    named = [n for n, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY]
    required = [f for f in _fields(td) if f in td.__required_keys__ and f != "type"]
    assert named == required  # the keyword arguments are the required fields, in the TypedDict's order
    assert all(params[n].default is inspect.Parameter.empty for n in named)
    # the optional fields come through **extras exactly when the TypedDict has some
    has_extras = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    assert has_extras == bool(td.__optional_keys__)

    rec = make(**{f: f"<{f}>" for f in required})
    assert list(rec) == ["type", *required]  # exactly the required keys, "type" first
    assert set(rec) == set(td.__required_keys__)
    assert rec["type"] == tag


@pytest.mark.parametrize("tag", [t for t in rf.RECORD_TYPES if TYPED[t][0].__optional_keys__])
def test_constructor_adds_the_optional_fields_after_the_required_ones(tag):
    td, make = TYPED[tag]
    fields = _fields(td)
    required = [f for f in fields if f in td.__required_keys__ and f != "type"]
    optional = [f for f in fields if f in td.__optional_keys__]
    rec = make(**{f: f"<{f}>" for f in required}, **{f: f"<{f}>" for f in optional})
    assert list(rec) == fields  # every key the TypedDict declares, in its order
    # given in another order, they are written in the order given (the engine's own order)
    rec = make(**{f: 0 for f in required}, **{f: 0 for f in reversed(optional)})
    assert list(rec) == ["type", *required, *reversed(optional)]


def test_constructors_write_todays_bytes():
    """The engine's lines, as they were written before the constructors (dict literals)."""
    step = records.step_record(arm="a", step=3, loss=0.5, lr=0.1, grad_norm=2.0, proj=None, disp=None)
    step["threshold"] = 40.0
    step["sharpness_tracked"], step["tracked_hvps"] = None, 0
    assert rf.dumps_record(step) == (
        '{"type":"step","arm":"a","step":3,"loss":0.5,"lr":0.1,"grad_norm":2.0,"proj":null,"disp":null,'
        '"threshold":40.0,"sharpness_tracked":null,"tracked_hvps":0}'
    )
    end = records.end_record(arm="a", status="completed", steps_done=4, final_loss=float("nan"), hvps=12)
    assert rf.dumps_record(end) == '{"type":"end","arm":"a","status":"completed","steps_done":4,"final_loss":null,"hvps":12}'
    flow = records.flow_record(arm="a", step=1, flow="stable", loss=1.0, distance=0.0)
    assert rf.dumps_record(flow) == '{"type":"flow","arm":"a","step":1,"flow":"stable","loss":1.0,"distance":0.0}'


def test_parse_record_checks_the_tag_only():
    rec = {"type": "step", "arm": "a"}  # fields missing: readers .get them, as before
    assert records.parse_record(rec) is rec
    for value in ({"type": "later_kind", "arm": "a"}, {"arm": "a"}, {"type": ["step"]}, [1, 2], "step", None, 3):
        assert records.parse_record(value) is None
    for tag in rf.RECORD_TYPES:
        assert records.parse_record({"type": tag}) == {"type": tag}


# README's table of records: names in it that are not fields of the record.
NOT_FIELDS = {
    rf.SHARPNESS: {"g_t", "v_t"},  # math: the gradient and RMSprop's/Adam's second moment at step t
    # values of "kind", not fields
    rf.EVENT: {"eos_onset", "unstable_start", "period2_onset", "lr_change", "lr_resolved", "reparam_skipped", "device_notice"},
    # a setting (measure.central_critical_factor), and the arm's summary's numbers
    rf.FLOW: {"central_critical_factor", "central_loss_error", "central_distance", "stable_distance"},
}


def readme_rows() -> dict[str, str]:
    rows = {}
    for line in README.read_text(encoding="utf-8").splitlines():
        m = re.match(r"\| `(\w+)` \| (.*) \|$", line)
        if m and m.group(1) in rf.RECORD_TYPES:
            rows[m.group(1)] = m.group(2)
    return rows


def _names(row: str) -> str:
    """The row with settings (measure.x) left out and "a_b/c" written out as "a_b a_c"."""
    text = re.sub(r"\b[a-z_]+\.[a-z_.]+", " ", row)
    return re.sub(
        r"\b([a-z]+_)([a-z]+)((?:/[a-z]+)+)",
        lambda m: " ".join(m.group(1) + w for w in [m.group(2), *m.group(3).strip("/").split("/")]),
        text,
    )


def test_readme_has_a_row_per_record_type():
    assert sorted(readme_rows()) == sorted(rf.RECORD_TYPES)


@pytest.mark.parametrize("tag", rf.RECORD_TYPES)
def test_readme_names_every_field_of_the_record(tag):
    text = _names(readme_rows()[tag])
    fields = set(_fields(TYPED[tag][0])) - {"type"}
    missing = sorted(f for f in fields if not re.search(rf"(?<![\w.]){f}\b", text))
    assert not missing, f"README's `{tag}` row does not name {missing}"


@pytest.mark.parametrize("tag", rf.RECORD_TYPES)
def test_readme_names_no_field_the_record_lacks(tag):
    text = _names(readme_rows()[tag])
    names = set(re.findall(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b", text))  # snake_case: what a field looks like
    fields = set(_fields(TYPED[tag][0]))
    extra = sorted(names - fields - NOT_FIELDS.get(tag, set()))
    assert not extra, f"README's `{tag}` row names {extra}, which the {TYPED[tag][0].__name__} does not declare"
