"""Dead letters without borrower data in clear: what a downstream operator gets, and why.

A dead letter (`risk.deadletter`) exists so that an operator can see *where* a message
came from (topic, partition, offset: the original stays readable there for the topic's
retention), *why* it was refused (`error`), and *what* it looked like, well enough to fix
the sender and resend. It is read by more people, and kept longer, than the input
topics; so it carries the message's structure, identifiers and codes, and no text that
could hold personal data. Allowlist, not guesswork:

* a string value is kept in clear only in an identifier or code field
  (:data:`KEPT_FIELDS`: event_id, borrower_id, loan_id, ts, industry, region ...) or when
  it is one of the contract's values of an enum field (`segment`, `direction`, `category`
  ...); any other string -- the free-text `counterparty`, which upstream fills with
  names and phone numbers, an invalid enum value, a string where a number belongs --
  becomes ``"***"`` (still a string: the error stays true of the masked message);
* numbers, booleans and nulls are kept (an amount is not personal data here);
* a value that is not a JSON object (malformed JSON, non-UTF-8 bytes, an oversized
  message cut short) is masked as text: each ``"field": "string"`` pair by the same
  rule, and runs of 7+ digits not glued to a letter (phone and id numbers);
* the `error` text loses its quoted values (``Invalid enum value '***'``) and digit runs;
* a message over :data:`MAX_DEADLETTER_RAW` bytes keeps only its first bytes (the error
  says so): a dead letter must fit the dead-letter topic, or it could never be written
  and would stall the stream.

The masked form still decodes when the original did: the operator fixes the field the
error names and resends. Nothing is lost for the service: free text is never used by
the engine (see `events.Transaction.counterparty`), and an unknown category counts as
`other` whatever it said.

>>> import json
>>> raw = b'{"borrower_id":"b0000001","counterparty":"Li Lei 13800138000",'
>>> raw += b'"category":"Li Lei","direction":"out","amount":-5}'
>>> json.loads(masked(raw))  # doctest: +NORMALIZE_WHITESPACE
{'borrower_id': 'b0000001', 'counterparty': '***', 'category': '***', 'direction': 'out',
 'amount': -5}
>>> masked(b'\\xff{"borrower_id": "b0000001", "counterparty": "Li Lei", "id": 110101199003071234X')
b'\\xff{"borrower_id": "b0000001", "counterparty": "***", "id": ***'
>>> masked(b'{"event_id": "e2", "counterparty": "Li Lei 1380013')  # cut short
b'{"event_id": "e2", "counterparty": "***'
>>> mask_text("Invalid enum value 'Li Lei 13800138000' - at `$.direction`")
"Invalid enum value '***' - at `$.direction`"
>>> mask_text("ts 2036-11-28T08:00:00+00:00 is ahead; call 138-0013-8000")
'ts 2036-11-28T08:00:00+00:00 is ahead; call ***'
"""

from __future__ import annotations

import base64
import re
from typing import Any, Literal, get_args, get_origin

import msgspec

from streamer.core import events as ev
from streamer.core.outputs import DeadLetter

MASK = "***"
# Identifiers and codes an operator needs to route, dedupe and reprocess: kept as sent.
KEPT_FIELDS = frozenset({"event_id", "type", "borrower_id", "ts", "v", "loan_id", "due_date",
                         "until", "scope", "scope_id", "name", "industry", "region"})
MAX_DEADLETTER_RAW = 64 * 1024  # bytes of the original kept (base64 makes it ~88 KB)


def _codes() -> dict[str, frozenset]:
    """field -> the values the contract allows (its Literal fields, and the categories)."""
    codes: dict[str, set] = {"category": set(ev.CATEGORIES)}
    for kind in ev.INPUT_TYPES:
        for f in msgspec.structs.fields(kind):
            if get_origin(f.type) is Literal:
                codes.setdefault(f.name, set()).update(get_args(f.type))
    return {name: frozenset(values) for name, values in codes.items()}


CODES = _codes()
# 7+ digits, single spaces or dashes between them; not an ISO date (2026-03-01)
_DIGIT_RUN = re.compile(r"(?<![0-9])(?!\d{4}-\d\d-\d\d)\+?\d(?:[ -]?\d){6,}[0-9Xx]?")
_LOOSE_DIGIT_RUN = re.compile(
    rb"(?<![A-Za-z0-9_-])(?!\d{4}-\d\d-\d\d)\+?\d(?:[ -]?\d){6,}[0-9Xx]?(?![A-Za-z0-9_])")
_QUOTED = re.compile(r"'[^']*'")
# "field": "string" in text that is not JSON; a string cut short ends the text
_PAIR = re.compile(rb'"((?:[^"\\]|\\.)*)"(\s*:\s*")((?:[^"\\]|\\.)*)("|$)')
_json_decode = msgspec.json.Decoder().decode
_json_encode = msgspec.json.Encoder().encode


def mask_text(text: str) -> str:
    """An error text without its quoted values and runs of 7+ digits."""
    return _DIGIT_RUN.sub(MASK, _QUOTED.sub(f"'{MASK}'", text))


def _clear(name: str, value: str) -> bool:
    return name in KEPT_FIELDS or value in CODES.get(name, ())


def masked(raw: bytes) -> bytes:
    """A message value with its text masked (see the module docstring)."""
    try:
        value = _json_decode(raw)
    except (msgspec.DecodeError, UnicodeDecodeError):
        value = None
    if not isinstance(value, dict):
        return _LOOSE_DIGIT_RUN.sub(MASK.encode(), _PAIR.sub(_mask_pair, raw))
    return _json_encode({k: _mask_field(k, v) for k, v in value.items()})


def _mask_pair(m: re.Match) -> bytes:
    name, value = m.group(1).decode(errors="replace"), m.group(3).decode(errors="replace")
    if _clear(name, value):
        return m.group(0)
    return b'"' + m.group(1) + b'"' + m.group(2) + MASK.encode() + m.group(4)


def _mask_field(name: str, value: Any) -> Any:
    if isinstance(value, str):
        return value if _clear(name, value) else MASK
    if isinstance(value, list):
        return [_mask_field("", v) for v in value]
    if isinstance(value, dict):
        return {k: _mask_field(k, v) for k, v in value.items()}
    return value


def dead_letter(topic: str, partition: int, offset: int, raw: bytes | None,
                error: str) -> DeadLetter:
    """The dead letter of a message: where it came from, why, and its masked bytes."""
    data = bytes(raw or b"")
    if len(data) > MAX_DEADLETTER_RAW:
        error = (f"{error} (raw: the first {MAX_DEADLETTER_RAW} of {len(data)} bytes; "
                 "the original stays on the source topic at this offset)")
        data = data[:MAX_DEADLETTER_RAW]
    return DeadLetter(topic=topic, partition=partition, offset=offset,
                      raw=base64.b64encode(masked(data)).decode(), error=mask_text(error))
