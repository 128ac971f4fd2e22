"""The lender side of a day: collection actions, new loans on the line, limit changes.

Collection actions follow the scenario's policy and change the borrower's path: a grace
period stops the DPD clock (and penalty interest) until `until`, an installment plan spreads
the arrears over the next months, while calls and legal action add pressure (a borrower
under pressure pays less readily), legal costs, and for a business a hit to its income.
"""

from __future__ import annotations

import numpy as np

from .borrowers import SALARIED, SELF_EMPLOYED, SMALL_BUSINESS, Population
from .clock import Calendar
from .emit import DayEvents, seconds
from .loans import INTEREST_FIRST, METHODS, LoanBook
from .mechanisms import INCOME, OVER, BorrowerState, Draws, U
from .scenarios import CollectionPolicy

TERMS = np.array([1, 2, 3, 6, 9, 12], dtype=np.int32)
TERM_SHARE = np.array([0.04, 0.03, 0.20, 0.30, 0.10, 0.33])
MIN_PRINCIPAL = 500.0


def collect(d: int, policy: CollectionPolicy, cal: Calendar, pop: Population,
            st: BorrowerState, book: LoanBook, r: Draws, ev: DayEvents) -> None:
    """Act on yesterday's end-of-day DPD; each threshold acts once, when it is crossed."""
    u, x, before = r.u, st.dpd, st.dpd_before
    in_grace = st.grace_until >= d
    moving = (x >= 1) & (x > before) & ~in_grace

    def crossed(v: int) -> np.ndarray:
        return moving & (x >= v) & (before < v)

    grace = crossed(policy.grace_dpd) & ~st.grace_used & (u[U.GRACE] < policy.grace_share)
    plan = crossed(policy.plan_dpd) & ~st.plan_used & ~grace & (u[U.PLAN] < policy.plan_share)
    legal = (crossed(policy.legal_dpd) & ~st.legal_used & ~grace & ~plan
             & (u[U.LEGAL] < policy.legal_share))
    call = np.zeros(pop.n, dtype=bool)
    for v in policy.call_dpd:
        call |= crossed(v)
    if policy.call_every > 0:
        call |= moving & (x >= policy.call_from) & ((x - policy.call_from) % policy.call_every == 0)
    call &= ~grace & ~plan & ~legal
    reminder = np.zeros(pop.n, dtype=bool)
    for v in policy.reminder_dpd:
        reminder |= crossed(v)
    reminder &= ~grace & ~plan & ~legal & ~call

    secs = seconds(u[U.SEC_COLL], 9, 18)
    i = np.flatnonzero(reminder)
    ev.collection_action(i, secs[i], "reminder")
    st.contacted_until[i] = d + 2
    i = np.flatnonzero(call)
    ev.collection_action(i, secs[i], "call")
    st.contacted_until[i] = d + 2
    st.pressure[i] += 1.0

    i = np.flatnonzero(grace)
    if len(i):
        until = d + policy.grace_days - 1
        ev.collection_action(i, secs[i], "grace_period", cal.iso[until])
        st.grace_until[i] = until
        st.grace_used[i] = True
        st.pressure[i] = 0.0

    i = np.flatnonzero(plan)
    if len(i):
        ev.collection_action(i, secs[i], "installment_plan")
        st.plan_used[i] = True
        st.pressure[i] = 0.0
        loans = np.flatnonzero(plan[book.borrower[: book.n]]
                               & (book.oldest[: book.n] < book.n_due[: book.n])
                               & (book.plan_to[: book.n] == 0))
        book.restructure(loans, policy.plan_months, d)

    i = np.flatnonzero(legal)
    if len(i):
        ev.collection_action(i, secs[i], "legal")
        st.legal_used[i] = True
        st.pressure[i] += 6.0
        loans = np.flatnonzero(legal[book.borrower[: book.n]]
                               & (book.oldest[: book.n] < book.n_due[: book.n]))
        fee = np.round(0.05 * book.arrears(loans) + 200.0, 2)  # legal costs land on the debt
        book.rest[loans] += fee
        # a lawsuit freezes a business's accounts; an employer who hears of it may let go
        seg = pop.segment[i]
        biz = i[(seg == SELF_EMPLOYED) | (seg == SMALL_BUSINESS)]
        st.legal_hit_until[biz] = d + 120
        fired = i[(seg == SALARIED) & st.employed[i] & (u[U.LEGAL_JOB, i] < 0.1)]
        st.employed[fired] = False
        st.jobless_until[fired] = d + 120
        st.job_cause[fired] = INCOME


def draw_loans(d: int, pop: Population, st: BorrowerState, book: LoanBook, r: Draws,
               ev: DayEvents, opened: np.ndarray, balance: np.ndarray) -> None:
    """New loans on the line. Stressed borrowers (little cash, other credit nearly used)
    borrow more often and more, to cover the gap; others borrow for a purchase."""
    u = r.u
    headroom = st.limit - balance
    stressed = (st.cash < 0.25 * pop.income) | (st.other_debt > 0.8 * st.other_cap)
    new_account = (d - pop.open_day) < 30  # a new line is usually used soon
    rate = pop.appetite / 365.0 * (1.0 + 2.0 * stressed) * np.where(new_account, 6.0, 1.0)
    # the lender blocks the line of anyone overdue or in default
    allowed = opened & ~st.in_arrears & (st.default_day < 0) & (headroom >= MIN_PRINCIPAL)
    i = np.flatnonzero(allowed & (u[U.DRAW] < rate))
    if not len(i):
        return
    s = u[U.DRAW_SIZE, i]
    # a purchase is sized by what the borrower earns; over-borrowers and stressed
    # borrowers take a large share of whatever the line still allows
    big = pop.over_borrower[i] | stressed[i]
    want = np.where(big, (0.5 + 0.5 * s) * headroom[i],
                    pop.income[i] * np.exp(np.log(0.8) + 1.2 * (s - 0.5)))
    principal = np.maximum(np.floor(np.minimum(want, headroom[i]) / 100.0) * 100.0, MIN_PRINCIPAL)
    principal = np.minimum(principal, np.floor(headroom[i] / 100.0) * 100.0)
    term = TERMS[np.searchsorted(np.cumsum(TERM_SHARE), u[U.TERM, i], side="right").clip(0, 5)]
    score = np.where(pop.credit_score[i] < 0, 620, pop.credit_score[i])
    rate_d = 0.0002 + 0.0006 * np.clip((850.0 - score) / 450.0, 0.0, 1.0)
    rate_d = np.round(np.clip(rate_d, 0.0002, 0.0008), 5)
    # interest-first (a bullet at the end) is a business owner's product
    seg = pop.segment[i]
    bullet_share = np.where((seg == SELF_EMPLOYED) | (seg == SMALL_BUSINESS), 0.4, 0.05)
    method = (u[U.METHOD, i] < bullet_share).astype(np.int8) * INTEREST_FIRST
    lead = (u[U.LEAD, i] * 4).astype(np.int32)  # notice 0-3 days before the due date
    st.loans_drawn[i] += 1
    seq = st.loans_drawn[i]
    book.add(i, seq, principal, term, rate_d, method, d, lead)

    secs = seconds(u[U.SEC_DRAW, i], 10, 21)
    ev.loan_drawn(i, secs, seq, principal, term, rate_d, [METHODS[m] for m in method.tolist()])
    # a purchase is spent at once (the shop is paid); a liquidity draw stays as cash
    st.cash[i] += principal
    buy = ~stressed[i]
    b, p = i[buy], principal[buy]
    kind = u[U.PURPOSE, b]
    t = np.minimum(secs[buy] + 60 + ((kind * 7.0) % 1.0 * 1800).astype(np.int64), 86_399)
    for lo, hi, category in ((0.0, 0.4, "luxury"), (0.4, 0.75, "other"),
                             (0.75, 1.0, "transfer_out")):
        k = (kind >= lo) & (kind < hi)
        ev.transactions(b[k], t[k], p[k], "out", category)
    st.cash[b] -= p
    st.cause_cash[OVER, b] += 0.5 * p  # buying on credit: part of living beyond one's means


def review_limits(d: int, pop: Population, st: BorrowerState, r: Draws, ev: DayEvents,
                  opened: np.ndarray, balance: np.ndarray) -> None:
    """Quarterly raises for borrowers in good standing who use their line; a cut to the
    balance when a borrower crosses 30 DPD (the lender's exposure control)."""
    u = r.u
    review = opened & ((d % 91) == pop.review_day) & (d - pop.open_day >= 60)
    raise_ = (review & (st.spell_start < 0) & (st.default_day < 0) & ~st.limit_cut
              & (balance > 0.4 * st.limit) & (u[U.REVIEW] < 0.35) & (st.limit < 300_000))
    cut = (opened & (st.dpd >= 30) & (st.dpd_before < 30) & ~st.limit_cut
           & (u[U.REVIEW] < 0.5))
    new = np.where(raise_, np.minimum(np.round(st.limit * (1.2 + 0.3 * u[U.REVIEW]) / 100) * 100,
                                      300_000.0), st.limit)
    floor = np.maximum(np.round(balance / 100.0) * 100.0, 500.0)
    new = np.where(cut, np.minimum(floor, st.limit), new)
    i = np.flatnonzero((raise_ | cut) & (new != st.limit))
    if not len(i):
        return
    st.limit[i] = new[i]
    st.limit_cut[i] |= cut[i]
    ev.limit_changed(i, seconds(u[U.SEC_ACCOUNT, i], 9, 10), new[i])
