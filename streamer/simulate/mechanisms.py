"""The borrower side of a day: shocks, income, repayment decisions and spending.

Everything works on whole-portfolio arrays. Random numbers come in one fixed-size block per
day (`Draws`), one row per purpose, so a borrower's shocks do not depend on what happened
to anyone else, nor on the scenario: two scenarios with one seed differ only by what the
scenario itself changes.

Why borrowers default here: cash runs out. Income falls (a job loss, orders that dry up,
an industry or regional downturn reaching this borrower after a lag) while spending adjusts
only slowly; over-borrowers spend beyond their income and pile new borrowing on old; bad
habits drain cash (gambling, withdrawals) and make payments careless. Every mechanism books
the cash it costs a borrower into a decaying per-cause account, and the biggest account at
the day of default is the ground-truth cause.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .borrowers import OTHER, SALARIED, SELF_EMPLOYED, SMALL_BUSINESS, STUDENT, Population
from .clock import Calendar
from .emit import DayEvents, seconds
from .loans import PAID, LoanBook
from .macro import Macro

CAUSES = ("income_shock", "industry_cycle", "regional_shock", "over_borrowing", "bad_habits")
INCOME, INDUSTRY, REGION, OVER, HABITS = range(5)
CAUSE_DECAY = 0.99  # per day: what drained cash in the last few months counts most

JOB_LOSS_PER_YEAR = 0.07
BUSINESS_SHOCK_PER_YEAR = 0.10  # orders dry up (self-employed, small business)
PAY_CUT_PER_YEAR = 0.06  # hours or pay cut (salaried, other)
EMERGENCY_PER_YEAR = 0.05


class U:
    """Rows of the daily uniform block."""

    JOB, JOB_CAUSE, BIZ, BIZ_DEPTH, EMERGENCY, INCOME, SUPPORT, MISC_IN = range(8)
    DINING, OTHER, TRANSFER_OUT, LUXURY, CASH, GAMBLING = range(8, 14)
    PAY, TRY, PARTIAL, OTHER_LENDER, GRACE, PLAN, LEGAL, LEGAL_JOB = range(14, 22)
    DRAW, DRAW_SIZE, TERM, METHOD, LEAD, REVIEW, PURPOSE = range(22, 29)
    SEC_IN, SEC_OUT, SEC_PAY, SEC_COLL, SEC_DRAW, SEC_ACCOUNT, SEC_STATUS, SEC_NOTICE = range(
        29, 37)
    ROWS = 37


class Z:
    """Rows of the daily standard-normal block."""

    JOB_DUR, BIZ_DUR, EMERGENCY, INCOME, GROCERIES, DINING, OTHER = range(7)
    TRANSFER_OUT, LUXURY, CASH, GAMBLING, UTILITIES, MISC_IN = range(7, 13)
    ROWS = 13


@dataclass
class Draws:
    u: np.ndarray
    z: np.ndarray

    @classmethod
    def today(cls, rng: np.random.Generator, n: int) -> Draws:
        return cls(rng.random((U.ROWS, n), dtype=np.float32),
                   rng.standard_normal((Z.ROWS, n), dtype=np.float32))


def _noise(z: np.ndarray, sigma: float | np.ndarray) -> np.ndarray:
    """Mean-one lognormal multiplier."""
    return np.exp(sigma * z - 0.5 * sigma * sigma)


class BorrowerState:
    """What changes day to day, per borrower."""

    def __init__(self, pop: Population) -> None:
        n = pop.n
        self.cash = pop.cash.astype(float).copy()
        self.other_debt = pop.other_debt.astype(float).copy()
        self.other_cap = pop.other_cap.astype(float).copy()
        self.limit = pop.credit_limit.astype(float).copy()
        self.income = pop.income
        self.income_slow = pop.income.astype(float).copy()  # what the borrower is used to
        self.income_today = np.zeros(n)
        self.employed = np.ones(n, dtype=bool)
        self.jobless_until = np.zeros(n, dtype=np.int32)
        self.job_cause = np.zeros(n, dtype=np.int8)
        self.biz_depth = np.zeros(n)
        self.biz_start = np.zeros(n, dtype=np.int32)
        self.biz_until = np.full(n, -1, dtype=np.int32)
        self.biz_cause = np.zeros(n, dtype=np.int8)
        self.legal_hit_until = np.full(n, -1, dtype=np.int32)
        self.pressure = np.zeros(n)  # collection pressure felt; lowers engagement
        self.contacted_until = np.full(n, -1, dtype=np.int32)
        self.grace_until = np.full(n, -1, dtype=np.int32)
        self.grace_used = np.zeros(n, dtype=bool)
        self.plan_used = np.zeros(n, dtype=bool)
        self.legal_used = np.zeros(n, dtype=bool)
        self.limit_cut = np.zeros(n, dtype=bool)
        self.dpd = np.zeros(n, dtype=np.int32)  # max over loans, at the last end of day
        self.dpd_before = np.zeros(n, dtype=np.int32)  # the end of day before that
        self.in_arrears = np.zeros(n, dtype=bool)
        self.missed_today = np.zeros(n, dtype=bool)
        self.current_days = np.zeros(n, dtype=np.int32)
        self.loans_drawn = np.zeros(n, dtype=np.int32)
        self.cause_cash = np.zeros((len(CAUSES), n))
        self.spell_start = np.full(n, -1, dtype=np.int32)
        self.first_missed = np.full(n, -1, dtype=np.int32)
        self.missed_at_default = np.full(n, -1, dtype=np.int32)
        self.default_day = np.full(n, -1, dtype=np.int32)
        self.cause = np.full(n, -1, dtype=np.int8)

    def room(self, i: np.ndarray) -> np.ndarray:
        """Credit other lenders still give borrowers i: what is left under their cap,
        shrinking when the borrower's income has fallen (they check income too)."""
        health = np.clip(self.income_slow[i] / self.income[i], 0.0, 1.0)
        return np.maximum(self.other_cap[i] - self.other_debt[i], 0.0) * health * health

    def engagement(self) -> np.ndarray:
        """1 = cooperative; pressure from repeated calls and legal action wears it down."""
        return np.maximum(0.15, np.exp(-0.08 * np.maximum(0.0, self.pressure - 3.0)))


def _attribute(u: np.ndarray, m_ind: np.ndarray, m_reg: np.ndarray) -> np.ndarray:
    """Which cause a job loss / business shock belongs to: split by the share of its hazard
    that the borrower's own risk, the industry and the region contribute."""
    m_reg = np.maximum(m_reg, 1.0)
    total = m_ind * m_reg
    w_own, w_ind = 1.0 / total, (m_ind - 1.0) / total
    cause = np.where(u < w_own, INCOME, np.where(u < w_own + w_ind, INDUSTRY, REGION))
    return cause.astype(np.int8)


def shocks(d: int, pop: Population, st: BorrowerState, macro: Macro, r: Draws,
           opened: np.ndarray) -> np.ndarray:
    """Job losses, business shocks, emergencies; returns today's emergency expenses."""
    u, z, seg = r.u, r.z, pop.segment
    m_ind, m_reg = macro.job_loss_multiplier(
        d, pop.industry, pop.region, pop.industry_lag, pop.region_lag)
    st.employed |= st.jobless_until <= d  # back at work

    has_job = (seg == SALARIED) | (seg == OTHER)
    hazard = JOB_LOSS_PER_YEAR / 365.0 * m_ind * m_reg
    lose = np.flatnonzero(opened & has_job & st.employed & (u[U.JOB] < hazard))
    if len(lose):
        mi, mr = m_ind[lose], np.maximum(m_reg[lose], 1.0)
        # a weak labour market makes the search longer too
        days = 150.0 * np.exp(0.9 * z[Z.JOB_DUR, lose]) * np.sqrt(mi * mr)
        st.jobless_until[lose] = d + np.clip(days, 14, 500).astype(np.int32)
        st.employed[lose] = False
        st.job_cause[lose] = _attribute(u[U.JOB_CAUSE, lose], mi, mr)

    # an income cut: a business's orders dry up, or an employee's hours / pay are cut
    biz = (seg == SELF_EMPLOYED) | (seg == SMALL_BUSINESS)
    per_year = np.where(biz, BUSINESS_SHOCK_PER_YEAR, np.where(has_job, PAY_CUT_PER_YEAR, 0.0))
    hz = per_year / 365.0 * np.sqrt(m_ind * np.maximum(m_reg, 1.0))
    hit = np.flatnonzero(opened & (st.biz_until < d) & (u[U.BIZ] < hz))
    if len(hit):
        deep = biz[hit]
        st.biz_depth[hit] = np.where(deep, 0.3 + 0.5 * u[U.BIZ_DEPTH, hit],
                                     0.25 + 0.35 * u[U.BIZ_DEPTH, hit])
        st.biz_start[hit] = d
        st.biz_until[hit] = d + np.clip(120.0 * np.exp(0.6 * z[Z.BIZ_DUR, hit]), 30, 400).astype(
            np.int32)
        st.biz_cause[hit] = _attribute(
            u[U.JOB_CAUSE, hit], np.sqrt(m_ind[hit]), np.sqrt(np.maximum(m_reg[hit], 1.0)))

    emergency = opened & (u[U.EMERGENCY] < EMERGENCY_PER_YEAR / 365.0)
    return np.where(emergency, pop.income * np.exp(0.5 * z[Z.EMERGENCY]), 0.0)


def income(d: int, cal: Calendar, pop: Population, st: BorrowerState, macro: Macro,
           r: Draws, ev: DayEvents, opened: np.ndarray) -> None:
    """Today's income transactions; credits cash and books lost income to its cause."""
    u, z, seg, base = r.u, r.z, pop.segment, pop.income
    f_ind, f_reg = macro.income_factor(
        d, seg, pop.industry, pop.region, pop.industry_lag, pop.region_lag)
    payday = opened & (pop.payday == cal.day_of_month[d])
    ramp = np.clip((d - st.biz_start) / 30.0, 0.0, 1.0)  # orders fall over a month
    biz_mult = np.where(st.biz_until >= d, 1.0 - st.biz_depth * ramp, 1.0)
    biz_mult = biz_mult * np.where(st.legal_hit_until >= d, 0.75, 1.0)  # frozen accounts
    level = base * f_ind * f_reg
    noise = _noise(z[Z.INCOME], pop.volatility)
    today = np.zeros(pop.n)
    secs = seconds(u[U.SEC_IN], 8, 11)

    def credit(mask: np.ndarray, amount: np.ndarray, category: str, who: str | None = None) -> None:
        i = np.flatnonzero(mask)
        a = np.round(amount[i], 2)
        today[i] += a
        ev.transactions(i, secs[i], a, "in", category, who)

    has_job = (seg == SALARIED) | (seg == OTHER)
    credit(payday & (seg == SALARIED) & st.employed, level * biz_mult * noise, "salary")
    # business and gig income: on the borrower's weekday, in some weeks and not others
    week_day = opened & (pop.income_weekday == cal.weekday[d])
    chance = np.select([seg == SMALL_BUSINESS, seg == SELF_EMPLOYED, seg == OTHER],
                       [0.9, 0.75, 0.5], 0.0)
    paid = week_day & (u[U.INCOME] < chance) & (st.employed | (seg != OTHER))
    per_month = np.maximum(chance, 0.1) * 52.0 / 12.0
    credit(paid, level * biz_mult * noise / per_month, "business_income")
    credit(payday & (seg == STUDENT), 0.85 * base * np.sqrt(f_reg) * noise, "transfer_in", "family")
    support = payday & has_job & ~st.employed & (u[U.SUPPORT] < 0.5)
    credit(support, 0.25 * base, "transfer_in", "family")
    misc = opened & (u[U.MISC_IN] < 0.2 / 30)
    credit(misc, 0.15 * base * _noise(z[Z.MISC_IN], 0.5), "transfer_in")

    st.cash += today
    st.income_today = today
    st.income_slow += (30.0 * today - st.income_slow) * np.where(opened, 1 / 90, 0.0)

    # book the income lost today to what took it
    daily = np.where(opened & (seg != STUDENT), base / 30.0, 0.0)
    acc = st.cause_cash
    acc[INDUSTRY] += daily * np.maximum(0.0, 1.0 - f_ind)
    acc[REGION] += daily * np.maximum(0.0, 1.0 - f_reg)
    lost_biz = daily * (1.0 - biz_mult)
    jobless = np.where(has_job & ~st.employed, daily, 0.0)
    for c in (INCOME, INDUSTRY, REGION):
        acc[c] += np.where(st.biz_cause == c, lost_biz, 0.0) + np.where(
            st.job_cause == c, jobless, 0.0)


def repay(d: int, pop: Population, st: BorrowerState, book: LoanBook, r: Draws,
          ev: DayEvents, due_today: np.ndarray) -> None:
    """Payments on the loans due today and on arrears the borrower tries to clear."""
    st.missed_today[:] = False
    n = book.n
    if n == 0:
        return
    u = r.u
    eng = st.engagement()
    # On a due date a borrower pays unless careless; on other days an overdue borrower tries
    # when money came in or the lender just called.
    willing = u[U.PAY] < pop.discipline * eng
    # debt fatigue: the longer a debt has been overdue, the less a borrower tries
    fatigue = np.exp(-np.maximum(0, st.dpd - 15) / 40.0)
    p_try = eng * fatigue * np.where(
        st.income_today > 0, 0.75, np.where(st.contacted_until >= d, 0.5, 0.04))
    trying = u[U.TRY] < p_try

    is_due = np.zeros(n, dtype=bool)
    is_due[due_today] = True
    owing = book.oldest[:n] < book.n_due[:n]
    owner = book.borrower[:n]
    pays = np.flatnonzero(owing & np.where(is_due, willing[owner], trying[owner]))
    if len(pays):
        b = book.borrower[pays]  # loans are in draw order, so grouped only after a sort
        order = np.argsort(b, kind="stable")
        pays, b = pays[order], b[order]
        need = book.arrears(pays)
        # food, rent and the other lenders' instalments come first: keep them back, but
        # less of it on a due date (a bill due today comes first)
        living = pop.consumption_ratio * np.maximum(st.income_slow, 0.4 * pop.income)
        reserve = 0.35 * living + 0.1 * st.other_debt
        due_b = np.bincount(book.borrower[due_today], minlength=pop.n) > 0
        own_all = np.maximum(st.cash - np.where(due_b, 0.5, 1.0) * reserve, 0.0)
        own = own_all[b]
        # borrowing from other lenders to pay this one: "new borrowing piled on old"
        # (other lenders see the bureau: from 30 DPD on they lend no more)
        other = (u[U.OTHER_LENDER, b] < np.where(pop.over_borrower[b], 0.8, 0.35)) & (
            st.dpd[b] < 30)
        room = np.where(other, st.room(b), 0.0)
        # a borrower's money goes to their loans in order until it runs out
        cum = np.cumsum(need)
        first = np.r_[True, b[1:] != b[:-1]]
        group = np.cumsum(first) - 1
        before = (cum - need) - (cum - need)[first][group]
        alloc = np.clip(own + room - before, 0.0, need)
        paid = np.where(alloc >= need - PAID, need,
                        np.where(alloc >= np.maximum(100.0, 0.15 * need), np.floor(alloc), 0.0))
        # chronic bad habits: a part-payment even when the money is there
        careless = pop.bad_habits[b] & (u[U.PARTIAL, b] < 0.25) & (paid >= need - PAID)
        part = np.round(need * (0.3 + 0.4 * u[U.PARTIAL, b] / 0.25), 2)
        st.cause_cash[HABITS] += np.bincount(b, np.where(careless, need - part, 0.0), pop.n)
        paid = np.where(careless, part, paid)

        ok = paid > 0
        pays, b, paid = pays[ok], b[ok], paid[ok]
        number = np.minimum(book.oldest[pays], book.n_due[pays] - 1) + 1
        ev.payment(b, seconds(u[U.SEC_PAY, b], 12, 22), book.seq[pays], paid, number)
        book.pay(pays, paid)

        total = np.bincount(b, paid, pop.n)
        borrowed = np.maximum(total - own_all, 0.0)
        st.cash -= total - borrowed
        st.other_debt += borrowed
        got = np.flatnonzero(borrowed >= 1.0)
        ev.transactions(got, seconds(u[U.SEC_PAY, got], 11, 12), borrowed[got], "in",
                        "transfer_in", "other_lender")

    late = due_today[book.oldest[due_today] < book.n_due[due_today]]
    st.missed_today[book.borrower[late]] = True


# Spending: share of the monthly budget and events a month, per category.
_BUDGET = {
    "groceries": (0.36, 2.17), "dining": (0.10, 0.7), "utilities": (0.07, 1.0),
    "other": (0.17, 0.5), "transfer_out": (0.12, 0.3), "luxury": (0.13, 0.25),
    "cash_withdrawal": (0.05, 0.4),
}
_GOLDEN = 0.6180339887


def spend(d: int, cal: Calendar, pop: Population, st: BorrowerState, r: Draws,
          ev: DayEvents, opened: np.ndarray, emergency: np.ndarray) -> None:
    """Today's spending; money runs short -> other lenders' credit until it is exhausted,
    then spending is cut. Consumption follows income only slowly (habit)."""
    u, z, n = r.u, r.z, pop.n
    target = pop.consumption_ratio * np.maximum(st.income_slow, 0.4 * pop.income)
    target += 0.3 * np.maximum(st.cash - pop.buffer, 0.0)  # savings above the buffer get spent
    budget = np.maximum(target - pop.rent, 0.15 * pop.income)  # monthly, besides rent
    dom, wd = cal.day_of_month[d], cal.weekday[d]
    slot = [0]

    def debit(mask: np.ndarray, amount: np.ndarray, category: str, room_share: float = 1.0,
              who: str | None = None) -> np.ndarray:
        """Spend `amount` where `mask`; returns what was spent per borrower (all n)."""
        slot[0] += 1
        i = np.flatnonzero(mask)
        spent = np.zeros(n)
        if not len(i):
            return spent
        cash = np.maximum(st.cash[i], 0.0)
        room = st.room(i) * room_share
        a = np.round(np.minimum(amount[i], cash + room), 2)
        short = np.maximum(a - cash, 0.0)
        st.cash[i] -= a - short
        st.other_debt[i] += short
        spent[i] = a
        # a different time of day for each category, from one uniform row
        frac = (u[U.SEC_OUT, i] + slot[0] * _GOLDEN) % 1.0
        ev.transactions(i, seconds(frac, 7, 23), a, "out", category, who)
        return spent

    debit(opened & (pop.rent > 0) & (pop.rent_day == dom), pop.rent, "rent")
    share, _ = _BUDGET["utilities"]
    debit(opened & (pop.bill_day == dom), share * budget * _noise(z[Z.UTILITIES], 0.15),
          "utilities")

    # other lenders: interest, then a tenth of the balance a month, from cash only
    bill = opened & (pop.other_loan_day == dom) & (st.other_debt > 50.0)
    interest = np.where(bill, 0.015 * st.other_debt, 0.0)
    # an over-borrower finds a new platform now and then: their other credit keeps growing
    st.other_cap += np.where(bill & pop.over_borrower, 0.08 * st.other_cap, 0.0)
    st.other_debt += interest
    st.cause_cash[OVER] += interest
    owed = np.where(bill, np.minimum(st.other_debt, np.maximum(100.0, 0.1 * st.other_debt)), 0.0)
    paid = np.minimum(owed, np.maximum(st.cash, 0.0))
    st.other_debt -= debit(paid >= 1.0, paid, "other_loan_repayment", 0.0, "other_lender")

    groceries = opened & (pop.grocery_weekday == wd) & (pop.grocery_week == (d // 7) % 2)
    share, per = _BUDGET["groceries"]
    debit(groceries, share * budget / per * _noise(z[Z.GROCERIES], 0.15), "groceries")
    debit(emergency > 0, emergency, "other")
    st.cause_cash[INCOME] += emergency

    luxury_rate = np.where(pop.over_borrower, 2.0, 1.0)
    cash_rate = np.where(pop.bad_habits, 3.0, 1.0)
    for category, row, zrow, sigma, rate in (
        ("dining", U.DINING, Z.DINING, 0.4, 1.0),
        ("other", U.OTHER, Z.OTHER, 0.5, 1.0),
        ("transfer_out", U.TRANSFER_OUT, Z.TRANSFER_OUT, 0.5, 1.0),
        ("luxury", U.LUXURY, Z.LUXURY, 0.6, luxury_rate),
        ("cash_withdrawal", U.CASH, Z.CASH, 0.4, cash_rate),
    ):
        share, per = _BUDGET[category]
        mask = opened & (u[row] < rate * per / 30.0)
        size = share * budget / per * _noise(z[zrow], sigma)
        if category == "cash_withdrawal":
            size = size * np.where(pop.bad_habits, 2.0, 1.0)
        spent = debit(mask, size, category, 0.5)
        if category == "cash_withdrawal":
            st.cause_cash[HABITS] += np.where(pop.bad_habits, spent, 0.0)

    gamble = opened & (pop.gambling > 0) & (u[U.GAMBLING] < 3 / 30)
    stake = pop.gambling * pop.income / 3.0 * _noise(z[Z.GAMBLING], 0.8)
    st.cause_cash[HABITS] += debit(gamble, stake, "gambling", 0.7)
    # living beyond one's means, every day it lasts
    st.cause_cash[OVER] += np.where(
        opened, np.maximum(0.0, pop.consumption_ratio - 0.85) * target / 30.0, 0.0)
