"""The offline references: gradient-boosted models trained in batch on the engine's examples.

The examples are the engine's labeled feature snapshots; each carries the calibrated
score the online model gave at snapshot time, before its label was known. Split by time
(the first `train_share` of the time span trains, the rest tests), the batch model's test
ROC AUC is the accuracy an online model on the same features should come near; the
online model's ROC AUC on the same test examples and the gap are reported beside it.

`early_at_budget` does the same for the early-warning target (a miss within 90 days whose
spell ends in default, learned from snapshots of current borrowers) and judges it the way a collections team
would: capture at an alert budget (`budget.py`) over the test part of the time span, beside
the online early score looked up at the same snapshots. It trains only on snapshots whose
90-day outcome was known at the split: with the later ones, a borrower's snapshot just
before the split labeled by a miss just after it would teach the model that borrower's
own outcome (on a 2,000-borrower book that leak lifted capture before the first miss
from 10% to 80%).

That rule still lets the reference learn more than an online model could have: a
snapshot's early label is decided when its spell ends in default, often months after the
horizon, and the trainer receives the example only then (`labels.py`); and the reference
never sees the history book the online model started from. Given the history's examples,
`early_at_budget` also trains `known_at_split` on what the online trainer knew at the
split: the history's examples and the book's examples released by then (`released_by`).
"""

from __future__ import annotations

import numpy as np

from .budget import at_budget
from .inputs import SECONDS_PER_DAY, Examples, Latent, Scores, as_of, day_str
from .metrics import days_of


def _model(seed: int, n_train: int):
    try:
        from lightgbm import LGBMClassifier
    except ImportError:
        from sklearn.ensemble import HistGradientBoostingClassifier

        model = HistGradientBoostingClassifier(
            max_iter=300, learning_rate=0.05, max_leaf_nodes=31,
            min_samples_leaf=max(5, min(20, n_train // 50)), random_state=seed,
        )
        return "sklearn.HistGradientBoostingClassifier", model
    model = LGBMClassifier(
        n_estimators=300, learning_rate=0.05, num_leaves=31,
        min_child_samples=max(5, min(20, n_train // 50)),
        subsample=0.8, subsample_freq=1, colsample_bytree=0.8,
        random_state=seed, n_jobs=-1, verbose=-1, deterministic=True, force_row_wise=True,
    )
    return "lightgbm.LGBMClassifier", model


def _split(ex: Examples, train_share: float) -> float:
    t0, t1 = float(ex.seconds.min()), float(ex.seconds.max())
    return t0 + train_share * (t1 - t0)


def offline_reference(ex: Examples, train_share: float = 0.7, seed: int = 0) -> dict:
    """Train on the first `train_share` of the examples' time span; AUCs on the rest."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    n = int(ex.label.size)
    out: dict = {"examples": n, "features": len(ex.names), "train_share": train_share}
    if n == 0:
        return {**out, "status": "skipped", "reason": "the examples file has no examples"}
    split = _split(ex, train_share)
    train = ex.seconds < split
    test = ~train
    y_train, y_test = ex.label[train], ex.label[test]
    out.update(
        split_at=day_str(int(split // SECONDS_PER_DAY)),
        train_examples=int(train.sum()),
        train_positives=int(y_train.sum()),
        test_examples=int(test.sum()),
        test_positives=int(y_test.sum()),
    )
    for name, y in (("training", y_train), ("test", y_test)):
        if y.size == 0 or y.min() == y.max():
            reason = f"the {name} part has only one outcome (need both 0 and 1 labels)"
            return {**out, "status": "skipped", "reason": reason}
    if not ex.names:
        return {**out, "status": "skipped", "reason": "the examples have no features"}
    model_name, model = _model(seed, int(train.sum()))
    model.fit(ex.features[train], y_train)
    reference = model.predict_proba(ex.features[test])[:, 1]
    online = ex.score[test]
    scored = np.isfinite(online)
    out.update(model=model_name, test_examples_with_online_score=int(scored.sum()))
    y = y_test[scored]
    if y.size == 0 or y.min() == y.max():
        return {**out, "status": "skipped",
                "reason": "too few test examples carry an online score with both outcomes"}
    ref_auc = float(roc_auc_score(y, reference[scored]))
    onl_auc = float(roc_auc_score(y, online[scored]))
    out.update(
        status="ok",
        reference_roc_auc=ref_auc,
        online_roc_auc=onl_auc,
        gap=ref_auc - onl_auc,
        reference_pr_auc=float(average_precision_score(y, reference[scored])),
        online_pr_auc=float(average_precision_score(y, online[scored])),
    )
    return out


def released_by(seconds: np.ndarray, horizon: float, split: float) -> np.ndarray:
    """Which examples (their snapshot times, in the order they were released: an examples
    file's order) had reached the trainer by `split`. A line is released no earlier than
    every line before it, nor before its own horizon ended, so the running maximum of ts +
    horizon is a lower bound of the stream's time at its release: an example released late
    (a miss whose spell ended in default months on) comes after lines with later horizons,
    and so after the split if they are.

    >>> released_by(np.array([0.0, 100.0, 1.0]), horizon=10.0, split=60.0).tolist()
    [True, False, False]
    """
    return np.maximum.accumulate(seconds + horizon) <= split


def aligned(x: np.ndarray, names: list[str], order: list[str]) -> np.ndarray:
    """`x`'s columns (named `names`) in `order`; a feature it lacks is NaN, as a missing
    feature reads.

    >>> aligned(np.array([[1.0, 2.0]]), ["b", "a"], ["a", "c", "b"]).tolist()
    [[2.0, nan, 1.0]]
    """
    col = {f: j for j, f in enumerate(names)}
    out = np.full((len(x), len(order)), np.nan, dtype=np.float32)
    for j, f in enumerate(order):
        if f in col:
            out[:, j] = x[:, col[f]]
    return out


def borrowers(ex: Examples, index: dict[str, int]) -> np.ndarray:
    """Each example's borrower as its ground-truth index (-1: not in the truth)."""
    return np.array([index.get(b, -1) if b is not None else -1 for b in ex.borrower_id],
                    dtype=np.int64)


def _at_snapshots(scores: Scores, borrower: np.ndarray, seconds: np.ndarray) -> np.ndarray:
    """The online early score each borrower had at each time (its last line at or before)."""
    order = np.lexsort((scores.seconds.astype(np.int64), scores.borrower))
    at = as_of(scores.borrower[order], scores.seconds[order], borrower, seconds)
    return np.where(at >= 0, scores.early[order][np.maximum(at, 0)], np.nan)


def latent_at(latent: Latent, borrower: np.ndarray, seconds: np.ndarray) -> np.ndarray:
    """Each snapshot's latent row: the borrower's latest row on or before the snapshot's day
    (a row holds the state at the end of its day); NaN where there is none."""
    day = days_of(seconds)
    at = as_of(latent.borrower, latent.day, borrower, day)
    out = np.full((borrower.size, len(latent.names)), np.nan, dtype=np.float32)
    found = at >= 0
    out[found] = latent.values[at[found]]
    return out


def ranking(label: np.ndarray, score: np.ndarray) -> dict | None:
    """ROC AUC and PR AUC of `score` for a boolean `label` (None without both outcomes)."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    if label.size == 0 or label.all() or not label.any():
        return None
    return {"roc_auc": float(roc_auc_score(label, score)),
            "pr_auc": float(average_precision_score(label, score)),
            "snapshots": int(label.size), "positives": int(label.sum())}


def early_ranking(ex: Examples, index: dict[str, int], scores: Scores) -> dict | None:
    """How well the online early score ranks, over every labelled snapshot of a current
    borrower that had an early score (the whole span): thousands of labels, where the
    capture at a budget counts a few dozen test defaulters."""
    if ex.early_label is None:
        return None
    borrower = borrowers(ex, index)
    known = (ex.early_label >= 0) & (borrower >= 0)
    online = _at_snapshots(scores, borrower[known], ex.seconds[known])
    scored = np.isfinite(online)
    return ranking(ex.early_label[known][scored] == 1, online[scored])


def early_at_budget(ex: Examples, index: dict[str, int], default_day: np.ndarray,
                    first_missed_day: np.ndarray, scores: Scores,
                    train_share: float = 0.7, seed: int = 0, horizon_days: int = 90,
                    latent: Latent | None = None, history: Examples | None = None,
                    fitted: dict | None = None) -> dict:
    """The early-warning reference (batch, same features) and the online early score, both
    at the same snapshots of the test part, at the same alert budgets. `fitted`, if given,
    receives each batch model by name (to read its feature importances).

    With `latent` (`streamer simulate --latent`), two more batch models with the same split
    and training rule: `upper_bound` sees the examples' features plus each snapshot's latent
    row (the simulator's hidden state: what no model of the events can see), and
    `latent_only` the latent row alone. They bound what the reference could reach.

    With `history` (the examples of the history book the online model started from, as
    `streamer replay --examples` wrote them), one more: `known_at_split`, trained on the
    history's examples and the book's examples released by the split (`released_by`), the
    reference an online trainer could have matched."""
    out: dict = {"train_share": train_share, "target": "a miss within 90 days whose spell ends in default, current borrowers"}
    if ex.label.size == 0 or ex.early_label is None:
        return {**out, "status": "skipped", "reason": "the examples file has no examples"}
    borrower = borrowers(ex, index)
    if (borrower < 0).all():
        return {**out, "status": "skipped",
                "reason": "the examples carry no borrower_id of the ground truth"}
    split = _split(ex, train_share)
    labelled = ex.early_label >= 0
    train = (ex.seconds + horizon_days * SECONDS_PER_DAY <= split) & labelled
    test = (ex.seconds >= split) & (borrower >= 0)
    y = ex.early_label[train]
    out.update(split_at=day_str(int(split // SECONDS_PER_DAY)), train_examples=int(train.sum()),
               train_positives=int(y.sum()), test_snapshots=int(test.sum()))
    if y.size == 0 or y.min() == y.max() or not test.any():
        return {**out, "status": "skipped",
                "reason": "the training part needs both outcomes and the test part snapshots"}

    x_test = ex.features[test]  # every model but the latent ones scores these rows

    def training_sets():
        """(name, training rows, their labels, test rows), one model's at a time."""
        yield "reference", ex.features[train], y, x_test
        if latent is not None:
            rows = latent_at(latent, borrower, ex.seconds)
            found = ~np.isnan(rows).all(axis=1) if rows.shape[1] else np.zeros(test.size, bool)
            out["latent"] = {"features": latent.names,
                             "train_with_row": float(found[train].mean()),
                             "test_with_row": float(found[test].mean())}
            both = np.hstack([ex.features, rows])
            yield "upper_bound", both[train], y, both[test]
            yield "latent_only", rows[train], y, rows[test]
        if history is not None and history.early_label is not None:
            known = released_by(ex.seconds, horizon_days * SECONDS_PER_DAY, split) & labelled
            h = history.early_label >= 0
            hy, by = history.early_label[h], ex.early_label[known]
            out["known_at_split"] = {
                "history_examples": int(hy.size), "history_positives": int(hy.sum()),
                "book_examples_released": int(by.size),
                "book_positives_released": int(by.sum()),
                "reference_positives_not_yet_released":
                    int((ex.early_label[train & ~known] == 1).sum())}
            y_known = np.concatenate([hy, by])
            if y_known.size == 0 or y_known.min() == y_known.max():
                out["known_at_split"]["skipped"] = "the trainer knew only one outcome"
                return
            x = np.vstack([aligned(history.features[h], history.names, ex.names),
                           ex.features[known]])
            yield "known_at_split", x, y_known, x_test

    figures = {}
    for name, x_train, y_train, x_test in training_sets():
        model_name, model = _model(seed, int(y_train.size))
        model.fit(x_train, y_train)
        figures[name] = model.predict_proba(x_test)[:, 1]
        if fitted is not None:
            fitted[name] = model
    b, sec = borrower[test], ex.seconds[test]
    figures["online_early"] = _at_snapshots(scores, b, sec)
    first_day = int(split // SECONDS_PER_DAY)
    last_day = int(sec.max() // SECONDS_PER_DAY)
    out.update(model=model_name, window=[day_str(first_day), day_str(last_day)])
    out["at_budget"] = {
        name: at_budget(b, sec, values, default_day, first_missed_day, first_day, last_day)
        for name, values in figures.items()
    }
    # the same models ranked on the test snapshots whose early label is known
    lab = ex.early_label[test]
    known = (lab >= 0) & np.isfinite(figures["online_early"])
    out["ranking"] = {name: ranking(lab[known] == 1, values[known])
                      for name, values in figures.items()}
    out["status"] = "ok"
    return out
