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
  names and phone numbers, an invalid enum value, a string where a number belongs, a
  string in an array -- becomes ``"***"`` (still a string: the error stays true of the
  masked message);
* a field name is kept when it reads as one (at most 64 ASCII letters, digits, ``_ - .``
  as sent, no run of 7+ digits), so that a misspelt field shows; any other name becomes
  ``"***"``, and so does its value;
* numbers, booleans and nulls are kept as sent (an amount is not personal data here);
* a message that is not well-formed JSON (a syntax error, a stray byte such as a
  byte-order mark, nesting deeper than `events.MAX_DEPTH`, an oversized message cut
  short) gets the same rules for what reads as a string or a ``"field": "string"`` pair,
  and loses its runs of 7+ digits not glued to a letter wherever they are (phone and id
  numbers);
* the `error` text loses its quoted values (``Invalid enum value '***'``, whichever quote
  msgspec's repr chose: from the first quote to the last) and its runs of 7+ digits; the
  service's own byte counts are written with thousands separators (``1,048,577 bytes``),
  which are not runs, so they stay; control characters are escaped (an error is one
  line) and the text is capped at :data:`MAX_ERROR_CHARS`;
* a message over :data:`MAX_DEADLETTER_RAW` bytes keeps only its first bytes (the error
  says so): a dead letter must fit the dead-letter topic, or it could never be written
  and would stall the stream.

The masking is a few passes of regular expressions over the bytes, and a syntax check
by msgspec only within the nesting limit: nothing in it recurses as deep as the message
nests, and no byte string or error text makes it raise. Bytes it does not mask stay as
sent, so a repeated field shows as often as it was sent (msgspec checks each occurrence
and keeps the last: the error may be about any of them).

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
>>> masked(b'{"amount": 5, "amount": -5, "Li Lei": ["Li Lei", 7]}')
b'{"amount": 5, "amount": -5, "***": ["***", 7]}'
>>> masked(b'\\xff{"borrower_id": "b0000001", "counterparty": "Li Lei", "id": 110101199003071234X')
b'\\xff{"borrower_id": "b0000001", "counterparty": "***", "id": ***'
>>> masked(b'{"event_id": "e2", "counterparty": "Li Lei 1380013')  # cut short
b'{"event_id": "e2", "counterparty": "***'
>>> mask_text("Invalid enum value 'Li Lei 13800138000' - at `$.direction`")
"Invalid enum value '***' - at `$.direction`"
>>> mask_text('Invalid enum value "O\\'Brien" - at `$.direction`')
"Invalid enum value '***' - at `$.direction`"
>>> mask_text("ts 2036-11-28T08:00:00+00:00 is ahead; call 138-0013-8000")
'ts 2036-11-28T08:00:00+00:00 is ahead; call ***'
>>> mask_text("message is 1,048,577 bytes, over the 65536-byte limit")
'message is 1,048,577 bytes, over the 65536-byte limit'
"""

from __future__ import annotations

import base64
import re
from typing import Literal, get_args, get_origin

import msgspec

from streamer.core import events as ev
from streamer.core.outputs import DeadLetter

MASK = "***"
# Identifiers and codes an operator needs to route, dedupe and reprocess: kept as sent.
KEPT_FIELDS = frozenset({"event_id", "type", "borrower_id", "ts", "v", "loan_id", "due_date",
                         "until", "scope", "scope_id", "name", "industry", "region"})
MAX_DEADLETTER_RAW = 64 * 1024  # bytes of the original kept (base64 makes it ~88 KB)
MAX_ERROR_CHARS = 2000  # msgspec's reasons are one short line; a bug's text may not be


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
# Quoted values, as repr() quotes them (msgspec's errors do, in either quote): from the
# first quote that opens one (an apostrophe inside a word, can't, opens nothing) to the
# last quote, so that no pairing of stray quotes can leave a value outside.
_QUOTED = re.compile(r"""(?<!\w)['"].*['"]""", re.DOTALL)
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
# A field name kept as sent: ASCII letters, digits, _ - . (no escapes), no run of 7+ digits.
_NAME = re.compile(rb'"(?![^"]*[0-9](?:-?[0-9]){6})[A-Za-z0-9_.-]{1,64}"')
# A JSON string, and one cut short by the end of the message.
_CLOSED = rb'"(?:[^"\\]|\\.)*"'
_CUT = rb'"(?:[^"\\]|\\.)*\\?\Z'
# A field's name and colon, with its value if that is a string; or a run of strings that
# are no field's name or value (in arrays, on their own), masked in one go; or a string
# cut short.
_STRING = re.compile(rb"(?P<name>%s)(?P<colon>\s*:\s*)(?:(?P<value>%s)|(?P<cut_value>%s))?"
                     rb'|(?P<run>(?:%s(?!\s*:)[^"]*)+)|(?P<cut>%s)'
                     % (_CLOSED, _CLOSED, _CUT, _CLOSED, _CUT), re.DOTALL)
_CLOSED_STRING = re.compile(_CLOSED, re.DOTALL)
_MASKED, _MASKED_CUT = f'"{MASK}"'.encode(), f'"{MASK}'.encode()
_json_decode = msgspec.json.Decoder().decode
_json_syntax = msgspec.json.Decoder(msgspec.Raw).decode


def mask_text(text: str) -> str:
    """An error text without its quoted values and runs of 7+ digits, on one line."""
    text = _QUOTED.sub(f"'{MASK}'", str(text))
    text = _UNPRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return _DIGIT_RUN.sub(MASK, text)


def masked(raw: bytes) -> bytes:
    """A message value with its text masked (see the module docstring)."""
    data = _as_bytes(raw)
    out = _STRING.sub(_mask_string, data)
    if _well_formed(data):
        return out
    return _LOOSE_DIGIT_RUN.sub(MASK.encode(), out)


def _well_formed(data: bytes) -> bool:
    """Whether the bytes are JSON by its syntax (nesting within the limit; msgspec reads
    them to their end without building anything, so a number out of range is no error)."""
    if ev.too_deep(data) is not None:
        return False
    try:
        _json_syntax(data)
    except (msgspec.MsgspecError, RecursionError):
        return False
    return True


def _text(token: bytes) -> str | None:
    """A JSON string token's text; None if it does not decode."""
    try:
        text = _json_decode(token)
    except (msgspec.MsgspecError, ValueError):  # ValueError: not UTF-8
        return None
    return text if isinstance(text, str) else None


def _mask_string(m: re.Match) -> bytes:
    kind = m.lastgroup
    if kind == "run":  # no field says what these are
        return _CLOSED_STRING.sub(_MASKED, m.group())
    if kind == "cut":
        return _MASKED_CUT
    token = m.group("name")
    named = _NAME.fullmatch(token) is not None
    if kind == "colon":  # the value is no string: the next match sees what it holds
        return m.group() if named else _MASKED + m.group("colon")
    name = token[1:-1].decode() if named else ""
    out = token + m.group("colon") if named else _MASKED + m.group("colon")
    value, cut = m.group("value"), m.group("cut_value")
    if name in KEPT_FIELDS or (name in CODES and value and _text(value) in CODES[name]):
        return out + (value or cut)
    return out + (_MASKED if cut is None else _MASKED_CUT)


def _as_bytes(raw: bytes | bytearray | memoryview | str | None) -> bytes:
    if raw is None:
        return b""
    if isinstance(raw, str):
        return raw.encode(errors="surrogatepass")
    return raw if type(raw) is bytes else memoryview(raw).tobytes()


def dead_letter(topic: str, partition: int, offset: int, raw: bytes | None,
                error: str) -> DeadLetter:
    """The dead letter of a message: where it came from, why, and its masked bytes."""
    data = _as_bytes(raw)
    reason = mask_text(error)
    if len(reason) > MAX_ERROR_CHARS:
        reason = f"{reason[:MAX_ERROR_CHARS]}... (cut at {MAX_ERROR_CHARS} characters)"
    if len(data) > MAX_DEADLETTER_RAW:
        # after the masking: the service's own figures, not the message's
        reason += (f" (raw: the first {MAX_DEADLETTER_RAW} of {len(data):,} bytes; "
                   "the original stays on the source topic at this offset)")
        data = data[:MAX_DEADLETTER_RAW]
    return DeadLetter(topic=topic, partition=partition, offset=offset,
                      raw=base64.b64encode(masked(data)).decode(), error=reason)
