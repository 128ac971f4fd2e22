"""Validation on a real loan panel: map it onto contract v1, replay it, compare with a batch model.

    .venv/bin/python benchmarks/real_panel.py [--data PATH] [--split 32] [--model SNAPSHOT]

The panel is the Deep Credit Risk mortgage sample (Rösch & Scheule, 2020): 5,000 US
mortgages, one row per loan per quarter, quarters 1-60 (2000Q2-2015Q1 by the data README's
inference). Its licence allows internal validation only: it is read from its path
(default ``../shared/data/deep_credit_risk_mortgage/dcr.csv.gz`` from the repository root)
and never copied; what this script writes holds aggregate figures only.

Steps: the panel's rows become contract-v1 events (``panel_events``, the mapping below) in
``out/real_panel/events.jsonl``; the real ``streamer replay`` runs over them (a subprocess,
learning online from no model unless ``--model`` is given); each performing row (t) then
gets the last score the replay gave the borrower at the end of quarter t (after that
quarter's events, before the label is known) and the label "the loan defaults in quarter
t + 1" (the README's ``y(t) = 1`` if the default row is at ``time <= t + 1``; default and
payoff rows themselves are not scored). A batch LightGBM on the same columns, from the same
rows, only what is known at quarter t, trains on rows t < split (their labels are known by
quarter ``split``) and both are judged on the rows t >= split.

The mapping (every value the contract refuses is mapped, none dropped silently):

- Time: quarter t is observed at ``2000-07-01 + (t - 1) * 90 days`` (00:00Z), the end of
  the quarter by the README's calendar. A quarter is taken as 90 days, not 91, so that the
  engine's 90-day label horizon ("90+ DPD within 90 days", inclusive) is exactly one
  quarter: a snapshot at quarter t is positive when the default shows at quarter t + 1,
  the README's label. 60 quarters then span 14.8 years instead of 15.
- ``account_opened`` at the origination quarter ``orig_time`` (before 2000 for the loans
  originated before the window; the account's tenure is the loan's age): ``credit_limit``
  = the property's value at origination, ``balance_orig_time / (LTV_orig_time / 100)`` (a
  mortgage's line is its collateral, so the engine's ``utilization`` is the current LTV);
  ``credit_score`` = FICO (300-850) rescaled linearly onto the contract's 350-950,
  ``350 + (FICO - 300) * 600 / 550`` (FICO 429-819 becomes 491-916); ``segment`` =
  ``small_business`` for an investor borrower (one who lets the property), else ``other``;
  ``industry`` = the property type (``condo``, ``pud``, ``single_family``,
  ``other_property``); ``region`` = ``state_orig_time`` of the first row that has one
  (``unknown`` if none); ``prior_delinquencies`` = 0 (not in the data).
- ``loan_drawn`` (``loan_id`` = ``id``) at the first observed quarter, ``principal`` = the
  balance then (the loan enters the book as the panel first sees it; the panel has no
  payments before that, so drawing the original balance would need an invented catch-up
  payment); ``term_months`` = 12, the contract's maximum (the mortgages run 30 years; the
  engine does not read the term, and the remaining term is in the amounts due below);
  ``daily_rate`` = origination rate / 365; ``method`` = ``equal_installment``. A later
  *rise* of the balance (capitalised arrears, negative amortisation) is a ``loan_drawn``
  of the rise on the same loan (the engine adds it to the outstanding).
- Each quarter, in this order, all at the quarter's time: ``limit_changed`` to the
  property's current value ``balance_time / (LTV_time / 100)`` (skipped when LTV or the
  balance is missing or 0); ``payment`` of the quarter's *fall* of ``balance_time`` (the
  principal repaid, an approximation: the interest paid is not in the data); then
  ``installment_due`` for the next quarter, ``amount_due`` = the principal part of the
  annuity on the current balance at the current rate over the quarters left to
  ``mat_time`` (so the engine's ``paid_to_due``/coverage compare the principal repaid with
  the principal scheduled; an interest-only or non-paying loan shows as partial),
  ``installment_no`` = quarters since the first observed one + 1, ``due_date`` = the next
  quarter's date; then ``overdue_status`` with ``days_past_due`` 0.
- The default row (``default_time = 1``): ``limit_changed`` and ``payment`` as above, then
  ``overdue_status`` with ``days_past_due`` = 90 and ``overdue_amount`` = the balance (a
  mapped value: the provider's default rule is not stated and the panel has no DPD). The
  payoff row: a ``payment`` of the whole outstanding, ``overdue_status`` 0 (the engine
  closes the loan). A quarter after the default row, one more ``overdue_status`` at 180
  DPD: a servicer goes on reporting a defaulted loan, and the engine's labeler releases a
  borrower's matured examples only at that borrower's next event; without it no positive
  example ever reached the trainer (every pending snapshot of a defaulter stayed pending:
  a first run learned 56,734 examples, all negative).
- ``macro_indicator`` per quarter, before the borrowers' events, national values for every
  region (state) code in the panel: ``unemployment_rate`` = ``uer_time`` (a name the
  engine reads, as ``region_unemployment``), ``gdp_growth`` = ``gdp_time`` and
  ``house_price_index`` = ``hpi_time`` (names the engine does not read); and, for every
  property type (the borrower's ``industry``), ``orders_index`` = ``hpi_time``: the house
  price index stands in for the housing sector's demand, the engine's ``industry_orders``.
  The data has no state series and nothing for ``stress_index``.
- Amounts are USD, written where the contract says CNY: the engine's features are ratios
  and logs. There are no transactions and no collection actions in the data.

The batch reference sees the same information the events carry (FICO, current LTV,
balance, property value, origination rate, investor, property type, loan age, quarters
observed, national unemployment, GDP growth, HPI and its change, the state's default rate
so far, and the repayment history: principal repaid against scheduled, balance change,
quarters without a fall in the last four, a rise). A second, richer one also sees what the
events do not carry (current rate, LTV and HPI at origination, quarters to maturity, the
risk-free rate, the state itself): how much the mapping leaves out.

Lead time: for the test window's defaulters, the quarters between the first test quarter
whose end found the borrower's tier at ``high`` or ``critical`` (from the scores) and the
default quarter; the LightGBM is thresholded so that the same share of never-defaulting
borrowers is flagged in the test window. Also, from ``alerts.jsonl``, the first ``high`` or
worse alert at any time before the default.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import gzip
import json
import math
import os
import platform
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import msgspec
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "deep_credit_risk_mortgage" / "dcr.csv.gz"
OUT = ROOT / "out" / "real_panel"  # generated events and replay outputs (gitignored)
RESULTS = ROOT / "benchmarks" / "results"

DAY = 86_400
QUARTER_DAYS = 90
T1 = dt.datetime(2000, 7, 1, tzinfo=dt.timezone.utc)  # the end of quarter 1 (2000Q2)
T1_EPOCH = int(T1.timestamp())
DEFAULT_DPD = 90
RETRAIN_EVERY = 4  # quarters: the walk-forward reference is retrained yearly
BUDGETS = (0.05, 0.10, 0.20)  # shares of never-defaulting borrowers flagged


# -- the mapping -----------------------------------------------------------------------------
def quarter_epoch(t: int) -> int:
    return T1_EPOCH + (t - 1) * QUARTER_DAYS * DAY


def quarter_of(epoch: float) -> int:
    """The quarter whose observation time is the latest at or before `epoch`."""
    return int((epoch - T1_EPOCH) // (QUARTER_DAYS * DAY)) + 1


def iso(t: int) -> str:
    return (T1 + dt.timedelta(days=(t - 1) * QUARTER_DAYS)).strftime("%Y-%m-%dT%H:%M:%SZ")


def fico_to_contract(fico: float) -> int:
    """FICO (300-850) onto the contract's credit-score range 350-950, linearly."""
    return int(round(min(max(350 + (fico - 300) * 600 / 550, 350), 950)))


def _num(value: str) -> float:
    return float(value) if value not in ("", None) else math.nan


def property_type(r: dict) -> str:
    for col, name in (("REtype_CO_orig_time", "condo"), ("REtype_PU_orig_time", "pud"),
                      ("REtype_SF_orig_time", "single_family")):
        if r.get(col) == "1":
            return name
    return "other_property"


def scheduled_principal(balance: float, rate_pct: float, quarters_left: int) -> float:
    """The principal part of a quarterly annuity on `balance` over `quarters_left`."""
    if not balance > 0:
        return 0.0
    n = max(quarters_left, 1)
    r = rate_pct / 400 if rate_pct > 0 else 0.0
    if r == 0.0:
        return balance / n
    annuity = balance * r / (1 - (1 + r) ** -n)
    return max(annuity - balance * r, 0.0)


def house_value(balance: float, ltv_pct: float) -> float | None:
    if balance > 0 and ltv_pct > 0:
        return round(balance * 100 / ltv_pct, 2)
    return None


def borrower_events(rows: list[dict]) -> list[tuple[int, int, dict]]:
    """One borrower's rows (sorted by time, no duplicates) -> (epoch, seq, event) tuples."""
    first = rows[0]
    bid = str(first["id"])
    out: list[tuple[int, int, dict]] = []
    seq = 0

    def emit(t: int, etype: str, **fields) -> None:
        nonlocal seq
        seq += 1
        out.append((quarter_epoch(t), seq, {"event_id": f"{bid}-{t}-{etype}", "type": etype,
                                            "borrower_id": bid, "ts": iso(t), "v": 1,
                                            **fields}))

    t0 = int(first["time"])
    opened_at = min(int(first["orig_time"]), t0)
    region = next((r["state_orig_time"] for r in rows if r["state_orig_time"]), "unknown")
    limit = (house_value(_num(first["balance_orig_time"]), _num(first["LTV_orig_time"]))
             or house_value(_num(first["balance_time"]), _num(first["LTV_time"])) or 1.0)
    emit(opened_at, "account_opened", credit_limit=limit,
         segment="small_business" if first["investor_orig_time"] == "1" else "other",
         industry=property_type(first), region=region, prior_delinquencies=0,
         credit_score=fico_to_contract(_num(first["FICO_orig_time"])))
    loan = dict(loan_id=bid, term_months=12, method="equal_installment")
    mat = int(first["mat_time"])
    prev: float | None = None  # the balance the engine holds
    for r in rows:
        t = int(r["time"])
        balance = max(_num(r["balance_time"]), 0.0)
        rate = _num(r["interest_rate_time"])
        if prev is None:
            if balance > 0:
                emit(t, "loan_drawn", principal=round(balance, 2),
                     daily_rate=round(max(_num(first["Interest_Rate_orig_time"]), 0) / 36500, 8),
                     **loan)
                prev = round(balance, 2)
            else:
                prev = 0.0
        value = house_value(balance, _num(r["LTV_time"]))
        if value is not None:
            emit(t, "limit_changed", credit_limit=value)
        if r["payoff_time"] == "1":
            if prev > 0:
                emit(t, "payment", loan_id=bid, amount=prev)
            emit(t, "overdue_status", loan_id=bid, days_past_due=0, overdue_amount=0.0)
            break
        change = round(balance - prev, 2)
        if change < 0:
            emit(t, "payment", loan_id=bid, amount=-change)
        elif change > 0:
            emit(t, "loan_drawn", principal=change,
                 daily_rate=round(max(rate, 0) / 36500 if rate == rate else 0, 8), **loan)
        prev = round(balance, 2)
        if r["default_time"] == "1":
            emit(t, "overdue_status", loan_id=bid, days_past_due=DEFAULT_DPD,
                 overdue_amount=prev)
            # the servicer goes on reporting the defaulted loan; the panel stops here
            emit(t + 1, "overdue_status", loan_id=bid, days_past_due=DEFAULT_DPD + 90,
                 overdue_amount=prev)
            break
        nxt = (T1 + dt.timedelta(days=t * QUARTER_DAYS)).date().isoformat()
        emit(t, "installment_due", loan_id=bid, installment_no=min(t - t0 + 2, 120),
             due_date=nxt, amount_due=round(scheduled_principal(balance, rate, mat - t), 2))
        emit(t, "overdue_status", loan_id=bid, days_past_due=0, overdue_amount=0.0)
    return out


def macro_events(rows: list[dict]) -> list[tuple[int, int, dict]]:
    """National macro readings per quarter, for every region code and property type."""
    by_t: dict[int, dict] = {}
    regions, industries = set(), set()
    by_id: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_t.setdefault(int(r["time"]), r)
        by_id[r["id"]].append(r)
    for rs in by_id.values():
        regions.add(next((r["state_orig_time"] for r in rs if r["state_orig_time"]), "unknown"))
        industries.add(property_type(rs[0]))
    out = []
    for t, r in sorted(by_t.items()):
        readings = [("region", g, name, _num(r[col])) for g in sorted(regions)
                    for name, col in (("unemployment_rate", "uer_time"),
                                      ("gdp_growth", "gdp_time"),
                                      ("house_price_index", "hpi_time"))]
        readings += [("industry", i, "orders_index", _num(r["hpi_time"]))
                     for i in sorted(industries)]
        for scope, sid, name, value in readings:
            out.append((quarter_epoch(t), -1, {
                "event_id": f"macro-{t}-{scope}-{sid}-{name}", "type": "macro_indicator",
                "ts": iso(t), "v": 1, "scope": scope, "scope_id": sid, "name": name,
                "value": value}))
    return out


def by_borrower(rows: list[dict]) -> dict[str, list[dict]]:
    """Rows grouped by id, sorted by time, exact duplicates dropped (README: 38 of them)."""
    seen, out = set(), defaultdict(list)
    for r in rows:
        key = tuple(r.values())
        if key in seen:
            continue
        seen.add(key)
        out[r["id"]].append(r)
    for rs in out.values():
        rs.sort(key=lambda r: int(r["time"]))
    return dict(out)


def panel_events(rows: list[dict]) -> list[dict]:
    """The panel's rows (dicts of the CSV's strings) -> contract-v1 events in stream order:
    by time; in a quarter, macro readings first, then each borrower's events in order."""
    tagged = [(ts, 0, 0, seq, e) for ts, seq, e in macro_events(rows)]
    for n, rs in enumerate(by_borrower(rows).values()):
        tagged += [(ts, 1, n, seq, e) for ts, seq, e in borrower_events(rs)]
    tagged.sort(key=lambda x: x[:4])
    return [x[4] for x in tagged]


# -- the replay ------------------------------------------------------------------------------
def replay(events: Path, out: Path, model: Path | None) -> dict:
    cmd = [str(ROOT / ".venv" / "bin" / "streamer"), "replay", str(events),
           "--scores", str(out / "scores.jsonl"), "--alerts", str(out / "alerts.jsonl"),
           "--examples", str(out / "examples.jsonl"), "--quiet"]
    if not Path(cmd[0]).exists():
        cmd[0] = str(Path(sys.executable).parent / "streamer")
    if model is not None:
        cmd += ["--model", str(model)]
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
    if proc.returncode != 0:
        sys.exit(f"real_panel: streamer replay failed ({proc.returncode}): {proc.stderr[-2000:]}")
    summary = proc.stdout.strip().splitlines()
    invalid = [line for line in proc.stderr.splitlines() if ": " in line and "events.jsonl:" in line]
    first = summary[0] if summary else ""
    n_invalid = int(first.split("(")[1].split(" invalid")[0]) if "invalid" in first else -1
    return {"command": " ".join(["streamer", *cmd[1:]]).replace(str(ROOT) + "/", ""),
            "summary": summary, "dead_lettered": n_invalid,
            "dead_letter_reasons": sorted({line.split(": ", 1)[1] for line in invalid})[:10],
            "seconds": round(time.perf_counter() - started, 1)}


class _Score(msgspec.Struct):
    borrower_id: str
    ts: str
    score: float
    tier: str
    early_score: float | None = None


class _Alert(msgspec.Struct):
    borrower_id: str
    ts: str
    tier: str


def _epoch(ts: str) -> int:
    return int(dt.datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp())


def online_at_quarter_end(path: Path) -> dict[tuple[str, int], tuple[float, float, str]]:
    """(borrower, quarter) -> (score, early score, tier) of the borrower's last score line at
    that quarter's time (after its events: the lines are in processing order)."""
    dec = msgspec.json.Decoder(_Score)
    out = {}
    with open(path, "rb") as f:
        for line in f:
            s = dec.decode(line)
            e = _epoch(s.ts)
            if (e - T1_EPOCH) % (QUARTER_DAYS * DAY) == 0:
                out[(s.borrower_id, quarter_of(e))] = (
                    s.score, math.nan if s.early_score is None else s.early_score, s.tier)
    return out


def first_high_alert(path: Path) -> dict[str, int]:
    dec = msgspec.json.Decoder(_Alert)
    first: dict[str, int] = {}
    with open(path, "rb") as f:
        for line in f:
            a = dec.decode(line)
            if a.tier in ("high", "critical") and a.borrower_id not in first:
                first[a.borrower_id] = quarter_of(_epoch(a.ts))
    return first


# -- the batch reference's rows --------------------------------------------------------------
SAME = ("fico", "ltv", "log_balance", "log_value", "orig_rate", "investor", "prop_type",
        "loan_age", "quarters_observed", "uer", "gdp", "hpi", "hpi_change", "state_default_rate",
        "paid_to_scheduled", "balance_change", "no_fall_4q", "rose")
RICHER = SAME + ("rate_now", "ltv_orig", "hpi_orig", "quarters_to_maturity", "risk_free",
                 "state")


def panel_rows(groups: dict[str, list[dict]]) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """One row per performing quarter: features known at quarter t, label, ids."""
    hpi_by_t = {}
    for rs in groups.values():
        for r in rs:
            hpi_by_t.setdefault(int(r["time"]), _num(r["hpi_time"]))
    # the state's share of borrowers seen so far whose loan has defaulted (the engine's
    # region_delinquency counts them too: a defaulted borrower stays at 90 DPD)
    states = {bid: next((r["state_orig_time"] for r in rs if r["state_orig_time"]), "unknown")
              for bid, rs in groups.items()}
    seen_at = defaultdict(lambda: np.zeros(62))
    bad_at = defaultdict(lambda: np.zeros(62))
    default_t = {}
    for bid, rs in groups.items():
        seen_at[states[bid]][int(rs[0]["time"])] += 1
        d = next((int(r["time"]) for r in rs if r["default_time"] == "1"), None)
        if d is not None:
            default_t[bid] = d
            bad_at[states[bid]][d] += 1
    cum_seen = {s: np.cumsum(v) for s, v in seen_at.items()}
    cum_bad = {s: np.cumsum(v) for s, v in bad_at.items()}
    state_codes = {s: i for i, s in enumerate(sorted(set(states.values())))}
    prop_codes = {"condo": 0, "pud": 1, "single_family": 2, "other_property": 3}
    cols = defaultdict(list)
    for bid, rs in groups.items():
        first = rs[0]
        t0 = int(first["time"])
        prev = None
        due = math.nan
        falls: list[bool] = []
        st = states[bid]
        d = default_t.get(bid)
        for r in rs:
            if r["status_time"] != "0":
                break
            t = int(r["time"])
            balance = max(_num(r["balance_time"]), 0.0)
            ltv = _num(r["LTV_time"])
            rate = _num(r["interest_rate_time"])
            change = math.nan if prev is None else balance - prev
            fell = prev is not None and change < 0
            if prev is not None:
                falls.append(fell)
            feats = {
                "fico": _num(first["FICO_orig_time"]), "ltv": ltv,
                "log_balance": math.log1p(balance),
                "log_value": math.log1p(balance * 100 / ltv) if ltv > 0 else math.nan,
                "orig_rate": _num(first["Interest_Rate_orig_time"]),
                "investor": float(first["investor_orig_time"] == "1"),
                "prop_type": float(prop_codes[property_type(first)]),
                "loan_age": t - min(int(first["orig_time"]), t0), "quarters_observed": t - t0,
                "uer": _num(r["uer_time"]), "gdp": _num(r["gdp_time"]),
                "hpi": _num(r["hpi_time"]),
                "hpi_change": _num(r["hpi_time"]) / hpi_by_t.get(t - 1, math.nan) - 1,
                "state_default_rate": cum_bad[st][t] / max(cum_seen[st][t], 1.0)
                if st in cum_bad else 0.0,
                "paid_to_scheduled": min(-change / due, 3.0) if fell and due > 0 else
                (0.0 if prev is not None else math.nan),
                "balance_change": change / prev if prev else math.nan,
                "no_fall_4q": float(sum(not f for f in falls[-4:])),
                "rose": float(prev is not None and change > 0),
                "rate_now": rate, "ltv_orig": _num(first["LTV_orig_time"]),
                "hpi_orig": _num(first["hpi_orig_time"]),
                "quarters_to_maturity": int(first["mat_time"]) - t,
                "risk_free": _num(r["rate_time"]), "state": float(state_codes[st]),
            }
            for k in RICHER:
                cols[k].append(feats[k])
            cols["borrower"].append(bid)
            cols["t"].append(t)
            cols["y"].append(int(d is not None and d <= t + 1))
            prev = balance
            due = scheduled_principal(balance, rate, int(first["mat_time"]) - t)
    out = {k: np.asarray(v, dtype=np.float64) for k, v in cols.items() if k != "borrower"}
    out["borrower"] = np.asarray(cols["borrower"])
    out["t"] = out["t"].astype(int)
    out["y"] = out["y"].astype(int)
    return out, default_t


def lightgbm(seed: int, n_train: int):
    """The offline reference's settings (as streamer/evaluation/offline.py)."""
    from lightgbm import LGBMClassifier

    return LGBMClassifier(
        n_estimators=300, learning_rate=0.05, num_leaves=31,
        min_child_samples=max(5, min(20, n_train // 50)),
        subsample=0.8, subsample_freq=1, colsample_bytree=0.8,
        random_state=seed, n_jobs=2, verbose=-1, deterministic=True, force_row_wise=True)


# -- figures ---------------------------------------------------------------------------------
def aucs(y: np.ndarray, score: np.ndarray) -> dict:
    from sklearn.metrics import average_precision_score, roc_auc_score

    return {"roc_auc": round(float(roc_auc_score(y, score)), 4),
            "pr_auc": round(float(average_precision_score(y, score)), 4)}


def bootstrap(y, scores: dict[str, np.ndarray], borrower: np.ndarray, n: int = 200,
              seed: int = 0) -> dict:
    """95% intervals of each ROC AUC and of each one's gap over the first, resampling
    borrowers (all their test rows together)."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)
    ids, inv = np.unique(borrower, return_inverse=True)
    rows_of = np.argsort(inv, kind="stable")
    starts = np.searchsorted(inv[rows_of], np.arange(ids.size))
    ends = np.append(starts[1:], inv.size)
    names = list(scores)
    draws = defaultdict(list)
    for _ in range(n):
        pick = rng.integers(0, ids.size, ids.size)
        idx = np.concatenate([rows_of[starts[i]:ends[i]] for i in pick])
        if y[idx].min() == y[idx].max():
            continue
        a = {k: roc_auc_score(y[idx], scores[k][idx]) for k in names}
        for k in names:
            draws[k].append(a[k])
            if k != names[0]:
                draws[f"{k} - {names[0]}"].append(a[k] - a[names[0]])
    return {k: [round(float(np.percentile(v, 2.5)), 4), round(float(np.percentile(v, 97.5)), 4)]
            for k, v in draws.items()}


def lead_times(flag_t: dict[str, int], default_t: dict[str, int], defaulters: list[str]) -> dict:
    """Quarters from the first flag to the default, over the given defaulters."""
    leads = [default_t[b] - flag_t[b] for b in defaulters
             if b in flag_t and flag_t[b] < default_t[b]]
    n = len(defaulters)
    return {"defaulters": n, "flagged_before_default": len(leads),
            "share_flagged": round(len(leads) / n, 4) if n else None,
            "share_flagged_2q_ahead": round(sum(x >= 2 for x in leads) / n, 4) if n else None,
            "share_flagged_4q_ahead": round(sum(x >= 4 for x in leads) / n, 4) if n else None,
            "median_lead_quarters": float(np.median(leads)) if leads else None,
            "mean_lead_quarters": round(float(np.mean(leads)), 2) if leads else None}


def first_flag(borrower, t, flagged) -> dict[str, int]:
    out: dict[str, int] = {}
    for b, q in zip(borrower[flagged], t[flagged]):
        if b not in out or q < out[b]:
            out[b] = int(q)
    return out


def evaluate(data: dict, default_t: dict, online: dict, first_alert: dict, split: int) -> dict:
    b, t, y = data["borrower"], data["t"], data["y"]
    look = [online.get((bid, int(q))) for bid, q in zip(b, t)]
    has = np.array([x is not None for x in look])
    score = np.array([x[0] if x else np.nan for x in look])
    early = np.array([x[1] if x else np.nan for x in look])
    tier = np.array([x[2] if x else "" for x in look])
    train, test = t < split, (t >= split) & has
    res: dict = {"split": split, "rows": int(y.size), "rows_without_online_score": int((~has).sum()),
                 "train_rows": int(train.sum()), "train_positives": int(y[train].sum()),
                 "test_rows": int(test.sum()), "test_positives": int(y[test].sum()),
                 "test_borrowers": int(np.unique(b[test]).size)}
    preds = {}
    for name, cols in (("lightgbm_same_columns", SAME), ("lightgbm_richer_columns", RICHER)):
        X = np.column_stack([data[c] for c in cols])
        model = lightgbm(0, int(train.sum()))
        model.fit(X[train], y[train])
        preds[name] = model.predict_proba(X[test])[:, 1]
    # A batch model retrained every RETRAIN_EVERY quarters on all rows labeled by then
    # (expanding window): the batch counterpart of a model that keeps learning.
    X = np.column_stack([data[c] for c in SAME])
    walk = np.full(y.size, np.nan)
    for start in range(split, int(t.max()) + 1, RETRAIN_EVERY):
        known = t < start  # y(t) needs quarter t + 1 <= start
        now = (t >= start) & (t < start + RETRAIN_EVERY)
        model = lightgbm(0, int(known.sum()))
        model.fit(X[known], y[known])
        walk[now] = model.predict_proba(X[now])[:, 1]
    preds["lightgbm_same_columns_retrained"] = walk[test]
    yt = y[test]
    res["online_default_score"] = aucs(yt, score[test])
    res["online_early_score"] = (aucs(yt[np.isfinite(early[test])],
                                      early[test][np.isfinite(early[test])])
                                 | {"rows": int(np.isfinite(early[test]).sum())}
                                 if np.isfinite(early[test]).sum() else None)
    for name, p in preds.items():
        res[name] = aucs(yt, p)
    res["gap_roc_auc"] = round(res["lightgbm_same_columns"]["roc_auc"]
                               - res["online_default_score"]["roc_auc"], 4)
    res["gap_roc_auc_retrained"] = round(res["lightgbm_same_columns_retrained"]["roc_auc"]
                                         - res["online_default_score"]["roc_auc"], 4)
    res["bootstrap_95"] = bootstrap(yt, {"online_default_score": score[test],
                                         "lightgbm_same_columns": preds["lightgbm_same_columns"],
                                         "lightgbm_same_columns_retrained":
                                             preds["lightgbm_same_columns_retrained"]}, b[test])
    # by test quarter: is the gap the same across the crisis and after it?
    res["by_period"] = {}
    for lo, hi in ((split, 38), (38, 61)):
        m = (t[test] >= lo) & (t[test] < hi)
        if yt[m].min() != yt[m].max():
            res["by_period"][f"t {lo}-{hi - 1}"] = {
                "rows": int(m.sum()), "positives": int(yt[m].sum()),
                "online": aucs(yt[m], score[test][m])["roc_auc"],
                "lightgbm": aucs(yt[m], preds["lightgbm_same_columns"][m])["roc_auc"],
                "lightgbm_retrained": aucs(
                    yt[m], preds["lightgbm_same_columns_retrained"][m])["roc_auc"]}
    # lead time in the test window, at the same share of good borrowers flagged
    tb, tt = b[test], t[test]
    test_ids = set(tb)
    defaulters = sorted(x for x in test_ids if x in default_t and default_t[x] > split)
    good = sorted(x for x in test_ids if x not in default_t)
    online_flag = first_flag(tb, tt, np.isin(tier[test], ("high", "critical")))
    share_good = sum(x in online_flag for x in good) / len(good)

    def threshold(p: np.ndarray, share: float) -> float:
        """The score at which `share` of the good borrowers are flagged at some test row."""
        max_p = defaultdict(lambda: -math.inf)
        for x, v in zip(tb, p):
            if v == v:
                max_p[x] = max(max_p[x], v)
        top = np.array([max_p[x] for x in good])
        return math.inf if share <= 0 else float(np.quantile(top, 1 - share))

    def flags(p: np.ndarray, thr: float) -> dict[str, int]:
        return first_flag(tb, tt, np.nan_to_num(p, nan=-math.inf) >= thr)

    p = preds["lightgbm_same_columns"]
    thr = threshold(p, share_good)
    lgb_flag = flags(p, thr)
    res["lead_time"] = {
        "good_borrowers_in_test": len(good),
        "share_of_good_flagged_high_online": round(share_good, 4),
        "lightgbm_threshold_at_that_share": thr if math.isfinite(thr) else None,
        "share_of_good_flagged_lightgbm": round(sum(x in lgb_flag for x in good) / len(good), 4),
        "online_tier_high_in_test_window": lead_times(online_flag, default_t, defaulters),
        "lightgbm_same_share": lead_times(lgb_flag, default_t, defaulters),
        "online_first_high_alert_any_time": lead_times(first_alert, default_t, defaulters),
    }
    # The same at fixed budgets: each score's own threshold flags that share of the good
    # borrowers at some test quarter (the design's "early capture at a budget").
    ranked = {"online_default_score": score[test], "lightgbm_same_columns": p,
              "lightgbm_same_columns_retrained": preds["lightgbm_same_columns_retrained"]}
    if np.isfinite(early[test]).any():
        ranked["online_early_score"] = early[test]
    res["at_budget"] = {}
    for budget in BUDGETS:
        res["at_budget"][f"{budget:.0%}"] = {
            name: lead_times(flags(v, threshold(v, budget)), default_t, defaulters)
            for name, v in ranked.items()}
    return res


# -- main --------------------------------------------------------------------------------
def read_panel(path: Path) -> list[dict]:
    with gzip.open(path, "rt", newline="") as f:
        return list(csv.DictReader(f))


def write_events(events: list[dict], path: Path) -> None:
    enc = msgspec.json.Encoder()
    with open(path, "wb") as f:
        for e in events:
            f.write(enc.encode(e) + b"\n")


def markdown(r: dict) -> str:
    ev, rp = r["evaluation"], r["replay"]
    lt = ev["lead_time"]
    on, lg, al = (lt["online_tier_high_in_test_window"], lt["lightgbm_same_share"],
                  lt["online_first_high_alert_any_time"])
    ci = ev["bootstrap_95"]
    early = ev["online_early_score"]
    lines = [
        f"# Real loan panel (Deep Credit Risk mortgages): {r['label']}", "",
        f"`{r['command']}` at commit `{r['commit']}`, {r['date']}, {r['machine']}.",
        "Licence: internal validation only; the data stays outside the repository, these are "
        "aggregate figures.", "",
        f"Events: {rp['events_written']:,} written, **{rp['dead_lettered']} dead-lettered**; "
        f"replay: {rp['summary'][0] if rp['summary'] else ''}", "",
        f"Split: train on rows t < {ev['split']} ({ev['train_rows']:,} rows, "
        f"{ev['train_positives']} positives), test on t >= {ev['split']} "
        f"({ev['test_rows']:,} rows of {ev['test_borrowers']:,} borrowers, "
        f"{ev['test_positives']} positives). Label: default in the next quarter.", "",
        "| score (same test rows) | ROC AUC | 95% (borrower bootstrap) | PR AUC |",
        "|---|---|---|---|",
        f"| online default score (replay) | {ev['online_default_score']['roc_auc']:.3f} | "
        f"{ci['online_default_score'][0]:.3f}-{ci['online_default_score'][1]:.3f} | "
        f"{ev['online_default_score']['pr_auc']:.3f} |",
    ]
    if early:
        lines.append(f"| online early-warning score ({early['rows']:,} rows) | "
                     f"{early['roc_auc']:.3f} | | {early['pr_auc']:.3f} |")
    def row(label: str, key: str) -> str:
        x, c = ev[key], ci.get(key)
        spread = f"{c[0]:.3f}-{c[1]:.3f}" if c else ""
        return f"| {label} | {x['roc_auc']:.3f} | {spread} | {x['pr_auc']:.3f} |"

    def gap(key: str) -> str:
        c = ci[f"{key} - online_default_score"]
        return (f"{ev[key]['roc_auc'] - ev['online_default_score']['roc_auc']:+.3f} "
                f"(95% {c[0]:+.3f} to {c[1]:+.3f})")

    lines += [
        row(f"LightGBM, same columns as the events, trained once on t < {ev['split']}",
            "lightgbm_same_columns"),
        row("LightGBM, same columns, retrained every 4 quarters on all rows labeled by then",
            "lightgbm_same_columns_retrained"),
        row(f"LightGBM, richer columns (not in the events), trained once on t < {ev['split']}",
            "lightgbm_richer_columns"), "",
        f"Gap, LightGBM - online (ROC AUC; target: online within 0.02 of the reference): "
        f"trained once {gap('lightgbm_same_columns')}; retrained "
        f"{gap('lightgbm_same_columns_retrained')}.", "",
        "By test period (ROC AUC): " + "; ".join(
            f"{k} ({v['positives']} positives): online {v['online']:.3f}, LightGBM once "
            f"{v['lightgbm']:.3f}, retrained {v['lightgbm_retrained']:.3f}"
            for k, v in ev["by_period"].items()) + ".", "",
        f"Lead time, {on['defaulters']} defaulters of the test window; "
        f"{lt['good_borrowers_in_test']:,} never-defaulting borrowers in it, "
        f"{lt['share_of_good_flagged_high_online']:.1%} of them `high` at some test quarter "
        "end (the LightGBM threshold flags the same share):", "",
        "| flag | defaulters flagged before default | >= 2 quarters ahead | >= 4 quarters ahead "
        "| median lead, quarters |", "|---|---|---|---|---|",
    ]
    for name, x in (("online tier `high`+ at a test quarter end", on),
                    (f"LightGBM >= {lt['lightgbm_threshold_at_that_share']:.3f}", lg),
                    ("online first `high`+ alert, any time (alerts.jsonl)", al)):
        lines.append(f"| {name} | {x['share_flagged']:.1%} | {x['share_flagged_2q_ahead']:.1%} | "
                     f"{x['share_flagged_4q_ahead']:.1%} | {x['median_lead_quarters']} |")
    lines += ["", "Notes: with this mapping the early-warning target (a miss within 90 days whose "
              "delinquency spell ends in default, from current borrowers) is the default target "
              "(the panel's only miss is the default itself, at 90 DPD): the early model learns "
              "the same labels as the default model"
              + (", from the same start, and ranks as it does. " if early and early["roc_auc"]
                 == ev["online_default_score"]["roc_auc"] else ". ")
              + "Lead times are in quarters (90 days here)."]
    lines += ["", "At a budget (each score's own threshold flags that share of the never-defaulting "
              "borrowers at some test quarter end): share of the test window's defaulters flagged "
              "before their default / at least 2 quarters ahead; median lead in quarters.", "",
              "| budget | " + " | ".join(next(iter(r["evaluation"]["at_budget"].values()))) + " |",
              "|---|" + "---|" * len(next(iter(r["evaluation"]["at_budget"].values())))]
    for budget, row in r["evaluation"]["at_budget"].items():
        lines.append(f"| {budget} | " + " | ".join(
            f"{x['share_flagged']:.1%} / {x['share_flagged_2q_ahead']:.1%}; "
            f"{x['median_lead_quarters']}" for x in row.values()) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="dcr.csv.gz")
    ap.add_argument("--split", type=int, default=32,
                    help="train on rows t < SPLIT, test on t >= SPLIT (default 32: 2008Q1)")
    ap.add_argument("--model", type=Path, help="start the replay from this signed snapshot")
    ap.add_argument("--label", default="baseline (replay from no model)",
                    help="what this run is, for the results")
    ap.add_argument("--name", default="real_panel", help="results file name (no extension)")
    ap.add_argument("--markdown-only", action="store_true",
                    help="rewrite RESULTS/NAME.md from RESULTS/NAME.json (no data needed)")
    args = ap.parse_args(argv)
    if args.markdown_only:
        md = markdown(json.loads((RESULTS / f"{args.name}.json").read_text()))
        (RESULTS / f"{args.name}.md").write_text(md)
        print(md)
        return 0
    if not args.data.is_file():
        print(f"real_panel: {args.data}: no such file (the panel is not shipped; pass --data)",
              file=sys.stderr)
        return 2
    rows = read_panel(args.data)
    out = OUT / args.name
    out.mkdir(parents=True, exist_ok=True)
    events = panel_events(rows)
    write_events(events, out / "events.jsonl")
    counts = defaultdict(int)
    for e in events:
        counts[e["type"]] += 1
    print(f"{len(rows):,} rows -> {len(events):,} events", file=sys.stderr)
    rp = replay(out / "events.jsonl", out, args.model)
    rp["events_written"] = len(events)
    rp["events_by_type"] = dict(sorted(counts.items()))
    print(rp["summary"][0] if rp["summary"] else "", file=sys.stderr)
    groups = by_borrower(rows)
    data, default_t = panel_rows(groups)
    ev = evaluate(data, default_t, online_at_quarter_end(out / "scores.jsonl"),
                  first_high_alert(out / "alerts.jsonl"), args.split)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()
    cmd = "benchmarks/real_panel.py" + "".join(f" {a}" for a in (argv or sys.argv[1:]))
    result = {"label": args.label, "command": cmd, "commit": commit,
              "date": dt.date.today().isoformat(),
              "machine": f"2-core shared VM ({platform.machine()}, {os.cpu_count()} CPUs, "
                         f"Python {platform.python_version()})",
              "data": {"rows": len(rows), "borrowers": len(groups),
                       "defaulted_borrowers": len(default_t)},
              "replay": rp, "evaluation": ev}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(result, indent=1) + "\n")
    md = markdown(result)
    (RESULTS / f"{args.name}.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
