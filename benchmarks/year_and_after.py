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
import json
from collections import Counter

import msgspec

HIGH = ("high", "critical")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("truth", help="truth.jsonl of `streamer simulate`")
    ap.add_argument("alerts", help="alerts.jsonl of `streamer replay`")
    ap.add_argument("--year", nargs=2, metavar=("FIRST", "LAST"),
                    default=("2026-01-01", "2026-12-31"), help="the days whose alerts count")
    ap.add_argument("--after-days", type=int, default=90,
                    help="first misses this long after the year still count (default 90)")
    args = ap.parse_args(argv)
    first, last = (dt.date.fromisoformat(d) for d in args.year)
    first_miss_from = first + dt.timedelta(days=30)
    first_miss_to = last + dt.timedelta(days=args.after_days)
    miss: dict[str, str] = {}
    good: set[str] = set()
    with open(args.truth, "rb") as f:
        for line in f:
            t = json.loads(line)
            b, fm = t["borrower_id"], t["first_missed_payment_date"]
            if t["default_date"] is None:
                good.add(b)
            elif fm is not None and first_miss_from < dt.date.fromisoformat(fm) <= first_miss_to:
                miss[b] = fm
    caught: set[str] = set()
    spent: dict[str, str] = {}
    decode = msgspec.json.Decoder()
    lo, hi = first.isoformat(), last.isoformat()
    with open(args.alerts, "rb") as f:
        for line in f:
            a = decode.decode(line)
            day = a["ts"][:10]
            if not lo <= day <= hi or a["tier"] not in HIGH:
                continue
            b = a["borrower_id"]
            if b in miss and day < miss[b]:
                caught.add(b)
            elif b in good and a["decided_by"] == "early_score" and b not in spent:
                spent[b] = day[:7]
    by_month = Counter(spent.values())
    print(f"defaulters (first miss {first_miss_from} .. {first_miss_to}): {len(miss)}; "
          f"flagged high before the first miss within the year: {len(caught)} "
          f"({100 * len(caught) / max(1, len(miss)):.1f}%)")
    print(f"good borrowers: {len(good)}; alerted by the early score within the year: "
          f"{len(spent)} ({100 * len(spent) / max(1, len(good)):.2f}%)")
    print("by month: " + ", ".join(f"{m[5:]} {100 * by_month[m] / max(1, len(good)):.2f}%"
                                   for m in sorted(by_month)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
