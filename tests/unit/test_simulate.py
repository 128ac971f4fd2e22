"""The synthetic portfolio: determinism, the contract, and the mechanisms behind defaults.

Every figure here is measured from the emitted events, as the engine would see them."""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import re
from functools import lru_cache
from pathlib import Path

import msgspec
import pytest

from streamer.core.events import decode
from streamer.simulate import SCENARIOS, generate, scenarios
from streamer.simulate.command import add_arguments, run, write_jsonl
from streamer.simulate.scenarios import CollectionPolicy

TS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
TOPIC_OF = {
    "account_opened": "credit.accounts", "limit_changed": "credit.accounts",
    "loan_drawn": "credit.repayments", "installment_due": "credit.repayments",
    "payment": "credit.repayments", "overdue_status": "credit.repayments",
    "transaction": "credit.transactions", "collection_action": "collections.actions",
    "macro_indicator": "macro.indicators",
}
SEGMENTS = {"salaried", "self_employed", "small_business", "student", "other"}
CATEGORIES = {
    "salary", "business_income", "transfer_in", "transfer_out", "groceries", "dining", "rent",
    "utilities", "luxury", "gambling", "cash_withdrawal", "other_loan_repayment", "other",
}
INCOME = {"salary", "business_income"}
CAUSES = {"income_shock", "industry_cycle", "regional_shock", "over_borrowing", "bad_habits"}


@lru_cache(maxsize=None)
def small_run() -> tuple[list, list]:
    sim = generate("baseline", borrowers=400, days=150, seed=3)
    events = list(sim.events())
    return events, list(sim.ground_truth())


@lru_cache(maxsize=None)
def summary(scenario: str | scenarios.Scenario, borrowers: int, days: int, seed: int = 42) -> dict:
    """Per-borrower facts read off the event stream of one run (the stream is not kept)."""
    sim = generate(scenario, borrowers, days, seed)
    account: dict[str, dict] = {}
    income: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    first90: dict[str, str] = {}
    first10: dict[str, str] = {}
    misses: dict[str, set] = collections.defaultdict(set)  # due dates that went overdue
    dues: dict[str, set] = collections.defaultdict(set)
    for _, key, ev in sim.events():
        kind = ev["type"]
        if kind == "account_opened":
            account[key] = ev
        elif kind == "transaction" and ev["category"] in INCOME:
            income[key][int(ev["ts"][5:7])] += ev["amount"]
        elif kind == "installment_due":
            dues[key].add(ev["due_date"])
        elif kind == "overdue_status":
            dpd, day = ev["days_past_due"], ev["ts"][:10]
            if dpd >= 90:
                first90.setdefault(key, day)
            if dpd >= 10:
                first10.setdefault(key, day)
            if dpd == 1:  # the night of a missed due date
                misses[key].add(day)
    truth = {row["borrower_id"]: row for row in sim.ground_truth()}
    return {"account": account, "income": income, "first90": first90, "first10": first10,
            "misses": misses, "dues": dues, "truth": truth, "n": borrowers,
            "last_day": sim.cal.iso[days - 1]}


# -- determinism ------------------------------------------------------------------------

def _files(tmp_path: Path, name: str, seed: int) -> tuple[bytes, bytes]:
    out, truth = tmp_path / f"{name}.jsonl", tmp_path / f"{name}.truth.jsonl"
    write_jsonl(generate("industry_downturn", 300, 120, seed), out, truth)
    return out.read_bytes(), truth.read_bytes()


def test_same_seed_gives_byte_identical_files_and_another_seed_does_not(tmp_path):
    a, b, c = _files(tmp_path, "a", 7), _files(tmp_path, "b", 7), _files(tmp_path, "c", 8)
    assert a == b
    assert len(a[0]) > 100_000 and a[1].count(b"\n") == 300
    assert a[0] != c[0] and a[1] != c[1]


def test_scenarios_share_the_population_but_not_the_events():
    base, down = generate("baseline", 200, 60, 5), generate("industry_downturn", 200, 60, 5)
    opened = [[ev for _, _, ev in s.events() if ev["type"] == "account_opened"]
              for s in (base, down)]
    strip = [[{k: v for k, v in ev.items() if k != "event_id"} for ev in o] for o in opened]
    assert strip[0] == strip[1]
    assert opened[0][0]["event_id"] != opened[1][0]["event_id"]  # ids unique across runs


# -- the contract -----------------------------------------------------------------------

def _check_event(topic: str, key: str, ev: dict) -> None:
    kind = ev["type"]
    assert topic == TOPIC_OF[kind]
    assert isinstance(ev["event_id"], str) and ev["event_id"]
    assert ev["v"] == 1 and type(ev["v"]) is int
    assert TS.fullmatch(ev["ts"]), ev["ts"]
    dt.datetime.fromisoformat(ev["ts"].replace("Z", "+00:00"))
    if kind == "macro_indicator":
        assert "borrower_id" not in ev
        assert ev["scope"] in ("industry", "region") and key == f"{ev['scope']}:{ev['scope_id']}"
        assert ev["name"] in (("orders_index", "raw_material_price_index") if ev["scope"] ==
                              "industry" else ("stress_index", "unemployment_rate"))
        assert type(ev["value"]) is float and 0 < ev["value"] < 1000
        return
    assert key == ev["borrower_id"] and re.fullmatch(r"b\d{7}", key)
    if kind == "account_opened":
        assert type(ev["credit_limit"]) is float and 2000 <= ev["credit_limit"] <= 300_000
        assert ev["segment"] in SEGMENTS
        assert ev["industry"] and re.fullmatch(r"R\d\d", ev["region"])
        assert type(ev["prior_delinquencies"]) is int and ev["prior_delinquencies"] >= 0
        if "credit_score" in ev:
            assert type(ev["credit_score"]) is int and 350 <= ev["credit_score"] <= 950
    elif kind == "limit_changed":
        assert type(ev["credit_limit"]) is float and ev["credit_limit"] > 0
    elif kind == "loan_drawn":
        assert ev["loan_id"].startswith(key + "-L")
        assert type(ev["principal"]) is float and ev["principal"] >= 500
        assert type(ev["term_months"]) is int and 1 <= ev["term_months"] <= 12
        assert 0.0002 <= ev["daily_rate"] <= 0.0008
        assert ev["method"] in ("equal_installment", "interest_first")
    elif kind == "installment_due":
        assert DATE.fullmatch(ev["due_date"]) and ev["due_date"] >= ev["ts"][:10]
        ahead = dt.date.fromisoformat(ev["due_date"]) - dt.date.fromisoformat(ev["ts"][:10])
        assert ahead.days <= 3
        assert type(ev["installment_no"]) is int and ev["installment_no"] >= 1
        assert type(ev["amount_due"]) is float and ev["amount_due"] > 0
    elif kind == "payment":
        assert type(ev["amount"]) is float and ev["amount"] > 0
        assert type(ev["installment_no"]) is int and ev["installment_no"] >= 1
    elif kind == "overdue_status":
        assert type(ev["days_past_due"]) is int and ev["days_past_due"] >= 0
        assert type(ev["overdue_amount"]) is float and ev["overdue_amount"] >= 0
        assert (ev["days_past_due"] == 0) == (ev["overdue_amount"] == 0)
    elif kind == "transaction":
        assert type(ev["amount"]) is float and ev["amount"] >= 1
        assert ev["category"] in CATEGORIES
        assert ev["direction"] == ("in" if ev["category"] in INCOME | {"transfer_in"} else "out")
    elif kind == "collection_action":
        assert ev["action"] in ("reminder", "call", "grace_period", "installment_plan", "legal")
        assert ("until" in ev) == (ev["action"] == "grace_period")
        if "until" in ev:
            assert DATE.fullmatch(ev["until"]) and ev["until"] > ev["ts"][:10]


def test_every_event_follows_contract_v1_in_time_order_with_unique_ids():
    events, _ = small_run()
    for topic, key, ev in events:
        _check_event(topic, key, ev)
    ts = [ev["ts"] for _, _, ev in events]
    assert ts == sorted(ts)
    assert len({ev["event_id"] for _, _, ev in events}) == len(events)
    kinds = collections.Counter(ev["type"] for _, _, ev in events)
    assert set(kinds) == set(TOPIC_OF), kinds  # every type occurs
    # every borrower opens an account before anything else happens to them
    seen: set[str] = set()
    for _, key, ev in events:
        if ev["type"] == "account_opened":
            seen.add(key)
        elif ev["type"] != "macro_indicator":
            assert key in seen


def test_loan_events_tell_a_consistent_story():
    events, _ = small_run()
    drawn, seen_due = {}, collections.defaultdict(set)
    last_dpd: dict[str, int] = {}
    for _, _, ev in events:
        kind = ev["type"]
        if kind == "loan_drawn":
            assert ev["loan_id"] not in drawn
            drawn[ev["loan_id"]] = ev["ts"]
        elif kind in ("installment_due", "payment", "overdue_status"):
            assert drawn[ev["loan_id"]] < ev["ts"]  # a loan exists before its servicing
        if kind == "installment_due":
            seen_due[ev["loan_id"]].add(ev["installment_no"])
        if kind == "overdue_status":
            prev = last_dpd.get(ev["loan_id"], 0)
            assert ev["days_past_due"] <= prev + 1  # DPD grows at most a day a day
            last_dpd[ev["loan_id"]] = ev["days_past_due"]
    numbers = [sorted(v) for v in seen_due.values()]
    assert all(n == list(range(1, len(n) + 1)) for n in numbers)


def test_events_decode_with_the_project_contract():
    events, _ = small_run()
    for _, _, ev in events:
        decode(msgspec.json.encode(ev))


def test_volume_is_moderate_per_borrower_month():
    events, _ = small_run()
    per_month = len(events) / (400 * 150 / 30.4)
    assert 6 <= per_month <= 16, per_month


# -- ground truth -----------------------------------------------------------------------

def test_ground_truth_agrees_with_the_events():
    s = summary("baseline", 5000, 365)
    truth, first90 = s["truth"], s["first90"]
    assert len(truth) == 5000
    defaulters = [t for t in truth.values() if t["default_date"]]
    assert defaulters
    for bid, t in truth.items():
        assert t["default_date"] == first90.get(bid)
        acc = s["account"][bid]
        assert (t["segment"], t["industry"], t["region"]) == (
            acc["segment"], acc["industry"], acc["region"])
        if t["default_date"]:
            assert t["cause"] in CAUSES
            fm = t["first_missed_payment_date"]
            assert fm and fm <= t["default_date"]
            assert fm in s["dues"][bid] and fm in s["misses"][bid]
        else:
            assert t["cause"] is None
            if t["first_missed_payment_date"]:
                assert t["first_missed_payment_date"] in s["dues"][bid]
    causes = collections.Counter(t["cause"] for t in defaulters)
    assert len(causes) >= 3  # several mechanisms are at work, not one


# -- base rates -------------------------------------------------------------------------

def _rate(s: dict) -> float:
    return sum(1 for t in s["truth"].values() if t["default_date"]) / s["n"]


def test_baseline_default_rate_is_believable_and_a_downturn_raises_it():
    base = _rate(summary("baseline", 5000, 365))
    down = summary("industry_downturn", 5000, 365)
    assert 0.015 <= base <= 0.05, base
    assert _rate(down) > base * 1.15
    by_industry = collections.Counter(
        t["industry"] for t in down["truth"].values() if t["cause"] == "industry_cycle")
    assert by_industry.most_common(1)[0][0] == "manufacturing"


# -- mechanisms -------------------------------------------------------------------------

def _income_ratio(s: dict, borrowers: list[str], late: tuple[int, ...], early: int) -> float:
    """Income in the late months over income in the early month, summed over borrowers."""
    num = sum(s["income"][b][m] for b in borrowers for m in late) / len(late)
    den = sum(s["income"][b][early] for b in borrowers)
    return num / den


def test_downturn_industry_incomes_fall_months_later():
    down = summary("industry_downturn", 3000, 240)
    base = summary("baseline", 3000, 240)
    business = {"self_employed", "small_business"}
    acc = down["account"]
    early_openers = [b for b, a in acc.items()
                     if a["ts"] < "2026-01-20" and a["segment"] in business]
    makers = [b for b in early_openers if acc[b]["industry"] == "manufacturing"]
    others = [b for b in early_openers
              if acc[b]["industry"] not in ("manufacturing", "logistics", "retail")]
    assert len(makers) > 60 and len(others) > 200
    late = (5, 6, 7)  # the downturn's trough (April) reaches incomes after a 1-4 month lag
    hit = _income_ratio(down, makers, late, early=1)
    spared = _income_ratio(down, others, late, early=1)
    assert hit < 0.8 * spared, (hit, spared)
    # the same borrowers, the same seed, no downturn: their income holds up
    assert _income_ratio(down, makers, late, 1) < 0.8 * _income_ratio(base, makers, late, 1)
    # and in January, before the lag has run, the two worlds barely differ
    jan_down = sum(down["income"][b][1] for b in makers)
    jan_base = sum(base["income"][b][1] for b in makers)
    assert jan_down > 0.9 * jan_base


def _cure_rate(s: dict, last_start: str) -> tuple[int, float]:
    """Borrowers who reached 10 DPD (early enough to see the end): share who never hit 90."""
    group = [b for b, day in s["first10"].items() if day <= last_start]
    cured = sum(1 for b in group if b not in s["first90"])
    return len(group), cured / len(group)


def test_timely_grace_raises_the_cure_rate_and_harsh_collection_lowers_it():
    base = scenarios.get("baseline")
    none = base.replace(name="no_relief", policy=CollectionPolicy(
        grace_share=0.0, plan_share=0.0, legal_share=0.0))
    grace = base.replace(name="grace_at_10", policy=CollectionPolicy(
        grace_dpd=10, grace_share=1.0, grace_days=45, plan_share=0.0, legal_share=0.0))
    days, last_start = 300, "2026-07-20"  # 100 days before the end: time to reach 90
    n_none, cure_none = _cure_rate(summary(none, 2000, days), last_start)
    n_grace, cure_grace = _cure_rate(summary(grace, 2000, days), last_start)
    assert n_none == n_grace > 100  # the same borrowers: grace comes only after 10 DPD
    assert cure_grace > cure_none + 0.05, (cure_grace, cure_none)

    _, cure_base = _cure_rate(summary("baseline", 2000, days), last_start)
    _, cure_harsh = _cure_rate(summary("harsh_collections", 2000, days), last_start)
    assert cure_harsh < cure_base - 0.08, (cure_harsh, cure_base)


# -- the command ------------------------------------------------------------------------

def _args(tmp_path: Path, *extra: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(["--out", str(tmp_path / "e.jsonl"),
                              "--truth", str(tmp_path / "t.jsonl"), *extra])


def test_command_writes_jsonl_and_prints_one_summary_line(tmp_path, capsys):
    assert run(_args(tmp_path, "--borrowers", "150", "--days", "45", "--seed", "9")) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "150 borrowers" in out[0] and "events" in out[0]
    lines = (tmp_path / "e.jsonl").read_bytes().splitlines()
    assert lines and all(msgspec.json.decode(x)["v"] == 1 for x in lines[:50])
    truth = [msgspec.json.decode(x) for x in (tmp_path / "t.jsonl").read_bytes().splitlines()]
    assert len(truth) == 150 and set(truth[0]) == {
        "borrower_id", "default_date", "first_missed_payment_date", "cause", "segment",
        "industry", "region"}


@pytest.mark.parametrize("argv", [
    ["--scenario", "boom"], ["--borrowers", "0"], ["--borrowers", "many"],
    ["--start", "2026-13-01"], ["--start", "01/01/2026"], ["--days", "-3"], ["--seed", "-1"],
])
def test_command_line_rejects_bad_arguments(tmp_path, argv):
    parser = argparse.ArgumentParser(exit_on_error=False)
    add_arguments(parser)
    with pytest.raises((argparse.ArgumentError, SystemExit)):
        parser.parse_args(argv)


@pytest.mark.parametrize("kwargs, argument", [
    ({"scenario": "boom"}, "--scenario"), ({"borrowers": 0}, "--borrowers"),
    ({"start": "2026-02-30"}, "--start"), ({"days": 0}, "--days"), ({"seed": -1}, "--seed"),
])
def test_generate_rejects_bad_values_with_a_message_naming_the_argument(kwargs, argument):
    args = {"scenario": "baseline", "borrowers": 10, **kwargs}
    with pytest.raises(ValueError, match=argument):
        generate(**args)


def test_run_refuses_a_missing_output_directory(tmp_path):
    args = _args(tmp_path, "--borrowers", "5")
    args.out = tmp_path / "nowhere" / "e.jsonl"
    with pytest.raises(ValueError, match="--out"):
        run(args)


def test_scenario_names():
    required = {"baseline", "industry_downturn", "regional_shock", "harsh_collections"}
    assert required <= set(SCENARIOS)
