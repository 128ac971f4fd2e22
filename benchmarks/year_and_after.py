"""A year's early alerts judged by what happened after the year too.

`streamer evaluate` judges a simulated year by itself: a defaulter is flagged before its
first missed payment or not at all, and a borrower alerted in the last quarter whose first
miss falls early next year counts as a good borrower alerted. That rewards alerting early
in the year (every first miss of the year's defaulters falls before October). This script
judges the alerts of a year on a longer book (simulate 18 months, replay them all):

- **defaulters**: the borrowers who reach 90+ DPD by the end of the events and whose first
  missed payment falls after the year's first month and no later than 90 days past its end
  (an alert of the year may warn of it);
- **caught**: flagged `high` or `critical` (by anything) before the first missed payment,
  by an alert raised within the year;
- **good borrowers**: those who never default by the end of the events; the **budget
  spent** is the share of them the early score alerted within the year (what
  `STREAMER_EARLY_BUDGET` counts), and by month.

    .venv/bin/streamer simulate --scenario baseline --borrowers 20000 --days 548 \\
        --out book.jsonl --truth truth.jsonl
    .venv/bin/streamer replay book.jsonl --model history.model --alerts alerts.jsonl --quiet
    .venv/bin/python benchmarks/year_and_after.py truth.jsonl alerts.jsonl \\
        --year 2026-01-01 2026-12-31
"""

from __future__ import annotations

import argparse
import datetime as dt

import numpy as np

from streamer.evaluation.inputs import NEVER, TIERS, day_str, read_alerts, read_truth
from streamer.evaluation.metrics import days_of

HIGH = TIERS.index("high")  # this tier and above
_EPOCH = dt.date(1970, 1, 1)


def _day(value: str) -> int:
    return (dt.date.fromisoformat(value) - _EPOCH).days


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("truth", help="truth.jsonl of `streamer simulate`")
    ap.add_argument("alerts", help="alerts.jsonl of `streamer replay`")
    ap.add_argument("--year", nargs=2, metavar=("FIRST", "LAST"),
                    default=("2026-01-01", "2026-12-31"), help="the days whose alerts count")
    ap.add_argument("--after-days", type=int, default=90,
                    help="first misses this long after the year still count (default 90)")
    args = ap.parse_args(argv)
    first, last = (_day(d) for d in args.year)
    truth = read_truth(args.truth)
    alerts = read_alerts(args.alerts, truth.index)
    miss = truth.first_missed_day
    good = truth.default_day == NEVER
    defaulter = ~good & (miss != NEVER) & (miss > first + 30) & (miss <= last + args.after_days)
    b, day = alerts.borrower, days_of(alerts.seconds)
    counted = (day >= first) & (day <= last) & (alerts.tier >= HIGH)
    caught = np.unique(b[counted & defaulter[b] & (day < miss[b])])
    early = alerts.early if alerts.early is not None else np.zeros(b.size, dtype=bool)
    spent = counted & good[b] & early
    spender, at = np.unique(b[spent], return_index=True)  # alerts are in time order
    months, per_month = np.unique([day_str(int(d))[:7] for d in day[spent][at]],
                                  return_counts=True)
    n_def, n_good = int(defaulter.sum()), int(good.sum())
    print(f"defaulters (first miss {day_str(first + 31)} .. {day_str(last + args.after_days)}): "
          f"{n_def}; flagged high before the first miss within the year: {caught.size} "
          f"({100 * caught.size / max(1, n_def):.1f}%)")
    print(f"good borrowers: {n_good}; alerted by the early score within the year: "
          f"{spender.size} ({100 * spender.size / max(1, n_good):.2f}%)")
    print("by month: " + ", ".join(f"{m[5:]} {100 * n / max(1, n_good):.2f}%"
                                   for m, n in zip(months, per_month)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
