"""The report's numbers, by month, as one JSON-ready dict.

Definitions (all at a month end unless said otherwise; see period.py for month ends):
- open accounts: borrowers whose `account_opened` came before the month end (the contract
  has no closing event); exposure: each loan's principal drawn less payments, floored
  at 0, summed (CNY);
- delinquency: the share of open accounts in each bucket of their worst loan's latest
  end-of-day `days_past_due` (current, 1-29, 30-59, 60-89, 90+);
- roll rates: open accounts at one month end, by bucket there -> bucket at the next;
- vintages: accounts by opening month; the share that has reached 90+ DPD by the end of
  the month that is `months on book` months after opening (0: the opening month);
- tiers: the tier of a borrower's latest alert before the month end (none without one);
- alerts: raised = kind raised or escalated, cured = kind resolved, counted by trigger
  time within the month; actions: recommended_action of every alert in the month;
- 30+ DPD by industry and region (from account_opened) beside the latest value of each
  macro indicator at the month end;
- model quality (with scores): each borrower's latest score at the month's start against
  reaching 90+ DPD within the next 90 days, scored as the evaluator does (borrowers
  already at 90+ are left out, and so are those whose 90 days run past the events file
  without a default: their outcome is not known yet).
"""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import numpy as np

from streamer.core.portfolio import BUCKETS
from streamer.evaluation.inputs import NEVER, TIERS, batches, check_file, day_str, read_span
from streamer.evaluation.metrics import HORIZON_DAYS, auc_figures, label_days

from .book import EVENT_DECODER, Book, Snapshot, read_book
from .period import SECONDS_PER_DAY, Month, label_of, month_index, months, parse_date
from .published import ACTIONS, Alerts, latest_scores, read_alerts, tier_at

CURRENCY = "CNY"
RAISED, ESCALATED, RESOLVED = 0, 1, 3  # indices into evaluation.inputs.KINDS


def _share(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def book_size(s: Snapshot) -> dict:
    return {"open_accounts": int(s.opened.sum()), "exposure": round(float(s.exposure.sum()), 2)}


def delinquency(s: Snapshot) -> dict:
    """Accounts and shares of open accounts by DPD bucket."""
    counts = np.bincount(s.bucket[s.opened], minlength=len(BUCKETS))
    total = int(s.opened.sum())
    return {"accounts": {b: int(c) for b, c in zip(BUCKETS, counts)},
            "share": {b: _share(int(c), total) for b, c in zip(BUCKETS, counts)}}


def roll_rates(before: Snapshot, after: Snapshot) -> dict:
    """Accounts open at `before`: bucket there (rows) -> bucket at `after` (columns)."""
    k = len(BUCKETS)
    rows = before.bucket[before.opened].astype(np.int64)
    cols = after.bucket[before.opened].astype(np.int64)
    counts = np.bincount(rows * k + cols, minlength=k * k).reshape(k, k)
    shares = [[_share(int(c), int(r.sum())) for c in r] for r in counts]
    return {"from": before.month.label, "to": after.month.label,
            "counts": counts.tolist(), "shares": shares}


def vintages(book: Book, period: list[Month]) -> list[dict]:
    """Share of each opening month's accounts that reached 90+ DPD by each month on book."""
    opened = np.array(book.opened_at, dtype=np.float64)
    first = np.array(book.first_default, dtype=np.float64)
    last = period[-1]
    seen = ~np.isnan(opened) & (opened < last.end_seconds)
    labels = np.array([label_of(t) for t in opened[seen]])
    out = []
    for cohort in sorted(set(labels.tolist())):
        members = first[seen][labels == cohort]
        ends = [m.end_seconds for m in months(date.fromisoformat(cohort + "-01"), last.last)]
        out.append({"cohort": cohort, "accounts": int(members.size),
                    "reached_90plus": [float((members < e).mean()) for e in ends]})
    return out


def by_tier(s: Snapshot, alerts: Alerts) -> dict:
    """Open accounts and their exposure by the tier of their latest alert."""
    tier = tier_at(alerts, s.opened.size, s.month.end_seconds)[s.opened]
    exposure = s.exposure[s.opened]
    return {name: {"borrowers": int((tier == i).sum()),
                   "exposure": round(float(exposure[tier == i].sum()), 2)}
            for i, name in enumerate(TIERS)}


def alert_flows(alerts: Alerts, month: Month) -> dict:
    """Alerts raised (or escalated) and cured in the month, and the actions they recommend."""
    inside = (alerts.seconds >= month.start_seconds) & (alerts.seconds < month.end_seconds)
    kind, action = alerts.kind[inside], alerts.action[inside]
    return {"raised": int(((kind == RAISED) | (kind == ESCALATED)).sum()),
            "cured": int((kind == RESOLVED).sum()),
            "actions": {a: int((action == i).sum()) for i, a in enumerate(ACTIONS) if a != "none"}}


def coded(codes: list[str | None]) -> tuple[list[str], np.ndarray]:
    """Codes (None: unknown) -> (sorted distinct codes, each borrower's index in them or -1)."""
    names = sorted({c for c in codes if c is not None})
    at = {c: i for i, c in enumerate(names)}
    return names, np.array([at.get(c, -1) for c in codes], dtype=np.int64)


def delinquent_by(s: Snapshot, names: list[str], code: np.ndarray) -> dict:
    """Share of open accounts at 30+ DPD for each code (industry or region)."""
    out = {}
    late = s.bucket >= BUCKETS.index("30-59")
    for i, name in enumerate(names):
        member = s.opened & (code == i)
        out[name] = {"accounts": int(member.sum()),
                     "share_30plus": _share(int((member & late).sum()), int(member.sum()))}
    return out


def macro(s: Snapshot) -> list[dict]:
    return [{"scope": sc, "scope_id": sid, "name": name, "value": v}
            for (sc, sid, name), v in sorted(s.macro.items())]


def quality(book: Book, scores_at: list[np.ndarray], period: list[Month]) -> list[dict]:
    """ROC AUC of the scores at each month's start against the 90-day outcome."""
    first = np.array(book.first_default, dtype=np.float64)
    default_day = np.where(np.isinf(first), NEVER, np.floor(first / SECONDS_PER_DAY)
                           ).astype(np.int64)
    end_day = math.floor(book.last_seconds / SECONDS_PER_DAY)
    out = []
    for month, score in zip(period, scores_at):
        score = np.pad(score, (0, max(0, default_day.size - score.size)),
                       constant_values=np.nan)[:default_day.size]
        day = int(month.start_seconds // SECONDS_PER_DAY)
        scored = ~np.isnan(score)
        keep, label = label_days(np.full(default_day.size, day), default_day, end_day,
                                 horizon=HORIZON_DAYS)
        keep &= scored
        fig = auc_figures(label[keep], score[keep])["figures"]
        row = {"month": month.label, "as_of": month.first.isoformat(),
               "borrowers": fig["borrower_days"], "positives": fig["positives"],
               "roc_auc": fig["roc_auc"],
               "outcome_unknown": int((scored & ~keep & (default_day > day)).sum())}
        if row["roc_auc"] is None:
            row["note"] = "not enough outcomes"
        out.append(row)
    return out


def _span(path: Path) -> tuple[date, date]:
    """The days of the file's first and last events (the file is in time order)."""
    try:
        span = read_span(path)
    except ValueError:
        for _ in batches(path, EVENT_DECODER):  # says which line is bad, if one is
            pass
        raise
    return date.fromisoformat(day_str(span.start_day)), date.fromisoformat(day_str(span.end_day))


def build_report(events: str | Path, alerts: str | Path, scores: str | Path | None = None,
                 start: str | None = None, end: str | None = None) -> dict:
    """Every figure of the report for the period [start, end] (default: the events' span).

    ValueError, one line, for a missing file, a bad date, an empty period or a bad line.
    """
    events_p, alerts_p = check_file(events, "events"), check_file(alerts, "alerts")
    scores_p = check_file(scores, "scores") if scores is not None else None
    first = parse_date(start, "--from") if start is not None else None
    last = parse_date(end, "--to") if end is not None else None
    if first and last and first > last:
        raise ValueError(f"--from {first} is after --to {last}")
    if first is None or last is None:
        span_first, span_last = _span(events_p)
        if first is not None and first > span_last:
            raise ValueError(f"no events from {first} on: {events_p} ends on {span_last}")
        if last is not None and last < span_first:
            raise ValueError(f"no events up to {last}: {events_p} starts on {span_first}")
        first, last = first or span_first, last or span_last
    period = months(first, last)
    # with scores, read on until the last month's 90-day outcome window has passed
    horizon = (HORIZON_DAYS + 1) * SECONDS_PER_DAY if scores_p is not None else 0
    book = read_book(events_p, period, period[-1].start_seconds + horizon)
    if not book.events_in_period:
        raise ValueError(f"no events between {first} and {last} in {events_p}")
    published = read_alerts(alerts_p, book.index)
    snaps = book.snapshots
    opened = np.array(book.opened_at, dtype=np.float64)
    industries, regions = coded(book.industry), coded(book.region)
    rows = []
    for s in snaps:
        new = (opened >= s.month.start_seconds) & (opened < s.month.end_seconds)
        rows.append({**s.month.as_dict(),
                     "book": {**book_size(s), "new_accounts": int(new.sum())},
                     "delinquency": delinquency(s), "tiers": by_tier(s, published),
                     "alerts": alert_flows(published, s.month),
                     "delinquency_30plus_by_industry": delinquent_by(s, *industries),
                     "delinquency_30plus_by_region": delinquent_by(s, *regions),
                     "macro": macro(s)})
    report = {
        "currency": CURRENCY,
        "period": {"from": first.isoformat(), "to": last.isoformat(),
                   "months": len(period), "events_in_period": book.events_in_period,
                   "events_read": book.events_read, "late_events": book.late,
                   "alerts_with_unknown_kind_or_tier": published.unknown},
        "buckets": list(BUCKETS),
        "months": rows,
        "roll_rates": [roll_rates(a, b) for a, b in zip(snaps, snaps[1:])
                       if month_index(b.month.label) == month_index(a.month.label) + 1],
        "vintages": vintages(book, period),
        "model_quality": None,
    }
    if scores_p is not None:
        at, late = latest_scores(scores_p, book.index, [m.start_seconds for m in period])
        report["model_quality"] = {"horizon_days": HORIZON_DAYS, "late_scores": late,
                                   "months": quality(book, at, period)}
    return report
