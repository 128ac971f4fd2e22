"""Borrower state + context -> the model's features (pure; event time only).

Every feature is a bounded, unit-free number, so a linear model can weigh them and a
reason such as ``days_since_income = 2.1`` (months) reads plainly on an alert.

>>> from streamer.core.context import Context
>>> from streamer.core.state import BorrowerState
>>> x = compute(BorrowerState.new(), Context(), now=0.0)
>>> tuple(x) == FEATURES, x["utilization"], x["coverage"]
(True, 0.0, 1.0)
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence

from streamer.core.context import Context
from streamer.core.state import (
    CASH,
    DAY,
    DISCRETIONARY,
    DRAWN,
    DRAWS,
    DUE,
    ESSENTIAL,
    GAMBLING,
    HARSH,
    INCOME,
    MISSED,
    OTHER_IN,
    OTHER_LOANS,
    PAID,
    PARTIAL,
    TRANSFER_OUT,
    BorrowerState,
)

MONTH = 30 * DAY
# short/long ratio of a steady monthly income, averaged over the month (see `income_trend`)
_STEADY_RATIO = 0.33
# a steady monthly flow's 90-day-half-life sum, in months of it: 1 / (1 - 2**(-1/3))
_LONG_MONTHS = 4.85

FEATURES: tuple[str, ...] = (
    # who the borrower is
    "credit_score", "credit_score_missing", "prior_delinquencies", "seg_self_employed",
    "seg_small_business", "seg_student", "seg_other", "limit_log", "tenure_years",
    # income
    "income_log", "income_trend", "days_since_income", "income_cv",
    # spending
    "spend_to_income", "essential_to_income", "gambling_share", "cash_share",
    "other_loans_share", "discretionary_share",
    # credit use
    "utilization", "draws_30d", "drawn_to_income", "active_loans",
    # repayment
    "coverage", "paid_to_due", "partial_90d", "missed_90d", "overdue_episodes", "dpd_now",
    "dpd_worst",
    # the lender's actions
    "in_grace", "plan_active", "harsh_90d",
    # context
    "industry_orders", "industry_raw_prices", "region_stress", "region_unemployment",
    "industry_delinquency", "region_delinquency",
    # added in layout 4 (at the end: older pending snapshots read as a prefix)
    "installments_to_income", "drawn_to_limit", "cash_to_income", "days_since_gambling",
    "net_flow",
)
KNOWN = frozenset(FEATURES)  # what a model may ask of an event (engine, trainer)


def _clip(x: float, lo: float, hi: float) -> float:
    return lo if x < lo else hi if x > hi else x


def compute(s: BorrowerState, ctx: Context, now: float, dpd: int | None = None
            ) -> dict[str, float]:
    """The feature dict of a borrower as of event time `now` (`dpd`: s.dpd_now if known),
    in `FEATURES` order (its values are the row `Scorer.score_row` reads)."""
    if dpd is None:
        dpd = s.dpd_now
    short, long = s.flows_at(now)
    income_s, income_l = short[INCOME], long[INCOME]
    inflow_l = income_l + long[OTHER_IN]
    out_l = (long[ESSENTIAL] + long[DISCRETIONARY] + long[GAMBLING] + long[CASH]
             + long[OTHER_LOANS] + long[TRANSFER_OUT])
    tenure = (now - s.opened_at) if s.opened_at else 0.0
    if s.last_income_ts:
        since_income = now - s.last_income_ts
    else:
        since_income = tenure  # no income seen since the account opened
    var = s.income_var
    income_mean = var.mean.get()
    income_cv = math.sqrt(max(var.get(), 0.0)) / income_mean if income_mean > 0 else 0.0
    limit = s.credit_limit
    income_month = (income_l + 1.0) / _LONG_MONTHS
    worst = s.dpd_worst
    seg = s.segment
    orders, raw_prices, stress, unemployment, ind_bad, reg_bad = ctx.features(s.industry,
                                                                             s.region)
    return {
        "credit_score": (s.credit_score - 650) / 100.0 if s.credit_score else 0.0,
        "credit_score_missing": 0.0 if s.credit_score else 1.0,
        "prior_delinquencies": math.log1p(s.prior_delinquencies),
        "seg_self_employed": 1.0 if seg == "self_employed" else 0.0,
        "seg_small_business": 1.0 if seg == "small_business" else 0.0,
        "seg_student": 1.0 if seg == "student" else 0.0,
        "seg_other": 1.0 if seg == "other" else 0.0,
        "limit_log": math.log10(limit) - 4.0 if limit > 0 else 0.0,
        "tenure_years": _clip(tenure / (365 * DAY), 0.0, 3.0),
        "income_log": math.log1p(income_s) / 10.0,
        # < 0: the last month brought less than the last quarter's pace
        "income_trend": _clip(income_s / income_l / _STEADY_RATIO - 1.0, -1.0, 2.0)
        if income_l > 1.0 else 0.0,
        "days_since_income": _clip(since_income / MONTH, 0.0, 6.0),
        "income_cv": _clip(income_cv, 0.0, 3.0),
        "spend_to_income": _clip(out_l / (inflow_l + 1.0), 0.0, 5.0),
        "essential_to_income": _clip(long[ESSENTIAL] / (income_l + 1.0), 0.0, 5.0),
        "gambling_share": long[GAMBLING] / (out_l + 1.0),
        "cash_share": long[CASH] / (out_l + 1.0),
        "other_loans_share": long[OTHER_LOANS] / (out_l + 1.0),
        "discretionary_share": long[DISCRETIONARY] / (out_l + 1.0),
        "utilization": _clip(s.outstanding / limit, 0.0, 2.0) if limit > 0 else 0.0,
        "draws_30d": _clip(short[DRAWS], 0.0, 10.0),
        "drawn_to_income": math.log1p(_clip(long[DRAWN] / (income_l + 1.0), 0.0, 50.0)),
        "active_loans": float(min(len(s.loans), 10)),
        "coverage": sum(s.coverage) / len(s.coverage) if s.coverage else 1.0,
        "paid_to_due": _clip(long[PAID] / long[DUE], 0.0, 2.0) if long[DUE] > 1.0 else 1.0,
        "partial_90d": _clip(long[PARTIAL], 0.0, 10.0),
        "missed_90d": _clip(long[MISSED], 0.0, 10.0),
        "overdue_episodes": math.log1p(s.episodes),
        "dpd_now": min(dpd / 30.0, 4.0),
        "dpd_worst": _clip(worst / 30.0, 0.0, 4.0) if worst > 0 else 0.0,
        "in_grace": 1.0 if s.grace_until > now else 0.0,
        "plan_active": 1.0 if s.plan_active else 0.0,
        "harsh_90d": _clip(long[HARSH], 0.0, 10.0),
        "industry_orders": orders,
        "industry_raw_prices": raw_prices,
        "region_stress": stress,
        "region_unemployment": unemployment,
        "industry_delinquency": ind_bad,
        "region_delinquency": reg_bad,
        # what the running loans cost a month, in months of the recent income pace
        "installments_to_income": _clip(s.monthly_cost / income_month, 0.0, 5.0),
        "drawn_to_limit": _clip(long[DRAWN] / limit, 0.0, 5.0) if limit > 0 else 0.0,
        "cash_to_income": _clip(long[CASH] / (income_l + 1.0), 0.0, 5.0),
        # months; a borrower never seen gambling counts as a year ago
        "days_since_gambling": _clip((now - s.last_gambling_ts) / MONTH, 0.0, 12.0)
        if s.last_gambling_ts else 12.0,
        # money in minus money out over the recent quarter, as a share of both: -1..1
        "net_flow": (inflow_l - out_l) / (inflow_l + out_l + 1.0),
    }


_HALF = struct.Struct(f"<{len(FEATURES)}e")
_HALF_MAX = 65_504.0  # the largest finite float16


def to_vector(x: dict[str, float]) -> bytes:
    """Features -> float16 bytes in `FEATURES` order (pending snapshots, 2 bytes each).

    Half precision keeps three significant digits, plenty for bounded features, and
    halves what every borrower's pending snapshots weigh in memory and in the changelog.

    >>> v = to_vector(dict.fromkeys(FEATURES, 0.1234))
    >>> len(v), round(from_vector(v)["income_log"], 3)
    (88, 0.123)
    """
    return row_to_vector([x[name] for name in FEATURES])


def row_to_vector(row: Sequence[float]) -> bytes:
    """`to_vector` of the features as a row in `FEATURES` order (the engine's).

    >>> row = [1e9] + [0.5] * (len(FEATURES) - 1)   # 1e9: beyond float16, clipped
    >>> row_to_vector(row) == to_vector(dict(zip(FEATURES, row)))
    True
    """
    if -_HALF_MAX <= min(row) and max(row) <= _HALF_MAX:  # bounded features: the usual case
        return _HALF.pack(*row)
    return _HALF.pack(*[_clip(v, -_HALF_MAX, _HALF_MAX) for v in row])


def from_vector(data: bytes) -> dict[str, float]:
    """`to_vector`'s inverse; a vector of an older, shorter FEATURES reads as zeros after."""
    if len(data) < _HALF.size:
        data = data + bytes(_HALF.size - len(data))
    return dict(zip(FEATURES, _HALF.unpack(data)))
