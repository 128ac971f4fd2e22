"""Features relative to the borrower's own history: each one against a hand computation."""

from __future__ import annotations

import math

from streamer.core.context import Context
from streamer.core.events import decode
from streamer.core.features import FEATURES, compute, from_vector, to_vector
from streamer.core.state import DAY, BorrowerState
from streamer.core.update import apply
from tests.conftest import T0, event, opened, raw


def build(*events_: dict) -> BorrowerState:
    s = BorrowerState.new()
    for e in events_:
        apply(s, decode(raw(e)))
    return s


def salary(day: float, amount: float = 3000.0) -> dict:
    return event("transaction", day, amount=amount, direction="in", category="salary")


def spend(day: float, amount: float, category: str = "groceries") -> dict:
    return event("transaction", day, amount=amount, direction="out", category=category)


def at(s: BorrowerState, day: float, ctx: Context | None = None) -> dict[str, float]:
    return compute(s, ctx or Context(), now=T0 + day * DAY)


def test_income_against_the_borrowers_own_monthly_average():
    s = build(opened(), *[salary(d) for d in range(0, 181, 30)])  # days 0..180: 7 salaries
    x = at(s, 195)
    short = 3000.0 * sum(2.0 ** (-(195 - d) / 30) for d in range(0, 181, 30))
    own = 7 * 3000.0 / (195 / 30)
    assert math.isclose(x["income_vs_own"], short * math.log(2.0) / own, rel_tol=1e-9)
    assert 0.8 < x["income_vs_own"] < 1.2  # a steady earner reads about 1
    # the job is lost after day 120: two months on, the last month brought little
    lost = at(build(opened(), *[salary(d) for d in range(0, 121, 30)]), 195)
    assert lost["income_vs_own"] < 0.35
    # not enough history yet: neutral
    assert at(build(opened(), salary(0)), 30)["income_vs_own"] == 1.0


def test_burden_is_installments_due_against_income():
    s = build(opened(), salary(10, 4000.0),
              event("loan_drawn", 5, loan_id="L1", principal=6000, term_months=6,
                    daily_rate=0.0005, method="equal_installment"),
              event("installment_due", 10, loan_id="L1", installment_no=1,
                    due_date="2026-01-11", amount_due=1000))
    assert math.isclose(at(s, 10)["burden"], 1000 / 4001)
    assert at(build(opened(), salary(10)), 10)["burden"] == 0.0


def test_spend_trend_is_this_month_against_the_quarter():
    # one purchase now: the month holds all of the quarter's spending (clipped at 2)
    assert at(build(opened(), spend(90, 500)), 90)["spend_trend"] == 2.0
    # one purchase 90 days ago: 1/8 of it left in the month, 1/2 in the quarter
    old = at(build(opened(), spend(0, 500)), 90)["spend_trend"]
    assert math.isclose(old, 0.25 / 0.33 - 1.0)
    # the same steady spending reads about 0
    steady = at(build(opened(), *[spend(d, 300) for d in range(0, 366, 14)]), 365)
    assert abs(steady["spend_trend"]) < 0.25


def test_net_flow_is_money_in_minus_out_in_months_of_income():
    s = build(opened(), salary(50, 3000.0), spend(50, 4000.0, "rent"), spend(50, 500.0, "dining"))
    assert math.isclose(at(s, 50)["net_flow_90d"], (3000 - 4500) / 3001)
    assert at(build(opened(), salary(50)), 50)["net_flow_90d"] > 0.99


def test_net_borrowing_is_drawn_minus_repaid_against_the_limit():
    s = build(opened(credit_limit=10000),
              event("loan_drawn", 20, loan_id="L1", principal=5000, term_months=6,
                    daily_rate=0.0005, method="equal_installment"),
              event("payment", 20, loan_id="L1", amount=1000, installment_no=1))
    assert math.isclose(at(s, 20)["net_borrow_30d"], 0.4)
    later = at(s, 50)["net_borrow_30d"]  # both halve in a month
    assert math.isclose(later, 0.2)


def test_transfers_in_and_draws_against_their_own_quarter():
    fresh = build(opened(), event("transaction", 90, amount=500, direction="in",
                                  category="transfer_in"))
    assert at(fresh, 90)["other_in_trend"] == 2.0
    old = build(opened(), event("transaction", 0, amount=500, direction="in",
                                category="transfer_in"))
    assert math.isclose(at(old, 90)["other_in_trend"], 0.25 / 0.33 - 1.0)
    assert at(build(opened()), 90)["other_in_trend"] == 0.0
    draws = build(opened(), *[event("loan_drawn", 40, loan_id=f"L{i}", principal=100,
                                    term_months=1, daily_rate=0.0005,
                                    method="equal_installment") for i in range(2)])
    assert math.isclose(at(draws, 40)["draws_trend"], 2 - 0.33 * 2)


def test_context_change_reads_the_indicators_direction():
    ctx = Context()
    week = 7.0
    for i, v in enumerate([100.0] * 8 + [90.0, 80.0]):
        ctx.apply_macro("industry", "retail", "orders_index", v, T0 + i * week * DAY)
        ctx.apply_macro("region", "R01", "stress_index", 50.0, T0 + i * week * DAY)
    x = at(build(opened()), 70, ctx)
    # the month's level moved from 100 toward 90 over the last week
    recent = 100.0 + (1 - 2.0 ** (-week / 30)) * (90.0 - 100.0)
    assert math.isclose(x["industry_orders_change"], (80.0 - recent) / recent)
    assert x["industry_orders_change"] < 0 and x["industry_orders"] < 0  # falling, below normal
    assert x["region_stress_change"] == 0.0
    # a late reading changes nothing
    ctx.apply_macro("industry", "retail", "orders_index", 50.0, T0)
    assert at(build(opened()), 70, ctx)["industry_orders_change"] == x["industry_orders_change"]


def test_every_feature_is_bounded_and_a_vector_of_fewer_features_still_reads():
    s = build(opened(), salary(0), spend(1, 1e9, "gambling"))
    x = at(s, 1)
    assert set(x) == set(FEATURES) and all(math.isfinite(v) and abs(v) <= 10 for v in x.values())
    old = to_vector(dict.fromkeys(FEATURES, 0.5))[: 2 * 39]  # a snapshot of the 39 features
    back = from_vector(old)
    assert back["dpd_worst"] == 0.5 and back["region_delinquency"] == 0.5
    assert back["income_vs_own"] == 0.0 and set(back) == set(FEATURES)
