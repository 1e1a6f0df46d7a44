"""The records' constructors and parser (rundir/records.py) hold to format.py's TypedDicts (whose
documentation, docs/run-directory.md, is generated from them: tests/test_formatdoc.py)."""

from __future__ import annotations

import inspect

import pytest

from eos_tui.rundir import format as rf
from eos_tui.rundir import records

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
