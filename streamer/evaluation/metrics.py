"""The early-warning figures, as pure functions of numpy arrays.

Conventions (all in UTC calendar days, see `inputs`):

- A *borrower-day* is a borrower and a day on which the borrower was scored; its score is
  the borrower's last score that day (latest event time; ties: the later line).
- Its label is 1 when the borrower's default day `D` is in `(day, day + horizon]`.
  Days on or after `D` are dropped (the outcome is no longer ahead). A negative day later
  than `end - horizon` is dropped too (censored: its window is not fully observed by the
  end of the events), while a positive one is kept (the default is known).
- `window_start` is the first evaluated day: the first event's day, or `--from`.
  Borrower-days, top-k days and alerts counted as noise start there.
- Lead time and "before the first missed payment" count the defaulters with
  `window_start < D <= end`, and their alerts at any time (event time `ts`, not
  `emitted_at`); an alert is "before" a date when its day is strictly earlier.
- Top-k days run from window_start to `end - horizon` (later days have unknown negatives).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from .inputs import NEVER, SECONDS_PER_DAY, TIERS, day_str

HORIZON_DAYS = 90
HIGH = TIERS.index("high")  # tiers at or above this code are "high-or-worse"
WATCH = TIERS.index("watch")


def days_of(seconds: np.ndarray) -> np.ndarray:
    return np.floor(seconds / SECONDS_PER_DAY).astype(np.int64)


def daily_last(
    borrower: np.ndarray, seconds: np.ndarray, score: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each borrower's last score per calendar day: (borrower, day, score), sorted by both."""
    if borrower.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.copy(), np.zeros(0)
    if borrower.size < 2 or bool((seconds[1:] >= seconds[:-1]).all()):
        order = np.argsort(borrower, kind="stable")  # already in time order: keep it
    else:
        order = np.lexsort((np.arange(borrower.size), seconds, borrower))
    b = borrower[order]
    d = days_of(seconds[order])
    s = score[order]
    last = np.ones(b.size, dtype=bool)
    last[:-1] = (b[1:] != b[:-1]) | (d[1:] != d[:-1])
    return b[last], d[last], s[last]


def label_days(
    day: np.ndarray,
    default_day: np.ndarray,
    end_day: int,
    start_day: int | None = None,
    horizon: int = HORIZON_DAYS,
) -> tuple[np.ndarray, np.ndarray]:
    """(keep, label) for borrower-days with the borrowers' default days `default_day`."""
    ahead = default_day - day
    keep = ahead > 0
    label = keep & (ahead <= horizon)
    keep &= label | (day + horizon <= end_day)
    if start_day is not None:
        keep &= day >= start_day
    return keep, label


def _f(x: float | np.floating | None) -> float | None:
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) or math.isinf(x) else x


def auc_figures(label: np.ndarray, score: np.ndarray, curve_points: int = 201) -> dict:
    """ROC AUC, PR AUC (average precision) and downsampled curves for the plots."""
    n = int(label.size)
    pos = int(label.sum())
    out: dict = {
        "roc_auc": None,
        "pr_auc": None,
        "base_rate": pos / n if n else None,
        "borrower_days": n,
        "positives": pos,
    }
    curves: dict = {"roc": None, "pr": None}
    if n == 0 or pos in (0, n):
        out["note"] = "needs both outcomes among the borrower-days; AUCs are undefined"
        return {"figures": out, "curves": curves}
    from sklearn.metrics import auc, precision_recall_curve, roc_curve

    # one sort per curve (millions of borrower-days): the ROC AUC is the area under
    # roc_curve (= roc_auc_score), the PR AUC is average precision computed from
    # precision_recall_curve as average_precision_score does (no interpolation)
    y = label.astype(np.int8)
    fpr, tpr, _ = roc_curve(y, score)
    out["roc_auc"] = float(auc(fpr, tpr))
    grid = np.linspace(0.0, 1.0, curve_points)
    curves["roc"] = {"fpr": grid.tolist(), "tpr": np.interp(grid, fpr, tpr).tolist()}
    precision, recall, _ = precision_recall_curve(y, score)
    out["pr_auc"] = float(-np.sum(np.diff(recall) * precision[:-1]))
    keep = np.unique(np.linspace(0, recall.size - 1, min(recall.size, 4 * curve_points)).round())
    keep = keep.astype(np.int64)
    curves["pr"] = {"recall": recall[keep].tolist(), "precision": precision[keep].tolist()}
    return {"figures": out, "curves": curves}


def calibration(label: np.ndarray, score: np.ndarray, bins: int = 10) -> dict:
    """Reliability table on equal-width bins of [0, 1] ([lower, upper); the last one closed)."""
    n = int(label.size)
    y = label.astype(np.float64)
    p = np.clip(score.astype(np.float64), 0.0, 1.0)
    idx = np.minimum((p * bins).astype(np.int64), bins - 1)
    count = np.bincount(idx, minlength=bins)
    sum_p = np.bincount(idx, weights=p, minlength=bins)
    sum_y = np.bincount(idx, weights=y, minlength=bins)
    table = []
    ece = 0.0
    for i in range(bins):
        c = int(count[i])
        mean_p = sum_p[i] / c if c else None
        rate = sum_y[i] / c if c else None
        if c:
            ece += c / n * abs(mean_p - rate)
        table.append(
            {
                "lower": i / bins,
                "upper": (i + 1) / bins,
                "mean_predicted": _f(mean_p),
                "observed_rate": _f(rate),
                "count": c,
            }
        )
    return {
        "brier": _f(np.mean((score - y) ** 2)) if n else None,
        "expected_calibration_error": ece if n else None,
        "borrower_days": n,
        "bins": table,
    }


def first_alert_seconds(n_borrowers: int, borrower: np.ndarray, seconds: np.ndarray) -> np.ndarray:
    """Per borrower, the earliest of the given alert times (inf when none)."""
    first = np.full(n_borrowers, np.inf)
    np.minimum.at(first, borrower, seconds)
    return first


def _quartiles(values: np.ndarray) -> dict:
    if values.size == 0:
        return {"median": None, "q1": None, "q3": None, "mean": None, "min": None, "max": None}
    q1, med, q3 = np.percentile(values, [25, 50, 75])
    return {
        "median": float(med),
        "q1": float(q1),
        "q3": float(q3),
        "mean": float(values.mean()),
        "min": float(values.min()),
        "max": float(values.max()),
    }


def lead_times(
    default_day: np.ndarray,
    first_missed_day: np.ndarray,
    alert_borrower: np.ndarray,
    alert_seconds: np.ndarray,
    alert_tier: np.ndarray,
    window_start: int,
    end_day: int,
) -> tuple[dict, dict, list[int]]:
    """Lead time of the first high-or-worse alert, and flags before the first missed payment.

    Returns (lead_time_days, flagged_before_first_missed, per-defaulter lead times).
    An alert counts "before" a date when its event-time day is strictly earlier.
    """
    n = default_day.size
    high = alert_tier >= HIGH
    first_high = np.floor(
        first_alert_seconds(n, alert_borrower[high], alert_seconds[high]) / SECONDS_PER_DAY
    )
    anyt = alert_tier >= WATCH
    first_any = np.floor(
        first_alert_seconds(n, alert_borrower[anyt], alert_seconds[anyt]) / SECONDS_PER_DAY
    )
    defaulted = default_day != NEVER
    population = defaulted & (default_day > window_start) & (default_day <= end_day)
    d = default_day[population]
    fh = first_high[population]
    flagged = fh < d
    lead = (d[flagged] - fh[flagged]).astype(np.int64)
    n_def = int(population.sum())
    lead_fig = {
        "defaulters": n_def,
        "count": int(flagged.sum()),
        "share_flagged": float(flagged.mean()) if n_def else None,
        "share_any_alert": float((first_any[population] < d).mean()) if n_def else None,
        **_quartiles(lead.astype(np.float64)),
        "defaulters_not_counted": int((defaulted & ~population).sum()),
    }
    fm = first_missed_day[population]
    has_fm = fm != NEVER
    before = fh[has_fm] < fm[has_fm]
    ahead = (fm[has_fm][before] - fh[has_fm][before]).astype(np.float64)
    n_fm = int(has_fm.sum())
    first_missed_fig = {
        "defaulters": n_fm,
        "count": int(before.sum()),
        "share": float(before.mean()) if n_fm else None,
        "median_days_before_first_missed": float(np.median(ahead)) if ahead.size else None,
        "defaulters_without_first_missed_date": int((~has_fm).sum()),
    }
    return lead_fig, first_missed_fig, lead.tolist()


def top_k_precision(
    borrower: np.ndarray,
    day: np.ndarray,
    score: np.ndarray,
    default_day: np.ndarray,
    first_day: int,
    last_day: int,
    ks: tuple[int, ...],
    horizon: int = HORIZON_DAYS,
) -> dict:
    """Mean over days of the precision of the k highest latest scores among live borrowers.

    `borrower, day, score` are borrower-days (each borrower's last score of a day). On day
    t a borrower's latest score is its score on the last scored day <= t; the candidates are
    the scored borrowers with default day > t; a pick is right when the default day is in
    (t, t + horizon]. Days first_day..last_day are evaluated (the caller keeps last_day
    <= end - horizon, so every outcome is known). Ties are broken by ground-truth order.
    With fewer than k candidates, precision is over all of them; days with none are skipped.
    """
    ks = tuple(sorted(set(int(k) for k in ks)))
    kmax = ks[-1]
    n = default_day.size
    hits = {k: 0.0 for k in ks}
    days = 0
    base_sum = 0.0
    order = np.argsort(day, kind="stable")
    b, d, s = borrower[order], day[order], score[order]
    latest = np.full(n, -np.inf)
    has = np.zeros(n, dtype=bool)
    lo = int(np.searchsorted(d, first_day, side="left"))
    if lo:  # everything before the first day: each borrower's last scored day
        rb = b[:lo][::-1]
        _, at = np.unique(rb, return_index=True)
        latest[rb[at]] = s[:lo][::-1][at]
        has[rb[at]] = True
    for t in range(first_day, last_day + 1):
        hi = int(np.searchsorted(d, t, side="right"))
        if hi > lo:  # one row per borrower within a day
            latest[b[lo:hi]] = s[lo:hi]
            has[b[lo:hi]] = True
            lo = hi
        idx = np.flatnonzero(has & (default_day > t))
        if idx.size == 0:
            continue
        vals = latest[idx]
        kk = min(kmax, idx.size)
        if kk < idx.size:
            threshold = np.partition(vals, idx.size - kk)[idx.size - kk]
            above = idx[vals > threshold]
            ties = idx[vals == threshold]
            chosen = np.concatenate([above, ties[: kk - above.size]])
        else:
            chosen = idx
        chosen = chosen[np.lexsort((chosen, -latest[chosen]))]
        good_pick = np.cumsum(default_day[chosen] - t <= horizon)
        for k in ks:
            m = min(k, chosen.size)
            hits[k] += good_pick[m - 1] / m
        base_sum += float(np.mean(default_day[idx] - t <= horizon))
        days += 1
    return {
        "days": days,
        "first_day": day_str(first_day) if days else None,
        "last_day": day_str(last_day) if days else None,
        "base_rate": base_sum / days if days else None,
        "precision_at_k": {str(k): (hits[k] / days if days else None) for k in ks},
    }


def noise(
    default_day: np.ndarray,
    alert_borrower: np.ndarray,
    alert_day: np.ndarray,
    alert_kind: np.ndarray,
    alert_tier: np.ndarray,
    window_start: int,
    end_day: int,
    first_missed_day: np.ndarray | None = None,
    alert_early: np.ndarray | None = None,
) -> dict:
    """Alerts a person acts on (kind raised or escalated) per borrower and per month.

    Counts alerts with event-time day in [window_start, end_day]; a month is 30 days of
    that window (calendar days, both ends included). With `first_missed_day`, also the
    share of good borrowers alerted high-or-worse before they ever missed a payment. With
    `alert_early` (the early-warning score set the tier), the share of good borrowers the
    early score alerted `high` at any time: the alert budget as `STREAMER_EARLY_BUDGET`
    counts it (a good borrower raised after a missed payment they cured counts too).
    """
    new = (alert_kind <= 1) & (alert_day >= window_start) & (alert_day <= end_day)
    good = default_day == NEVER
    n_good = int(good.sum())
    n_bad = int(default_day.size - n_good)
    on_good = new & good[alert_borrower]
    on_bad = new & ~good[alert_borrower]
    high = alert_tier >= HIGH
    window_days = end_day - window_start + 1
    months = window_days / 30.0
    per_k_month = (1000.0 / n_good / months) if n_good and months > 0 else None
    by_tier = {
        t: int((new & (alert_tier == i)).sum()) for i, t in enumerate(TIERS) if t != "none"
    }
    return {
        "window_days": int(window_days),
        "good_borrowers": n_good,
        "defaulters": n_bad,
        "alerts_raised_or_escalated": int(new.sum()),
        "by_tier": by_tier,
        "false_alerts": int(on_good.sum()),
        "false_alerts_per_1000_good_per_month": (
            on_good.sum() * per_k_month if per_k_month is not None else None
        ),
        "false_high_alerts_per_1000_good_per_month": (
            (on_good & high).sum() * per_k_month if per_k_month is not None else None
        ),
        "alerts_per_good_borrower": float(on_good.sum() / n_good) if n_good else None,
        "alerts_per_defaulter": float(on_bad.sum() / n_bad) if n_bad else None,
        "good_borrowers_alerted_share": (
            float(np.unique(alert_borrower[on_good]).size / n_good) if n_good else None
        ),
        # the collections team's view: how many who never default it is asked to call
        "good_borrowers_high_share": (
            float(np.unique(alert_borrower[on_good & high]).size / n_good) if n_good else None
        ),
        **({} if first_missed_day is None else {
            "good_borrowers_high_before_first_miss_share": (
                float(np.unique(alert_borrower[
                    on_good & high & (alert_day < first_missed_day[alert_borrower])
                ]).size / n_good) if n_good else None),
        }),
        **({} if alert_early is None else {
            "good_borrowers_early_high_share": (
                float(np.unique(alert_borrower[on_good & high & alert_early]).size / n_good)
                if n_good else None),
        }),
    }


def alerts_by_week(
    alert_day: np.ndarray, alert_kind: np.ndarray, alert_tier: np.ndarray,
    window_start: int, end_day: int,
) -> dict:
    """Weekly counts of raised/escalated alerts by tier; weeks start at window_start."""
    new = (alert_kind <= 1) & (alert_day >= window_start) & (alert_day <= end_day)
    weeks = (end_day - window_start) // 7 + 1
    w = (alert_day[new] - window_start) // 7
    out: dict = {"week_start": [day_str(window_start + 7 * i) for i in range(weeks)]}
    tiers = alert_tier[new]
    for i, t in enumerate(TIERS):
        if t != "none":
            out[t] = np.bincount(w[tiers == i], minlength=weeks)[:weeks].astype(int).tolist()
    return out


EARLY_THRESHOLDS = (0.05, 0.10, 0.15, 0.20, 0.25, 0.30, 0.40, 0.50)


def early_tradeoff(
    borrower: np.ndarray,
    seconds: np.ndarray,
    early: np.ndarray,
    default_day: np.ndarray,
    first_missed_day: np.ndarray,
    window_start: int,
    end_day: int,
    thresholds: Iterable[float] = EARLY_THRESHOLDS,
) -> list[dict] | None:
    """What each `STREAMER_TIER_EARLY_HIGH` would flag, from the early-warning scores.

    Per threshold: the share of defaulters whose early score reached it on a day before
    their first missed payment, and the share of never-defaulting borrowers whose early
    score ever reached it, both within [window_start, end_day]. The policy enters `high`
    the moment the early score reaches the threshold, so these are the shares it flags
    `high` through the early score (the default score and the DPD floors flag more).
    None when the scores carry no early score.
    """
    has = ~np.isnan(early)
    if not has.any():
        return None
    day = days_of(seconds)
    good = default_day == NEVER
    n_good, n_bad = int(good.sum()), int((~good).sum())
    rows = has & (day >= window_start) & (day <= end_day)
    g = good[borrower]
    before = rows & ~g & (day < first_missed_day[borrower])
    on_good = rows & g
    best_bad = np.zeros(default_day.size)
    np.maximum.at(best_bad, borrower[before], early[before])
    best_good = np.zeros(default_day.size)
    np.maximum.at(best_good, borrower[on_good], early[on_good])
    return [{
        "threshold": float(t),
        "defaulters_before_first_missed": float((best_bad[~good] >= t).sum() / n_bad)
        if n_bad else None,
        "good_borrowers": float((best_good[good] >= t).sum() / n_good) if n_good else None,
    } for t in thresholds]
