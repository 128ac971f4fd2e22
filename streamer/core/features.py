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
from streamer.core.state import (DAY, DRAWS, HALF_LIVES, INCOME, LONG, N_CHANNELS, SHORT,
                                  BorrowerState)

MONTH = 30 * DAY
# short/long ratio of a steady monthly income, averaged over the month (see `income_trend`)
_STEADY_RATIO = 0.33
# a steady monthly flow's 90-day-half-life sum, in months of it: 1 / (1 - 2**(-1/3))
_LONG_MONTHS = 4.85
_YEAR = 365 * DAY
_SHORT_HALF_LIFE, _LONG_HALF_LIFE = HALF_LIVES[SHORT], HALF_LIVES[LONG]
_NO_FLOWS = (0.0,) * N_CHANNELS  # the 90-day sums before any flow

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
    in `FEATURES` order."""
    return dict(zip(FEATURES, compute_row(s, ctx, now, s.dpd_now if dpd is None else dpd,
                                          s.outstanding)))


def compute_row(s: BorrowerState, ctx: Context, now: float, dpd: int,
                outstanding: float) -> list[float]:
    """The features of a borrower as of event time `now`, as a row in `FEATURES` order
    (what `Scorer.score_row` reads): `dpd` and `outstanding` are the state's, which the
    engine has computed already.

    Every bound is written out (`lo if v < lo else hi if v > hi else v`, `_clip`'s own
    expression): the engine computes a row on every event, and a call per bound cost a
    tenth of it.
    """
    limit = s.credit_limit
    tenure = (now - s.opened_at) if s.opened_at else 0.0
    if s.t0 is None:
        income_s = draws_s = 0.0
        (income_l, other_in_l, essential_l, discretionary_l, gambling_l, cash_l,
         other_loans_l, transfer_out_l, drawn_l, _, missed_l, partial_l, harsh_l, paid_l,
         due_l) = _NO_FLOWS
    else:
        flows = s.flows
        f_short = 2.0 ** ((s.t0 - now) / _SHORT_HALF_LIFE)
        income_s, draws_s = flows[INCOME] * f_short, flows[DRAWS] * f_short
        f_long = 2.0 ** ((s.t0 - now) / _LONG_HALF_LIFE)
        (income_l, other_in_l, essential_l, discretionary_l, gambling_l, cash_l,
         other_loans_l, transfer_out_l, drawn_l, _, missed_l, partial_l, harsh_l, paid_l,
         due_l) = [v * f_long for v in flows[N_CHANNELS:]]
    inflow_l = income_l + other_in_l
    out_l = (essential_l + discretionary_l + gambling_l + cash_l + other_loans_l
             + transfer_out_l)
    since_income = now - s.last_income_ts if s.last_income_ts else tenure
    var = s.income_var
    income_mean = var.mean.get()
    income_cv = math.sqrt(max(var.get(), 0.0)) / income_mean if income_mean > 0 else 0.0
    income_month = (income_l + 1.0) / _LONG_MONTHS
    worst = s.dpd_worst
    seg = s.segment
    coverage = s.coverage
    loans = s.loans
    orders, raw_prices, stress, unemployment, ind_bad, reg_bad = ctx.features(s.industry,
                                                                             s.region)
    v_tenure = tenure / _YEAR
    v_trend = income_s / income_l / _STEADY_RATIO - 1.0 if income_l > 1.0 else 0.0
    v_since_income = since_income / MONTH
    v_spend = out_l / (inflow_l + 1.0)
    v_essential = essential_l / (income_l + 1.0)
    v_util = outstanding / limit if limit > 0 else 0.0
    v_drawn = drawn_l / (income_l + 1.0)
    v_paid = paid_l / due_l if due_l > 1.0 else 1.0
    v_worst = worst / 30.0
    v_installments = s.monthly_cost / income_month
    v_drawn_limit = drawn_l / limit if limit > 0 else 0.0
    v_cash = cash_l / (income_l + 1.0)
    v_gambling = (now - s.last_gambling_ts) / MONTH if s.last_gambling_ts else 12.0
    return [
        # who the borrower is
        (s.credit_score - 650) / 100.0 if s.credit_score else 0.0,
        0.0 if s.credit_score else 1.0,
        math.log1p(s.prior_delinquencies),
        1.0 if seg == "self_employed" else 0.0,
        1.0 if seg == "small_business" else 0.0,
        1.0 if seg == "student" else 0.0,
        1.0 if seg == "other" else 0.0,
        math.log10(limit) - 4.0 if limit > 0 else 0.0,
        0.0 if v_tenure < 0.0 else 3.0 if v_tenure > 3.0 else v_tenure,
        # income
        math.log1p(income_s) / 10.0,
        # < 0: the last month brought less than the last quarter's pace
        -1.0 if v_trend < -1.0 else 2.0 if v_trend > 2.0 else v_trend,
        0.0 if v_since_income < 0.0 else 6.0 if v_since_income > 6.0 else v_since_income,
        0.0 if income_cv < 0.0 else 3.0 if income_cv > 3.0 else income_cv,
        # spending
        0.0 if v_spend < 0.0 else 5.0 if v_spend > 5.0 else v_spend,
        0.0 if v_essential < 0.0 else 5.0 if v_essential > 5.0 else v_essential,
        gambling_l / (out_l + 1.0),
        cash_l / (out_l + 1.0),
        other_loans_l / (out_l + 1.0),
        discretionary_l / (out_l + 1.0),
        # credit use
        0.0 if v_util < 0.0 else 2.0 if v_util > 2.0 else v_util,
        0.0 if draws_s < 0.0 else 10.0 if draws_s > 10.0 else draws_s,
        math.log1p(0.0 if v_drawn < 0.0 else 50.0 if v_drawn > 50.0 else v_drawn),
        float(min(len(loans), 10)),
        # repayment
        sum(coverage) / len(coverage) if coverage else 1.0,
        0.0 if v_paid < 0.0 else 2.0 if v_paid > 2.0 else v_paid,
        0.0 if partial_l < 0.0 else 10.0 if partial_l > 10.0 else partial_l,
        0.0 if missed_l < 0.0 else 10.0 if missed_l > 10.0 else missed_l,
        math.log1p(s.episodes),
        min(dpd / 30.0, 4.0),
        (0.0 if v_worst < 0.0 else 4.0 if v_worst > 4.0 else v_worst) if worst > 0 else 0.0,
        # the lender's actions
        1.0 if s.grace_until > now else 0.0,
        1.0 if s.plan_active else 0.0,
        0.0 if harsh_l < 0.0 else 10.0 if harsh_l > 10.0 else harsh_l,
        # context
        orders, raw_prices, stress, unemployment, ind_bad, reg_bad,
        # what the running loans cost a month, in months of the recent income pace
        0.0 if v_installments < 0.0 else 5.0 if v_installments > 5.0 else v_installments,
        0.0 if v_drawn_limit < 0.0 else 5.0 if v_drawn_limit > 5.0 else v_drawn_limit,
        0.0 if v_cash < 0.0 else 5.0 if v_cash > 5.0 else v_cash,
        # months; a borrower never seen gambling counts as a year ago
        0.0 if v_gambling < 0.0 else 12.0 if v_gambling > 12.0 else v_gambling,
        # money in minus money out over the recent quarter, as a share of both: -1..1
        (inflow_l - out_l) / (inflow_l + out_l + 1.0),
    ]


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
