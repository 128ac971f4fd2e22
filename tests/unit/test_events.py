"""Decode and validate: each kind of bad input gets a specific error."""

from __future__ import annotations

import json

import pytest

from streamer.core import events as ev
from streamer.core.privacy import mask_text
from tests.conftest import event, opened, raw
from tests.unit.crafted import DEEP, accepted, crafted, random_messages, with_field


def test_valid_event_decodes_to_its_type():
    e = ev.decode(raw(event("payment", 3, loan_id="L1", amount=120.5, installment_no=2)))
    assert type(e) is ev.Payment and e.amount == 120.5 and e.installment_no == 2
    assert e.epoch == 1_767_225_600.0 + 3 * 86_400


@pytest.mark.parametrize("payload, fragment", [
    (b"{not json", "not valid JSON"),
    (b"\xff\xfe\x00", "not valid JSON"),
    (b"", "empty message value"),
    (b"[1, 2]", "Expected `object`"),
    (raw({k: v for k, v in opened().items() if k != "segment"}), "missing required field `segment`"),
    (raw(opened(credit_limit="lots")), "Expected `float`, got `str` - at `$.credit_limit`"),
    (raw(event("payment", loan_id="L1", amount=-5)), "> 0.0 - at `$.amount`"),
    (raw(event("overdue_status", loan_id="L1", days_past_due=-1, overdue_amount=0)),
     ">= 0 - at `$.days_past_due`"),
    (raw(event("teleport")), "Invalid value 'teleport' - at `$.type`"),
    (raw({**event("payment", loan_id="L1", amount=5), "ts": "2026-03-01T08:00:00"}),
     "timezone"),
    (raw({**event("payment", loan_id="L1", amount=5), "ts": "yesterday"}), "at `$.ts`"),
    (raw({**event("payment", loan_id="L1", amount=5), "v": 2}), "at `$.v`"),
    (raw(opened(credit_score=200)), ">= 350 - at `$.credit_score`"),
    (raw(event("loan_drawn", loan_id="L", principal=100, term_months=24, daily_rate=0.0004,
               method="equal_installment")), "<= 12 - at `$.term_months`"),
    (b'{"event_id":"e","type":"payment","borrower_id":"b","ts":"2026-01-01T00:00:00Z","v":1,'
     b'"loan_id":"L","amount":NaN}', "not valid JSON"),
    (raw({k: v for k, v in event("payment", loan_id="L", amount=1).items()
          if k != "borrower_id"}), "missing required field `borrower_id`"),
    (b"x" * (ev.MAX_EVENT_BYTES + 1), "over the"),
])
def test_each_kind_of_bad_input_has_a_specific_error(payload, fragment):
    with pytest.raises(ev.InvalidEvent) as info:
        ev.decode(payload)
    assert fragment in str(info.value)


def test_unknown_category_is_kept_as_other_and_extra_fields_are_ignored():
    e = ev.decode(raw(event("transaction", amount=10, direction="out", category="crypto",
                            shiny_new_field={"a": 1})))
    assert e.category == "other"
    assert not hasattr(e, "shiny_new_field")


def test_known_category_is_kept():
    e = ev.decode(raw(event("transaction", amount=10, direction="out", category="gambling")))
    assert e.category == "gambling"


def test_offsets_other_than_utc_are_accepted_and_converted():
    e = ev.decode(raw({**event("payment", loan_id="L", amount=1), "ts": "2026-01-01T08:00:00+08:00"}))
    assert e.epoch == 1_767_225_600.0


def test_every_contract_type_is_on_exactly_one_topic():
    on_topics = [t for types in ev.TOPIC_TYPES.values() for t in types]
    assert sorted(on_topics) == sorted(ev.TYPE_NAMES)


def test_event_key_is_borrower_or_macro_scope():
    assert ev.event_key(ev.decode(raw(opened("b9")))) == "b9"
    m = ev.decode(raw(event("macro_indicator", borrower=None, scope="region", scope_id="R07",
                            name="stress_index", value=1.5)))
    assert ev.event_key(m) == "region:R07"


def test_encode_round_trips():
    e = ev.decode(raw(opened()))
    assert ev.decode(ev.encode(e)) == e
    assert json.loads(ev.encode(e))["type"] == "account_opened"


# -- crafted and random bad input (tests/unit/crafted.py): only InvalidEvent, with a reason --

CRAFTED = crafted()
ACCEPTED = accepted()


@pytest.mark.parametrize("kind, value, fragment", CRAFTED, ids=[k for k, _, _ in CRAFTED])
def test_crafted_input_is_refused_with_a_precise_reason(kind, value, fragment):
    with pytest.raises(ev.InvalidEvent) as info:
        ev.decode(value)
    assert fragment in mask_text(str(info.value))


@pytest.mark.parametrize("kind, value, attrs", ACCEPTED, ids=[k for k, _, _ in ACCEPTED])
def test_odd_but_valid_input_is_accepted(kind, value, attrs):
    e = ev.decode(value)
    assert {k: getattr(e, k) for k in attrs} == attrs


def test_the_incident_message_is_refused_not_a_recursion_error():
    """20 KB on credit.repayments whose amount is 10,000 nested arrays (RecursionError before)."""
    value = crafted()[0][1]
    assert 20_000 < len(value) < ev.MAX_EVENT_BYTES
    with pytest.raises(ev.InvalidEvent) as info:
        ev.decode(value)
    # the object is level 1: the 128th bracket of the amount is the 129th level
    at = value.index(b"[") + ev.MAX_DEPTH - 1
    assert str(info.value) == f"nested deeper than 128 levels at byte {at}"


@pytest.mark.parametrize("depth", [10, 100, ev.MAX_DEPTH - 1, ev.MAX_DEPTH, ev.MAX_DEPTH + 1,
                                   1000, 10_000, ev.MAX_EVENT_BYTES // 2 - 200])
@pytest.mark.parametrize("opener, closer", [(b"[", b"]"), (b'{"a":', b"}")])
def test_nesting_in_an_unknown_field_is_refused_past_the_limit_at_any_depth(depth, opener, closer):
    value = with_field(raw(event("payment", loan_id="L", amount=5)), b"x",
                       opener * depth + (b"1" if closer == b"}" else b"") + closer * depth)
    if len(value) > ev.MAX_EVENT_BYTES:
        value = with_field(raw(event("payment", loan_id="L", amount=5)), b"x",
                           b"[" * depth + b"]" * depth)
    if depth + 1 <= ev.MAX_DEPTH:  # + the event's own object
        assert ev.decode(value).amount == 5
    else:
        with pytest.raises(ev.InvalidEvent, match=DEEP):
            ev.decode(value)


def test_the_size_limit_is_inclusive_and_says_the_byte_count():
    value = raw(event("payment", loan_id="L", amount=5))
    at = value[:-1] + b" " * (ev.MAX_EVENT_BYTES - len(value)) + b"}"
    assert len(at) == ev.MAX_EVENT_BYTES and ev.decode(at).amount == 5
    with pytest.raises(ev.InvalidEvent) as info:
        ev.decode(at + b" ")
    assert str(info.value) == "message is 65,537 bytes, over the 65536-byte limit"
    with pytest.raises(ev.InvalidEvent, match="message is 1,048,576 bytes, over the"):
        ev.decode(b" " * (1 << 20))


def test_every_buffer_type_gets_the_same_answer():
    for _, value, _ in CRAFTED + [(k, v, None) for k, v, _ in ACCEPTED]:
        try:
            expected = repr(ev.decode(value))
        except ev.InvalidEvent as exc:
            expected = str(exc)
        for other in (bytearray(value), memoryview(value)):
            try:
                got = repr(ev.decode(other))
            except ev.InvalidEvent as exc:
                got = str(exc)
            assert got == expected
        try:
            text = value.decode()
        except UnicodeDecodeError:
            text = value.decode(errors="surrogateescape")  # lone surrogates in a str
            with pytest.raises(ev.InvalidEvent, match="not valid JSON: a lone surrogate at"):
                ev.decode(text)
            continue
        try:
            got = repr(ev.decode(text))
        except ev.InvalidEvent as exc:
            got = str(exc)
        assert got == expected


def _outcome(value: bytes) -> str:
    try:
        return repr(ev.decode(value))
    except ev.InvalidEvent as exc:
        return f"InvalidEvent: {exc}"


def test_random_bytes_and_structures_raise_only_invalid_event():
    """Property, seeded: any byte string decodes to an event or raises InvalidEvent."""
    outcomes = {"event": 0, "invalid": 0}
    for value in random_messages(seed=1, n=4000):
        try:
            ev.decode(value)
            outcomes["event"] += 1
        except ev.InvalidEvent as exc:
            assert str(exc)
            outcomes["invalid"] += 1
    assert min(outcomes.values()) > 100, outcomes  # both sides exercised


def test_the_answer_does_not_depend_on_the_callers_stack():
    """A worker calls decode deeper in its stack than replay does: same bytes, same answer."""
    import sys

    values = [v for _, v, _ in CRAFTED + ACCEPTED] + list(random_messages(seed=2, n=1000))
    short = 2 * ev.MAX_DEPTH  # the longest message decode hands msgspec unscreened
    values += [b"[" * short, b"{" * short, b"[" * (short - 1) + b"]", b'{"a":' * (short // 5),
               b'{"":' * ev.MAX_DEPTH, b'{"":' * ev.MAX_DEPTH + b"1" + b"}" * ev.MAX_DEPTH]
    at_top = [_outcome(v) for v in values]

    def nested(levels: int) -> list[str]:
        return nested(levels - 1) if levels else [_outcome(v) for v in values]

    # frames left for msgspec and this test's own calls: what the unscreened messages need
    headroom = short + 40
    deep = nested(sys.getrecursionlimit() - headroom - len(_frames()))
    assert deep == at_top


def _frames() -> list:
    import inspect

    return inspect.stack(0)
