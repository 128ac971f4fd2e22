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
from typing import Annotated, Literal, Union

import msgspec
from msgspec import Meta, Struct

CONTRACT_VERSION = 1
MAX_EVENT_BYTES = 64 * 1024  # larger messages are refused before decoding (memory, DLQ size)

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


def decode(raw: bytes | bytearray | memoryview | str | None) -> AnyEvent:
    """One message value -> a typed event, or :class:`InvalidEvent` saying what is wrong."""
    if raw is None or len(raw) == 0:
        raise InvalidEvent("empty message value")
    if len(raw) > MAX_EVENT_BYTES:
        raise InvalidEvent(f"message is {len(raw)} bytes, over the {MAX_EVENT_BYTES}-byte limit")
    try:
        event = _decoder.decode(raw)
    except msgspec.ValidationError as exc:
        raise InvalidEvent(str(exc)) from None
    except msgspec.DecodeError as exc:
        raise InvalidEvent(f"not valid JSON: {exc}") from None
    if type(event) is Transaction and event.category not in _CATEGORY_SET:
        # Upstream adds categories over time; an unknown one is spending we still count.
        event = msgspec.structs.replace(event, category="other")
    return event


def encode(event: Event) -> bytes:
    """A typed event -> its JSON bytes (the simulator's and the tests' writer)."""
    return msgspec.json.encode(event)


def event_key(event: Event) -> str:
    """The Kafka message key of an event: borrower id, or `scope:scope_id` for macro."""
    if isinstance(event, MacroIndicator):
        return f"{event.scope}:{event.scope_id}"
    return event.borrower_id  # type: ignore[attr-defined]
