"""The early-warning reference trained only on what an online model could know at the split.

`streamer evaluate` trains its LightGBM reference on the book's snapshots whose 90-day
horizon ended before the split. Their early label (a miss within 90 days whose spell
ends in default) is often decided later: the spell reaches 90 DPD months after the miss,
and the trainer receives such an example only then (`labels.py`). So the reference learns
positives that the online model had not been given at the split; and it never sees the
history book the online model started from. This script trains the same LightGBM
(`evaluation.offline._model`) on four training sets and reports each one's capture
before the first missed payment at the 2 / 5 / 10% budgets over the same test snapshots
(`evaluation.budget.at_budget`, as the evaluator counts):

1. the evaluator's rule: book snapshots with ts + horizon <= split;
2. the book's examples released by the split: in file order (the order they were
   released in, as `streamer replay --examples` writes them), those before the first whose
   running maximum of ts + horizon passes the split;
3. the history book's examples plus (2): what an online model started from the history
   knows at the split;
4. the history book's examples alone.

With `--scores` (the replay's scores.jsonl), the online early score at the same snapshots.

    .venv/bin/python benchmarks/fair_reference.py --examples out/quality/baseline/examples.jsonl \\
        --history-examples out/quality/baseline/history-examples.jsonl \\
        --truth out/quality/baseline/truth.jsonl [--scores out/quality/baseline/scores.jsonl]

(`benchmarks/quality.sh` writes history-examples.jsonl beside the history model.)
Prints the figures and writes them to out/bench/fair_reference.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

from streamer.evaluation.budget import at_budget
from streamer.evaluation.inputs import SECONDS_PER_DAY, read_examples, read_scores, read_truth
from streamer.evaluation.offline import _at_snapshots, _model, _split

OUT = Path(__file__).resolve().parent.parent / "out" / "bench"


def released_by(seconds: np.ndarray, horizon: float, split: float) -> np.ndarray:
    """Which examples (their snapshot times, in the order they were released) had reached
    the trainer by `split`: a line is released no earlier than every line before it, nor
    before its own horizon ended, so the running maximum of ts + horizon is a lower bound
    of the stream's time at its release. An example released late (a miss whose spell
    ended in default months on) comes after lines with later horizons, and so after the
    split if they are.

    >>> released_by(np.array([0.0, 100.0, 1.0]), horizon=10.0, split=60.0).tolist()
    [True, False, False]
    """
    return np.maximum.accumulate(seconds + horizon) <= split


def _aligned(x: np.ndarray, names: list[str], order: list[str]) -> np.ndarray:
    """`x`'s columns in `order` (a feature it lacks is NaN, as the evaluator reads it)."""
    col = {f: j for j, f in enumerate(names)}
    out = np.full((len(x), len(order)), np.nan, dtype=np.float32)
    for j, f in enumerate(order):
        if f in col:
            out[:, j] = x[:, col[f]]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--examples", required=True, help="the evaluated book's examples.jsonl")
    ap.add_argument("--history-examples", required=True,
                    help="the history book's examples.jsonl (its replay's --examples)")
    ap.add_argument("--truth", required=True, help="the evaluated book's truth.jsonl")
    ap.add_argument("--scores", help="the evaluated book's scores.jsonl (the online early score)")
    ap.add_argument("--horizon-days", type=float, default=90.0)
    ap.add_argument("--train-share", type=float, default=0.7, help="as `streamer evaluate`")
    args = ap.parse_args(argv)

    book, history = read_examples(args.examples), read_examples(args.history_examples)
    truth = read_truth(args.truth)
    horizon = args.horizon_days * SECONDS_PER_DAY
    split = _split(book, args.train_share)
    labelled = book.early_label >= 0
    released = released_by(book.seconds, horizon, split)
    borrower = np.array([truth.index.get(b, -1) if b is not None else -1
                         for b in book.borrower_id], dtype=np.int64)
    test = (book.seconds >= split) & (borrower >= 0)
    hx = _aligned(history.features, history.names, book.names)
    h_lab = history.early_label >= 0
    hx, hy = hx[h_lab], history.early_label[h_lab]
    horizon_ended = (book.seconds + horizon <= split) & labelled
    known = released & labelled
    bx, by = book.features[known], book.early_label[known]
    sets = {
        "evaluator's rule (ts + horizon <= split)":
            (book.features[horizon_ended], book.early_label[horizon_ended]),
        "book, released by the split": (bx, by),
        "history + book released by the split": (np.vstack([hx, bx]), np.concatenate([hy, by])),
        "history alone": (hx, hy),
    }
    b, sec = borrower[test], book.seconds[test]
    first_day, last_day = int(split // SECONDS_PER_DAY), int(sec.max() // SECONDS_PER_DAY)
    results = {}
    figures = {}
    for name, (x, y) in sets.items():
        _, model = _model(0, len(y))
        model.fit(x, y)
        figures[name] = model.predict_proba(book.features[test])[:, 1]
        results[name] = {"train_examples": int(len(y)), "train_positives": int(y.sum())}
    if args.scores:
        figures["online early score"] = _at_snapshots(read_scores(args.scores, truth.index), b, sec)
        results["online early score"] = {}
    print(f"split {time.strftime('%Y-%m-%d', time.gmtime(split))}, "
          f"{int(test.sum()):,} test snapshots")
    for name, values in figures.items():
        r = at_budget(b, sec, values, truth.default_day, truth.first_missed_day, first_day,
                      last_day)
        caught = {f"{x['budget']:.0%}": x["before_first_missed"] for x in r["budgets"]}
        trained = results[name]
        size = (f" (trained on {trained['train_examples']:,} examples, "
                f"{trained['train_positives']:,} positive)" if trained else "")
        trained["capture_before_first_missed"] = caught
        trained["defaulters"] = r["defaulters_before_first_missed"]
        print(f"{name}{size}: " + ", ".join(f"{k}: {v:.1%}" for k, v in caught.items()))
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "fair_reference.json").write_text(json.dumps({
        "date": time.strftime("%Y-%m-%d"), "machine": platform.node(),
        "examples": args.examples, "history_examples": args.history_examples,
        "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
