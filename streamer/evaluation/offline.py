"""The offline reference: a gradient-boosted model trained in batch on the engine's examples.

The examples are the engine's labeled feature snapshots; each carries the calibrated
score the online model gave at snapshot time, before its label was known. Split by time
(the first `train_share` of the time span trains, the rest tests), the batch model's test
ROC AUC is the accuracy an online model on the same features should come near; the
online model's ROC AUC on the same test examples and the gap are reported beside it.
"""

from __future__ import annotations

import numpy as np

from .inputs import SECONDS_PER_DAY, Examples, day_str


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


def offline_reference(ex: Examples, train_share: float = 0.7, seed: int = 0) -> dict:
    """Train on the first `train_share` of the examples' time span; AUCs on the rest."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    n = int(ex.label.size)
    out: dict = {"examples": n, "features": len(ex.names), "train_share": train_share}
    if n == 0:
        return {**out, "status": "skipped", "reason": "the examples file has no examples"}
    t0, t1 = float(ex.seconds.min()), float(ex.seconds.max())
    split = t0 + train_share * (t1 - t0)
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
