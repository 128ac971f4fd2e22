"""Engine.process_raw over poison: every message ends as an event or one dead letter.

Before, the 20 KB message whose amount nests 10,000 arrays raised RecursionError out of
process_raw (decode, then the dead-letter masker), which crashed the worker and `streamer
replay`.
"""

from __future__ import annotations

import base64

import pytest

from streamer.core import events as ev
from streamer.core.engine import Engine
from tests.conftest import opened, raw
from tests.unit.crafted import crafted, random_messages

CRAFTED = crafted()


def test_the_incident_becomes_one_dead_letter_and_the_next_event_is_processed():
    engine = Engine()
    value = CRAFTED[0][1]
    fx = engine.process_raw(value, "credit.repayments", 2, 41)
    assert fx.outcome == "invalid" and fx.alert is None and fx.score is None
    dl = fx.deadletter
    assert (dl.topic, dl.partition, dl.offset) == ("credit.repayments", 2, 41)
    assert dl.error.startswith("nested deeper than 128 levels at byte ")
    assert base64.b64decode(dl.raw) == value  # brackets and identifiers: nothing to mask
    assert engine.process_raw(raw(opened())).outcome == "ok"
    assert engine.counts[("unknown", "invalid")] == 1


@pytest.mark.parametrize("kind, value, fragment", CRAFTED, ids=[k for k, _, _ in CRAFTED])
def test_each_crafted_kind_is_one_dead_letter_with_its_reason(kind, value, fragment):
    fx = Engine().process_raw(value, "credit.transactions", 0, 7)
    assert fx.outcome == "invalid"
    assert fragment in fx.deadletter.error


def test_random_bytes_never_raise_out_of_process_raw():
    """Property, seeded: the outcome is invalid exactly when decode refuses the bytes."""
    engine = Engine()
    engine._clock = lambda: 1_772_352_000.0  # 2026-03-01: the generator's events are not ahead
    invalid = 0
    for i, value in enumerate(random_messages(seed=6, n=3000)):
        fx = engine.process_raw(value, "credit.repayments", 0, i)
        try:
            ev.decode(value)
        except ev.InvalidEvent:
            assert fx.outcome == "invalid" and fx.deadletter is not None
            invalid += 1
        else:
            assert fx.outcome != "invalid" or "ahead of the stream" in fx.deadletter.error
    assert engine.counts[("unknown", "invalid")] >= invalid > 1000


def test_a_message_over_a_megabyte_keeps_its_byte_count():
    fx = Engine().process_raw(b" " * 1_500_000, "credit.repayments")
    assert fx.deadletter.error.startswith(
        "message is 1,500,000 bytes, over the 65536-byte limit (raw: the first 65536 of "
        "1,500,000 bytes;")


def test_an_unexpected_decoding_error_is_a_dead_letter_too(monkeypatch):
    """The net under decode's guarantee: a bug in decoding must not stop the stream."""
    def broken(value):
        raise RecursionError("maximum recursion depth exceeded")

    engine = Engine()
    monkeypatch.setattr(ev, "decode", broken)
    fx = engine.process_raw(b'{"counterparty": "Li Lei"}', "credit.transactions", 1, 9)
    assert fx.outcome == "invalid"
    assert fx.deadletter.error == ("decoding failed: RecursionError: "
                                   "maximum recursion depth exceeded")
    assert base64.b64decode(fx.deadletter.raw) == b'{"counterparty": "***"}'
