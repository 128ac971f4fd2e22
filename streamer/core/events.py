"""Contract-v1 events: the typed form of every message, and bytes -> event or a precise error.

The types below *are* the contract: `topics/schemas/*.json` is generated from them
(``python -m streamer.contract``) and a test fails if the two drift apart.

>>> ev = decode(b'{"event_id": "e1", "type": "payment", "borrower_id": "b7",'
...             b' "ts": "2026-03-01T08:00:00Z", "v": 1, "loan_id": "L1", "amount": 500}')
>>> type(ev).__name__, ev.amount, ev.epoch
('Payment', 500.0, 1772352000.0)
>>> decode(b'{"event_id": "e2", "type": "payment", "borrower_id": "b7",'
...        b' "ts": "2026-03-01T08:00:00Z", "v": 1, "loan_id": "L1", "amount": -5}')
Traceback (most recent call last):
...
streamer.core.events.InvalidEvent: Expected `float` > 0.0 - at `$.amount`
"""

from __future__ import annotations

import datetime as dt
import itertools
import operator
import re
from typing import Annotated, Literal, Union

import msgspec
from msgspec import Meta, Struct

CONTRACT_VERSION = 1
MAX_EVENT_BYTES = 64 * 1024  # larger messages are refused before decoding (memory, DLQ size)
# Deeper nesting is refused before decoding: msgspec recurses once per level and counts
# against Python's recursion limit, so what it decodes would otherwise depend on the
# caller's stack (a worker's is deeper than replay's). Events are flat; 128 is serde_json's
# default. The answer is the same for any caller that leaves 2 * MAX_DEPTH frames free.
MAX_DEPTH = 128

Id = Annotated[str, Meta(min_length=1, max_length=128, description="opaque identifier")]
Code = Annotated[str, Meta(min_length=1, max_length=64)]
Timestamp = Annotated[dt.datetime, Meta(tz=True, description="RFC 3339 with offset")]
Cny = Annotated[float, Meta(gt=0, le=1e10, description="CNY, > 0")]
CnyOrZero = Annotated[float, Meta(ge=0, le=1e10, description="CNY, >= 0")]

SEGMENTS = ("salaried", "self_employed", "small_business", "student", "other")
CATEGORIES = (
    "salary", "business_income", "transfer_in", "transfer_out", "groceries", "dining", "rent",
    "utilities", "luxury", "gambling", "cash_withdrawal", "other_loan_repayment", "other",
)
_CATEGORY_SET = frozenset(CATEGORIES)
COLLECTION_ACTIONS = ("reminder", "call", "grace_period", "installment_plan", "legal")


class InvalidEvent(ValueError):
    """The message is not a valid contract-v1 event; the text says which field and why."""


class Event(Struct, kw_only=True, tag_field="type", frozen=True):
    event_id: Id
    ts: Timestamp
    v: Literal[1]

    @property
    def epoch(self) -> float:
        """Event time in seconds since the Unix epoch."""
        return self.ts.timestamp()


class BorrowerEvent(Event, kw_only=True, frozen=True):
    borrower_id: Id


class AccountOpened(BorrowerEvent, tag="account_opened", kw_only=True, frozen=True):
    credit_limit: Cny
    segment: Literal["salaried", "self_employed", "small_business", "student", "other"]
    industry: Code
    region: Code
    prior_delinquencies: Annotated[int, Meta(ge=0, le=1000)]
    credit_score: Annotated[int, Meta(ge=350, le=950)] | None = None


class LimitChanged(BorrowerEvent, tag="limit_changed", kw_only=True, frozen=True):
    credit_limit: Cny


class LoanDrawn(BorrowerEvent, tag="loan_drawn", kw_only=True, frozen=True):
    loan_id: Id
    principal: Cny
    term_months: Annotated[int, Meta(ge=1, le=12)]
    daily_rate: Annotated[float, Meta(ge=0, le=0.01, description="e.g. 0.0004")]
    method: Literal["equal_installment", "interest_first"]


class InstallmentDue(BorrowerEvent, tag="installment_due", kw_only=True, frozen=True):
    loan_id: Id
    installment_no: Annotated[int, Meta(ge=1, le=120)]
    due_date: dt.date
    amount_due: CnyOrZero


class Payment(BorrowerEvent, tag="payment", kw_only=True, frozen=True):
    loan_id: Id
    amount: Cny
    installment_no: Annotated[int, Meta(ge=1, le=120)] | None = None


class OverdueStatus(BorrowerEvent, tag="overdue_status", kw_only=True, frozen=True):
    loan_id: Id
    days_past_due: Annotated[int, Meta(ge=0, le=100_000)]
    overdue_amount: CnyOrZero


class Transaction(BorrowerEvent, tag="transaction", kw_only=True, frozen=True):
    amount: Cny
    direction: Literal["in", "out"]
    category: Annotated[
        str,
        Meta(max_length=64, description="one of " + ", ".join(CATEGORIES) + "; unknown -> other"),
    ]
    # Free text: may hold names or phone numbers. Never copied to any output.
    counterparty: Annotated[str, Meta(max_length=256)] | None = None


class CollectionAction(BorrowerEvent, tag="collection_action", kw_only=True, frozen=True):
    action: Literal["reminder", "call", "grace_period", "installment_plan", "legal"]
    until: dt.date | None = None


class MacroIndicator(Event, tag="macro_indicator", kw_only=True, frozen=True):
    scope: Literal["industry", "region"]
    scope_id: Code
    name: Code
    value: Annotated[float, Meta(ge=-1e12, le=1e12)]


INPUT_TYPES: tuple[type[Event], ...] = (
    AccountOpened, LimitChanged, LoanDrawn, InstallmentDue, Payment, OverdueStatus,
    Transaction, CollectionAction, MacroIndicator,
)
AnyEvent = Union[
    AccountOpened, LimitChanged, LoanDrawn, InstallmentDue, Payment, OverdueStatus,
    Transaction, CollectionAction, MacroIndicator,
]
TYPE_NAMES: tuple[str, ...] = tuple(t.__struct_config__.tag for t in INPUT_TYPES)

# Which input topic carries which event types (the contract's table).
TOPIC_TYPES: dict[str, tuple[str, ...]] = {
    "credit.accounts": ("account_opened", "limit_changed"),
    "credit.repayments": ("loan_drawn", "installment_due", "payment", "overdue_status"),
    "credit.transactions": ("transaction",),
    "collections.actions": ("collection_action",),
    "macro.indicators": ("macro_indicator",),
}

_decoder = msgspec.json.Decoder(AnyEvent)
# Only longer messages pay for the checks (the contract's events are ~150-300 bytes). One
# this short is not oversized, and cannot nest deeper than MAX_DEPTH and close again (one
# nested deeper is unbalanced, and msgspec refuses it at a depth no stack minds). Without
# arrays, a level takes 4 bytes ({"":) before msgspec enters the next: a message up to
# _NO_ARRAYS bytes with no "[" cannot take it deeper than MAX_DEPTH either.
_SHORT = 2 * MAX_DEPTH
_NO_ARRAYS = 4 * MAX_DEPTH
# A JSON string (brackets inside it are text); one cut short runs to the end.
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*(?:"|\\?\Z)', re.DOTALL)
_STEPS = bytes.maketrans(b"[{]}", b"\2\2\0\0")
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))
# what comes before the next bracket outside strings, and that bracket
_TO_BRACKET = re.compile(rb'(?:"(?:[^"\\]|\\.)*(?:"|\\?\Z)|[^"\[\]{}])*([\[\]{}])', re.DOTALL)
# \uD800-\uDBFF not followed by \uDC00-\uDFFF, after an even run of backslashes
_LONE_SURROGATE = re.compile(rb"(?<!\\)(?:\\\\)*(\\u[dD][89abAB][0-9a-fA-F]{2})(?!\\u[dD][c-fC-F])")
_BOMS = ((b"\xef\xbb\xbf", "a UTF-8"), (b"\xff\xfe\0\0", "a UTF-32 (little-endian)"),
         (b"\0\0\xfe\xff", "a UTF-32 (big-endian)"), (b"\xff\xfe", "a UTF-16 (little-endian)"),
         (b"\xfe\xff", "a UTF-16 (big-endian)"))


def decode(raw: bytes | bytearray | memoryview | str | None) -> AnyEvent:
    """One message value -> a typed event, or :class:`InvalidEvent` saying what is wrong.

    Whatever the bytes, the only exception is :class:`InvalidEvent`: size and nesting
    are checked before msgspec sees the message, and its errors (and the UTF-8 and
    recursion errors it lets through) become a reason with the field path or byte offset.
    msgspec reads a repeated field at every occurrence (each must be valid) and keeps the
    last. Unknown fields are skipped, as the contract allows; msgspec checks their JSON
    syntax but not their UTF-8.

    >>> decode(b'{"amount": ' + b'[' * 200 + b']' * 200 + b'}')
    Traceback (most recent call last):
    ...
    streamer.core.events.InvalidEvent: nested deeper than 128 levels at byte 138
    """
    if not raw:
        raise InvalidEvent("empty message value")
    n = len(raw)
    if n > _SHORT and (n > _NO_ARRAYS or type(raw) is not bytes or 91 in raw):  # 91: "["
        raw = _screened(raw)
    try:
        event = _decoder.decode(raw)
    except msgspec.ValidationError as exc:
        raise InvalidEvent(f"{exc}{_hint(raw)}") from None
    except msgspec.DecodeError as exc:
        raise InvalidEvent(f"not valid JSON: {exc}{_hint(raw)}") from None
    except (UnicodeError, RecursionError) as exc:  # not UTF-8; a caller with little stack left
        raise InvalidEvent(_undecodable(raw, exc)) from None
    if type(event) is Transaction and event.category not in _CATEGORY_SET:
        # Upstream adds categories over time; an unknown one is spending we still count.
        event = msgspec.structs.replace(event, category="other")
    return event


def _screened(raw: bytes | bytearray | memoryview | str) -> bytes:
    """A long message as bytes, once it is known to be within the size and depth limits."""
    if type(raw) is not bytes:
        if isinstance(raw, str):
            try:
                raw = raw.encode()
            except UnicodeEncodeError as exc:
                raise InvalidEvent(f"not valid JSON: a lone surrogate at character {exc.start}"
                                   ) from None
        else:
            raw = bytes(raw)
    if len(raw) > MAX_EVENT_BYTES:
        # thousands separators: a byte count is not a digit run that privacy.mask_text hides
        raise InvalidEvent(f"message is {len(raw):,} bytes, over the {MAX_EVENT_BYTES}-byte limit")
    if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH:  # else it cannot nest that deep
        at = too_deep(raw)
        if at is not None:
            raise InvalidEvent(f"nested deeper than {MAX_DEPTH} levels at byte {at}")
    return raw


def too_deep(raw: bytes) -> int | None:
    """The byte offset of the first bracket nested deeper than :data:`MAX_DEPTH`, if any.

    No recursion and no loop in Python over the bytes: strings go (a bracket in one is
    text), the rest becomes a +1/-1 walk whose running sum is the depth. A closing bracket
    that closes nothing, or the wrong kind, only lowers the count after the point where a
    JSON parser stops: so msgspec, given a message for which this returns None, never
    recurses deeper than MAX_DEPTH.

    >>> too_deep(b'[[["[[[["]]]' * 50), too_deep(b'{"a": ' + b'[' * 200), too_deep(b'[]' * 200)
    (None, 133, None)
    """
    if raw.count(b"[") + raw.count(b"{") <= MAX_DEPTH:
        return None
    # opening brackets -> 2, closing ones -> 0: the i-th running sum, less i, is the depth
    steps = _STRING.sub(b"", raw).translate(_STEPS, _NOT_BRACKETS)
    try:
        nth = operator.indexOf(map(operator.sub, itertools.accumulate(steps),
                                   itertools.count(1)), MAX_DEPTH + 1)
    except ValueError:
        return None
    bracket = next(itertools.islice(_TO_BRACKET.finditer(raw), nth, None), None)
    return len(raw) if bracket is None else bracket.start(1)  # None: cannot happen


def _bytes(raw: bytes | bytearray | memoryview | str) -> bytes:
    return raw.encode(errors="surrogatepass") if isinstance(raw, str) else bytes(raw)


def _hint(raw: bytes | bytearray | memoryview | str) -> str:
    """What msgspec's error does not say: a byte-order mark, whitespace only, a lone
    surrogate escape, a NUL byte, bytes that are not UTF-8 (in a field msgspec skipped)."""
    data = _bytes(raw)
    for bom, name in _BOMS:
        if data.startswith(bom):
            return f"; the message starts with {name} byte-order mark (JSON is UTF-8, no BOM)"
    if data.isspace():
        return "; the message is only whitespace"
    hints = []
    m = _LONE_SURROGATE.search(data)
    if m is not None:
        hints.append(f"a lone UTF-16 surrogate escape at byte {m.start(1)}")
    if (nul := data.find(b"\0")) >= 0:
        hints.append(f"a NUL byte at byte {nul}")
    try:
        data.decode()
    except UnicodeDecodeError as exc:
        hints.append(f"invalid UTF-8 at byte {exc.start}")
    return "".join(f"; {h}" for h in hints)


def _undecodable(raw: bytes | bytearray | memoryview | str, exc: BaseException) -> str:
    """The reason for the errors msgspec does not wrap in its own."""
    if isinstance(exc, UnicodeEncodeError):  # a str with a lone surrogate
        return f"not valid JSON: a lone surrogate at character {exc.start}"
    if isinstance(exc, UnicodeDecodeError):
        try:
            _bytes(raw).decode()
        except UnicodeDecodeError as whole:  # msgspec's position is within one string
            return f"not valid JSON: invalid UTF-8 at byte {whole.start} ({whole.reason})"
        return f"not valid JSON: invalid UTF-8 ({exc.reason})"
    at = too_deep(_bytes(raw))
    where = f" at byte {at}" if at is not None else ""
    return f"nested too deeply for the decoder's stack{where}"


def encode(event: Event) -> bytes:
    """A typed event -> its JSON bytes (the simulator's and the tests' writer)."""
    return msgspec.json.encode(event)


def event_key(event: Event) -> str:
    """The Kafka message key of an event: borrower id, or `scope:scope_id` for macro."""
    if isinstance(event, MacroIndicator):
        return f"{event.scope}:{event.scope_id}"
    return event.borrower_id  # type: ignore[attr-defined]
