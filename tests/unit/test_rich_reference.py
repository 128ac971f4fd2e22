"""benchmarks/rich_reference.py: the causal features at a snapshot, on hand-written events."""

from __future__ import annotations

import importlib.util
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "rich_reference.py"
_spec = importlib.util.spec_from_file_location("rich_reference", _PATH)
rr = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rr)

T0 = datetime(2026, 1, 1, 8, tzinfo=timezone.utc)


def at(day: float) -> str:
    return (T0 + timedelta(days=day)).strftime("%Y-%m-%dT%H:%M:%SZ")


def sec(day: float) -> int:
    return int((T0 + timedelta(days=day)).timestamp())


def ev(n: int, typ: str, day: float, bid: str | None = "b1", **kw) -> dict:
    e = {"event_id": f"e{n}", "type": typ, "ts": at(day), "v": 1, **kw}
    if bid is not None:
        e["borrower_id"] = bid
    return e


def tx(n, day, amount, category, direction="out", **kw):
    return ev(n, "transaction", day, amount=amount, direction=direction, category=category, **kw)


@pytest.fixture()
def book(tmp_path):
    events = [
        ev(0, "macro_indicator", 0, None, scope="industry", scope_id="retail",
           name="orders_index", value=100.0),
        ev(1, "account_opened", 0, credit_limit=10000.0, segment="salaried", industry="retail",
           region="R01", prior_delinquencies=1, credit_score=700),
        ev(2, "account_opened", 0, "b2", credit_limit=5000.0, segment="student",
           industry="retail", region="R01", prior_delinquencies=0),
        tx(3, 10, 3000.0, "salary", "in"),
        tx(4, 40, 3000.0, "salary", "in"),
        tx(5, 70, 1000.0, "salary", "in"),   # income drops to a third
        tx(6, 65, 200.0, "gambling"),
        tx(7, 66, 500.0, "transfer_in", "in", counterparty="other_lender"),
        ev(8, "loan_drawn", 20, loan_id="L1", principal=6000.0, term_months=6,
           daily_rate=0.0005, method="equal_installment"),
        ev(9, "installment_due", 48, loan_id="L1", installment_no=1, due_date=at(50)[:10],
           amount_due=1100.0),
        ev(10, "payment", 50, loan_id="L1", amount=400.0, installment_no=1),  # partial
        ev(11, "overdue_status", 50.5, loan_id="L1", days_past_due=1, overdue_amount=700.0),
        ev(12, "overdue_status", 51.5, loan_id="L1", days_past_due=2, overdue_amount=700.0),
        ev(13, "collection_action", 52, action="reminder"),
        ev(14, "macro_indicator", 60, None, scope="industry", scope_id="retail",
           name="orders_index", value=90.0),
        # the snapshot at day 75 is taken at the first of these two events (same second)
        tx(15, 75, 50.0, "groceries"),
        tx(16, 75, 999.0, "gambling"),
        tx(17, 76, 5000.0, "salary", "in"),   # after the snapshot: never seen
        tx(18, 30, 800.0, "salary", "in", bid="b2"),
    ]
    events.sort(key=lambda e: e["ts"])
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return rr.read_events(str(path), {"b1": 0, "b2": 1})


def features(book, b, day):
    names, mat, diag = rr.rich_features(book, np.array([b]), np.array([sec(day)]))
    assert diag["snapshots_without_event_at_ts"] == 0
    return dict(zip(names, mat[0].tolist()))


def test_windows_see_only_what_came_before_the_snapshot(book):
    f = features(book, 0, 75)
    assert f["income_30d"] == 1000.0       # day 70 only (day 40 is 35 days back)
    assert f["income_90d"] == 7000.0
    assert f["gambling_90d"] == 200.0      # the same-second gambling after the snapshot: no
    assert f["essential_30d"] == 50.0      # the snapshot's own event: yes
    assert f["days_since_income"] == pytest.approx(5.0)
    assert f["lender_in_90d"] == 500.0
    # own earlier pace: 6000 over the 45 days from opening to day 45 -> 4000 a month
    assert f["income_30d_to_own_earlier"] == pytest.approx(1000.0 / 4000.0)


def test_credit_repayment_and_collections(book):
    f = features(book, 0, 75)
    assert f["drawn_all"] == 6000.0
    assert f["outstanding"] == 5600.0      # drawn minus paid
    assert f["utilisation"] == pytest.approx(0.56)
    assert f["partial_all"] == 1.0
    assert f["misses_all"] == 1.0
    assert f["dpd_sum_now"] == 2.0 and f["loans_overdue_now"] == 1.0
    assert f["dpd_max_ever"] == 2.0
    assert f["reminders_90d"] == 1.0
    assert f["active_loans_sched"] == 1.0 and f["scheduled_monthly"] > 1000.0
    assert f["credit_score_raw"] == 700.0 and f["seg_salaried"] == 1.0


def test_macro_as_of_and_its_change(book):
    f = features(book, 0, 75)
    assert f["industry_orders_index"] == 90.0
    assert f["industry_orders_index_change_30d"] == -10.0
    early = features(book, 0, 10)
    assert early["industry_orders_index"] == 100.0
    assert early["income_30d"] == 3000.0 and early["drawn_all"] == 0.0


def test_other_borrowers_do_not_leak(book):
    f = features(book, 1, 30)
    assert f["income_30d"] == 800.0 and f["gambling_90d"] == 0.0
    assert np.isnan(f["credit_score_raw"]) and f["seg_student"] == 1.0
