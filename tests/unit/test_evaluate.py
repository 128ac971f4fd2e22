"""`streamer evaluate` on tiny hand-built files whose figures are computed by hand."""

from __future__ import annotations

import argparse
import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest

from streamer.evaluation import command as ev
from streamer.evaluation import metrics
from streamer.evaluation.inputs import read_examples, read_span
from streamer.evaluation.offline import offline_reference


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _truth_row(bid, default=None, first_missed=None):
    return {
        "borrower_id": bid,
        "default_date": default,
        "first_missed_payment_date": first_missed or default,
        "cause": "income_shock" if default else None,
        "segment": "mass",
        "industry": "retail",
        "region": "north",
    }


def _score(bid, ts, score):
    return {"borrower_id": bid, "ts": ts, "score": score, "tier": "none", "model_version": 1}


_ALERT_IDS = iter(range(1, 10**9))


def _alert(bid, ts, kind, tier):
    n = next(_ALERT_IDS)
    return {
        "alert_id": f"a{n}", "borrower_id": bid, "ts": ts, "emitted_at": ts, "kind": kind,
        "tier": tier, "previous_tier": "none", "score": 0.5, "model_version": 1,
        "reasons": [], "recommended_action": "none", "trigger_event_id": f"e{n}",
    }


def _case(tmp_path, truth, scores=(), alerts=(), span=("2026-01-01", "2026-12-31")):
    """Write the four input files; the events file only carries the time span."""
    events = [
        {"event_id": "e-first", "ts": f"{span[0]}T00:05:00Z", "type": "payment"},
        {"event_id": "e-mid", "ts": f"{span[0]}T12:00:00Z", "type": "payment"},
        {"event_id": "e-last", "ts": f"{span[1]}T23:00:00Z", "type": "payment"},
    ]
    return {
        "events_path": _jsonl(tmp_path / "events.jsonl", events),
        "truth_path": _jsonl(tmp_path / "truth.jsonl", list(truth)),
        "scores_path": _jsonl(tmp_path / "scores.jsonl", list(scores)),
        "alerts_path": _jsonl(tmp_path / "alerts.jsonl", list(alerts)),
    }


# -- AUC, labels, censoring, the per-day last score --------------------------------------------


def test_perfect_scorer_gets_auc_one_and_reversed_zero(tmp_path):
    truth = [_truth_row("A", "2026-03-01"), _truth_row("B"), _truth_row("C")]
    good = [_score("A", "2026-01-15T10:00:00Z", 0.9), _score("B", "2026-01-15T10:00:00Z", 0.1),
            _score("C", "2026-01-15T11:00:00Z", 0.2)]
    bad = [_score("A", "2026-01-15T10:00:00Z", 0.1), _score("B", "2026-01-15T10:00:00Z", 0.9),
           _score("C", "2026-01-15T11:00:00Z", 0.8)]
    r = ev.evaluate(**_case(tmp_path, truth, good))
    assert r["auc"]["roc_auc"] == 1.0
    assert r["auc"]["pr_auc"] == 1.0
    assert r["auc"]["borrower_days"] == 3 and r["auc"]["positives"] == 1
    r = ev.evaluate(**_case(tmp_path, truth, bad))
    assert r["auc"]["roc_auc"] == 0.0


def test_only_the_last_score_of_a_day_counts_by_event_time(tmp_path):
    truth = [_truth_row("A", "2026-03-01"), _truth_row("B")]
    scores = [  # A's evening score is written first: the rule goes by ts, not by line order
        _score("A", "2026-01-15T20:00:00Z", 0.9),
        _score("A", "2026-01-15T08:00:00Z", 0.1),
        _score("B", "2026-01-15T12:00:00Z", 0.5),
    ]
    r = ev.evaluate(**_case(tmp_path, truth, scores))
    # every score would give pairs (0.9 > 0.5) and (0.1 < 0.5): AUC 0.5
    assert r["auc"]["roc_auc"] == 1.0
    assert r["auc"]["borrower_days"] == 2


def test_labels_horizon_censoring_and_days_after_default(tmp_path):
    a_default = date(2026, 7, 1)
    d90 = (a_default - timedelta(days=90)).isoformat()  # positive: default exactly 90 days on
    d91 = (a_default - timedelta(days=91)).isoformat()  # negative: 91 days on
    truth = [_truth_row("A", a_default.isoformat()), _truth_row("B"),
             _truth_row("C", "2026-12-20")]
    scores = [
        _score("A", f"{d91}T09:00:00Z", 0.2),  # negative, kept
        _score("A", f"{d90}T09:00:00Z", 0.6),  # positive
        _score("B", "2026-06-01T09:00:00Z", 0.3),  # negative, kept
        _score("A", "2026-07-01T09:00:00Z", 0.95),  # on the default day: dropped
        _score("A", "2026-07-05T09:00:00Z", 0.99),  # after default: dropped
        _score("B", "2026-12-01T09:00:00Z", 0.8),  # negative after end-90: censored
        _score("C", "2026-12-01T09:00:00Z", 0.7),  # positive after end-90: kept
    ]
    r = ev.evaluate(**_case(tmp_path, truth, scores))
    a = r["auc"]
    assert (a["borrower_days"], a["positives"]) == (4, 2)
    assert a["base_rate"] == 0.5
    # positives 0.6, 0.7 vs negatives 0.2, 0.3: perfect. Keeping B's censored 0.8 would give
    # 0.5; counting A's post-default days as negatives would give 0.5 too.
    assert a["roc_auc"] == 1.0
    assert r["span"]["negatives_censored_after"] == "2026-10-02"

    # --from skips the warm-up days
    r = ev.evaluate(**_case(tmp_path, truth, scores), start_from=d90)
    assert (r["auc"]["borrower_days"], r["auc"]["positives"]) == (3, 2)


def test_label_days_unit():
    day = np.array([10, 10, 10, 10, 10, 200])
    default = np.array([11, 100, 101, 10, metrics.NEVER, 250])
    keep, label = metrics.label_days(day, default, end_day=250, horizon=90)
    assert keep.tolist() == [True, True, True, False, True, True]
    assert label.tolist() == [True, True, False, False, False, True]
    keep, _ = metrics.label_days(day, default, end_day=99, horizon=90)  # 10 + 90 > 99
    assert keep.tolist() == [True, True, False, False, False, True]  # positives stay


# -- lead time, first missed payment -----------------------------------------------------------


def test_lead_time_and_flagged_before_first_missed(tmp_path):
    truth = [
        _truth_row("D1", "2026-06-30", "2026-04-01"),
        _truth_row("D2", "2026-06-30", "2026-04-01"),
        _truth_row("D3", "2026-06-30", "2026-03-31"),
        _truth_row("D4", "2026-08-29", "2026-06-01"),
        _truth_row("D5", "2026-07-30", "2026-05-01"),
        _truth_row("G1"),
    ]
    alerts = [
        _alert("D1", "2026-03-01T09:00:00Z", "raised", "watch"),
        _alert("D1", "2026-03-20T09:00:00Z", "escalated", "high"),  # 102 days; before missed
        _alert("D1", "2026-05-01T09:00:00Z", "escalated", "critical"),
        _alert("D2", "2026-04-01T10:00:00Z", "raised", "high"),  # 90 days; same day as missed
        _alert("D3", "2026-05-01T09:00:00Z", "raised", "watch"),  # any alert, not high
        _alert("D3", "2026-06-30T08:00:00Z", "escalated", "high"),  # on the default day
        _alert("D5", "2026-06-30T09:00:00Z", "raised", "critical"),  # 30 days
        _alert("G1", "2026-02-01T09:00:00Z", "raised", "high"),
    ]
    r = ev.evaluate(**_case(tmp_path, truth, alerts=alerts))
    lt = r["lead_time_days"]
    assert (lt["defaulters"], lt["count"]) == (5, 3)
    assert lt["share_flagged"] == pytest.approx(0.6)
    assert lt["share_any_alert"] == pytest.approx(0.8)
    assert lt["median"] == 90 and lt["q1"] == 60 and lt["q3"] == 96  # of 30, 90, 102
    assert sorted(r["plot_data"]["lead_times_days"]) == [30, 90, 102]
    fm = r["flagged_before_first_missed"]
    assert (fm["defaulters"], fm["count"]) == (5, 1)
    assert fm["share"] == pytest.approx(0.2)
    assert fm["median_days_before_first_missed"] == 12


# -- top-k precision ---------------------------------------------------------------------------


def test_top_k_precision_hand_built(tmp_path):
    # span 2026-01-01 .. 2026-04-02: end - 90 = 2026-01-02, so two days are evaluated
    truth = [
        _truth_row("P1", "2026-01-02"),  # positive on day 1, gone on day 2
        _truth_row("P2", "2026-03-15"),  # positive both days
        _truth_row("P3", "2026-04-02"),  # 91 days after day 1 (negative), 90 after day 2
        _truth_row("N1"), _truth_row("N2"), _truth_row("N3"),
    ]
    scores = [
        _score("P1", "2026-01-01T10:00:00Z", 0.9),
        _score("N1", "2026-01-01T10:00:00Z", 0.8),
        _score("P2", "2026-01-01T10:00:00Z", 0.7),
        _score("P3", "2026-01-01T10:00:00Z", 0.6),
        _score("N2", "2026-01-01T10:00:00Z", 0.1),
        _score("N3", "2026-01-02T10:00:00Z", 0.95),  # others carry their day-1 score
        _score("P3", "2026-01-02T10:00:00Z", 0.75),
        _score("N1", "2026-02-01T10:00:00Z", 0.99),  # after end - 90: not a top-k day
    ]
    r = ev.evaluate(**_case(tmp_path, truth, scores, span=("2026-01-01", "2026-04-02")),
                    ks=(1, 2, 3, 10))
    tk = r["top_k_precision"]
    assert tk["days"] == 2
    # day 1: P1+ N1- P2+ P3- N2- ; day 2: N3- N1- P3+ P2+ N2-
    assert tk["precision_at_k"]["1"] == pytest.approx((1 + 0) / 2)
    assert tk["precision_at_k"]["2"] == pytest.approx((1 / 2 + 0) / 2)
    assert tk["precision_at_k"]["3"] == pytest.approx((2 / 3 + 1 / 3) / 2)
    assert tk["precision_at_k"]["10"] == pytest.approx((2 / 5 + 2 / 5) / 2)  # fewer than k
    assert tk["base_rate"] == pytest.approx(0.4)


# -- noise -------------------------------------------------------------------------------------


def test_false_alerts_per_1000_good_borrowers_a_month(tmp_path):
    # 2026-01-01 .. 2026-03-01 is 60 days: two months
    truth = [_truth_row("G1", first_missed="2026-01-09"), _truth_row("G2"), _truth_row("G3"),
             _truth_row("G4"), _truth_row("D1", "2026-02-15")]
    alerts = [
        _alert("G1", "2026-01-05T09:00:00Z", "raised", "watch"),
        _alert("G1", "2026-01-09T09:00:00Z", "escalated", "high"),
        _alert("G1", "2026-01-20T09:00:00Z", "de_escalated", "watch"),  # not counted
        _alert("G1", "2026-01-30T09:00:00Z", "resolved", "none"),  # not counted
        _alert("G2", "2026-02-10T09:00:00Z", "raised", "watch"),
        _alert("D1", "2026-01-10T09:00:00Z", "raised", "high"),
        _alert("D1", "2026-01-20T09:00:00Z", "escalated", "critical"),
    ]
    r = ev.evaluate(**_case(tmp_path, truth, alerts=alerts, span=("2026-01-01", "2026-03-01")))
    nz = r["noise"]
    assert nz["window_days"] == 60
    assert nz["false_alerts"] == 3
    assert nz["false_alerts_per_1000_good_per_month"] == pytest.approx(3 / 4 * 1000 / 2)
    assert nz["false_high_alerts_per_1000_good_per_month"] == pytest.approx(1 / 4 * 1000 / 2)
    assert nz["alerts_per_good_borrower"] == pytest.approx(0.75)
    assert nz["alerts_per_defaulter"] == pytest.approx(2.0)
    assert nz["by_tier"] == {"watch": 2, "high": 2, "critical": 1}
    assert nz["good_borrowers_alerted_share"] == pytest.approx(0.5)
    assert nz["good_borrowers_high_share"] == pytest.approx(0.25)  # G1 only
    # G1's high came on the day of its first missed payment: not the early budget's
    assert nz["good_borrowers_high_before_first_miss_share"] == 0.0
    weekly = r["plot_data"]["alerts_by_week"]
    assert weekly["week_start"][:2] == ["2026-01-01", "2026-01-08"]
    assert weekly["watch"][0] == 1 and weekly["high"][1] == 2 and weekly["critical"][2] == 1


# -- calibration -------------------------------------------------------------------------------


def test_brier_and_reliability_bins(tmp_path):
    truth = [_truth_row("B1"), _truth_row("B2"), _truth_row("B3", "2026-03-01"),
             _truth_row("B4", "2026-02-01")]
    scores = [_score(b, "2026-01-10T09:00:00Z", p)
              for b, p in (("B1", 0.05), ("B2", 0.15), ("B3", 0.15), ("B4", 0.85))]
    cal = ev.evaluate(**_case(tmp_path, truth, scores))["calibration"]
    assert cal["brier"] == pytest.approx((0.05**2 + 0.15**2 + 0.85**2 + 0.15**2) / 4)
    bins = cal["bins"]
    assert len(bins) == 10
    assert [b["count"] for b in bins] == [1, 1 + 1, 0, 0, 0, 0, 0, 0, 1, 0]
    assert bins[1]["mean_predicted"] == pytest.approx(0.15)
    assert bins[1]["observed_rate"] == pytest.approx(0.5)
    assert bins[8]["observed_rate"] == 1.0 and bins[0]["observed_rate"] == 0.0
    assert bins[5]["mean_predicted"] is None
    assert cal["expected_calibration_error"] == pytest.approx(0.0125 + 0.175 + 0.0375)


def test_calibration_bin_edges():
    cal = metrics.calibration(np.array([0, 1, 1]), np.array([0.0, 0.1, 1.0]))
    counts = [b["count"] for b in cal["bins"]]
    assert counts == [1, 1, 0, 0, 0, 0, 0, 0, 0, 1]  # [0, .1), [.1, .2), ..., [.9, 1]


# -- offline reference -------------------------------------------------------------------------


def _examples(tmp_path, n=400, seed=1):
    rng = np.random.default_rng(seed)
    rows = []
    start = date(2026, 1, 1)
    for i in range(n):
        x1, x2 = rng.uniform(), rng.uniform()
        ts = f"{(start + timedelta(days=i // 4)).isoformat()}T{(i % 4) * 6:02d}:00:00Z"
        feats = {"dpd_max": x1, "noise": x2}
        if i == 7:
            feats = {"noise": x2, "dpd_max": x1}  # another key order
        rows.append({"borrower_id": f"b{i}", "ts": ts, "label": int(x1 > 0.5),
                     "score": float(rng.uniform()), "model_version": 1, "features": feats})
    return _jsonl(tmp_path / "examples.jsonl", rows)


def test_offline_reference_beats_a_random_online_score(tmp_path):
    path = _examples(tmp_path)
    ex = read_examples(path)
    assert ex.names == ["dpd_max", "noise"]
    assert ((ex.features[:, 0] > 0.5) == ex.label.astype(bool)).all()  # row 7 reordered too
    assert not np.isnan(ex.features).any()
    off = offline_reference(ex)
    assert off["status"] == "ok"
    assert off["train_examples"] + off["test_examples"] == 400
    assert 0.65 < off["train_examples"] / 400 < 0.75
    assert off["reference_roc_auc"] > 0.95
    assert abs(off["online_roc_auc"] - 0.5) < 0.15
    assert off["gap"] == pytest.approx(off["reference_roc_auc"] - off["online_roc_auc"])


def test_offline_reference_falls_back_to_sklearn(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "lightgbm", None)  # import lightgbm -> ImportError
    off = offline_reference(read_examples(_examples(tmp_path)))
    assert off["model"].startswith("sklearn") and off["reference_roc_auc"] > 0.95


def test_examples_with_a_new_feature_midway_are_padded(tmp_path):
    rows = [{"borrower_id": "a", "ts": "2026-01-01T00:00:00Z", "label": 0, "score": 0.1,
             "features": {"x": 1.0}},
            {"borrower_id": "b", "ts": "2026-01-02T00:00:00Z", "label": 1, "score": None,
             "features": {"x": 2.0, "y": 3.0}}]
    ex = read_examples(_jsonl(tmp_path / "ex.jsonl", rows))
    assert ex.names == ["x", "y"]
    assert ex.features[0, 0] == 1.0 and np.isnan(ex.features[0, 1])
    assert ex.features[1].tolist() == [2.0, 3.0] and np.isnan(ex.score[1])


# -- the command: files written, errors ----------------------------------------------------------


def test_run_writes_json_and_non_empty_pngs(tmp_path, capsys):
    truth = [_truth_row("A", "2026-03-01", "2026-01-20"), _truth_row("B"), _truth_row("C")]
    scores = [_score("A", "2026-01-15T10:00:00Z", 0.9), _score("B", "2026-01-15T10:00:00Z", 0.1),
              _score("C", "2026-01-16T10:00:00Z", 0.3)]
    alerts = [_alert("A", "2026-01-15T10:00:00Z", "raised", "high"),
              _alert("B", "2026-02-15T10:00:00Z", "raised", "watch")]
    files = _case(tmp_path, truth, scores, alerts)
    parser = argparse.ArgumentParser()
    ev.add_arguments(parser)
    out = tmp_path / "out"
    args = parser.parse_args([
        "--events", str(files["events_path"]), "--truth", str(files["truth_path"]),
        "--alerts", str(files["alerts_path"]), "--scores", str(files["scores_path"]),
        "--examples", str(_examples(tmp_path)), "--out", str(out), "--k", "1,2",
    ])
    assert ev.run(args) == 0
    result = json.loads((out / "evaluation.json").read_text())
    for key in ("auc", "lead_time_days", "flagged_before_first_missed", "top_k_precision",
                "noise", "calibration", "offline_reference"):
        assert key in result
    assert result["lead_time_days"]["median"] == 45
    assert result["offline_reference"]["status"] == "ok"
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == ["alerts_by_tier.png", "calibration.png", "capture_by_budget.png",
                    "lead_time_hist.png", "roc_pr.png"]
    for p in out.glob("*.png"):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 1000
    printed = capsys.readouterr().out
    assert "ROC AUC 1.000" in printed and "offline reference" in printed


def test_plots_survive_a_result_without_data(tmp_path):
    truth = [_truth_row("A"), _truth_row("B")]
    r = ev.evaluate(**_case(tmp_path, truth, span=("2026-01-01", "2026-01-20")))
    assert r["auc"]["roc_auc"] is None and r["top_k_precision"]["days"] == 0
    paths = ev.write_plots(r, tmp_path / "plots")
    assert all(p.stat().st_size > 1000 for p in paths)
    json.dumps(r, allow_nan=False)
    assert "n/a" in ev.format_summary(r)


def test_missing_file_is_a_value_error_naming_it(tmp_path):
    files = _case(tmp_path, [_truth_row("A")])
    files["scores_path"] = tmp_path / "nope" / "scores.jsonl"
    with pytest.raises(ValueError, match=r"scores file not found: .*nope/scores\.jsonl"):
        ev.evaluate(**files)
    files = _case(tmp_path, [_truth_row("A")])
    with pytest.raises(ValueError, match="examples file not found"):
        ev.evaluate(**files, examples_path=tmp_path / "missing.jsonl")


def test_bad_arguments_are_value_errors(tmp_path):
    files = _case(tmp_path, [_truth_row("A")])
    with pytest.raises(ValueError, match="--k"):
        ev.parse_ks("10,ten")
    with pytest.raises(ValueError, match="--k"):
        ev.parse_ks("0")
    assert ev.parse_ks(" 100,10 ,50") == (10, 50, 100)
    with pytest.raises(ValueError, match="--from"):
        ev.evaluate(**files, start_from="01/02/2026")
    with pytest.raises(ValueError, match="after the last event"):
        ev.evaluate(**files, start_from="2027-01-01")
    (tmp_path / "truth.jsonl").write_text('{"borrower_id": "A", "default_date": "soon"}\n')
    with pytest.raises(ValueError, match=r"truth\.jsonl: borrower 'A' has a date"):
        ev.evaluate(**files)
    files = _case(tmp_path, [_truth_row("A")])
    (tmp_path / "scores.jsonl").write_text(
        json.dumps(_score("A", "2026-01-02T00:00:00Z", 0.1)) + "\n\n"
        + json.dumps(_score("A", "2026-01-02T00:00:00Z", "high")) + "\n")
    with pytest.raises(ValueError, match=r"scores\.jsonl:3: Expected `float \| null`"):
        ev.evaluate(**files)
    (tmp_path / "scores.jsonl").write_text(
        json.dumps(_score("A", "2026-01-02 00:00:00 UTC", 0.1)) + "\n")
    with pytest.raises(ValueError, match=r"scores\.jsonl: cannot read the timestamp"):
        ev.evaluate(**files)


def test_span_reads_first_and_last_line_of_a_large_file(tmp_path):
    path = tmp_path / "events.jsonl"
    lines = [json.dumps({"event_id": f"e{i}", "ts": "2026-01-01T00:00:00Z", "pad": "x" * 50})
             for i in range(3000)]
    lines[0] = json.dumps({"ts": "2025-12-31T22:00:00+01:00"})  # 21:00 UTC
    lines[-1] = json.dumps({"ts": "2026-12-31T23:59:59.5Z"})
    path.write_text("\n".join(lines) + "\n\n")
    span = read_span(path)
    assert span.start_day == metrics.days_of(np.array([span.first_seconds]))[0]
    assert (span.last_seconds - span.first_seconds) == pytest.approx(
        (date(2026, 12, 31) - date(2025, 12, 31)).days * 86400 + 2 * 3600 + 59 * 60 + 59.5
    )
    path.write_text("\n".join(lines))  # no newline at the end
    assert read_span(path).last_seconds == span.last_seconds


def test_block_timestamp_decoding_matches_the_slow_parser(tmp_path):
    from streamer.evaluation.inputs import parse_times, ts_seconds

    rng = np.random.default_rng(3)
    from datetime import datetime, timezone

    secs = rng.integers(-10**9, 4 * 10**9, 500)  # 1938 .. 2096, leap days included
    texts = [datetime.fromtimestamp(int(x), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
             for x in secs]
    texts += ["2024-02-29T23:59:59Z", "2026-03-01T08:00:00.250Z", "2026-03-01T09:00:00+01:00",
              "2026-03-01T08:00:00"]
    got = parse_times(texts, tmp_path / "x.jsonl")
    assert got[:500].tolist() == secs.astype(float).tolist()
    assert got.tolist() == [ts_seconds(t) for t in texts]
    assert got[-2] == got[-1] and got[-3] == got[-1] + 0.25
    with pytest.raises(ValueError, match="x.jsonl: cannot read the timestamp '2026-13-01"):
        parse_times(["2026-01-01T00:00:00Z", "2026-13-01T00:00:00Z"], tmp_path / "x.jsonl")


def test_auc_figures_agree_with_sklearn_scores():
    from sklearn.metrics import average_precision_score, roc_auc_score

    rng = np.random.default_rng(5)
    y = rng.uniform(size=3000) < 0.1
    p = np.round(rng.uniform(size=3000) + 0.3 * y, 2)  # with ties
    fig = metrics.auc_figures(y, p)["figures"]
    assert fig["roc_auc"] == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert fig["pr_auc"] == pytest.approx(average_precision_score(y, p), abs=1e-12)


def test_daily_last_with_and_without_time_order():
    b = np.array([1, 0, 1, 1, 0])
    sec = np.array([10.0, 20.0, 30.0, 86400.0 + 5, 86400.0 * 2])
    s = np.array([0.1, 0.2, 0.3, 0.4, 0.5])
    got = metrics.daily_last(b, sec, s)
    assert [x.tolist() for x in got] == [[0, 0, 1, 1], [0, 2, 0, 1], [0.2, 0.5, 0.3, 0.4]]
    perm = np.array([4, 2, 0, 3, 1])
    again = metrics.daily_last(b[perm], sec[perm], s[perm])
    assert [x.tolist() for x in again] == [x.tolist() for x in got]


def test_the_cli_reports_a_missing_file_in_one_line(tmp_path, capsys):
    from streamer.cli import main

    files = _case(tmp_path, [_truth_row("A")])
    code = main(["evaluate", "--events", str(files["events_path"]),
                 "--truth", str(files["truth_path"]), "--alerts", str(tmp_path / "gone.jsonl"),
                 "--scores", str(files["scores_path"]), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert "alerts file not found" in err and "gone.jsonl" in err and len(err.splitlines()) == 1


# -- the early-warning threshold trade-off -------------------------------------------------------


def test_early_tradeoff_counts_defaulters_only_before_their_first_miss(tmp_path):
    truth = [_truth_row("D1", "2026-06-01", "2026-03-01"), _truth_row("D2", "2026-06-01",
                                                                        "2026-03-01"),
             _truth_row("G1"), _truth_row("G2"), _truth_row("G3"), _truth_row("G4")]

    def early(bid, ts, e):
        return {**_score(bid, ts, 0.01), "early_score": e}

    scores = [
        early("D1", "2026-02-10T10:00:00Z", 0.35),  # before D1's first miss: counts
        early("D2", "2026-02-10T10:00:00Z", 0.08),
        early("D2", "2026-03-05T10:00:00Z", 0.90),  # after the miss: does not count
        early("G1", "2026-05-01T10:00:00Z", 0.22),
        early("G2", "2026-05-01T10:00:00Z", 0.12),
        _score("G3", "2026-05-01T10:00:00Z", 0.5),  # no early score on this line
    ]
    r = ev.evaluate(**_case(tmp_path, truth, scores=scores))
    by_t = {e["threshold"]: e for e in r["early_warning_thresholds"]}
    assert by_t[0.05] == {"threshold": 0.05, "defaulters_before_first_missed": 1.0,
                          "good_borrowers": 0.5}
    assert by_t[0.2]["defaulters_before_first_missed"] == 0.5
    assert by_t[0.2]["good_borrowers"] == 0.25
    assert by_t[0.4] == {"threshold": 0.4, "defaulters_before_first_missed": 0.0,
                         "good_borrowers": 0.0}
    assert "0.20: 50% / 25%" in ev.format_summary(r)
    # scores without any early score: no table
    plain = ev.evaluate(**_case(tmp_path, truth, scores=[_score("G1", "2026-05-01T10:00:00Z",
                                                                0.5)]))
    assert plain["early_warning_thresholds"] is None


def test_early_budget_spent_counts_high_alerts_before_the_first_miss():
    m = metrics
    never = m.NEVER
    default_day = np.array([never, never, never, never, 40])
    first_missed = np.array([10, never, 30, never, 20])
    # borrower, day, kind (0 raised, 1 escalated), tier (2 high)
    alerts = np.array([[0, 12, 0, 2],   # high after its miss: not the early budget's
                       [1, 5, 0, 2],    # never missed: spent
                       [2, 25, 0, 2],   # before its miss at day 30: spent
                       [3, 6, 0, 1],    # watch only
                       [4, 15, 0, 2]])  # a defaulter: not a good borrower
    nz = m.noise(default_day, alerts[:, 0], alerts[:, 1], alerts[:, 2], alerts[:, 3], 0, 60,
                 first_missed)
    assert nz["good_borrowers_high_share"] == pytest.approx(3 / 4)
    assert nz["good_borrowers_high_before_first_miss_share"] == pytest.approx(2 / 4)


def test_early_budget_spent_counts_every_high_alert_the_early_score_raised():
    """The budget as STREAMER_EARLY_BUDGET counts it: good borrowers the early score
    alerted `high`, before or after a missed payment they cured."""
    m = metrics
    never = m.NEVER
    default_day = np.array([never, never, never, 40])
    first_missed = np.array([10, never, 30, 20])
    alerts = np.array([[0, 12, 0, 2],   # early, after its (cured) miss: spent all the same
                       [1, 5, 0, 2],    # the default score's: not the early budget's
                       [2, 25, 1, 2],   # early, escalated from watch: spent
                       [3, 15, 0, 2]])  # a defaulter
    early = np.array([True, False, True, True])
    nz = m.noise(default_day, alerts[:, 0], alerts[:, 1], alerts[:, 2], alerts[:, 3], 0, 60,
                 first_missed, early)
    assert nz["good_borrowers_early_high_share"] == pytest.approx(2 / 3)
    assert nz["good_borrowers_high_before_first_miss_share"] == pytest.approx(2 / 3)
    assert "good_borrowers_early_high_share" not in m.noise(
        default_day, alerts[:, 0], alerts[:, 1], alerts[:, 2], alerts[:, 3], 0, 60)
