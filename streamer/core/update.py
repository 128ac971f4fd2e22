"""How each contract-v1 event changes a borrower's state (pure, event time).

>>> from streamer.core.events import decode
>>> s = BorrowerState.new()
>>> apply(s, decode(b'{"event_id":"e1","type":"loan_drawn","borrower_id":"b1",'
...   b'"ts":"2026-01-05T10:00:00Z","v":1,"loan_id":"L1","principal":6000,'
...   b'"term_months":6,"daily_rate":0.0005,"method":"equal_installment"}'))
>>> apply(s, decode(b'{"event_id":"e2","type":"overdue_status","borrower_id":"b1",'
...   b'"ts":"2026-02-20T23:59:00Z","v":1,"loan_id":"L1","days_past_due":12,'
...   b'"overdue_amount":1100}'))
>>> s.outstanding, s.dpd_now, s.episodes
(6000.0, 12, 1)
"""

from __future__ import annotations

import datetime as dt

from streamer.core import events as ev
from streamer.core.state import (
    CATEGORY_CHANNEL,
    DAY,
    DRAWN,
    DRAWS,
    DUE,
    GAMBLING,
    HARSH,
    INCOME,
    MISSED,
    PAID,
    PARTIAL,
    BorrowerState,
    Loan,
)

PARTIAL_BELOW = 0.95  # a payment covering less than this share of the due is partial
# The one event that moves a borrower's DPD (`BorrowerState.dpd_now`, the worst loan's):
# the others add loans at 0 DPD or drop repaid ones at 0, so the engine reads it once.
MOVES_DPD = ev.OverdueStatus


def apply(s: BorrowerState, event: ev.BorrowerEvent, ts: float | None = None) -> None:
    """Fold one borrower event into the state. `ts` is the event's epoch if already known."""
    if ts is None:
        ts = event.epoch
    if ts > s.last_ts:
        s.last_ts = ts
    handler = _HANDLERS[type(event)]
    handler(s, event, ts)


def _account_opened(s: BorrowerState, e: ev.AccountOpened, ts: float) -> None:
    s.segment, s.industry, s.region = e.segment, e.industry, e.region
    s.credit_limit = e.credit_limit
    s.credit_score = e.credit_score or 0
    s.prior_delinquencies = e.prior_delinquencies
    s.opened_at = ts


def _limit_changed(s: BorrowerState, e: ev.LimitChanged, ts: float) -> None:
    s.credit_limit = e.credit_limit


def _loan(s: BorrowerState, loan_id: str) -> Loan:
    loan = s.loans.get(loan_id)
    if loan is None:  # events of a loan we did not see drawn (e.g. before go-live)
        loan = s.loans[loan_id] = Loan()
    return loan


def _loan_drawn(s: BorrowerState, e: ev.LoanDrawn, ts: float) -> None:
    loan = _loan(s, e.loan_id)
    loan.outstanding += e.principal
    # a month's interest and a month's share of the principal, whichever the method: an
    # interest-first loan owes the rest at the end, which the borrower must plan for too
    loan.monthly += e.principal * (1.0 / e.term_months + 30.0 * e.daily_rate)
    s.add(DRAWN, e.principal, ts)
    s.add(DRAWS, 1.0, ts)


def _installment_due(s: BorrowerState, e: ev.InstallmentDue, ts: float) -> None:
    loan = _loan(s, e.loan_id)
    if e.installment_no > loan.due_no:
        if loan.due_no and loan.due_amount > 0:  # the previous installment is settled now
            s.add_coverage(min(loan.paid_to_due / loan.due_amount, 1.0))
        loan.due_no, loan.due_amount, loan.paid_to_due = e.installment_no, e.amount_due, 0.0
        s.add(DUE, e.amount_due, ts)


def _payment(s: BorrowerState, e: ev.Payment, ts: float) -> None:
    loan = _loan(s, e.loan_id)
    loan.outstanding = max(loan.outstanding - e.amount, 0.0)
    s.add(PAID, e.amount, ts)
    if e.installment_no is None or e.installment_no == loan.due_no:
        loan.paid_to_due += e.amount
        if loan.due_amount > 0 and e.amount < PARTIAL_BELOW * loan.due_amount \
                and loan.paid_to_due < PARTIAL_BELOW * loan.due_amount:
            s.add(PARTIAL, 1.0, ts)
    if loan.outstanding == 0.0 and loan.dpd == 0:
        del s.loans[e.loan_id]  # repaid: nothing left to watch


def _overdue_status(s: BorrowerState, e: ev.OverdueStatus, ts: float) -> None:
    loan = _loan(s, e.loan_id)
    if ts < loan.status_ts:
        return  # an older end-of-day status than one we have: the newer one stands
    if loan.dpd == 0 and e.days_past_due > 0:
        s.episodes += 1
        s.add(MISSED, 1.0, ts)
    loan.dpd, loan.status_ts = e.days_past_due, ts
    s.dpd_worst = max(s.dpd_worst, e.days_past_due)
    if e.days_past_due == 0 and loan.outstanding == 0.0:
        del s.loans[e.loan_id]


def _transaction(s: BorrowerState, e: ev.Transaction, ts: float) -> None:
    channel = CATEGORY_CHANNEL[e.category]
    s.add(channel, e.amount, ts)
    if channel == INCOME:
        s.income_var.update(e.amount)
        if ts > s.last_income_ts:
            s.last_income_ts = ts
    elif channel == GAMBLING and ts > s.last_gambling_ts:
        s.last_gambling_ts = ts


def _collection_action(s: BorrowerState, e: ev.CollectionAction, ts: float) -> None:
    if e.action in ("call", "legal"):
        s.add(HARSH, 1.0, ts)
    elif e.action == "grace_period":
        until = e.until
        s.grace_until = max(s.grace_until, ts + 30 * DAY if until is None else
                            _date_epoch(until) + DAY)
    elif e.action == "installment_plan":
        s.plan_active = True


def _date_epoch(d: dt.date) -> float:
    return dt.datetime(d.year, d.month, d.day, tzinfo=dt.timezone.utc).timestamp()


_HANDLERS = {
    ev.AccountOpened: _account_opened,
    ev.LimitChanged: _limit_changed,
    ev.LoanDrawn: _loan_drawn,
    ev.InstallmentDue: _installment_due,
    ev.Payment: _payment,
    ev.OverdueStatus: _overdue_status,
    ev.Transaction: _transaction,
    ev.CollectionAction: _collection_action,
}
