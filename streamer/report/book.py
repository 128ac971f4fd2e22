"""One streaming pass over the events file: the book's state at each month end.

The file is read a block of lines at a time and decoded by msgspec into lean records
that hold only what the report needs (the contract's type tags, a few fields), so a year
of a large book never sits in memory as dicts. What is kept is per borrower (opening
time, industry, region, exposure, the first time any loan reached 90+ DPD) and per loan
(principal drawn less payments, the latest end-of-day DPD). At each month end the state
is copied into a :class:`Snapshot` of numpy arrays.

Events are expected in time order, as replay reads them. An event older than a month end
already measured is still applied (to the next month end) and counted as `late`.
Exposure is the principal drawn less the payments made on each loan, floored at 0: the
contract has no principal/interest split of a payment, so interest paid lowers it too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import numpy as np

from streamer.core.labels import DEFAULT_DPD
from streamer.core.portfolio import BUCKETS
from streamer.evaluation.inputs import batches, parse_times

from .period import Month

# -- lean records: the contract's type tags, only the fields the report reads ------------------


class _Rec(msgspec.Struct, tag_field="type"):
    ts: str


class _Opened(_Rec, tag="account_opened"):
    borrower_id: str
    industry: str
    region: str


class _Drawn(_Rec, tag="loan_drawn"):
    borrower_id: str
    loan_id: str
    principal: float


class _Paid(_Rec, tag="payment"):
    borrower_id: str
    loan_id: str
    amount: float


class _Status(_Rec, tag="overdue_status"):
    borrower_id: str
    loan_id: str
    days_past_due: int


class _Macro(_Rec, tag="macro_indicator"):
    scope: str
    scope_id: str
    name: str
    value: float


class _LimitChanged(_Rec, tag="limit_changed"):
    pass


class _InstallmentDue(_Rec, tag="installment_due"):
    pass


class _Transaction(_Rec, tag="transaction"):
    pass


class _CollectionAction(_Rec, tag="collection_action"):
    pass


EVENT_DECODER = msgspec.json.Decoder(
    _Opened | _Drawn | _Paid | _Status | _Macro | _LimitChanged | _InstallmentDue
    | _Transaction | _CollectionAction)


@dataclass
class Snapshot:
    """The book at one month end; arrays are indexed by borrower (see Book.index)."""

    month: Month
    opened: np.ndarray  # bool: account opened before the month end
    bucket: np.ndarray  # int8: index into BUCKETS of the borrower's worst loan
    exposure: np.ndarray  # float64 CNY
    macro: dict[tuple[str, str, str], float]  # (scope, scope_id, name) -> latest value

    def padded(self, n: int) -> Snapshot:
        """The same with arrays of length n (borrowers first seen later are absent)."""
        extra = n - self.opened.size
        if extra <= 0:
            return self
        return Snapshot(self.month, np.pad(self.opened, (0, extra)),
                        np.pad(self.bucket, (0, extra)), np.pad(self.exposure, (0, extra)),
                        self.macro)


@dataclass
class Book:
    """The state a pass over the events builds, and the month-end snapshots it took."""

    months: list[Month]
    index: dict[str, int] = field(default_factory=dict)
    opened_at: list[float] = field(default_factory=list)  # NaN: no account_opened seen
    industry: list[str | None] = field(default_factory=list)
    region: list[str | None] = field(default_factory=list)
    exposure: list[float] = field(default_factory=list)
    first_default: list[float] = field(default_factory=list)  # inf: never 90+ DPD
    loans: dict[tuple[int, str], list] = field(default_factory=dict)  # [b, balance, dpd, ts]
    macro: dict[tuple[str, str, str], tuple[float, float]] = field(default_factory=dict)
    snapshots: list[Snapshot] = field(default_factory=list)
    events_read: int = 0
    events_in_period: int = 0
    late: int = 0
    first_seconds: float = math.inf
    last_seconds: float = -math.inf

    def borrower(self, borrower_id: str) -> int:
        b = self.index.get(borrower_id)
        if b is None:
            b = self.index[borrower_id] = len(self.opened_at)
            self.opened_at.append(math.nan)
            self.industry.append(None)
            self.region.append(None)
            self.exposure.append(0.0)
            self.first_default.append(math.inf)
        return b

    def _loan(self, borrower_id: str, loan_id: str) -> list:
        b = self.borrower(borrower_id)
        loan = self.loans.get((b, loan_id))
        if loan is None:
            loan = self.loans[(b, loan_id)] = [b, 0.0, 0, -math.inf]
        return loan

    def _move_balance(self, loan: list, delta: float) -> None:
        before = max(loan[1], 0.0)
        loan[1] += delta
        self.exposure[loan[0]] += max(loan[1], 0.0) - before

    def apply(self, rec: _Rec, t: float) -> None:
        """One event into the state."""
        kind = type(rec)
        if kind is _Status:
            loan = self._loan(rec.borrower_id, rec.loan_id)
            if t >= loan[3]:  # an older end-of-day status than one we have does not count
                loan[2], loan[3] = rec.days_past_due, t
            if rec.days_past_due >= DEFAULT_DPD and t < self.first_default[loan[0]]:
                self.first_default[loan[0]] = t
        elif kind is _Drawn:
            self._move_balance(self._loan(rec.borrower_id, rec.loan_id), rec.principal)
        elif kind is _Paid:
            self._move_balance(self._loan(rec.borrower_id, rec.loan_id), -rec.amount)
        elif kind is _Opened:
            b = self.borrower(rec.borrower_id)
            if not t >= self.opened_at[b]:  # the first opening counts (NaN: none yet)
                self.opened_at[b] = t
            self.industry[b], self.region[b] = rec.industry, rec.region
        elif kind is _Macro:
            key = (rec.scope, rec.scope_id, rec.name)
            if t >= self.macro.get(key, (-math.inf, 0.0))[0]:
                self.macro[key] = (t, rec.value)

    def snapshot(self, month: Month) -> None:
        """Copy the state as it stands at `month`'s end."""
        n = len(self.opened_at)
        worst = np.zeros(n, dtype=np.int64)
        for b, _balance, dpd, _ts in self.loans.values():
            if dpd > worst[b]:
                worst[b] = dpd
        bucket = np.select([worst <= 0, worst < 30, worst < 60, worst < 90],
                           [0, 1, 2, 3], 4).astype(np.int8)
        opened = np.array(self.opened_at, dtype=np.float64) < month.end_seconds  # NaN: False
        self.snapshots.append(Snapshot(month, opened, bucket,
                                       np.array(self.exposure, dtype=np.float64),
                                       {k: v for k, (_t, v) in self.macro.items()}))

    def finish(self) -> None:
        """Take the month ends the events did not reach; pad every snapshot to all borrowers."""
        while len(self.snapshots) < len(self.months):
            self.snapshot(self.months[len(self.snapshots)])
        n = len(self.opened_at)
        self.snapshots = [s.padded(n) for s in self.snapshots]


def read_book(path: Path, months: list[Month], read_until: float | None = None) -> Book:
    """Stream the events file through a Book, snapshotting at each month end.

    Reading stops at the first block that reaches `read_until` (default: the period's
    end). Events after the period are read only for when a borrower first reached 90+ DPD
    (the model-quality outcome looks 90 days ahead) and for the last event time read.
    """
    book = Book(months)
    start, end = months[0].start_seconds, months[-1].end_seconds
    stop = end if read_until is None else max(end, read_until)
    ends = [m.end_seconds for m in months]
    nxt = 0  # index of the next month end to take
    for batch in batches(path, EVENT_DECODER):
        if book.last_seconds >= stop:
            break
        seconds = parse_times([r.ts for r in batch], path)
        if seconds.size:
            book.first_seconds = min(book.first_seconds, float(seconds.min()))
            book.last_seconds = max(book.last_seconds, float(seconds.max()))
        book.events_read += len(batch)
        book.events_in_period += int(((seconds >= start) & (seconds < end)).sum())
        for rec, t in zip(batch, seconds.tolist()):
            while nxt < len(ends) and t >= ends[nxt]:
                book.snapshot(months[nxt])
                nxt += 1
            if nxt and t < ends[nxt - 1]:
                book.late += 1
            if t < end:
                book.apply(rec, t)
            elif type(rec) is _Status and rec.days_past_due >= DEFAULT_DPD:
                b = book.borrower(rec.borrower_id)
                book.first_default[b] = min(book.first_default[b], t)
    book.finish()
    return book
