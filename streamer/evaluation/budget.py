"""Capture at an alert budget: what a collections team that can call B% of its book catches.

A lender plans by capacity, not by threshold: "we can call 5% of our good customers this
year". So a score is judged by the threshold that spends exactly that budget, and two models
are compared at the same budget, never at the same threshold.

The rule, for a score stream (borrower, event time, value) over the evaluated window
`[window_start, end]` (UTC days; scores on or after a borrower's default day are dropped,
the outcome is no longer ahead):

- **Budget B**: the threshold `t` that the maxima of `B x n_good` never-defaulting borrowers
  reach (every never-defaulting borrower of the truth counts; one never scored is never
  alerted). Ties at `t` count by the share of them the budget can still take, as if the
  tied borrowers were drawn at random, so a score that is the same for everybody "catches"
  exactly B of the defaulters, not all of them.
- **Before the first missed payment**: the share of defaulters whose maximum score on days
  strictly before their first missed payment (of the spell that ended in default) reaches
  `t`; defaulters whose first miss is after `window_start` (before it, nothing in the
  window could warn).
- **30 days ahead**: the same with the days at least 30 before the default day (90+ DPD);
  defaulters whose default day is more than 30 days after `window_start`.
- **Precision**: of the borrowers whose score first reaches `t` on a day `c` with
  `c <= end - 180` (later first crossings have no full 180 days of outcome), the share
  whose default day is in `(c, c + 180]`.

>>> import numpy as np
>>> from streamer.evaluation.inputs import NEVER as never
>>> b = np.array([0, 1, 2, 3]); day = np.array([10, 10, 10, 10])
>>> default = np.array([100, never, never, never]); missed = np.array([50, never, never, never])
>>> r = at_budget(b, day * 86400.0, np.array([0.9, 0.8, 0.1, 0.1]), default, missed, 0, 365,
...               budgets=(1 / 3,))
>>> r["budgets"][0]["threshold"], r["budgets"][0]["before_first_missed"]
(0.8, 1.0)
>>> flat = at_budget(b, day * 86400.0, np.full(4, 0.5), default, missed, 0, 365, budgets=(1 / 3,))
>>> round(flat["budgets"][0]["before_first_missed"], 3)   # a constant score catches the budget
0.333
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .inputs import NEVER
from .metrics import days_of

BUDGETS = (0.02, 0.05, 0.10)
CURVE_BUDGETS = tuple(round(x, 4) for x in np.linspace(0.005, 0.30, 60))
AHEAD_DAYS = 30
PRECISION_DAYS = 180


def before_any_miss(borrower: np.ndarray, seconds: np.ndarray, value: np.ndarray,
                    first_missed_day: np.ndarray) -> np.ndarray:
    """`value` where it was given before the borrower's first missed payment, NaN after.

    The early score raises only a current borrower with no recent miss; after a miss its
    scores go on (they keep a tier) but raise nothing, and a good borrower's highest score
    of the year is often one of them. Counted, they set a budget's threshold on scores no
    alert follows. Held to the days before any miss, good borrowers and defaulters are
    judged on the same footing: the budget is what the score would spend on borrowers
    who had missed nothing yet, the capture what it catches before the first miss.

    >>> before_any_miss(np.array([0, 0, 1]), np.array([1, 5, 5]) * 86400.0,
    ...                 np.array([0.2, 0.9, 0.9]), np.array([3, NEVER]))
    array([0.2, nan, 0.9])
    """
    return np.where(days_of(seconds) < first_missed_day[borrower], value, np.nan)


def _max_by_borrower(n: int, borrower: np.ndarray, value: np.ndarray) -> np.ndarray:
    best = np.full(n, -np.inf)
    np.maximum.at(best, borrower, value)
    return best


def _threshold(good_max: np.ndarray, budget: float) -> tuple[float, float]:
    """(t, f): borrowers above t count whole, those exactly at t count f (0 < f <= 1)."""
    n = good_max.size
    k = max(1, round(budget * n))
    desc = np.sort(good_max)[::-1]
    t = float(desc[min(k, n) - 1])
    above = int((good_max > t).sum())
    tied = int((good_max == t).sum())
    return t, min(1.0, (k - above) / tied)


def _share(values: np.ndarray, t: float, f: float) -> float | None:
    if values.size == 0:
        return None
    return float(((values > t).sum() + f * (values == t).sum()) / values.size)


def at_budget(
    borrower: np.ndarray,
    seconds: np.ndarray,
    value: np.ndarray,
    default_day: np.ndarray,
    first_missed_day: np.ndarray,
    window_start: int,
    end_day: int,
    budgets: Iterable[float] = BUDGETS,
    curve_budgets: Iterable[float] = CURVE_BUDGETS,
) -> dict | None:
    """The figures at each budget and the capture-versus-budget curve (None: no scores)."""
    day = days_of(seconds)
    rows = np.isfinite(value) & (day >= window_start) & (day <= end_day)
    rows &= day < default_day[borrower]
    if not rows.any():
        return None
    b, d, v = borrower[rows], day[rows], value[rows]
    n = default_day.size
    good = default_day == NEVER
    n_good = int(good.sum())
    if n_good == 0:
        return None
    good_max = _max_by_borrower(n, b, v)[good]

    bad = ~good
    miss_pop = bad & (first_missed_day > window_start) & (first_missed_day != NEVER)
    before = rows.copy()
    before[rows] = d < first_missed_day[b]
    miss_max = _max_by_borrower(n, borrower[before], value[before])[miss_pop]
    ahead_pop = bad & (default_day - AHEAD_DAYS > window_start)
    ahead = rows.copy()
    ahead[rows] = d <= default_day[b] - AHEAD_DAYS
    ahead_max = _max_by_borrower(n, borrower[ahead], value[ahead])[ahead_pop]

    figures = []
    for budget in sorted({float(x) for x in budgets}):
        t, f = _threshold(good_max, budget)
        figures.append({
            "budget": budget,
            "threshold": t,
            "before_first_missed": _share(miss_max, t, f),
            f"at_least_{AHEAD_DAYS}_days_before_default": _share(ahead_max, t, f),
            **_precision(b, d, v, default_day, t, f, end_day),
        })
    curve = []
    for budget in curve_budgets:
        t, f = _threshold(good_max, budget)
        curve.append(_share(miss_max, t, f))
    return {
        "good_borrowers": n_good,
        "defaulters_before_first_missed": int(miss_pop.sum()),
        f"defaulters_{AHEAD_DAYS}_days_ahead": int(ahead_pop.sum()),
        "budgets": figures,
        "curve": {"budget": list(curve_budgets), "before_first_missed": curve},
    }


def _precision(b: np.ndarray, d: np.ndarray, v: np.ndarray, default_day: np.ndarray,
               t: float, f: float, end_day: int) -> dict:
    """Precision of the first crossings of t that have 180 days of outcome after them."""
    hit = v >= t
    if not hit.any():
        return {"precision_180d": None, "flagged_with_outcome": 0}
    hb, hd, hv = b[hit], d[hit], v[hit]
    order = np.lexsort((hd, hb))
    hb, hd = hb[order], hd[order]
    first = np.ones(hb.size, dtype=bool)
    first[1:] = hb[1:] != hb[:-1]
    who, crossed = hb[first], hd[first]
    peak = np.full(default_day.size, -np.inf)
    np.maximum.at(peak, b[hit], hv)
    weight = np.where(peak[who] > t, 1.0, f)
    known = crossed <= end_day - PRECISION_DAYS
    if not known.any():
        return {"precision_180d": None, "flagged_with_outcome": 0}
    ahead = default_day[who] - crossed
    right = (ahead > 0) & (ahead <= PRECISION_DAYS)
    w = weight[known]
    return {"precision_180d": float((w * right[known]).sum() / w.sum()),
            "flagged_with_outcome": int(known.sum())}
