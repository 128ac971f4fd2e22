"""Partitioned trainers: what k trainers, each learning a share of the borrowers, cost and score.

One `streamer trainer` learns every labelled example (~305 µs of CPU each,
`trainer_cost.py`). For a book whose examples outrun one core, this script tries the plan
"split risk.training by borrower into k partitions, one trainer per partition, and publish
one model made from the k" and measures it on a replay's examples:

    .venv/bin/python benchmarks/partitioned_trainers.py EXAMPLES.jsonl HISTORY.model \\
        [--ks 1 2 4] [--runs 3] [--windows 1 5] [--cadence own] [--name baseline]

1. Reads the examples (`streamer replay --examples`, in the order the trainer learned them)
   and splits them by a stable hash of `borrower_id` into k partitions (k = 1 is today).
2. Each partition is learned in example order by its own `Trainer`, resumed from the
   history snapshot the replay started from (so every partition starts with the same
   models and the early model's knots), publishing every `publish_every` of its own
   examples as the product's trainer does. Its CPU time (`time.process_time`) over
   `Trainer.learn_example` is the cost, `--runs` times, medians.
3. Every `publish_every` examples of the whole book (a "window") the plans publish a
   version made from each partition's newest published champion and early model
   (`--cadence own`, the default: a partition publishes every `publish_every` of its own
   examples, as its cost was measured, so a partition's model is up to k windows old;
   `--cadence book`: every partition's model as of the window's end, i.e. a partition
   publishing k times as often, which costs more than measured).
4. The test period is the evaluator's (the last 30% of the examples' time span,
   `evaluation/offline.py`). Each test example is scored with the version live at its
   time: the newest one whose examples were all older than the label horizon
   (`version_scale.py`'s rule). Plans, for the default score (label) and the early score
   (early label, accounts older than the early model's minimum history):
   - `single`: k = 1, today's one trainer;
   - `partition`: each partition's own model scoring the whole test period (mean, min,
     max over the k);
   - `routed`: each borrower scored by the model of its own partition;
   - `best_of_window_M`: the partition model with the lowest log loss on the last M
     windows of examples of all partitions, each window scored by the version before it
     (progressive: no model has learned what it is judged on);
   - `mean_logit`: the mean of the k models' calibrated logits. The models are linear in
     the same basis (the champion in the raw features; the early model in hat columns on
     the history model's knots, shared by every partition: checked), so this is one
     linear model whose coefficients are the mean of theirs: reasons stay additive per
     feature;
   - `mix`: that one model (`model.mix`) as a scorer scores it, which bounds the mean's
     probability to [1e-6, 1 - 1e-6] once where each model bounded its own (the largest
     difference from `mean_logit` in probability is printed);
   - `mean_probability`: the mean of the k calibrated probabilities (not additive).
5. Prints ROC AUC and Brier of the default score, ROC AUC of the early score, each plan's
   difference from `single` with a 90% interval (`--bootstrap` resamples of the test
   borrowers, paired: the same resample for both), the measured cost per example per
   trainer and the derived rate k trainers would sustain on k cores (each trainer on a
   core of its own, the book's examples shared as the hash shares them), and writes
   benchmarks/results/partitioned_trainers.json (one entry per `--name`).
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import hashlib
import json
import platform
import statistics
import time
from pathlib import Path

import msgspec
import numpy as np
from sklearn.metrics import roc_auc_score

from streamer.core.features import FEATURES
from streamer.core.model import Scorer, load_snapshot, mix
from streamer.core.outputs import TrainingExample
from streamer.core.trainer import Trainer
from streamer.settings import Settings

RESULTS = Path(__file__).resolve().parent / "results"
DAY = 86_400.0
COL = {f: j for j, f in enumerate(FEATURES)}


def partition_of(borrower_id: str, k: int) -> int:
    """A stable partition per borrower (not Kafka's murmur2, but as stable and as even)."""
    digest = hashlib.blake2b(borrower_id.encode(), digest_size=8, person=b"partition").digest()
    return int.from_bytes(digest, "big") % k


def _epoch(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def calibrated_logit(scorer: Scorer, x: np.ndarray) -> np.ndarray:
    """The logit of `Scorer.score` on each row, vectorised (`Scorer._probability`'s steps)."""
    z = scorer.logits(x, FEATURES)
    p = np.clip(1.0 / (1.0 + np.exp(-z)), 1e-6, 1 - 1e-6)
    return scorer.cal_a * np.log(p / (1.0 - p)) + scorer.cal_b


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def load(path: Path) -> list[TrainingExample]:
    dec = msgspec.json.Decoder(TrainingExample)
    with open(path, "rb") as f:
        return [dec.decode(line) for line in f]


def matrix(examples: list[TrainingExample]) -> np.ndarray:
    x = np.zeros((len(examples), len(FEATURES)))
    for i, ex in enumerate(examples):
        for f, v in ex.features.items():
            x[i, COL[f]] = v
    return x


def start_trainer(model: Path, settings: Settings) -> Trainer:
    key = settings.model_key_bytes
    start = Trainer.restore(model.read_bytes(), key)
    start.publish_every = settings.publish_every
    start.set_budget(settings.early_budget)
    start.early_min_history_days = settings.early_min_history_days
    return start


def fresh(start: Trainer) -> Trainer:
    trainer = copy.deepcopy(start)
    trainer.key = start.key
    return trainer


def learn_partition(start: Trainer, local: list[TrainingExample], stops: list[int]
                    ) -> tuple[float, list[tuple[Scorer, Scorer]], Trainer]:
    """Learn `local` in order; freeze (champion, early) scorers when `stops[c]` examples
    have been learned (stops ascending). Returns (CPU seconds spent learning, the scorers
    at each stop, the trainer)."""
    trainer = fresh(start)
    learn, now = trainer.learn_example, time.process_time
    spent, done, frozen = 0.0, 0, []
    for c, stop in enumerate(stops):
        if stop > done or not frozen:
            t = now()
            for ex in local[done:stop]:
                learn(ex)
            spent += now() - t
            done = stop
            last = (Scorer.from_model(trainer.champion, c), Scorer.from_model(trainer.early, c))
        frozen.append(last)
    return spent, frozen, trainer


def quality(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    return float(roc_auc_score(y, p)), float(np.mean((p - y) ** 2))


def run_k(k: int, examples, ts, x_all, y, early_y, test, early_test, start, settings,
          runs: int, windows: list[int], cadence: str) -> tuple[dict, dict]:
    n, w = len(examples), settings.publish_every
    part = np.array([partition_of(ex.borrower_id, k) for ex in examples])
    checkpoints = list(range(0, n + 1, w))  # versions: after 0, w, 2w, ... examples
    newest = np.array([-np.inf] + [ts[:g].max() for g in checkpoints[1:]])
    seconds: list[list[float]] = [[] for _ in range(k)]
    models: list[list[tuple[Scorer, Scorer]]] = []
    bases = []
    for p in range(k):
        idx = np.flatnonzero(part == p)
        local = [examples[i] for i in idx]
        stops = [int(np.searchsorted(idx, g)) for g in checkpoints]
        if cadence == "own":  # the version a partition last published, every w of its own
            stops = [s // w * w for s in stops]
        for r in range(runs):
            spent, frozen, trainer = learn_partition(start, local, stops)
            seconds[p].append(spent)
        models.append(frozen)
        bases.append(trainer.early.basis.knots if trainer.early.basis is not None else None)
    shares = [float(np.mean(part == p)) for p in range(k)]
    us = [statistics.median(s) / max(int(np.sum(part == p)), 1) * 1e6
          for p, s in enumerate(seconds)]
    us_range = [[min(s) / max(int(np.sum(part == p)), 1) * 1e6,
                 max(s) / max(int(np.sum(part == p)), 1) * 1e6] for p, s in enumerate(seconds)]
    # the book's rate k trainers keep up with: partition p gets share_p of it
    sustained = min(1e6 / u / s for u, s in zip(us, shares))

    # progressive log loss of every partition's version c-1 on window c's examples
    t0 = time.process_time()
    n_windows = len(checkpoints) - 1
    loss = {m: np.zeros((n_windows, k)) for m in ("champion", "early")}
    for c in range(1, len(checkpoints)):
        lo, hi = checkpoints[c - 1], checkpoints[c]
        xs, ys, es = x_all[lo:hi], y[lo:hi], early_y[lo:hi]
        has_early = es >= 0
        for p in range(k):
            champ, early = models[p][c - 1]
            q = np.clip(sigmoid(calibrated_logit(champ, xs)), 1e-7, 1 - 1e-7)
            loss["champion"][c - 1, p] = -np.sum(np.where(ys == 1, np.log(q), np.log(1 - q)))
            if has_early.any():
                q = np.clip(sigmoid(calibrated_logit(early, xs[has_early])), 1e-7, 1 - 1e-7)
                e = es[has_early]
                loss["early"][c - 1, p] = -np.sum(np.where(e == 1, np.log(q), np.log(1 - q)))
    selection_us = (time.process_time() - t0) / n * 1e6

    def chosen(model: str, m: int, version: int) -> int:
        """The partition with the lowest loss over the m windows before `version`."""
        if version == 0:
            return 0  # every partition still holds the history model
        lo = max(version - m, 0)
        return int(np.argmin(loss[model][lo:version].sum(axis=0)))

    # score the test examples with the version live at their time
    horizon = settings.label_horizon_days * DAY
    live = np.clip(np.searchsorted(newest, ts - horizon, "right") - 1, 0, len(checkpoints) - 1)
    out: dict = {"k": k, "examples_per_partition": [int(np.sum(part == p)) for p in range(k)],
                 "cost_us_per_example": [round(u, 1) for u in us],
                 "cost_us_min_max": [[round(a, 1), round(b, 1)] for a, b in us_range],
                 "sustained_examples_per_s_derived": round(sustained),
                 "selection_us_per_example": round(selection_us, 2),
                 "same_knots": all(b == bases[0] for b in bases),
                 "versions": len(checkpoints), "cadence": cadence}
    plans: dict[str, dict[str, np.ndarray]] = {}
    mix_error = 0.0
    for target, mask, slot in (("label", test, 0), ("early", early_test, 1)):
        idx = np.flatnonzero(mask)
        logits = np.zeros((k, idx.size))
        picks = {m: np.zeros(idx.size, dtype=int) for m in windows}
        mixed = np.zeros(idx.size)
        for v in np.unique(live[idx]):
            sel = live[idx] == v
            xs = x_all[idx[sel]]
            scorers = [models[p][v][slot] for p in range(k)]
            for p in range(k):
                logits[p, sel] = calibrated_logit(scorers[p], xs)
            for m in windows:
                picks[m][sel] = chosen("champion" if slot == 0 else "early", m, int(v))
            mixed[sel] = calibrated_logit(mix(scorers, int(v)), xs)
        probs = sigmoid(logits)
        mean_logit = logits.mean(axis=0)
        mix_error = max(mix_error, float(np.max(np.abs(sigmoid(mixed) - sigmoid(mean_logit)))))
        cols = np.arange(idx.size)
        scored = {f"partition_{p}": probs[p] for p in range(k)}
        scored["routed"] = probs[part[idx], cols]
        for m in windows:
            scored[f"best_of_window_{m}"] = probs[picks[m], cols]
        scored["mean_logit"] = sigmoid(mean_logit)
        scored["mix"] = sigmoid(mixed)  # what the one published scorer gives
        scored["mean_probability"] = probs.mean(axis=0)
        for name, p in scored.items():
            plans.setdefault(name, {})[target] = p
        out[f"{target}_test_examples"] = int(idx.size)
        out[f"{target}_test_positives"] = int((y if slot == 0 else early_y)[idx].sum())
        if k > 1:
            for m in windows:
                counts = np.bincount(picks[m], minlength=k)
                out.setdefault("picked_share", {})[f"{target}_window_{m}"] = [
                    round(float(c) / idx.size, 3) for c in counts]
    out["mix_vs_mean_logit_max_abs_probability"] = mix_error
    figures = {}
    y_label, y_early = y[test], early_y[early_test]
    for name, s in plans.items():
        auc, brier = quality(y_label, s["label"])
        figures[name] = {"auc": auc, "brier": brier,
                         "early_auc": float(roc_auc_score(y_early, s["early"]))}
    parts = [figures[f"partition_{p}"] for p in range(k)]
    figures = {n: f for n, f in figures.items() if not n.startswith("partition_")}
    figures["partition_mean"] = {key: float(np.mean([f[key] for f in parts])) for key in parts[0]}
    figures["partition_worst"] = {"auc": min(f["auc"] for f in parts),
                                  "brier": max(f["brier"] for f in parts),
                                  "early_auc": min(f["early_auc"] for f in parts)}
    out["quality"] = figures
    return out, plans


def intervals(results, scored, owner, y, early_y, test, early_test, resamples: int) -> None:
    """A 90% interval of each plan's difference from `single`, resampling borrowers
    (Poisson weights, the same resamples for every plan: the differences are paired)."""
    rng = np.random.default_rng(0)
    weights = rng.poisson(1.0, (resamples, int(owner.max()) + 1)).astype(float)
    base = scored[1]["routed"]
    for r in results:
        if r["k"] == 1:
            continue
        for name, s in scored[r["k"]].items():
            if name.startswith("partition_"):
                continue
            d = {"d_auc": [], "d_brier": [], "d_early_auc": []}
            for wts in weights:
                for target, mask, key, yy in (("label", test, "d_auc", y),
                                              ("early", early_test, "d_early_auc", early_y)):
                    sw, yt = wts[owner[mask]], yy[mask]
                    d[key].append(roc_auc_score(yt, s[target], sample_weight=sw)
                                  - roc_auc_score(yt, base[target], sample_weight=sw))
                    if target == "label":
                        d["d_brier"].append(float(
                            np.average((s[target] - yt) ** 2 - (base[target] - yt) ** 2,
                                       weights=sw)))
            r["quality"][name]["interval_90"] = {
                key: [round(float(np.percentile(v, 5)), 5), round(float(np.percentile(v, 95)), 5)]
                for key, v in d.items()}
            iv = r["quality"][name]["interval_90"]
            print(f"  k={r['k']} {name:<20} 90% intervals of the differences: AUC "
                  f"{iv['d_auc'][0]:+.4f}..{iv['d_auc'][1]:+.4f}, Brier "
                  f"{iv['d_brier'][0]:+.5f}..{iv['d_brier'][1]:+.5f}, early AUC "
                  f"{iv['d_early_auc'][0]:+.4f}..{iv['d_early_auc'][1]:+.4f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("examples", type=Path, help="examples.jsonl of a replay")
    ap.add_argument("model", type=Path, help="the snapshot the replay started from")
    ap.add_argument("--ks", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--runs", type=int, default=3, help="passes timed per partition")
    ap.add_argument("--windows", type=int, nargs="+", default=[1, 5],
                    help="windows of publish_every examples that choose best_of_window")
    ap.add_argument("--cadence", choices=("own", "book"), default="own",
                    help="own: a partition publishes every publish_every of its own examples "
                         "(the cost measured); book: every publish_every of the whole book")
    ap.add_argument("--bootstrap", type=int, default=200,
                    help="resamples of the test borrowers for the differences' intervals")
    ap.add_argument("--train-share", type=float, default=0.7, help="the evaluator's split")
    ap.add_argument("--name", default="baseline", help="this book's key in the results")
    ap.add_argument("--out", type=Path, default=RESULTS / "partitioned_trainers.json")
    args = ap.parse_args(argv)
    settings = Settings.from_env()
    examples = load(args.examples)
    ts = np.array([_epoch(ex.ts) for ex in examples])
    x_all = matrix(examples)
    y = np.array([ex.label for ex in examples])
    young = x_all[:, COL["tenure_years"]] * 365 < settings.early_min_history_days
    early_y = np.array([-1 if ex.early_label is None else ex.early_label for ex in examples])
    early_y[young] = -1  # the trainer's rule: the early model neither learns nor ranks them
    split = ts.min() + args.train_share * (ts.max() - ts.min())
    test = ts >= split
    early_test = test & (early_y >= 0)
    start = start_trainer(args.model, settings)
    # with load_snapshot's check that the snapshot is the one the trainer resumes
    load_snapshot(args.model.read_bytes(), settings.model_key_bytes)
    print(f"{args.name}: {len(examples):,} examples, test from "
          f"{dt.datetime.fromtimestamp(split, dt.UTC):%Y-%m-%d}: {int(test.sum()):,} "
          f"({int(y[test].sum())} positive), early {int(early_test.sum()):,} "
          f"({int(early_y[early_test].sum())} positive); publish_every "
          f"{settings.publish_every}, {args.runs} timed runs")
    results, scored = [], {}
    for k in args.ks:
        r, scored[k] = run_k(k, examples, ts, x_all, y, early_y, test, early_test, start,
                             settings, args.runs, args.windows, args.cadence)
        results.append(r)
        print(f"k={k}: examples per trainer {r['examples_per_partition']}, CPU µs per "
              f"example per trainer {r['cost_us_per_example']} (min-max "
              f"{r['cost_us_min_max']}); k trainers on k cores (derived): "
              f"{r['sustained_examples_per_s_derived']:,} examples/s; choosing per window "
              f"{r['selection_us_per_example']} µs per example; same knots: {r['same_knots']}; "
              f"mix vs mean logit, probability {r['mix_vs_mean_logit_max_abs_probability']:.1e}")
    single = next((r["quality"]["routed"] for r in results if r["k"] == 1), None)
    for r in results:
        for name, f in r["quality"].items():
            if single is not None:
                f["d_auc"] = f["auc"] - single["auc"]
                f["d_brier"] = f["brier"] - single["brier"]
                f["d_early_auc"] = f["early_auc"] - single["early_auc"]
                f["within"] = (f["d_auc"] >= -0.005 and f["d_brier"] <= 0.002
                               and f["d_early_auc"] >= -0.005)
            if r["k"] == 1 and name != "routed":
                continue
            line = (f"  k={r['k']} {'single' if r['k'] == 1 else name:<20} AUC {f['auc']:.4f}"
                    f"  Brier {f['brier']:.5f}  early AUC {f['early_auc']:.4f}")
            if single is not None and r["k"] > 1:
                line += (f"   (d {f['d_auc']:+.4f}, {f['d_brier']:+.5f}, "
                         f"{f['d_early_auc']:+.4f}{'' if f['within'] else ', outside'})")
            print(line)
    if 1 in scored and args.bootstrap:
        borrowers = {b: i for i, b in enumerate(sorted({ex.borrower_id for ex in examples}))}
        owner = np.array([borrowers[ex.borrower_id] for ex in examples])
        intervals(results, scored, owner, y, early_y, test, early_test, args.bootstrap)
    for r in results:
        r["quality"] = {n: {key: (round(v, 5) if isinstance(v, float) else v)
                            for key, v in f.items()} for n, f in r["quality"].items()}
    entry = {"examples": len(examples), "source": str(args.examples), "model": str(args.model),
             "test_from": f"{dt.datetime.fromtimestamp(split, dt.UTC):%Y-%m-%d}",
             "publish_every": settings.publish_every, "runs": args.runs,
             "cadence": args.cadence, "bootstrap": args.bootstrap,
             "python": platform.python_version(), "by_k": results}
    saved = json.loads(args.out.read_text()) if args.out.exists() else {}
    saved[args.name] = entry
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(saved, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
