"""Per-borrower state: updates, decayed flows, exact and compact round trip."""

from __future__ import annotations

import math
import random

from streamer.core.events import decode
from streamer.core.state import DAY, INCOME, LONG, SHORT, BorrowerState
from streamer.core.update import apply
from tests.conftest import event, opened, raw


def build(*events_: dict) -> BorrowerState:
    s = BorrowerState.new()
    for e in events_:
        apply(s, decode(raw(e)))
    return s


def busy_state() -> BorrowerState:
    return build(
        opened(credit_limit=30000, segment="self_employed", credit_score=610,
               prior_delinquencies=2),
        event("transaction", 1, amount=12000, direction="in", category="business_income"),
        event("transaction", 2, amount=800, direction="out", category="gambling"),
        event("loan_drawn", 3, loan_id="L1", principal=10000, term_months=6,
              daily_rate=0.0005, method="equal_installment"),
        event("installment_due", 30, loan_id="L1", installment_no=1, due_date="2026-02-02",
              amount_due=1800),
        event("payment", 32, loan_id="L1", amount=600, installment_no=1),
        event("installment_due", 60, loan_id="L1", installment_no=2, due_date="2026-03-03",
              amount_due=1800),
        event("overdue_status", 70, loan_id="L1", days_past_due=8, overdue_amount=3000),
        event("collection_action", 71, action="grace_period", until="2026-04-01"),
    )


def test_state_round_trips_exactly_and_compactly():
    s = busy_state()
    data = s.dumps()
    back = BorrowerState.loads(data)
    assert back == s and back.dumps() == data
    assert list(back.coverage) == list(s.coverage) and sum(s.coverage) / len(s.coverage) == 600 / 1800
    assert back.income_var.mean.get() == 12000
    assert back.loans["L1"].dpd == 8
    assert back.flow(INCOME, LONG, 80 * DAY + 1_767_225_600) == s.flow(
        INCOME, LONG, 80 * DAY + 1_767_225_600)
    assert len(data) < 800, len(data)


def test_updates_follow_the_events():
    s = busy_state()
    assert s.segment == "self_employed" and s.credit_limit == 30000
    assert s.outstanding == 10000 - 600
    assert s.dpd_now == 8 and s.dpd_worst == 8 and s.episodes == 1
    assert s.grace_until > s.last_ts


def test_cure_and_repeat_episodes_are_counted():
    s = build(
        event("overdue_status", 10, loan_id="L1", days_past_due=3, overdue_amount=10),
        event("overdue_status", 12, loan_id="L1", days_past_due=0, overdue_amount=0),
        event("overdue_status", 40, loan_id="L1", days_past_due=1, overdue_amount=10),
    )
    assert s.episodes == 2 and s.dpd_now == 1 and s.dpd_worst == 3


def test_an_older_overdue_status_does_not_override_a_newer_one():
    s = build(
        event("overdue_status", 20, loan_id="L1", days_past_due=20, overdue_amount=10),
        event("overdue_status", 19, loan_id="L1", days_past_due=19, overdue_amount=10),
    )
    assert s.dpd_now == 20


def test_flows_decay_with_event_time_and_do_not_depend_on_order():
    a = build(event("transaction", 0, amount=1000, direction="in", category="salary"),
              event("transaction", 30, amount=1000, direction="in", category="salary"))
    b = build(event("transaction", 30, amount=1000, direction="in", category="salary"),
              event("transaction", 0, amount=1000, direction="in", category="salary"))
    now = 1_767_225_600 + 30 * DAY
    assert math.isclose(a.flow(INCOME, SHORT, now), 1500.0)
    assert math.isclose(a.flow(INCOME, SHORT, now), b.flow(INCOME, SHORT, now))
    assert math.isclose(a.flow(INCOME, LONG, now), 1000 + 1000 * 2 ** (-1 / 3))


def test_flows_survive_years_of_event_time():
    s = BorrowerState.new()
    for year in range(30):  # past the rebase point, no overflow
        s.add(INCOME, 100.0, year * 365 * DAY)
    assert math.isfinite(s.flow(INCOME, SHORT, 29 * 365 * DAY))
    assert math.isclose(s.flow(INCOME, SHORT, 29 * 365 * DAY), 100.0, rel_tol=1e-3)


def test_dedupe_ring_remembers_recent_ids():
    s = BorrowerState.new()
    assert not s.seen("e1") and s.seen("e1")
    for i in range(100):
        s.seen(f"x{i}")
    assert not s.seen("e1")  # forgotten after the ring filled up
    assert BorrowerState.loads(s.dumps()).seen("x99")


def test_unknown_category_counts_as_other_spending():
    s = build(event("transaction", 1, amount=50, direction="out", category="crypto"))
    assert s.flow(3, SHORT, s.last_ts) == 50  # DISCRETIONARY, where `other` goes


def test_states_of_older_layouts_read_with_what_they_did_not_keep_unknown():
    import msgspec

    s = busy_state()
    s.spell_start, s.last_overdue_ts, s.last_gambling_ts, s.early_raised_at = 5.0, 6.0, 7.0, 8.0
    fields = list(msgspec.msgpack.decode(s.dumps()))
    assert fields[0] == 5 and fields[-4:] == [5.0, 6.0, 7.0, 8.0]
    back = BorrowerState.loads(msgspec.msgpack.encode([4, *fields[1:-1]]))
    assert back.early_raised_at == 0.0 and back.last_gambling_ts == 7.0
    loans = {k: v[:6] for k, v in fields[15].items()}  # before loans kept their monthly cost
    assert loans != fields[15]
    for layout, cut, spell in ((3, -2, (5.0, 6.0)), (2, -4, (0.0, 0.0))):
        old = msgspec.msgpack.encode([layout, *fields[1:15], loans, *fields[16:cut]])
        back = BorrowerState.loads(old)
        assert (back.spell_start, back.last_overdue_ts) == spell
        assert back.last_gambling_ts == 0.0 and back.loans["L1"].monthly == 0.0
        assert back.early_raised_at == 0.0
        assert back.loans["L1"].dpd == 8 and back.dumps()[1:] != old[1:]


def test_what_the_loans_cost_a_month_against_income_and_when_gambling_was_last_seen():
    from streamer.core.context import Context
    from streamer.core.features import compute

    salary = [event("transaction", d, amount=9000, direction="in", category="salary")
              for d in (0, 30, 60, 90)]
    s = build(opened(), *salary,
              event("loan_drawn", 91, loan_id="L1", principal=6000, term_months=6,
                    daily_rate=0.001, method="equal_installment"),
              event("loan_drawn", 92, loan_id="L2", principal=3000, term_months=3,
                    daily_rate=0.0, method="interest_first"))
    assert s.monthly_cost == 6000 * (1 / 6 + 0.03) + 3000 / 3
    x = compute(s, Context(), now=s.last_ts)
    # 2,180 a month; the quarter's decayed income reads as about 5,300 a month of a steady
    # income (four salaries seen, not the endless run of them the scale assumes)
    assert 0.35 < x["installments_to_income"] < 0.45
    assert x["days_since_gambling"] == 12.0  # never seen: as if a year ago
    assert 0.0 < x["drawn_to_limit"] < 9000 / 20000
    assert 0.0 < x["net_flow"] < 1.0  # income in, nothing spent yet
    bet = build(opened(), *salary,
                event("transaction", 80, amount=500, direction="out", category="gambling"),
                event("transaction", 95, amount=9000, direction="out", category="transfer_out"))
    y = compute(bet, Context(), now=bet.last_ts)
    assert y["days_since_gambling"] == 0.5  # 15 days, in months
    assert y["net_flow"] < x["net_flow"]
    # a loan drawn before we saw it costs what its installments ask
    old = build(opened(), *salary, event("installment_due", 91, loan_id="L9", installment_no=3,
                                         due_date="2026-04-02", amount_due=1200))
    assert old.monthly_cost == 1200


def test_a_row_packs_to_the_vector_of_its_dict():
    """The engine packs snapshot vectors from the row the scorers read: the same float16
    bytes as from the dict, a value beyond float16 clipped either way."""
    from streamer.core.features import FEATURES, row_to_vector, to_vector

    rng = random.Random(2)
    for _ in range(200):
        row = [rng.choice((0.0, 1.0, rng.uniform(-5, 5), rng.uniform(-1e6, 1e6), math.inf,
                           -math.inf)) for _ in FEATURES]
        assert row_to_vector(row) == to_vector(dict(zip(FEATURES, row)))


def test_only_an_overdue_status_moves_the_dpd_the_engine_reads_once():
    """The engine reads `dpd_now` again only after `MOVES_DPD` (update.py); on a simulated
    book with misses, cures, repaid and new loans, no other event moves it."""
    import msgspec

    from streamer.core.update import MOVES_DPD
    from streamer.simulate import generate

    sim = generate("harsh_collections", 150, 240, 3, "2025-01-01")
    states: dict[str, BorrowerState] = {}
    moved = 0
    for topic, _, e in sim.events():
        if topic == "macro.indicators":
            continue
        event_ = decode(msgspec.json.encode(e))
        s = states.setdefault(event_.borrower_id, BorrowerState.new())
        before = s.dpd_now
        apply(s, event_)
        if type(event_) is not MOVES_DPD:
            assert s.dpd_now == before, event_
        moved += s.dpd_now != before
    assert moved > 50  # the book had DPD to move


def test_each_flow_feature_reads_its_own_channel():
    """compute_row unpacks the 90-day sums in the channels' order (state.py): with every
    channel a different amount, each feature equals its formula over `flow`."""
    from streamer.core.context import Context
    from streamer.core.features import compute
    from streamer.core.state import (CASH, DISCRETIONARY, DRAWN, DRAWS, DUE, ESSENTIAL,
                                     GAMBLING, HARSH, MISSED, N_CHANNELS, OTHER_IN,
                                     OTHER_LOANS, PAID, PARTIAL, TRANSFER_OUT)

    s = busy_state()
    rng = random.Random(5)
    for i in range(2 * N_CHANNELS):
        s.flows[i] = rng.uniform(0.5, 4.0) * (1000.0 if i % N_CHANNELS not in (
            DRAWS, MISSED, PARTIAL, HARSH) else 1.0)
    now = s.last_ts + 3 * DAY
    x = compute(s, Context(), now)

    def long(c: int) -> float:
        return s.flow(c, LONG, now)

    out = sum(long(c) for c in (ESSENTIAL, DISCRETIONARY, GAMBLING, CASH, OTHER_LOANS,
                                TRANSFER_OUT))
    inflow = long(INCOME) + long(OTHER_IN)
    assert x["income_log"] == math.log1p(s.flow(INCOME, SHORT, now)) / 10.0
    assert x["draws_30d"] == min(s.flow(DRAWS, SHORT, now), 10.0)
    assert x["spend_to_income"] == min(out / (inflow + 1.0), 5.0)
    assert x["essential_to_income"] == min(long(ESSENTIAL) / (long(INCOME) + 1.0), 5.0)
    for name, c in (("gambling_share", GAMBLING), ("cash_share", CASH),
                    ("other_loans_share", OTHER_LOANS), ("discretionary_share", DISCRETIONARY)):
        assert x[name] == long(c) / (out + 1.0), name
    assert x["drawn_to_limit"] == min(long(DRAWN) / s.credit_limit, 5.0)
    assert x["paid_to_due"] == min(long(PAID) / long(DUE), 2.0)
    for name, c in (("missed_90d", MISSED), ("partial_90d", PARTIAL), ("harsh_90d", HARSH)):
        assert x[name] == min(long(c), 10.0), name
    assert x["net_flow"] == (inflow - out) / (inflow + out + 1.0)
