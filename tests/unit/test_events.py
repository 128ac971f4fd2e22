"""Decode and validate: each kind of bad input gets a specific error."""

from __future__ import annotations

import json

import pytest

from streamer.core import events as ev
from tests.conftest import event, opened, raw


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
