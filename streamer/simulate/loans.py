"""The loan book: installment loans as arrays, with the servicing arithmetic.

A loan's schedule is never stored installment by installment: installment k is `amount`
(or `last` for the final one) plus `plan_add` if an installment plan covers k. Payments
pay the oldest unpaid installment first, so the arrears are always "the rest of installment
`oldest`" plus the whole of every later installment that has come due: three numbers per
loan describe them (`oldest`, `rest`, `n_due`). That keeps a million loans in a few arrays.
"""

from __future__ import annotations

import numpy as np

from .clock import MAX_INSTALLMENTS, NEVER

EQUAL_INSTALLMENT, INTEREST_FIRST = 0, 1
METHODS = ("equal_installment", "interest_first")
PAID = 0.005  # CNY: less than half a cent left counts as paid

_FIELDS: dict[str, type] = {
    "borrower": np.int32, "seq": np.int32, "principal": np.float64, "term": np.int32,
    "rate": np.float64, "method": np.int8, "drawn": np.int32, "lead": np.int32,
    "amount": np.float64, "last": np.float64,
    "plan_from": np.int32, "plan_to": np.int32, "plan_add": np.float64, "shift": np.int32,
    "n_due": np.int32, "oldest": np.int32, "rest": np.float64, "noticed": np.int32,
    "dpd": np.int32, "next_due": np.int32, "next_notice": np.int32,
}


class LoanBook:
    def __init__(self, due_table: np.ndarray, capacity: int = 1024) -> None:
        self.due_table = due_table  # Calendar.due: [draw day, installment index] -> day
        self.n = 0
        for name, dtype in _FIELDS.items():
            setattr(self, name, np.zeros(capacity, dtype=dtype))

    # -- bookkeeping -------------------------------------------------------------------
    def _grow(self, need: int) -> None:
        cap = len(self.borrower)
        if need <= cap:
            return
        new = max(need, 2 * cap)
        for name in _FIELDS:
            old = getattr(self, name)
            arr = np.zeros(new, dtype=old.dtype)
            arr[: self.n] = old[: self.n]
            setattr(self, name, arr)

    def compact(self) -> None:
        """Drop loans fully repaid (order is kept, so the run stays deterministic)."""
        i = np.arange(self.n)
        keep = ~((self.n_due[i] >= self.total(i)) & (self.oldest[i] >= self.n_due[i]))
        m = int(keep.sum())
        for name in _FIELDS:
            arr = getattr(self, name)
            arr[:m] = arr[: self.n][keep]
        self.n = m

    def add(
        self, borrower: np.ndarray, seq: np.ndarray, principal: np.ndarray, term: np.ndarray,
        rate: np.ndarray, method: np.ndarray, day: int, lead: np.ndarray,
    ) -> np.ndarray:
        """New loans drawn today; returns their indices."""
        k = len(borrower)
        self._grow(self.n + k)
        i = np.arange(self.n, self.n + k)
        self.n += k
        monthly = rate * 30.0
        annuity = principal * monthly / (1.0 - (1.0 + monthly) ** (-term.astype(float)))
        interest = principal * monthly
        first = method == INTEREST_FIRST
        self.borrower[i], self.seq[i], self.principal[i] = borrower, seq, principal
        self.term[i], self.rate[i], self.method[i] = term, rate, method
        self.drawn[i], self.lead[i] = day, lead
        self.amount[i] = np.round(np.where(first, interest, annuity), 2)
        self.last[i] = np.round(np.where(first, principal + interest, annuity), 2)
        for name in ("plan_from", "plan_to", "shift", "n_due", "oldest", "noticed", "dpd"):
            getattr(self, name)[i] = 0
        self.plan_add[i] = 0.0
        self.rest[i] = 0.0
        self.refresh(i)
        return i

    # -- schedule arithmetic -----------------------------------------------------------
    def total(self, i: np.ndarray) -> np.ndarray:
        """Number of installments (a plan may append some after the term)."""
        return np.maximum(self.term[i], self.plan_to[i])

    def installment(self, i: np.ndarray, k: np.ndarray) -> np.ndarray:
        """Amount of installment index k (0-based) of loans i."""
        term = self.term[i]
        base = np.where(k < term - 1, self.amount[i], np.where(k == term - 1, self.last[i], 0.0))
        planned = (k >= self.plan_from[i]) & (k < self.plan_to[i])
        return base + np.where(planned, self.plan_add[i], 0.0)

    def _sum(self, i: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Sum of installments lo..hi-1 in closed form."""
        term = self.term[i]
        regular = np.maximum(0, np.minimum(hi, term - 1) - np.maximum(lo, 0))
        has_last = (lo <= term - 1) & (term - 1 < hi)
        planned = np.maximum(0, np.minimum(hi, self.plan_to[i]) - np.maximum(lo, self.plan_from[i]))
        return regular * self.amount[i] + has_last * self.last[i] + planned * self.plan_add[i]

    def arrears(self, i: np.ndarray) -> np.ndarray:
        """Unpaid amount of the installments that have come due."""
        has = self.oldest[i] < self.n_due[i]
        later = self._sum(i, self.oldest[i] + 1, self.n_due[i])
        return np.where(has, self.rest[i] + later, 0.0)

    def balance(self, i: np.ndarray) -> np.ndarray:
        """Principal still owed (for utilization of the line), roughly."""
        paid = np.minimum(self.oldest[i], self.term[i])
        equal = self.principal[i] * (self.term[i] - paid) / self.term[i]
        bullet = np.where(paid < self.term[i], self.principal[i], 0.0)
        return np.where(self.method[i] == INTEREST_FIRST, bullet, equal)

    def due_day(self, i: np.ndarray, k: np.ndarray) -> np.ndarray:
        """Due day of installment index k; a plan's installments are `shift` months later."""
        month = k + np.where(k >= self.plan_from[i], self.shift[i], 0) * (self.plan_to[i] > 0)
        return self.due_table[self.drawn[i], np.minimum(month, self.due_table.shape[1] - 1)]

    def refresh(self, i: np.ndarray) -> None:
        """Recompute the next due day and the next notice day after a change."""
        total = self.total(i)
        nd, nt = self.n_due[i], self.noticed[i]
        self.next_due[i] = np.where(nd < total, self.due_day(i, nd), NEVER)
        self.next_notice[i] = np.where(nt < total, self.due_day(i, nt) - self.lead[i], NEVER)

    # -- servicing ---------------------------------------------------------------------
    def come_due(self, i: np.ndarray) -> None:
        """Installment n_due of loans i falls due today."""
        nd = self.n_due[i]
        current = self.oldest[i] >= nd  # nothing in arrears before: it becomes the oldest
        self.rest[i] = np.where(current, self.installment(i, nd), self.rest[i])
        self.oldest[i] = np.where(current, nd, self.oldest[i])
        self.n_due[i] = nd + 1
        self.refresh(i)

    def pay(self, i: np.ndarray, amount: np.ndarray) -> None:
        """Apply payments to loans i (distinct), oldest installment first."""
        left = amount.astype(float).copy()
        for _ in range(MAX_INSTALLMENTS + 1):
            act = (left > PAID) & (self.oldest[i] < self.n_due[i])
            if not act.any():
                break
            j, a = i[act], left[act]
            rest = self.rest[j]
            x = np.minimum(a, rest)
            rest = rest - x
            left[act] = a - x
            done = rest < PAID
            jd = j[done]
            self.oldest[jd] += 1
            nxt = self.oldest[jd]
            rest[done] = np.where(nxt < self.n_due[jd], self.installment(jd, nxt), 0.0)
            self.rest[j] = rest

    def restructure(self, i: np.ndarray, months: int, day: int) -> None:
        """Installment plan: the arrears are spread over the next `months` installments
        (appended after the term if needed, due from the next month on); nothing is past
        due any more."""
        owed = self.arrears(i)
        start = np.maximum(self.noticed[i], self.n_due[i])  # amounts already noticed stay
        stop = np.minimum(start + months, MAX_INSTALLMENTS)
        # months to skip so that the plan's first installment falls after today
        passed = (self.due_table[self.drawn[i]] <= day).sum(axis=1)
        self.shift[i] = np.maximum(passed - start, 0)
        self.plan_from[i], self.plan_to[i] = start, stop
        self.plan_add[i] = np.round(owed / np.maximum(stop - start, 1), 2)
        self.oldest[i] = self.n_due[i]
        self.rest[i] = 0.0
        self.refresh(i)
