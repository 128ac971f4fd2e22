"""Dead letters (streamer/core/privacy.py): built for any bytes and any error text, masked.

Each test would have failed before: the masker recursed as deep as the message nested
(RecursionError on 10,000 brackets), dropped repeated fields, kept field names and strings
in arrays in clear, let a repr in double quotes through, and hid byte counts over 999,999.
"""

from __future__ import annotations

import base64
import json
import random

import msgspec
import pytest

from streamer.core import events as ev
from streamer.core.outputs import encode
from streamer.core.privacy import (
    MASK,
    MAX_DEADLETTER_RAW,
    MAX_ERROR_CHARS,
    dead_letter,
    mask_text,
    masked,
)
from tests.unit.crafted import accepted, crafted, random_messages

PHONE = "13800138000"
NAME = "Canary Zhang 张金丝雀"
CANARY = f"{NAME} {PHONE}"


def well_formed(value: bytes) -> bool:
    """JSON by its syntax (what the masker keeps numbers and identifiers of as sent)."""
    try:
        msgspec.json.decode(value, type=msgspec.Raw)
    except (msgspec.MsgspecError, RecursionError):
        return False
    return True


def reason(value: bytes) -> str:
    try:
        ev.decode(value)
    except ev.InvalidEvent as exc:
        return str(exc)
    return "valid"


# -- never fails -------------------------------------------------------------------------

@pytest.mark.parametrize("kind, value, fragment", crafted(), ids=[k for k, _, _ in crafted()])
def test_every_crafted_message_gets_a_dead_letter_that_encodes(kind, value, fragment):
    dl = dead_letter("credit.repayments", 3, 99, value, reason(value))
    assert fragment in dl.error and "\n" not in dl.error
    body = base64.b64decode(dl.raw, validate=True)
    assert len(body) <= 2.5 * MAX_DEADLETTER_RAW  # "" -> "***" at worst
    assert msgspec.json.decode(encode(dl))["offset"] == 99  # writable to the topic


def test_the_incident_message_is_masked_without_recursion():
    value = crafted()[0][1]  # amount: 10,000 nested arrays
    out = masked(value)
    assert out == value  # brackets, ids and codes only: nothing to mask, all of it kept
    for depth in (1000, 10_000, MAX_DEADLETTER_RAW):
        for opener in (b"[", b'{"a":'):
            assert masked(opener * depth).startswith(opener * 10)
            assert masked(opener * depth + b'"' + CANARY.encode() + b'"').endswith(b'"***"')


def test_random_bytes_and_structures_never_fail_and_json_stays_json():
    """Property, seeded: masked/dead_letter return for any bytes; JSON in, JSON out."""
    for value in random_messages(seed=3, n=3000):
        out = masked(value)
        if well_formed(value) and ev.too_deep(value) is None:
            assert well_formed(out), (value, out)
        dl = dead_letter("t", 0, 1, value, reason(value))
        encode(dl)
        assert "\n" not in dl.error


def test_any_error_text_is_masked_to_one_encodable_line():
    rng = random.Random(4)
    alphabet = ["'", '"', "\\", "\n", "\r", "\x00", "\ud800", "\u2028", "1", " ", "-", "a", "张",
                PHONE, "can't", "\x1b[31m"]
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(60)))
        dl = dead_letter("t", 0, 0, None, text)
        assert not any(c in dl.error for c in "\n\r\x00\ud800\u2028\x1b")
        assert PHONE not in dl.error
        encode(dl)
    long = dead_letter("t", 0, 0, b"", "x" * 100_000).error
    assert long.endswith(f"... (cut at {MAX_ERROR_CHARS} characters)")
    assert dead_letter("t", 0, 0, b"", ValueError("no")).error == "no"  # type: ignore[arg-type]


def test_raw_of_any_buffer_type():
    value = b'{"counterparty": "x"}'
    for raw in (None, b"", bytearray(value), memoryview(value), '{"counterparty": "\ud800"}'):
        dl = dead_letter("t", 0, 0, raw, "e")  # type: ignore[arg-type]
        assert b"counterparty" in base64.b64decode(dl.raw) or not raw


# -- what stays, what goes -----------------------------------------------------------------

def test_repeated_fields_show_as_sent():
    """msgspec checks every occurrence and keeps the last: the dead letter shows them all."""
    value = b'{"amount": 5, "amount": -5, "loan_id": "L1", "loan_id": "L2"}'
    assert masked(value) == value
    assert "at `$.amount`" in reason(b'{"event_id":"e","type":"payment","borrower_id":"b",'
                                     b'"ts":"2026-03-01T08:00:00Z","v":1,"loan_id":"L",'
                                     b'"amount":-5,"amount":5}')


def test_numbers_stay_as_sent():
    value = b'{"amount": 1e400, "n": -0, "big": ' + b"9" * 400 + b', "e": 1E+99999999999}'
    assert masked(value) == value


def test_field_names_that_are_not_names_are_masked():
    value = json.dumps({"amout": 5, PHONE: 1, NAME: 2, "138-0013-8000": 3, "x" * 65: 4,
                        "borrower_id": "b1"}, ensure_ascii=False).encode()
    assert json.loads(masked(value)) == {"amout": 5, MASK: 4, "borrower_id": "b1"}  # last wins
    assert masked(value).count(f'"{MASK}"'.encode()) == 4


def test_strings_without_a_field_are_masked_wherever_they_are():
    for value in ([CANARY], {"borrower_id": [CANARY]}, {"x": {"counterparty": CANARY}}, CANARY,
                  [[{"event_id": "e1", "note": CANARY}]]):
        out = masked(json.dumps(value, ensure_ascii=False).encode()).decode()
        assert PHONE not in out and "Canary" not in out, out
    assert masked(b'{"x": {"borrower_id": "b7", "direction": "in"}}') == \
        b'{"x": {"borrower_id": "b7", "direction": "in"}}'


def test_canaries_never_survive_in_free_text_positions():
    """Property, seeded: a canary in any non-identifier field, in JSON, cut short or not."""
    rng = random.Random(5)
    for _ in range(1500):
        doc = {"event_id": "e1", "type": "transaction", "borrower_id": "b0000001"}
        spot = rng.choice(["counterparty", "category", "direction", "amount", "note", "x"])
        doc[spot] = rng.choice([CANARY, [CANARY], {"text": CANARY}, {"k": [1, CANARY]}])
        value = json.dumps(doc, ensure_ascii=rng.random() < 0.5).encode()
        value = rng.choice([value, value[:rng.randrange(len(value))], b"\xff" + value,
                            value.replace(b"{", b"[", 1)])
        out = base64.b64decode(dead_letter("t", 0, 0, value, reason(value)).raw)
        for needle in (PHONE.encode(), b"Canary", "张金丝雀".encode(), b"\\u5f20"):
            assert needle not in out, (value, out)


def test_escapes_do_not_smuggle_text_past_the_rules():
    value = b'{"borrower\\u005fid": "b1", "counterpart\\u0079": "\\u0031\\u0033\\u0038", ' \
            b'"\\u0031\\u0033\\u0038\\u0030\\u0030\\u0031\\u0033\\u0038\\u0030\\u0030\\u0030": 1}'
    # a name is kept as sent only if it reads as one without escapes: here none is, and
    # the value of a masked name is masked too
    assert masked(value) == b'{"***": "***", "***": "***", "***": 1}'


# -- error texts ---------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("Invalid enum value 'Li Lei 13800138000' - at `$.direction`",
     "Invalid enum value '***' - at `$.direction`"),
    ('Invalid enum value "O\'Brien 13800138000" - at `$.direction`',  # repr chose "..."
     "Invalid enum value '***' - at `$.direction`"),
    ("Invalid enum value 'say \"hi\" O\\'Brien' - at `$.direction`",
     "Invalid enum value '***' - at `$.direction`"),
    ("Invalid enum value 13800138000 - at `$.v`", "Invalid enum value *** - at `$.v`"),
    ("KeyError: 'Li\\nLei'", "KeyError: '***'"),
    ("'utf-8' codec can't decode byte 0xff in position 3",  # the last quote is can't's
     "'***'t decode byte 0xff in position 3"),
    ("KeyError: can't find the 'x and 'Li Lei 13800138000' here",  # a stray quote first
     "KeyError: can't find the '***' here"),
    ("line\nbreak\x00and\ud800", "line\\u000abreak\\u0000and\\ud800"),
    ("message is 1,048,576 bytes, over the 65536-byte limit",
     "message is 1,048,576 bytes, over the 65536-byte limit"),
    ("nested deeper than 128 levels at byte 65535", "nested deeper than 128 levels at byte 65535"),
    ("call +86 138 0013 8000 or 1380013800", "call *** or ***"),
])
def test_error_texts_lose_quoted_values_and_digit_runs_only(text, expected):
    assert mask_text(text) == expected


def test_a_large_message_keeps_its_byte_count_and_its_first_bytes():
    """'message is *** bytes' before: the digit-run mask ate counts of 7+ digits."""
    value = b'{"event_id": "big", "counterparty": "' + PHONE.encode() * 100_000 + b'"}'
    dl = dead_letter("credit.transactions", 0, 5, value, reason(value))
    n = f"{len(value):,}"
    assert dl.error == (f"message is {n} bytes, over the 65536-byte limit (raw: the first "
                        f"{MAX_DEADLETTER_RAW} of {n} bytes; the original stays on the source "
                        "topic at this offset)")
    assert base64.b64decode(dl.raw) == b'{"event_id": "big", "counterparty": "***'


def test_a_phone_number_quoted_by_an_error_is_still_masked():
    value = json.dumps({"event_id": "e", "type": "transaction", "borrower_id": "b",
                        "ts": "2026-03-01T08:00:00Z", "v": 1, "amount": 5,
                        "direction": f"O'Brien {PHONE}", "category": "other"}).encode()
    error = dead_letter("t", 0, 0, value, reason(value)).error
    assert error == "Invalid enum value '***' - at `$.direction`"


@pytest.mark.parametrize("kind, value, attrs", accepted(), ids=[k for k, _, _ in accepted()])
def test_valid_odd_messages_mask_to_json_that_still_decodes(kind, value, attrs):
    assert type(ev.decode(masked(value))) is ev.Payment
