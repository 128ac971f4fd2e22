"""One day's events: built from arrays, then put in time order.

Each builder turns the arrays of one kind of event into contract-v1 dicts at once (list
comprehensions over `.tolist()` values are the fast path in CPython); `ordered()` sorts the
day by second with a stable sort, so ties keep the order the events were generated in and
the output is deterministic. `event_id` is filled in by the caller in output order.
"""

from __future__ import annotations

import numpy as np

from .clock import TIME_OF_DAY

Item = tuple[str, str, dict]  # (topic, key, event)

ACCOUNTS = "credit.accounts"
REPAYMENTS = "credit.repayments"
TRANSACTIONS = "credit.transactions"
COLLECTIONS = "collections.actions"
MACRO = "macro.indicators"


def seconds(u: np.ndarray, from_hour: float, to_hour: float) -> np.ndarray:
    """Seconds of the day, uniform in [from_hour, to_hour), from uniforms in [0, 1)."""
    s = from_hour * 3600.0 + u.astype(np.float64) * (to_hour - from_hour) * 3600.0
    return np.minimum(s.astype(np.int64), 86_399)


class DayEvents:
    def __init__(self, date: str, borrower_ids: list[str]) -> None:
        self.date = date
        self.ids = borrower_ids
        self._secs: list[np.ndarray] = []
        self._items: list[list[Item]] = []

    def _add(self, secs: np.ndarray, items: list[Item]) -> None:
        if items:
            self._secs.append(secs)
            self._items.append(items)

    def _ts(self, secs: np.ndarray) -> list[str]:
        d = self.date
        return [d + TIME_OF_DAY[s] for s in secs.tolist()]

    def ordered(self) -> list[Item]:
        if not self._items:
            return []
        order = np.argsort(np.concatenate(self._secs), kind="stable")
        flat = [x for chunk in self._items for x in chunk]
        return [flat[i] for i in order.tolist()]

    # -- builders, one per event type --------------------------------------------------
    def account_opened(
        self, b: np.ndarray, secs: np.ndarray, limit: np.ndarray, segment: list[str],
        industry: list[str], region: list[str], score: np.ndarray, prior: np.ndarray,
    ) -> None:
        ids, items = self.ids, []
        for i, ts, lim, seg, ind, reg, sc, pr in zip(
            b.tolist(), self._ts(secs), limit.tolist(), segment, industry, region,
            score.tolist(), prior.tolist(),
        ):
            ev = {
                "event_id": "", "type": "account_opened", "borrower_id": ids[i], "ts": ts,
                "v": 1, "credit_limit": lim, "segment": seg, "industry": ind, "region": reg,
                "prior_delinquencies": pr,
            }
            if sc >= 0:  # thin-file borrowers have no bureau score: the field is optional
                ev["credit_score"] = sc
            items.append((ACCOUNTS, ids[i], ev))
        self._add(secs, items)

    def limit_changed(self, b: np.ndarray, secs: np.ndarray, limit: np.ndarray) -> None:
        ids = self.ids
        self._add(secs, [
            (ACCOUNTS, ids[i], {"event_id": "", "type": "limit_changed", "borrower_id": ids[i],
                                "ts": ts, "v": 1, "credit_limit": lim})
            for i, ts, lim in zip(b.tolist(), self._ts(secs), limit.tolist())
        ])

    def loan_drawn(
        self, b: np.ndarray, secs: np.ndarray, seq: np.ndarray, principal: np.ndarray,
        term: np.ndarray, rate: np.ndarray, method: list[str],
    ) -> None:
        ids = self.ids
        self._add(secs, [
            (REPAYMENTS, ids[i], {
                "event_id": "", "type": "loan_drawn", "borrower_id": ids[i], "ts": ts, "v": 1,
                "loan_id": f"{ids[i]}-L{q}", "principal": p, "term_months": t,
                "daily_rate": r, "method": m})
            for i, ts, q, p, t, r, m in zip(
                b.tolist(), self._ts(secs), seq.tolist(), principal.tolist(), term.tolist(),
                rate.tolist(), method)
        ])

    def installment_due(
        self, b: np.ndarray, secs: np.ndarray, seq: np.ndarray, number: np.ndarray,
        due_date: list[str], amount: np.ndarray,
    ) -> None:
        ids = self.ids
        self._add(secs, [
            (REPAYMENTS, ids[i], {
                "event_id": "", "type": "installment_due", "borrower_id": ids[i], "ts": ts,
                "v": 1, "loan_id": f"{ids[i]}-L{q}", "installment_no": k, "due_date": dd,
                "amount_due": a})
            for i, ts, q, k, dd, a in zip(
                b.tolist(), self._ts(secs), seq.tolist(), number.tolist(), due_date,
                np.round(amount, 2).tolist())
        ])

    def payment(
        self, b: np.ndarray, secs: np.ndarray, seq: np.ndarray, amount: np.ndarray,
        number: np.ndarray,
    ) -> None:
        ids = self.ids
        self._add(secs, [
            (REPAYMENTS, ids[i], {
                "event_id": "", "type": "payment", "borrower_id": ids[i], "ts": ts, "v": 1,
                "loan_id": f"{ids[i]}-L{q}", "amount": a, "installment_no": k})
            for i, ts, q, a, k in zip(
                b.tolist(), self._ts(secs), seq.tolist(), np.round(amount, 2).tolist(),
                number.tolist())
        ])

    def overdue_status(
        self, b: np.ndarray, secs: np.ndarray, seq: np.ndarray, dpd: np.ndarray,
        amount: np.ndarray,
    ) -> None:
        ids = self.ids
        self._add(secs, [
            (REPAYMENTS, ids[i], {
                "event_id": "", "type": "overdue_status", "borrower_id": ids[i], "ts": ts,
                "v": 1, "loan_id": f"{ids[i]}-L{q}", "days_past_due": n, "overdue_amount": a})
            for i, ts, q, n, a in zip(
                b.tolist(), self._ts(secs), seq.tolist(), dpd.tolist(),
                np.round(amount, 2).tolist())
        ])

    def transactions(
        self, b: np.ndarray, secs: np.ndarray, amount: np.ndarray, direction: str,
        category: str, counterparty: str | None = None,
    ) -> None:
        amount = np.round(amount, 2)
        keep = amount >= 1.0  # a purchase or transfer under 1 CNY is not worth an event
        b, secs, amount = b[keep], secs[keep], amount[keep]
        ids = self.ids
        if counterparty is None:
            items = [
                (TRANSACTIONS, ids[i], {
                    "event_id": "", "type": "transaction", "borrower_id": ids[i], "ts": ts,
                    "v": 1, "amount": a, "direction": direction, "category": category})
                for i, ts, a in zip(b.tolist(), self._ts(secs), amount.tolist())
            ]
        else:
            items = [
                (TRANSACTIONS, ids[i], {
                    "event_id": "", "type": "transaction", "borrower_id": ids[i], "ts": ts,
                    "v": 1, "amount": a, "direction": direction, "category": category,
                    "counterparty": counterparty})
                for i, ts, a in zip(b.tolist(), self._ts(secs), amount.tolist())
            ]
        self._add(secs, items)

    def collection_action(
        self, b: np.ndarray, secs: np.ndarray, action: str, until: str | list[str] | None = None,
    ) -> None:
        ids = self.ids
        if until is None:
            items = [
                (COLLECTIONS, ids[i], {"event_id": "", "type": "collection_action",
                                       "borrower_id": ids[i], "ts": ts, "v": 1, "action": action})
                for i, ts in zip(b.tolist(), self._ts(secs))
            ]
        else:
            dates = [until] * len(b) if isinstance(until, str) else until
            items = [
                (COLLECTIONS, ids[i], {"event_id": "", "type": "collection_action",
                                       "borrower_id": ids[i], "ts": ts, "v": 1, "action": action,
                                       "until": u})
                for i, ts, u in zip(b.tolist(), self._ts(secs), dates)
            ]
        self._add(secs, items)

    def macro(self, second: int, published: list[tuple[str, str, str, float]]) -> None:
        secs = np.arange(second, second + len(published), dtype=np.int64)
        self._add(secs, [
            (MACRO, f"{scope}:{sid}", {"event_id": "", "type": "macro_indicator", "ts": ts,
                                       "v": 1, "scope": scope, "scope_id": sid, "name": name,
                                       "value": value})
            for (scope, sid, name, value), ts in zip(published, self._ts(secs))
        ])
