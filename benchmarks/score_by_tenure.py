"""How the early score of good borrowers varies with the account's age.

The alert budget's threshold is set on the trainer's sample of labelled snapshots, which
are at least a label horizon (90 days) older than the live book. Where good borrowers'
scores depend on the account's age, a threshold set on younger snapshots spends a
different share of the live book. This script lets the history snapshot's early model
learn a replay's labelled snapshots in order (as the trainer does), then prints the
distribution of its score over the good borrowers' snapshots (no default, no early
positive) by tenure.

    .venv/bin/python benchmarks/score_by_tenure.py out/quality/baseline/examples.jsonl \\
        out/quality/baseline/history.model
"""

from __future__ import annotations

import argparse

import msgspec
import numpy as np

from streamer.core.model import Scorer, load_snapshot
from streamer.core.outputs import TrainingExample
from streamer.settings import Settings


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("examples", help="examples.jsonl of a replay")
    ap.add_argument("model", help="the snapshot the replay started from (history.model)")
    ap.add_argument("--bucket-days", type=int, default=60)
    args = ap.parse_args(argv)
    settings = Settings()
    with open(args.model, "rb") as f:
        early = load_snapshot(f.read(), settings.model_key_bytes)[1]["early"]
    decode = msgspec.json.Decoder(TrainingExample)
    rows, bad = [], set()
    with open(args.examples, "rb") as f:
        for line in f:
            ex = decode.decode(line)
            days = ex.features.get("tenure_years", 0.0) * 365
            if ex.label == 1 or ex.early_label == 1:
                bad.add(ex.borrower_id)
            if ex.early_label is None or days < settings.early_min_history_days:
                continue
            early.learn_one(ex.features, ex.early_label == 1)
            rows.append((days, ex.features, ex.borrower_id))
    scorer = Scorer.from_model(early, 0)
    by_age: dict[int, list[float]] = {}
    for days, x, borrower in rows:
        if borrower not in bad:
            by_age.setdefault(int(days // args.bucket_days), []).append(scorer.score(x))
    print("tenure, days | good borrowers' snapshots | mean | p95 | p99")
    for k in sorted(by_age):
        v = np.array(by_age[k])
        lo = k * args.bucket_days
        print(f"{lo}-{lo + args.bucket_days - 1} | {v.size} | {v.mean():.4f} | "
              f"{np.quantile(v, 0.95):.4f} | {np.quantile(v, 0.99):.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
