"""`streamer evaluate`: how early and how well the engine warns, from replay's outputs.

    streamer evaluate --events E --truth T --alerts A --scores S [--examples X] --out DIR
                      [--latent L] [--history-examples H] [--from YYYY-MM-DD]
                      [--k 10,50,100]

Prints a summary, writes DIR/evaluation.json and PNG figures beside it. The figures and
their exact rules (labels, censoring, what counts as "before") are described in
`streamer/evaluation/metrics.py`; the work is done by `evaluate()`, which prints nothing.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Iterable
from datetime import date
from pathlib import Path

import numpy as np

from . import metrics as m
from .budget import at_budget, before_any_miss
from .inputs import (
    check_file,
    day_of,
    day_str,
    read_alerts,
    read_examples,
    read_latent,
    read_scores,
    read_span,
    read_truth,
)
from .plots import write_plots

__all__ = ["add_arguments", "run", "evaluate", "write_plots", "write_result", "format_summary"]

DEFAULT_KS = (10, 50, 100)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--events", required=True, metavar="E",
                        help="contract-v1 events JSONL (only the first and last line are read)")
    parser.add_argument("--truth", required=True, metavar="T",
                        help="ground-truth JSONL from `streamer simulate`")
    parser.add_argument("--alerts", required=True, metavar="A",
                        help="alerts JSONL from `streamer replay`")
    parser.add_argument("--scores", required=True, metavar="S",
                        help="scores JSONL from `streamer replay` (one line per scored event)")
    parser.add_argument("--examples", metavar="X", default=None,
                        help="labeled examples JSONL from `streamer replay --examples`: "
                             "adds the offline gradient-boosting reference")
    parser.add_argument("--latent", metavar="L", default=None,
                        help="the simulator's latent state from `streamer simulate --latent` "
                             "(needs --examples): adds the upper bound, a batch model that "
                             "also sees it, beside the early-warning reference")
    parser.add_argument("--history-examples", metavar="H", default=None,
                        help="labeled examples JSONL of the history book the model started "
                             "from (its replay's --examples; needs --examples): adds the "
                             "early-warning reference trained on what the online trainer "
                             "knew at the split")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="directory for evaluation.json and the PNG figures")
    parser.add_argument("--from", dest="start_from", metavar="DATE", default=None,
                        help="first day to evaluate, YYYY-MM-DD (skips a warm-up)")
    parser.add_argument("--k", dest="ks", metavar="K,K,...", default="10,50,100",
                        help="how many borrowers a day the collections team can call "
                             "(comma-separated; default 10,50,100)")


def run(args: argparse.Namespace) -> int:
    ks = parse_ks(args.ks)
    result = evaluate(
        args.events, args.truth, args.alerts, args.scores,
        examples_path=args.examples, start_from=args.start_from, ks=ks,
        latent_path=args.latent, history_examples_path=args.history_examples,
    )
    out = Path(args.out)
    json_path = write_result(result, out)
    pngs = write_plots(result, out)
    print(format_summary(result))
    print(f"\nwrote {json_path} and {', '.join(p.name for p in pngs)}")
    return 0


def parse_ks(value: str | Iterable[int]) -> tuple[int, ...]:
    """'10,50,100' (or an iterable of ints) -> (10, 50, 100); ValueError when not positive ints."""
    items = value.split(",") if isinstance(value, str) else list(value)
    try:
        ks = tuple(sorted({int(str(k).strip()) for k in items if str(k).strip()}))
    except ValueError:
        ks = ()
    if not ks or ks[0] < 1:
        raise ValueError(f"--k {value!r}: give positive whole numbers separated by commas, "
                         "e.g. --k 10,50,100")
    return ks


def _parse_day(value: str | date) -> int:
    try:
        return day_of(value if isinstance(value, date) else date.fromisoformat(str(value)))
    except ValueError:
        raise ValueError(f"--from {value!r} is not a date; write it as YYYY-MM-DD") from None


def evaluate(
    events_path,
    truth_path,
    alerts_path,
    scores_path,
    examples_path=None,
    start_from: str | date | None = None,
    ks: Iterable[int] = DEFAULT_KS,
    horizon_days: int = m.HORIZON_DAYS,
    latent_path=None,
    history_examples_path=None,
) -> dict:
    """Every figure of the evaluation, as a JSON-ready dict (nothing printed or written)."""
    files = {"events": events_path, "truth": truth_path, "alerts": alerts_path,
             "scores": scores_path}
    if examples_path is not None:
        files["examples"] = examples_path
    if latent_path is not None:
        if examples_path is None:
            raise ValueError("--latent needs --examples (the upper bound is trained on the "
                             "examples' snapshots)")
        files["latent"] = latent_path
    if history_examples_path is not None:
        if examples_path is None:
            raise ValueError("--history-examples needs --examples (the reference it trains is "
                             "tested on the examples' snapshots)")
        files["history_examples"] = history_examples_path
    for what, path in files.items():  # all up front, before reading gigabytes
        check_file(path, what)
    ks = parse_ks(ks)
    start = None if start_from is None else _parse_day(start_from)

    span = read_span(events_path)
    if start is not None and start > span.end_day:
        raise ValueError(f"--from {day_str(start)} is after the last event "
                         f"({day_str(span.end_day)}); choose an earlier date")
    window_start = span.start_day if start is None else max(span.start_day, start)
    end = span.end_day
    truth = read_truth(truth_path)
    scores = read_scores(scores_path, truth.index)
    alerts = read_alerts(alerts_path, truth.index)

    # progressive validation on borrower-days: each day's last score against the 90 days after
    b, d, s = m.daily_last(scores.borrower, scores.seconds, scores.score)
    keep, label = m.label_days(d, truth.default_day[b], end, window_start, horizon_days)
    auc = m.auc_figures(label[keep], s[keep])
    auc["figures"]["scored_borrowers"] = int(np.unique(b[keep]).size)
    calibration = m.calibration(label[keep], s[keep])

    lead, first_missed, leads = m.lead_times(
        truth.default_day, truth.first_missed_day, alerts.borrower, alerts.seconds,
        alerts.tier, window_start, end,
    )
    top_k = m.top_k_precision(b, d, s, truth.default_day, window_start, end - horizon_days,
                              ks, horizon_days)
    if not top_k["days"]:
        top_k["note"] = (f"no day has a fully observed {horizon_days}-day outcome "
                         "(the evaluated span is too short)")
    alert_day = m.days_of(alerts.seconds)
    noise = m.noise(truth.default_day, alerts.borrower, alert_day, alerts.kind, alerts.tier,
                    window_start, end, truth.first_missed_day, alerts.early)
    early = m.early_tradeoff(scores.borrower, scores.seconds, scores.early, truth.default_day,
                             truth.first_missed_day, window_start, end)

    early_before = before_any_miss(scores.borrower, scores.seconds, scores.early,
                                   truth.first_missed_day)
    budget = {
        name: at_budget(scores.borrower, scores.seconds, values, truth.default_day,
                        truth.first_missed_day, window_start, end)
        for name, values in (("early", scores.early), ("early_before_any_miss", early_before),
                             ("default", scores.score))
    }

    offline = None
    if examples_path is not None:
        from .offline import early_at_budget, early_ranking, offline_reference

        examples = read_examples(examples_path)
        latent = None if latent_path is None else read_latent(latent_path, truth.index)
        history = (None if history_examples_path is None
                   else read_examples(history_examples_path))
        offline = offline_reference(examples)
        offline["early_at_budget"] = early_at_budget(
            examples, truth.index, truth.default_day, truth.first_missed_day, scores,
            latent=latent, history=history)
        offline["early_ranking"] = early_ranking(examples, truth.index, scores)

    n_def = int((truth.default_day != m.NEVER).sum())
    result = {
        "horizon_days": horizon_days,
        "span": {
            "first_event": _iso(span.first_seconds),
            "last_event": _iso(span.last_seconds),
            "start": day_str(span.start_day),
            "end": day_str(end),
            "evaluated_from": day_str(window_start),
            "negatives_censored_after": day_str(end - horizon_days),
        },
        "borrowers": {"total": len(truth), "defaulters": n_def,
                      "never_default": len(truth) - n_def},
        "inputs": {
            **{what: str(path) for what, path in files.items()},
            "score_lines": scores.lines,
            "score_lines_unknown_borrower": scores.unknown_borrower,
            "score_lines_without_score": scores.null_score,
            "alert_lines": alerts.lines,
            "alert_lines_unknown_borrower": alerts.unknown_borrower,
            "alert_lines_unknown_kind_or_tier": alerts.unknown_kind_or_tier,
        },
        "auc": auc["figures"],
        "lead_time_days": lead,
        "flagged_before_first_missed": first_missed,
        "top_k_precision": top_k,
        "noise": noise,
        "early_warning_thresholds": early,
        "at_budget": budget,
        "calibration": calibration,
        "offline_reference": offline,
        "plot_data": {
            **auc["curves"],
            "lead_times_days": leads,
            "alerts_by_week": m.alerts_by_week(alert_day, alerts.kind, alerts.tier,
                                               window_start, end),
        },
    }
    return _clean(result)


def _iso(seconds: float) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(seconds, tz=timezone.utc).isoformat().replace("+00:00", "Z")


def _clean(value):
    """numpy scalars -> Python numbers, NaN/inf -> None, recursively (strict JSON)."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_result(result: dict, out_dir: str | Path) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "evaluation.json"
    path.write_text(json.dumps(result, indent=2, allow_nan=False) + "\n")
    return path


def _num(x, fmt: str = ".3f") -> str:
    return "n/a" if x is None else format(x, fmt)


def _budget_line(x: dict) -> str:
    return (f"{x['budget']:.0%} ({_num(x['threshold'], '.3f')}): "
            f"{_num(x['before_first_missed'], '.1%')} of defaulters before the first miss, "
            f"{_num(x['at_least_30_days_before_default'], '.1%')} 30+ days before default, "
            f"precision {_num(x['precision_180d'], '.1%')}")


def format_summary(r: dict) -> str:
    """The result as a few readable lines."""
    a, lt, fm = r["auc"], r["lead_time_days"], r["flagged_before_first_missed"]
    tk, nz, cal, span = r["top_k_precision"], r["noise"], r["calibration"], r["span"]
    h = r["horizon_days"]
    bw = r["borrowers"]
    lines = [
        f"span {span['start']} .. {span['end']} (evaluated from {span['evaluated_from']}); "
        f"{bw['total']} borrowers, {bw['defaulters']} defaulters",
        f"ROC AUC {_num(a['roc_auc'])}   PR AUC {_num(a['pr_auc'])}   "
        f"({a['borrower_days']} borrower-days, base rate {_num(a['base_rate'], '.2%')}, "
        f"default within {h} days)",
        f"lead time of first high-or-worse alert: median {_num(lt['median'], '.0f')} days "
        f"(quartiles {_num(lt['q1'], '.0f')}-{_num(lt['q3'], '.0f')}); "
        f"{lt['count']} of {lt['defaulters']} defaulters flagged "
        f"({_num(lt['share_flagged'], '.1%')})",
        f"flagged high-or-worse before the first missed payment: {fm['count']} of "
        f"{fm['defaulters']} ({_num(fm['share'], '.1%')})",
        "top-k precision a day: " + ", ".join(
            f"k={k} {_num(v, '.1%')}" for k, v in tk["precision_at_k"].items())
        + f" (base rate {_num(tk['base_rate'], '.2%')}, {tk['days']} days)",
        f"noise: {_num(nz['false_alerts_per_1000_good_per_month'], '.1f')} false alerts "
        f"per 1,000 good borrowers a month; {_num(nz['alerts_per_good_borrower'], '.2f')} "
        f"alerts per good borrower, {_num(nz['alerts_per_defaulter'], '.2f')} per defaulter; "
        f"{_num(nz['good_borrowers_high_share'], '.1%')} of good borrowers alerted high-or-worse "
        f"({_num(nz.get('good_borrowers_high_before_first_miss_share'), '.1%')} before any "
        "missed payment; the early alert budget spent: "
        f"{_num(nz.get('good_borrowers_early_high_share'), '.1%')} alerted high by the early "
        "score)",
        f"calibration: Brier {_num(cal['brier'], '.4f')}, "
        f"ECE {_num(cal['expected_calibration_error'], '.4f')}",
    ]
    early = r.get("early_warning_thresholds")
    if early:
        lines.append("early-warning score reaching T, before the first missed payment / "
                     "ever on good borrowers: " + ", ".join(
                         f"{e['threshold']:.2f}: {_num(e['defaulters_before_first_missed'], '.0%')}"
                         f" / {_num(e['good_borrowers'], '.0%')}" for e in early))
    named = {"early_before_any_miss": "early score, counted before any missed payment,"}
    for name, fig in (r.get("at_budget") or {}).items():
        if fig:
            lines.append(f"{named.get(name, name + ' score')} at a budget of good borrowers "
                         "alerted (threshold): "
                         + "; ".join(_budget_line(x) for x in fig["budgets"]))
    off = r.get("offline_reference")
    if off is not None:
        if off.get("status") == "ok":
            lines.append(
                f"offline reference ({off['model']}, test from {off['split_at']}): "
                f"ROC AUC {off['reference_roc_auc']:.3f} vs online {off['online_roc_auc']:.3f} "
                f"on the same {off['test_examples_with_online_score']} test examples; "
                f"gap {off['gap']:+.3f}"
            )
        else:
            lines.append(f"offline reference skipped: {off.get('reason')}")
        eb = off.get("early_at_budget") or {}
        if eb.get("status") == "ok" and eb.get("latent"):
            la = eb["latent"]
            lines.append(f"  upper bound: the reference's features + {len(la['features'])} "
                         f"latent features of the simulator (a row on or before "
                         f"{_num(la['test_with_row'], '.0%')} of test snapshots); latent_only: "
                         "those alone")
        kn = eb.get("known_at_split")
        if eb.get("status") == "ok" and kn:
            lines.append(
                f"  known_at_split: trained on what the online trainer knew at the split, "
                f"the history's {kn['history_examples']:,} examples "
                f"({kn['history_positives']:,} positive) and the book's "
                f"{kn['book_examples_released']:,} released by then "
                f"({kn['book_positives_released']:,} positive; the reference learned "
                f"{kn['reference_positives_not_yet_released']:,} positives not yet released)"
                + (f"; skipped: {kn['skipped']}" if kn.get("skipped") else ""))
        if eb.get("status") == "ok":
            for name, fig in eb["at_budget"].items():
                if fig:
                    lines.append(f"  {name} at test snapshots {eb['window'][0]}..{eb['window'][1]}"
                                 ": " + "; ".join(_budget_line(x) for x in fig["budgets"]))
        elif eb:
            lines.append(f"offline early-warning reference skipped: {eb.get('reason')}")
        rk = off.get("early_ranking")
        if rk:
            lines.append(f"early score at every labelled snapshot of a current borrower: ROC AUC "
                         f"{rk['roc_auc']:.3f}, PR AUC {rk['pr_auc']:.3f} ({rk['snapshots']} "
                         f"snapshots, {rk['positives']} positive)")
        if eb.get("status") == "ok":
            lines.append("  at the test snapshots with a known early label, ROC AUC / PR AUC: "
                         + "; ".join(f"{name} {x['roc_auc']:.3f} / {x['pr_auc']:.3f}"
                                     for name, x in eb["ranking"].items() if x))
    return "\n".join(lines)
