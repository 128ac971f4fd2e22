"""`streamer report`: figures on a hand-made book, the command end to end, bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from streamer.cli import main
from streamer.report import build_report


def _ev(n: int, type_: str, ts: str, borrower: str | None = None, **fields) -> dict:
    ev = {"event_id": f"e{n}", "type": type_, "ts": ts, "v": 1, **fields}
    if borrower is not None:
        ev["borrower_id"] = borrower
    return ev


def _opened(n, ts, b, industry, region):
    return _ev(n, "account_opened", ts, b, credit_limit=20000, segment="salaried",
               industry=industry, region=region, prior_delinquencies=0)


def _drawn(n, ts, b, loan, principal):
    return _ev(n, "loan_drawn", ts, b, loan_id=loan, principal=principal, term_months=6,
               daily_rate=0.0004, method="equal_installment")


def _status(n, ts, b, loan, dpd):
    return _ev(n, "overdue_status", ts, b, loan_id=loan, days_past_due=dpd, overdue_amount=100)


def _alert(b, ts, kind, tier, previous, action):
    return {"alert_id": f"{b}-{ts}", "borrower_id": b, "ts": ts, "emitted_at": ts, "kind": kind,
            "tier": tier, "previous_tier": previous, "score": 0.5, "model_version": 1,
            "reasons": [], "recommended_action": action, "trigger_event_id": "x"}


# Two borrowers opened in January. b1 draws 10,000 and pays 3,000 back; a second loan of
# 1,000 is overpaid (1,500): it counts 0, not -500; b1 is 5 DPD at the end of February,
# cured in March. b2 draws 5,000, is 35 DPD at the end of February and 95 DPD on 31 March.
# A last event in May closes the 90-day windows.
EVENTS = [
    _opened(1, "2026-01-10T09:00:00Z", "b1", "manufacturing", "R01"),
    _opened(2, "2026-01-10T10:00:00Z", "b2", "retail", "R02"),
    _drawn(3, "2026-01-15T09:00:00Z", "b1", "L1", 10000),
    _drawn(4, "2026-01-16T09:00:00Z", "b1", "L3", 1000),
    _drawn(5, "2026-01-20T09:00:00Z", "b2", "L2", 5000),
    _ev(6, "payment", "2026-01-25T09:00:00Z", "b1", loan_id="L3", amount=1500),
    _ev(7, "payment", "2026-01-31T12:00:00Z", "b1", loan_id="L1", amount=3000),
    _ev(8, "macro_indicator", "2026-02-02T00:00:00Z", scope="industry",
        scope_id="manufacturing", name="orders_index", value=90.0),
    _ev(9, "transaction", "2026-02-05T08:00:00Z", "b1", amount=8000, direction="in",
        category="salary"),
    _status(10, "2026-02-24T23:55:00Z", "b2", "L2", 35),
    _status(13, "2026-02-27T23:55:00Z", "b1", "L1", 5),
    _status(14, "2026-03-02T23:55:00Z", "b1", "L1", 0),
    _status(11, "2026-03-31T23:55:00Z", "b2", "L2", 95),
    _ev(12, "transaction", "2026-05-10T08:00:00Z", "b1", amount=8000, direction="in",
        category="salary"),
]
ALERTS = [
    _alert("b2", "2026-02-10T08:00:00Z", "raised", "watch", "none", "reminder"),
    _alert("b1", "2026-02-15T08:00:00Z", "raised", "watch", "none", "none"),
    _alert("b2", "2026-03-05T08:00:00Z", "escalated", "high", "watch", "installment_plan"),
    _alert("b1", "2026-03-20T08:00:00Z", "resolved", "none", "watch", "none"),
]
SCORES = [
    {"borrower_id": "b1", "ts": "2026-01-20T09:00:00Z", "score": 0.1, "tier": "none",
     "model_version": 1},
    {"borrower_id": "b2", "ts": "2026-01-25T09:00:00Z", "score": 0.8, "tier": "none",
     "model_version": 1},
    {"borrower_id": "b1", "ts": "2026-02-01T00:00:00Z", "score": 0.9, "tier": "none",
     "model_version": 1},  # at the month's start, not before it: not used for February
]


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def hand(tmp_path: Path) -> dict[str, Path]:
    return {"events": _write(tmp_path / "ev.jsonl", EVENTS),
            "alerts": _write(tmp_path / "a.jsonl", ALERTS),
            "scores": _write(tmp_path / "s.jsonl", SCORES)}


def test_figures_on_a_hand_made_book(hand: dict[str, Path]) -> None:
    r = build_report(hand["events"], hand["alerts"], hand["scores"], "2026-01-01", "2026-03-31")
    jan, feb, mar = r["months"]
    assert [m["month"] for m in r["months"]] == ["2026-01", "2026-02", "2026-03"]
    assert jan["book"] == {"open_accounts": 2, "new_accounts": 2, "exposure": 12000.0}
    assert feb["delinquency"]["share"]["30-59"] == 0.5
    assert feb["delinquency"]["share"]["1-29"] == 0.5
    assert feb["delinquency"]["share"]["current"] == 0.0
    assert mar["delinquency"]["accounts"]["90+"] == 1
    jan_feb, feb_mar = r["roll_rates"]
    assert jan_feb["counts"][0] == [0, 1, 1, 0, 0]  # current -> 1-29 (b1), -> 30-59 (b2)
    assert jan_feb["shares"][0][2] == 0.5
    assert feb_mar["counts"][1][0] == 1 and feb_mar["counts"][2][4] == 1  # cured; 30-59 -> 90+
    assert r["vintages"] == [{"cohort": "2026-01", "accounts": 2,
                              "reached_90plus": [0.0, 0.0, 0.5]}]
    assert feb["tiers"]["watch"] == {"borrowers": 2, "exposure": 12000.0}
    assert mar["tiers"]["high"] == {"borrowers": 1, "exposure": 5000.0}
    assert mar["tiers"]["none"] == {"borrowers": 1, "exposure": 7000.0}
    assert feb["alerts"]["raised"] == 2 and feb["alerts"]["cured"] == 0
    assert mar["alerts"]["raised"] == 1 and mar["alerts"]["cured"] == 1
    assert feb["alerts"]["actions"]["reminder"] == 1
    assert mar["alerts"]["actions"]["installment_plan"] == 1
    assert feb["delinquency_30plus_by_industry"]["retail"]["share_30plus"] == 1.0
    assert feb["delinquency_30plus_by_industry"]["manufacturing"]["share_30plus"] == 0.0  # 5 DPD
    assert feb["delinquency_30plus_by_region"]["R02"]["share_30plus"] == 1.0
    assert jan["macro"] == [] and feb["macro"][0]["value"] == 90.0
    q = {row["month"]: row for row in r["model_quality"]["months"]}
    assert q["2026-01"]["note"] == "not enough outcomes"  # no score before 1 January
    assert (q["2026-02"]["borrowers"], q["2026-02"]["positives"]) == (2, 1)
    assert q["2026-02"]["roc_auc"] == 1.0  # 0.1 (b1, no default) < 0.8 (b2, default)
    # from 1 March, b1's 90 days run past the last event (10 May): outcome unknown
    assert q["2026-03"]["outcome_unknown"] == 1 and q["2026-03"]["roc_auc"] is None


def test_partial_period_and_no_scores(hand: dict[str, Path]) -> None:
    r = build_report(hand["events"], hand["alerts"], None, "2026-02-03", "2026-02-20")
    (feb,) = r["months"]
    assert feb["partial"] and feb["last_day"] == "2026-02-20"
    assert feb["delinquency"]["share"]["30-59"] == 0.0  # 35 DPD comes on the 24th
    assert feb["alerts"]["raised"] == 2 and r["model_quality"] is None


def test_an_event_out_of_time_order_counts_at_the_next_month_end(tmp_path: Path) -> None:
    late = _drawn(99, "2026-01-28T09:00:00Z", "b2", "L9", 700)  # read after February's 5th
    rows = EVENTS[:9] + [late] + EVENTS[9:]
    r = build_report(_write(tmp_path / "ev.jsonl", rows), _write(tmp_path / "a.jsonl", ALERTS),
                     None, "2026-01-01", "2026-03-31")
    assert r["period"]["late_events"] == 1
    assert r["months"][0]["book"]["exposure"] == 12000.0
    assert r["months"][1]["book"]["exposure"] == 12700.0


def test_command_on_a_simulated_book(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from streamer.replay import replay
    from streamer.simulate import generate
    from streamer.simulate.command import write_jsonl

    events = tmp_path / "ev.jsonl"
    write_jsonl(generate("baseline", borrowers=200, days=120, seed=1), events,
                tmp_path / "truth.jsonl")
    with open(tmp_path / "a.jsonl", "wb") as a, open(tmp_path / "s.jsonl", "wb") as s:
        replay(events, alerts=a, scores=s)
    out = tmp_path / "out"
    rc = main(["report", "--events", str(events), "--alerts", str(tmp_path / "a.jsonl"),
               "--scores", str(tmp_path / "s.jsonl"), "--out", str(out)])
    assert rc == 0
    assert capsys.readouterr().out.split() == [str(out / "report.html"), str(out / "report.json")]
    page = (out / "report.html").read_text()
    sections = re.findall(r'<section id="(\w+)">(.*?)</section>', page, re.DOTALL)
    assert [name for name, _ in sections] == ["book", "delinquency", "roll_rates", "vintages",
                                              "tiers", "alerts", "segments", "quality"]
    for name, body in sections:
        assert body.count("<svg") == 1, name
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page)
    assert "<script" not in page and "<link" not in page
    report = json.loads((out / "report.json").read_text())
    assert report["period"] == {**report["period"], "from": "2026-01-01", "to": "2026-04-30"}
    assert [m["month"] for m in report["months"]] == ["2026-01", "2026-02", "2026-03", "2026-04"]
    assert len(report["roll_rates"]) == 3
    assert report["months"][-1]["book"]["open_accounts"] > 150
    assert len(report["model_quality"]["months"]) == 4


def _bad(tmp_path: Path, capsys: pytest.CaptureFixture, *extra: str,
         events: Path | None = None) -> str:
    ev = events or _write(tmp_path / "ev.jsonl", EVENTS)
    alerts = _write(tmp_path / "a.jsonl", ALERTS)
    rc = main(["report", "--events", str(ev), "--alerts", str(alerts),
               "--out", str(tmp_path / "out"), *extra])
    err = capsys.readouterr().err
    assert rc == 2
    assert len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "out").exists()
    return err


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    err = _bad(tmp_path, capsys, events=tmp_path / "nope.jsonl")
    assert "events file not found" in err and "nope.jsonl" in err


def test_bad_date(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert "--from '2026-13-01' is not a date" in _bad(tmp_path, capsys, "--from", "2026-13-01")


def test_from_after_to(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    err = _bad(tmp_path, capsys, "--from", "2026-03-01", "--to", "2026-02-01")
    assert "--from 2026-03-01 is after --to 2026-02-01" in err


def test_period_without_data(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    err = _bad(tmp_path, capsys, "--from", "2030-01-01", "--to", "2030-02-28")
    assert "no events between 2030-01-01 and 2030-02-28" in err


def test_from_after_the_last_event(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert "no events from 2030-01-01 on" in _bad(tmp_path, capsys, "--from", "2030-01-01")


def test_malformed_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bad = tmp_path / "broken.jsonl"
    lines = [json.dumps(e) for e in EVENTS]
    lines[2] = lines[2][:40]
    bad.write_text("\n".join(lines) + "\n")
    assert f"{bad}:3:" in _bad(tmp_path, capsys, events=bad)
    # the last line cut short (the period's default end is read from it)
    lines = [json.dumps(e) for e in EVENTS]
    bad.write_text("\n".join([*lines[:-1], lines[-1][:30]]) + "\n")
    assert f"{bad}:{len(lines)}:" in _bad(tmp_path, capsys, events=bad)


def test_malformed_alert_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    alerts = tmp_path / "alerts-broken.jsonl"
    alerts.write_text(json.dumps(ALERTS[0]) + "\n{not json\n")
    ev = _write(tmp_path / "ev.jsonl", EVENTS)
    rc = main(["report", "--events", str(ev), "--alerts", str(alerts), "--out",
               str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert f"{alerts}:2:" in err


def test_bad_to_date(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert "--to '31/03/2026' is not a date" in _bad(tmp_path, capsys, "--to", "31/03/2026")
