"""A simulation run: the day loop, end-of-day loan status, and the ground truth.

Day by day, the whole portfolio at once: the lender acts on yesterday's status, shocks
strike, income arrives, installments are noticed and fall due, borrowers pay (or not) and
spend, draw new loans, limits change, and at the end of the day every overdue loan gets
its status. Events come out one day at a time, sorted by second within the day, so they
are in global time order and memory does not grow with the number of days.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterator

import numpy as np

from . import latent, lender, mechanisms
from .borrowers import INDUSTRIES, REGIONS, SEGMENTS, make_population
from .clock import Calendar
from .emit import DayEvents, Item, seconds
from .loans import LoanBook
from .macro import Macro
from .mechanisms import CAUSE_DECAY, CAUSES, BorrowerState, Draws, U
from .scenarios import Scenario

DEFAULT_DPD = 90
WEEKLY_AFTER_DPD = 120
SPELL_ENDS_AFTER = 60  # days without arrears that close a delinquency spell
PENALTY = 1.5  # overdue installments accrue 1.5x the loan's daily rate


class Simulation:
    """Iterate `events()` once; then `ground_truth()` and `summary()` describe the run."""

    def __init__(self, scenario: Scenario, borrowers: int, days: int, seed: int,
                 start: dt.date) -> None:
        self.scenario, self.n, self.days, self.seed, self.start = (
            scenario, borrowers, days, seed, start)
        root = np.random.SeedSequence(seed)
        pop_ss, macro_ss, day_ss = root.spawn(3)
        self.cal = Calendar(start, days)
        self.pop = make_population(borrowers, days, np.random.default_rng(pop_ss))
        self.macro = Macro(scenario, days, np.random.default_rng(macro_ss))
        self.rng = np.random.default_rng(day_ss)
        self.st = BorrowerState(self.pop)
        self.book = LoanBook(self.cal.due)
        width = max(7, len(str(borrowers)))
        self.ids = [f"b{i:0{width}d}" for i in range(1, borrowers + 1)]
        # event ids unique across runs too (scenario, size, span, seed, start)
        tag = repr((scenario, borrowers, days, seed, start.isoformat())).encode()
        self.id_prefix = "e" + hashlib.blake2s(tag, digest_size=4).hexdigest() + "-"
        self.count = 0
        self._state = "new"
        self._latent: tuple[Callable[[int, np.ndarray, np.ndarray], None], int] | None = None

    def record_latent(self, sink: Callable[[int, np.ndarray, np.ndarray], None],
                      every: int = latent.EVERY) -> None:
        """Call `sink(day, borrowers, rows)` with the latent state (`latent.snapshot`) at
        the end of days 0, every, 2*every, ...; it draws nothing, so the events and the
        truth stay the same. Set it before iterating the events."""
        if self._state != "new":
            raise RuntimeError("record_latent() must come before the events are iterated")
        if every < 1:
            raise ValueError(f"every: {every!r} must be at least 1")
        self._latent = (sink, every)

    # -- the run -----------------------------------------------------------------------
    def events(self) -> Iterator[Item]:
        """(topic, key, event) in event-time order; ties keep generation order."""
        for items in self.days_of_events():
            yield from items

    def days_of_events(self) -> Iterator[list[Item]]:
        """The same events, one list per day (the fast path for writers)."""
        if self._state != "new":
            raise RuntimeError("a Simulation's events can be iterated only once")
        self._state = "running"
        prefix = self.id_prefix
        for d in range(self.days):
            items = self._day(d)
            if self._latent is not None and d % self._latent[1] == 0:
                self._latent[0](d, *latent.snapshot(self, d))
            start = self.count
            self.count += len(items)
            for (_, _, ev), k in zip(items, range(start, self.count)):
                ev["event_id"] = prefix + str(k)
            yield items
        self._state = "done"

    def _day(self, d: int) -> list[Item]:
        pop, st, book, cal = self.pop, self.st, self.book, self.cal
        r = Draws.today(self.rng, pop.n)
        ev = DayEvents(cal.iso[d], self.ids)
        published = self.macro.published(d, int(cal.weekday[d]), int(cal.day_of_month[d]))
        ev.macro(6 * 3600, published)

        opened = pop.open_day <= d
        i = np.flatnonzero(pop.open_day == d)
        if len(i):
            ev.account_opened(
                i, seconds(r.u[U.SEC_ACCOUNT, i], 6.02, 6.98), st.limit[i],
                [SEGMENTS[k] for k in pop.segment[i].tolist()],
                [INDUSTRIES[k] for k in pop.industry[i].tolist()],
                [REGIONS[k] for k in pop.region[i].tolist()],
                pop.credit_score[i], pop.prior_delinquencies[i])

        lender.collect(d, self.scenario.policy, cal, pop, st, book, r, ev)
        emergency = mechanisms.shocks(d, pop, st, self.macro, r, opened)
        mechanisms.income(d, cal, pop, st, self.macro, r, ev, opened)
        self._notices(d, r, ev)
        n = book.n
        due = np.flatnonzero(book.next_due[:n] <= d)
        book.come_due(due)
        mechanisms.repay(d, pop, st, book, r, ev, due)
        mechanisms.spend(d, cal, pop, st, r, ev, opened, emergency)
        balance = np.bincount(book.borrower[: book.n], book.balance(np.arange(book.n)), pop.n)
        lender.draw_loans(d, pop, st, book, r, ev, opened, balance)
        lender.review_limits(d, pop, st, r, ev, opened, balance)
        self._end_of_day(d, r, ev)
        if d % 30 == 29:
            book.compact()
        return ev.ordered()

    def _notices(self, d: int, r: Draws, ev: DayEvents) -> None:
        """installment_due on the due date or up to three days before (the loan's lead)."""
        book = self.book
        i = np.flatnonzero(book.next_notice[: book.n] <= d)
        if not len(i):
            return
        k = book.noticed[i]
        b = book.borrower[i]
        dates = [self.cal.iso[x] for x in book.due_day(i, k).tolist()]
        ev.installment_due(b, seconds(r.u[U.SEC_NOTICE, b], 7, 8), book.seq[i], k + 1, dates,
                           book.installment(i, k))
        book.noticed[i] = k + 1
        book.refresh(i)

    def _end_of_day(self, d: int, r: Draws, ev: DayEvents) -> None:
        """DPD per loan (frozen in a grace period), penalty interest, overdue_status events,
        and the borrower-level bookkeeping: spells, defaults and their causes."""
        book, st, pop = self.book, self.st, self.pop
        n = book.n
        i = np.flatnonzero((book.oldest[:n] < book.n_due[:n]) | (book.dpd[:n] > 0))
        b = book.borrower[i]
        owing = book.oldest[i] < book.n_due[i]
        # an installment not paid by the end of its due date is 1 day past due that night
        age = np.where(owing, d - book.due_day(i, book.oldest[i]) + 1, 0)
        frozen = st.grace_until[b] >= d
        old = book.dpd[i]
        # +1 a day, but never more than the age of the oldest unpaid installment
        new = np.where(owing, np.minimum(np.where(frozen, old, old + 1), age), 0)
        late = owing & (new >= 1) & ~frozen
        penalty = np.where(late, np.round(book.arrears(i) * PENALTY * book.rate[i], 2), 0.0)
        book.rest[i] += penalty
        book.dpd[i] = new
        amount = book.arrears(i)

        weekly = (d % 7) == (b % 7)
        show = ((new >= 1) & ((new <= WEEKLY_AFTER_DPD) | weekly)) | ((old >= 1) & (new == 0))
        k = np.flatnonzero(show)
        ev.overdue_status(b[k], seconds(r.u[U.SEC_STATUS, b[k]], 23.84, 24), book.seq[i[k]],
                          new[k], np.where(new[k] >= 1, amount[k], 0.0))

        dpd = np.zeros(pop.n, dtype=np.int32)
        np.maximum.at(dpd, b, new)
        st.dpd_before, st.dpd = st.dpd, dpd
        st.in_arrears[:] = False
        st.in_arrears[b[owing]] = True

        missed = st.missed_today
        st.spell_start = np.where(missed & (st.spell_start < 0), d, st.spell_start)
        st.first_missed = np.where(missed & (st.first_missed < 0), d, st.first_missed)
        defaulted = np.flatnonzero((dpd >= DEFAULT_DPD) & (st.default_day < 0))
        if len(defaulted):
            st.default_day[defaulted] = d
            st.missed_at_default[defaulted] = st.spell_start[defaulted]
            st.cause[defaulted] = np.argmax(st.cause_cash[:, defaulted], axis=0)
        st.current_days = np.where(st.in_arrears, 0, st.current_days + 1)
        ended = (st.spell_start >= 0) & (st.current_days >= SPELL_ENDS_AFTER)
        if ended.any():
            st.spell_start[ended] = -1
            st.grace_used[ended] = st.plan_used[ended] = st.legal_used[ended] = False
        st.pressure *= 0.99
        st.cause_cash *= CAUSE_DECAY

    # -- results -----------------------------------------------------------------------
    def ground_truth(self) -> Iterator[dict]:
        """One dict per borrower; available once events() is exhausted.

        `default_date`: the first day any loan reached 90 DPD. `first_missed_payment_date`:
        for a defaulter, the due date whose miss opened the delinquency spell that ended in
        default; otherwise the first due date the borrower missed, or null."""
        if self._state != "done":
            raise RuntimeError("ground_truth() is known only after events() is exhausted")
        st, pop, iso = self.st, self.pop, self.cal.iso
        missed = np.where(st.default_day >= 0, st.missed_at_default, st.first_missed)
        for k, bid in enumerate(self.ids):
            dd, fm, c = int(st.default_day[k]), int(missed[k]), int(st.cause[k])
            yield {
                "borrower_id": bid,
                "default_date": iso[dd] if dd >= 0 else None,
                "first_missed_payment_date": iso[fm] if fm >= 0 else None,
                "cause": CAUSES[c] if dd >= 0 else None,
                "segment": SEGMENTS[pop.segment[k]],
                "industry": INDUSTRIES[pop.industry[k]],
                "region": REGIONS[pop.region[k]],
            }

    def summary(self) -> dict:
        defaulters = int((self.st.default_day >= 0).sum())
        return {
            "scenario": self.scenario.name, "borrowers": self.n, "days": self.days,
            "seed": self.seed, "events": self.count, "defaulters": defaulters,
            "default_rate": defaulters / self.n,
        }
