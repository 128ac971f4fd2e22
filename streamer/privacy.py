"""Dead letters without borrower data in clear: what a downstream operator gets, and why.

A dead letter (`risk.deadletter`) exists so that an operator can see *where* a message
came from (topic, partition, offset: the original stays readable there for the topic's
retention), *why* it was refused (`error`), and *what* it looked like, well enough to fix
the sender and resend. It is read by more people, and kept longer, than the input
topics; so it carries the message's structure and identifiers, not the personal data of
its free text:

* the value of a free-text field (:data:`FREE_TEXT_FIELDS`: a transaction's
  `counterparty`, which upstream fills with names and phone numbers) becomes ``"***"``;
* in every other string, a run of 7 or more digits (a phone number, a national id
  number, a card or account number; spaces and dashes between the digits included)
  becomes ``"***"`` -- except in the identifiers an operator needs to reprocess
  (:data:`KEPT_FIELDS`: event_id, borrower_id, loan_id, ...), which are opaque ids by
  contract;
* the `error` text is masked the same way (a validation message can quote a value);
* a value that is not a JSON object (malformed JSON, non-UTF-8 bytes) is masked as text:
  the counterparty's quoted value and runs of digits not glued to a letter (so that ids
  like ``b0000001`` stay readable);
* a message over :data:`MAX_DEADLETTER_RAW` bytes keeps only its first bytes (the error
  says so): a dead letter must fit the dead-letter topic, or it could never be written
  and would stall the stream.

The masked form still decodes when the original did: the operator fixes the field the
error names and resends. Nothing is lost for the service: free text is never used by
the engine (see `events.Transaction.counterparty`).

>>> import base64, json
>>> raw = b'{"event_id":"e1","borrower_id":"b0000001","counterparty":"Li Lei 13800138000",'
>>> raw += b'"category":"tel 138-0013-8000","amount":-5}'
>>> json.loads(masked(raw))
{'event_id': 'e1', 'borrower_id': 'b0000001', 'counterparty': '***', 'category': 'tel ***', 'amount': -5}
>>> masked(b'\\xff{"counterparty": "Li Lei", "id": 110101199003071234X')
b'\\xff{"counterparty": "***", "id": ***'
>>> mask_text("Invalid enum value '13800138000' - at `$.direction`")
"Invalid enum value '***' - at `$.direction`"
"""

from __future__ import annotations

import base64
import re
from typing import Any

import msgspec

from streamer.outputs import DeadLetter

MASK = "***"
FREE_TEXT_FIELDS = frozenset({"counterparty"})
# Identifiers and codes an operator needs to route, dedupe and reprocess: kept as sent.
KEPT_FIELDS = frozenset({"event_id", "type", "borrower_id", "ts", "v", "loan_id", "due_date",
                         "until", "scope", "scope_id", "name"})
MAX_DEADLETTER_RAW = 64 * 1024  # bytes of the original kept (base64 makes it ~88 KB)

_DIGIT_RUN = re.compile(r"\+?\d(?:[ -]?\d){6,}[0-9Xx]?")
_LOOSE_DIGIT_RUN = re.compile(rb"(?<![A-Za-z0-9_-])\+?\d(?:[ -]?\d){6,}[0-9Xx]?(?![A-Za-z0-9_])")
_FREE_TEXT_VALUE = re.compile(
    rb'("(?:' + b"|".join(f.encode() for f in sorted(FREE_TEXT_FIELDS)) + rb')"\s*:\s*")'
    rb'(?:[^"\\]|\\.)*(")')
_json_decode = msgspec.json.Decoder().decode
_json_encode = msgspec.json.Encoder().encode


def mask_text(text: str) -> str:
    """Runs of 7+ digits (phones, national ids, account numbers) -> ***."""
    return _DIGIT_RUN.sub(MASK, text)


def masked(raw: bytes) -> bytes:
    """A message value with its personal data masked (see the module docstring)."""
    try:
        value = _json_decode(raw)
    except (msgspec.DecodeError, UnicodeDecodeError):
        value = None
    if not isinstance(value, dict):
        out = _FREE_TEXT_VALUE.sub(rb"\1" + MASK.encode() + rb"\2", raw)
        return _LOOSE_DIGIT_RUN.sub(MASK.encode(), out)
    return _json_encode({k: _mask_field(k, v) for k, v in value.items()})


def _mask_field(name: str, value: Any) -> Any:
    if name in FREE_TEXT_FIELDS:
        return value if value is None else MASK
    if name in KEPT_FIELDS:
        return value
    return _mask_value(value)


def _mask_value(value: Any) -> Any:
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, list):
        return [_mask_value(v) for v in value]
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
