"""A feature's value in words: what a collections agent reads on an alert.

The model's features are unit-free numbers (`features.py`): `dpd_now = 0.5` is 15 days
past due, `days_since_income = 2.1` is 63 days. An alert's reasons carry the feature and
its model value (for machines) and, from here, the value in its natural unit and a short
sentence (for people). The flows behind the "recent" figures are decayed sums with a
90-day half-life (`state.py`): a count of 2 is two events of the last weeks or more
events further back, hence "about".

>>> explain("dpd_now", 0.5)
(15.0, 'days', '15 days past due')
>>> explain("days_since_income", 2.1)
(63.0, 'days', 'no income for 63 days')
>>> explain("industry_orders", -0.18, industry="manufacturing")
(-18.0, '%', 'manufacturing orders -18% against their usual level')
"""

from __future__ import annotations

import math
from collections.abc import Callable

from streamer.core.features import FEATURES

DAYS_PER_MONTH = 30.0

# feature -> (value in its unit, unit, sentence); `v` is the model's value, `n` the names
# of the borrower's industry and region
_Say = Callable[[float, dict[str, str]], tuple[float, str, str]]


def _pct(v: float) -> float:
    return round(100.0 * v, 1)


def _n(x: float) -> str:
    """A number as a person writes it: 3, 2.5, 0.25."""
    return f"{x:,.0f}" if abs(x) >= 10 or x == int(x) else f"{x:.2g}"


def _signed(p: float) -> str:
    return f"{p:+.0f}%"


def _flag(text_on: str, text_off: str) -> _Say:
    return lambda v, n: (float(v >= 0.5), "yes/no", text_on if v >= 0.5 else text_off)


def _share(what: str) -> _Say:
    return lambda v, n: (_pct(v), "%", f"{_pct(v):.0f}% of spending {what}")


def _times(what: str) -> _Say:
    return lambda v, n: (round(v, 2), "x", f"{what} {_n(round(v, 2))}x")


def _count(what: str) -> _Say:
    return lambda v, n: (round(v, 1), "count", f"about {_n(round(v, 1))} {what}")


def _days(text: str, cap: float) -> _Say:
    def say(v: float, n: dict[str, str]) -> tuple[float, str, str]:
        d = round(v * DAYS_PER_MONTH)
        return float(d), "days", text.format(d=f"{d}+" if v >= cap else d)
    return say


def _macro(scope: str, what: str) -> _Say:
    return lambda v, n: (_pct(v), "%", f"{n.get(scope) or 'the ' + scope + chr(39) + 's'} "
                                       f"{what} {_signed(_pct(v))} against their usual level")


def _rate(scope: str) -> _Say:
    return lambda v, n: (_pct(v), "%", f"{_pct(v):.1f}% of borrowers in "
                                       f"{n.get(scope) or 'this ' + scope} 30+ days past due")


SAY: dict[str, _Say] = {
    "credit_score": lambda v, n: (round(650 + 100 * v), "points",
                                  f"credit score {round(650 + 100 * v)}"),
    "credit_score_missing": _flag("no credit score on file", "credit score on file"),
    "prior_delinquencies": lambda v, n: (float(round(math.expm1(v))), "count",
                                         f"delinquencies before this account: "
                                         f"{round(math.expm1(v))}"),
    "seg_self_employed": _flag("self-employed", "not self-employed"),
    "seg_small_business": _flag("a small business", "not a small business"),
    "seg_student": _flag("a student", "not a student"),
    "seg_other": _flag("segment: other", "segment not 'other'"),
    "limit_log": lambda v, n: (round(10 ** (v + 4)), "CNY",
                               f"credit limit {10 ** (v + 4):,.0f} CNY"),
    "tenure_years": lambda v, n: (round(v * 365), "days",
                                  f"account open {round(v * 365)} days"),
    "income_log": lambda v, n: (round(math.expm1(10 * v)), "CNY",
                                f"recent income about {math.expm1(10 * v):,.0f} CNY"),
    "income_trend": lambda v, n: (_pct(v), "%", f"last month's income {_signed(_pct(v))} "
                                                f"against the quarter's pace"),
    "days_since_income": _days("no income for {d} days", 6.0),
    "income_cv": lambda v, n: (_pct(v), "%", f"income varies by {_pct(v):.0f}% of its mean"),
    "spend_to_income": _times("spending against money in:"),
    "essential_to_income": _times("rent, groceries and bills against income:"),
    "gambling_share": _share("on gambling"),
    "cash_share": _share("in cash withdrawals"),
    "other_loans_share": _share("on other lenders' loans"),
    "discretionary_share": _share("on dining, luxury and other"),
    "utilization": lambda v, n: (_pct(v), "%", f"{_pct(v):.0f}% of the credit limit in use"),
    "draws_30d": _count("draws in the last month"),
    "drawn_to_income": lambda v, n: (round(math.expm1(v), 2), "x",
                                     f"drawn lately {_n(round(math.expm1(v), 2))}x income"),
    "active_loans": lambda v, n: (v, "count", f"{v:.0f} loans running"),
    "coverage": lambda v, n: (_pct(v), "%", f"{_pct(v):.0f}% of the last installments paid"),
    "paid_to_due": lambda v, n: (_pct(v), "%", f"paid {_pct(v):.0f}% of what fell due lately"),
    "partial_90d": _count("partial payments lately"),
    "missed_90d": _count("missed installments lately"),
    "overdue_episodes": lambda v, n: (float(round(math.expm1(v))), "count",
                                      f"times overdue so far: {round(math.expm1(v))}"),
    "dpd_now": _days("{d} days past due", 4.0),
    "dpd_worst": _days("worst: {d} days past due", 4.0),
    "in_grace": _flag("in a grace period", "no grace period"),
    "plan_active": _flag("on an installment plan", "no installment plan"),
    "harsh_90d": _count("collection calls or legal steps lately"),
    "industry_orders": _macro("industry", "orders"),
    "industry_raw_prices": _macro("industry", "raw material prices"),
    "region_stress": _macro("region", "stress index"),
    "region_unemployment": _macro("region", "unemployment"),
    "industry_delinquency": _rate("industry"),
    "region_delinquency": _rate("region"),
    "installments_to_income": lambda v, n: (_pct(v), "%", f"loans cost {_pct(v):.0f}% of "
                                                          f"the monthly income"),
    "drawn_to_limit": _times("drawn lately against the limit:"),
    "cash_to_income": _times("cash withdrawn against income:"),
    "days_since_gambling": lambda v, n: (
        (365.0, "days", "no gambling seen") if v >= 12.0 else
        (float(round(v * DAYS_PER_MONTH)), "days",
         f"gambled {round(v * DAYS_PER_MONTH)} days ago")),
    "net_flow": lambda v, n: (_pct(v), "%", f"money in minus out: {_signed(_pct(v))} of the "
                                            f"quarter's flows"),
}
assert set(SAY) == set(FEATURES), set(FEATURES) ^ set(SAY)


def explain(feature: str, value: float, industry: str = "", region: str = ""
            ) -> tuple[float, str, str]:
    """(value in its natural unit, unit, sentence) of a feature's model value."""
    say = SAY.get(feature)
    if say is None:  # a feature this release does not know (a newer model's)
        return value, "", f"{feature} = {value:.3g}"
    return say(value, {"industry": industry, "region": region})
