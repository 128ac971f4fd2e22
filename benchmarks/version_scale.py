"""Does a score mean the same from one model version to the next?

Every published version is scored on its own, but the product compares a borrower's scores
across versions: a tier is entered at one version and left at another, the alert budget
counts a year of maxima, and an evaluation ranks a quarter of snapshots scored by dozens
of versions. This script measures what version-to-version swings of scale cost:

1. reads a replay's labelled snapshots (`streamer replay --examples`, in the order the
   trainer learned them) and the history snapshot the replay started from;
2. lets that snapshot's trainer model (the early model or the champion) learn them in
   order, the negatives the trainer samples with their weight, publishing a version every
   `--publish-every` examples as the trainer does (the early scorer: the mean of the
   versions over the last `--average-examples`, `model.Average`; 0: the newest alone);
3. scores each test snapshot (between `--split` and `--end`) with the version that was
   live then: the newest one whose examples were all older than the label horizon (a
   label is released when its horizon has passed);
4. prints the ROC AUC of those scores pooled over the test snapshots, calibrated (what the
   product publishes) and as the same versions' raw logits, and the range of the
   calibrator's slope and offset over the versions;
5. with `--truth` (the book's ground truth), the capture before the first missed payment at
   the 2%, 5% and 10% budgets over those snapshots (`streamer.evaluation.budget`): the
   figure the evaluator's "online early, same snapshots" column gives, in a minute instead
   of a replay. Every snapshot in the window counts, labelled or not, as in the evaluator;
   on a 20,000-borrower industry_downturn book (seed 42, from its 10,000-borrower history
   model) it gave 22.3 / 43.2 / 63.3% where the evaluator's column gave 22.3 / 42.4 / 62.6.

    .venv/bin/python benchmarks/version_scale.py out/quality/baseline/examples.jsonl \\
        out/quality/baseline/history.model --which early [--cal-rate 0.05] [--average-examples 0]
        [--truth out/quality/baseline/truth.jsonl]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys

import msgspec
import numpy as np
from sklearn.metrics import roc_auc_score

from streamer.core.model import Average, Scorer, _logit
from streamer.core.outputs import TrainingExample
from streamer.core.trainer import EARLY_AVERAGE_EXAMPLES, Trainer, sample_key, sample_weight
from streamer.evaluation.budget import at_budget
from streamer.evaluation.inputs import read_truth
from streamer.settings import Settings

DAY = 86_400.0


def _epoch(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("examples", help="examples.jsonl of a replay")
    ap.add_argument("model", help="the snapshot the replay started from (history.model)")
    ap.add_argument("--which", choices=("early", "champion"), default="early")
    ap.add_argument("--cal-rate", type=float,
                    help="the calibrator's AdaGrad rate (default: the snapshot's)")
    ap.add_argument("--publish-every", type=int, default=Settings().publish_every)
    ap.add_argument("--average-examples", type=int, default=EARLY_AVERAGE_EXAMPLES,
                    help="publish the mean of the versions over this many examples (0: the "
                         "newest version alone; the trainer averages the early model's only)")
    ap.add_argument("--horizon-days", type=float, default=Settings().label_horizon_days)
    ap.add_argument("--min-history-days", type=float,
                    default=Settings().early_min_history_days)
    ap.add_argument("--split", default="2026-07-12", help="first test day (the evaluator's)")
    ap.add_argument("--end", default="2026-10-02", help="day after the last test day")
    ap.add_argument("--truth", help="the book's truth.jsonl: adds the capture at a budget")
    args = ap.parse_args(argv)
    key = Settings().model_key_bytes
    with open(args.model, "rb") as f:
        trainer = Trainer.restore(f.read(), key)
    model = trainer.early if args.which == "early" else trainer.champion
    every = trainer.negative_every[args.which]
    average = Average(args.average_examples // args.publish_every)
    if args.cal_rate is not None:
        model.calibrator.rate = args.cal_rate
    split, end = _epoch(args.split + "T00:00:00Z"), _epoch(args.end + "T00:00:00Z")
    decode = msgspec.json.Decoder(TrainingExample)
    versions: list[tuple[float, Scorer]] = []  # (newest snapshot learned, scorer)
    # (time, features, label or None, borrower, no early score: the account too young)
    test: list[tuple[float, dict[str, float], bool | None, str, bool]] = []
    newest, n = -np.inf, 0
    with open(args.examples, "rb") as f:
        for line in f:
            ex = decode.decode(line)
            n += 1
            x, ts = ex.features, _epoch(ex.ts)
            y: bool | None = ex.label == 1
            young = False
            if args.which == "early":  # the trainer's rule for the early model
                young = x.get("tenure_years", 0.0) * 365 < args.min_history_days
                y = None if ex.early_label is None or young else ex.early_label == 1
            if split <= ts < end:  # every snapshot counts in the capture, labelled or not
                test.append((ts, x, y, ex.borrower_id, young))
            if y is not None:
                # the trainer's sample: every positive, 1 in `every` negatives, weighted
                w = sample_weight(every, y, sample_key(ex.borrower_id, ex.ts))
                if w:
                    model.learn_one(x, y, w)
                newest = max(newest, ts)
            if n % args.publish_every == 0:
                versions.append((newest, average.publish(model, n)))
    if not versions or not test:
        sys.exit("version_scale: no versions or no test snapshots (check --split/--end)")
    learned = np.array([v[0] for v in versions])
    labelled = np.array([t[2] is not None for t in test])
    y_true = np.array([bool(t[2]) for t in test])[labelled]
    calibrated, raw = [], []
    for ts, x, *_ in test:
        i = max(int(np.searchsorted(learned, ts - args.horizon_days * DAY, "right")) - 1, 0)
        scorer = versions[i][1]
        p = scorer.score(x)
        calibrated.append(p)
        raw.append((_logit(p) - scorer.cal_b) / scorer.cal_a)
    scores = np.array(calibrated)
    calibrated, raw = scores[labelled], np.array(raw)[labelled]
    a = [s.cal_a for _, s in versions]
    b = [s.cal_b for _, s in versions]
    print(f"{args.which}: {len(versions)} versions, {int(labelled.sum())} test snapshots, "
          f"{int(y_true.sum())} positive; calibrator rate {model.calibrator.rate}; "
          f"published: the mean of the last {average.n} versions")
    print(f"  ROC AUC pooled, calibrated: {roc_auc_score(y_true, calibrated):.4f}")
    print(f"  ROC AUC pooled, raw logits: {roc_auc_score(y_true, raw):.4f}")
    if average.n == 1:  # a mean of versions is published calibrated (slope 1, offset 0)
        print(f"  calibrator slope {min(a):.2f}..{max(a):.2f}, offset {min(b):.2f}..{max(b):.2f}")
    if args.truth:
        # an account too young has no early score (the engine's rule)
        scores[np.array([t[4] for t in test])] = np.nan
        _capture(args.truth, test, scores)
    return 0


def _capture(truth_path: str, test: list, scores: np.ndarray) -> None:
    """Capture before the first miss at each budget over the test snapshots, as the
    evaluator counts it (`budget.at_budget`: each borrower's highest score)."""
    truth = read_truth(truth_path)
    borrower = np.array([truth.index.get(t[3], -1) for t in test], dtype=np.int64)
    known = borrower >= 0
    seconds = np.array([t[0] for t in test])[known]
    days = seconds // DAY
    r = at_budget(borrower[known], seconds, scores[known], truth.default_day,
                  truth.first_missed_day, int(days.min()), int(days.max()))
    if r is None:
        print("  capture: no scores in the window")
        return
    caught = ", ".join(f"{b['budget']:.0%}: {b['before_first_missed']:.1%}"
                       for b in r["budgets"])
    print(f"  capture before the first miss ({r['defaulters_before_first_missed']} "
          f"defaulters), by budget: {caught}")


if __name__ == "__main__":
    raise SystemExit(main())
