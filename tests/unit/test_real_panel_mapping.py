"""The real-panel benchmark's mapping (benchmarks/real_panel.py) on rows written here by hand,
in the panel's column layout: no row of the licensed data set is used."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import msgspec
import pytest

from streamer.core import events as ev
from streamer.core.engine import Engine

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "real_panel.py"
_spec = importlib.util.spec_from_file_location("real_panel", _PATH)
real_panel = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(real_panel)


def row(id_: str, time: int, balance: float, ltv: float | str = 80.0, *, orig: int = -8,
        status: int = 0, state: str = "TX", fico: int = 700, investor: int = 0,
        rate: float = 6.0, uer: float = 5.0, hpi: float = 200.0) -> dict:
    """One row with the panel's columns (values made up), as csv.DictReader gives it."""
    return {
        "id": id_, "time": str(time), "orig_time": str(orig), "first_time": "10",
        "mat_time": str(orig + 120), "res_time": "", "balance_time": str(balance),
        "LTV_time": str(ltv), "interest_rate_time": str(rate), "rate_time": "4.0",
        "hpi_time": str(hpi), "gdp_time": "2.0", "uer_time": str(uer),
        "REtype_CO_orig_time": "0", "REtype_PU_orig_time": "0", "REtype_SF_orig_time": "1",
        "investor_orig_time": str(investor), "balance_orig_time": "120000",
        "FICO_orig_time": str(fico), "LTV_orig_time": "80", "Interest_Rate_orig_time": "6.0",
        "state_orig_time": state, "hpi_orig_time": "150.0",
        "default_time": "1" if status == 1 else "0", "payoff_time": "1" if status == 2 else "0",
        "status_time": str(status), "lgd_time": "", "recovery_res": "",
    }


ROWS = [
    # defaults in quarter 12 after two performing quarters, one of them without a payment
    row("1", 10, 100_000), row("1", 11, 100_000, 85.0), row("1", 12, 99_500, 90.0, status=1),
    # pays off in quarter 11; an investor with a missing LTV and no state on its first row
    row("2", 10, 50_000, "", state="", investor=1, fico=800),
    row("2", 11, 49_000, 60.0, status=2, investor=1, fico=800),
    # censored, its balance rises in quarter 11 (capitalised arrears), exact duplicate row
    row("3", 10, 70_000, orig=10), row("3", 11, 71_000, orig=10), row("3", 11, 71_000, orig=10),
]


@pytest.fixture(scope="module")
def events() -> list[dict]:
    return real_panel.panel_events(ROWS)


def test_every_event_decodes_and_the_engine_accepts_it(events):
    engine = Engine()
    outcomes = [engine.process_raw(msgspec.json.encode(e)).outcome for e in events]
    assert outcomes == ["ok"] * len(events)
    assert len({e["event_id"] for e in events}) == len(events)  # the duplicate row is dropped
    assert [ev.decode(msgspec.json.encode(e)).epoch for e in events] == sorted(
        ev.decode(msgspec.json.encode(e)).epoch for e in events)


def test_the_default_row_is_90_dpd_and_the_servicer_reports_once_more(events):
    status = [(e["ts"], e["days_past_due"]) for e in events
              if e.get("borrower_id") == "1" and e["type"] == "overdue_status"]
    assert [d for _, d in status] == [0, 0, 90, 180]
    assert status[2][0] == real_panel.iso(12) and status[3][0] == real_panel.iso(13)
    engine = Engine()
    for e in events:
        engine.process_raw(msgspec.json.encode(e))
    assert engine.states["1"].dpd_now == 180
    assert "2" not in engine.states or not engine.states["2"].loans  # paid off: closed


def test_amounts_follow_the_balance(events):
    one = [e for e in events if e.get("borrower_id") == "1"]
    drawn = [e for e in one if e["type"] == "loan_drawn"]
    assert [e["principal"] for e in drawn] == [100_000]
    assert [e["amount"] for e in one if e["type"] == "payment"] == [500.0]
    limits = [e["credit_limit"] for e in one if e["type"] == "limit_changed"]
    assert limits == [125_000.0, pytest.approx(100_000 / 0.85, abs=0.01),
                      pytest.approx(99_500 / 0.9, abs=0.01)]
    rises = [e for e in events if e.get("borrower_id") == "3" and e["type"] == "loan_drawn"]
    assert [e["principal"] for e in rises] == [70_000, 1_000]
    payoff = [e for e in events if e.get("borrower_id") == "2" and e["type"] == "payment"]
    assert [e["amount"] for e in payoff] == [50_000]
    dues = [e for e in one if e["type"] == "installment_due"]
    assert [e["installment_no"] for e in dues] == [2, 3]
    assert all(0 < e["amount_due"] < 1_000 for e in dues)  # a 30-year annuity's principal


def test_account_fields(events):
    opened = {e["borrower_id"]: e for e in events if e["type"] == "account_opened"}
    assert opened["1"]["ts"] == real_panel.iso(-8)  # at origination
    assert opened["3"]["ts"] == real_panel.iso(10)
    assert opened["1"]["credit_score"] == 350 + round(400 * 600 / 550)
    assert opened["2"]["segment"] == "small_business" and opened["1"]["segment"] == "other"
    assert opened["1"]["industry"] == "single_family"
    assert opened["2"]["region"] == "TX"  # the first row that has a state
    assert opened["1"]["credit_limit"] == 150_000.0


def test_macro_for_every_region_before_the_borrowers(events):
    first_q = [e for e in events if e["ts"] == real_panel.iso(10)]
    kinds = [e["type"] for e in first_q]
    assert kinds.index("macro_indicator") == 0
    assert max(i for i, k in enumerate(kinds) if k == "macro_indicator") < min(
        i for i, k in enumerate(kinds) if k != "macro_indicator")
    unemployment = {e["scope_id"] for e in first_q if e.get("name") == "unemployment_rate"}
    assert unemployment == {"TX"}
    assert {e["scope_id"] for e in first_q if e.get("name") == "orders_index"} == {"single_family"}


def test_fico_rescaling():
    assert real_panel.fico_to_contract(300) == 350
    assert real_panel.fico_to_contract(850) == 950
    assert real_panel.fico_to_contract(200) == 350


def test_missing_data_file_is_one_clear_line(tmp_path, capsys):
    assert real_panel.main(["--data", str(tmp_path / "absent.csv.gz")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no such file" in err[0]
