"""Capture at an alert budget (`streamer.evaluation.budget`) on hand-built books."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

from streamer.evaluation.budget import at_budget
from streamer.evaluation.inputs import NEVER

DAY = 86400.0


def _book(rows, default, missed, budgets, start=0, end=364):
    """rows: (borrower, day, value); default/missed: per-borrower day or None (never)."""
    b, d, v = (np.array(x) for x in zip(*rows, strict=True))
    as_days = [np.array([NEVER if x is None else x for x in col], dtype=np.int64)
               for col in (default, missed)]
    return at_budget(b.astype(np.int64), d * DAY + 3600.0, v.astype(np.float64), *as_days,
                     start, end, budgets=budgets)


def test_the_budget_sets_the_threshold_on_good_borrowers_maxima():
    # borrowers 0-9 never default; their maxima are 0.1 .. 1.0 (each also has a lower score)
    rows = [(g, 20, 0.1 * (g + 1)) for g in range(10)] + [(g, 40, 0.01) for g in range(10)]
    rows += [(10, 30, 0.95), (10, 60, 0.2),   # caught: 0.95 before its first miss (day 50)
             (11, 30, 0.5),                   # below the threshold
             (12, 30, 0.3), (12, 55, 0.99)]   # 0.99 comes after its first miss (day 50)
    default = [None] * 10 + [150, 150, 150]
    missed = [None] * 10 + [50, 50, 50]
    r = _book(rows, default, missed, budgets=(0.2,))
    x = r["budgets"][0]
    assert r["good_borrowers"] == 10 and r["defaulters_before_first_missed"] == 3
    assert x["threshold"] == pytest.approx(0.9)  # 2 of 10 good borrowers reach it
    assert x["before_first_missed"] == pytest.approx(1 / 3)
    # 30+ days before default (day 150): every score of 10 and 12 is that early
    assert x["at_least_30_days_before_default"] == pytest.approx(2 / 3)


def test_a_constant_score_catches_only_the_budget_share():
    rows = [(i, 10, 0.5) for i in range(200)]
    default = [100] * 20 + [None] * 180
    missed = [40] * 20 + [None] * 180
    for budget in (0.02, 0.05, 0.10):
        x = _book(rows, default, missed, budgets=(budget,))["budgets"][0]
        assert x["before_first_missed"] == pytest.approx(budget, abs=0.003)
        assert x["precision_180d"] == pytest.approx(20 / 200)


def test_scores_on_or_after_default_and_outside_the_window_do_not_count():
    rows = [(0, 10, 0.1), (1, 10, 0.2), (2, 10, 0.3),  # good borrowers
            (3, 200, 0.9),      # on the defaulter's default day: the outcome is not ahead
            (3, 5, 0.8),        # before the evaluated window (it starts on day 7)
            (3, 30, 0.05)]
    r = _book(rows, [None, None, None, 200], [None, None, None, 110], budgets=(1 / 3,),
              start=7)
    x = r["budgets"][0]
    assert x["threshold"] == pytest.approx(0.3)
    assert x["before_first_missed"] == 0.0


def test_precision_counts_first_crossings_with_180_days_of_outcome():
    rows = [(0, 10, 0.9),   # good, crosses on day 10: a wrong alert
            (1, 20, 0.9),   # defaults on day 150: right (within 180 days of day 20)
            (2, 30, 0.9),   # defaults on day 300: 270 days later, wrong at 180 days
            (3, 250, 0.9),  # good, crosses on day 250 > 364 - 180: outcome not yet known
            (4, 10, 0.1), (5, 10, 0.1), (6, 10, 0.1), (7, 10, 0.1)]
    default = [None, 150, 300, None, None, None, None, None]
    missed = [None, 60, 200, None, None, None, None, None]
    x = _book(rows, default, missed, budgets=(2 / 6,))["budgets"][0]
    assert x["threshold"] == pytest.approx(0.9)
    assert x["flagged_with_outcome"] == 3
    assert x["precision_180d"] == pytest.approx(1 / 3)


def test_the_curve_rises_with_the_budget_and_no_scores_give_none():
    rng = np.random.default_rng(7)
    n_good, n_bad = 400, 40
    rows = [(i, 20, float(rng.uniform(0, 1))) for i in range(n_good)]
    rows += [(n_good + j, 20, float(rng.uniform(0.3, 1))) for j in range(n_bad)]
    r = _book(rows, [None] * n_good + [200] * n_bad, [None] * n_good + [100] * n_bad,
              budgets=(0.05,))
    curve = [c for c in r["curve"]["before_first_missed"] if c is not None]
    assert len(curve) == len(r["curve"]["budget"])
    assert all(b >= a for a, b in pairwise(curve))
    assert curve[-1] > curve[0]
    nan = at_budget(np.array([0]), np.array([DAY]), np.array([np.nan]),
                    np.array([NEVER]), np.array([NEVER]), 0, 364)
    assert nan is None


# -- the offline early-warning reference at the same budgets -------------------------------------


def test_online_early_score_is_looked_up_at_or_before_each_snapshot():
    from streamer.evaluation.inputs import Scores
    from streamer.evaluation.offline import _at_snapshots

    scores = Scores(borrower=np.array([0, 0, 2]), seconds=np.array([10.0, 20.0, 5.0]),
                    score=np.zeros(3), early=np.array([0.1, 0.2, 0.9]))
    got = _at_snapshots(scores, np.array([0, 0, 0, 1, 2]), np.array([15.0, 20.0, 5.0, 25.0, 6.0]))
    assert got[:2].tolist() == [0.1, 0.2]
    assert np.isnan(got[2]) and np.isnan(got[3])  # before its first score; never scored
    assert got[4] == 0.9


def _signal_book(seed: int = 3):
    """300 good borrowers and 60 defaulters, a snapshot a week; `signal` is high in the 60
    days before a defaulter's first miss. Returns (examples, online scores, index, default
    day, first missed day): the online early score is random."""
    from streamer.evaluation.inputs import Examples, Scores

    rng = np.random.default_rng(seed)
    n_good, n_bad = 300, 60
    n = n_good + n_bad
    first_missed = np.full(n, NEVER, dtype=np.int64)
    default = np.full(n, NEVER, dtype=np.int64)
    first_missed[n_good:] = 40 + 4 * np.arange(n_bad)  # days 40 .. 276
    default[n_good:] = first_missed[n_good:] + 100
    rows = [(i, d) for i in range(n) for d in range(0, 281, 7) if d < default[i]]
    b = np.array([r[0] for r in rows])
    d = np.array([r[1] for r in rows])
    ahead = first_missed[b] - d
    warned = (ahead > 0) & (ahead <= 60)  # the 60 days before a first miss show the signal
    signal = np.where(warned, rng.uniform(0.6, 1.0, b.size), rng.uniform(0.0, 0.5, b.size))
    early = np.where(d >= first_missed[b], -1, (ahead > 0) & (ahead <= 90)).astype(np.int8)
    seconds = d * DAY + 3600.0
    ex = Examples(seconds=seconds, label=np.zeros(b.size, dtype=np.int8),
                  score=np.full(b.size, np.nan),
                  features=np.c_[signal, rng.uniform(size=b.size)].astype(np.float32),
                  names=["signal", "noise"], borrower_id=[f"b{i}" for i in b], early_label=early)
    online = Scores(borrower=b, seconds=seconds, score=np.zeros(b.size),
                    early=rng.uniform(size=b.size))
    return ex, online, {f"b{i}": i for i in range(n)}, default, first_missed


def test_the_batch_reference_learns_a_signal_the_online_score_lacks():
    from streamer.evaluation.offline import early_at_budget

    ex, online, index, default, first_missed = _signal_book()
    seconds, early = ex.seconds, ex.early_label
    r = early_at_budget(ex, index, default, first_missed, online)
    assert r["status"] == "ok" and "known_at_split" not in r["at_budget"]
    split = seconds.min() + 0.7 * (seconds.max() - seconds.min())
    # trained only on snapshots whose 90-day outcome was known at the split
    assert r["train_examples"] == int(((seconds + 90 * DAY <= split) & (early >= 0)).sum())
    ref = {x["budget"]: x for x in r["at_budget"]["reference"]["budgets"]}
    onl = {x["budget"]: x for x in r["at_budget"]["online_early"]["budgets"]}
    assert ref[0.05]["before_first_missed"] > 0.8
    assert onl[0.10]["before_first_missed"] < 0.5
    # ranked on the test snapshots with a known early label: the batch model sees the
    # signal, the random online score does not
    assert r["ranking"]["reference"]["roc_auc"] > 0.9
    assert abs(r["ranking"]["online_early"]["roc_auc"] - 0.5) < 0.1
    assert r["ranking"]["online_early"]["snapshots"] == int(
        ((seconds >= split) & (early >= 0)).sum())


def test_the_reference_known_at_the_split_learns_no_positive_released_after_it():
    """The book's examples in release order: every positive comes last (its spell ended in
    default after the split), so what the trainer knew of the book at the split holds no
    positive. The history, whose columns come in another order, teaches the opposite
    signal: `known_at_split` learns it (and ranks the book's test snapshots backwards),
    where the evaluator's rule learns the book's late positives (forwards)."""
    from dataclasses import replace

    from streamer.evaluation.offline import early_at_budget, released_by

    ex, online, index, default, first_missed = _signal_book()
    order = np.lexsort((ex.seconds, ex.early_label == 1))  # negatives by time, then positives
    book = replace(ex, seconds=ex.seconds[order], label=ex.label[order], score=ex.score[order],
                   features=ex.features[order], early_label=ex.early_label[order],
                   borrower_id=[ex.borrower_id[i] for i in order])
    hist, *_ = _signal_book(seed=4)
    hy = hist.early_label
    flipped = np.where(hy == 1, 0, np.where(hy == 0, 1, hy)).astype(np.int8)
    history = replace(hist, features=hist.features[:, ::-1].copy(), names=["noise", "signal"],
                      early_label=flipped)
    r = early_at_budget(book, index, default, first_missed, online, history=history)
    split = ex.seconds.min() + 0.7 * (ex.seconds.max() - ex.seconds.min())
    released = released_by(book.seconds, 90 * DAY, split) & (book.early_label >= 0)
    kn = r["known_at_split"]
    assert kn["history_examples"] == int((hy >= 0).sum())
    assert kn["history_positives"] == int((hy == 0).sum())
    assert kn["book_examples_released"] == int(released.sum()) > 0
    assert kn["book_positives_released"] == 0
    assert kn["reference_positives_not_yet_released"] == r["train_positives"] > 0
    assert r["ranking"]["reference"]["roc_auc"] > 0.9
    assert r["ranking"]["known_at_split"]["roc_auc"] < 0.2


def test_a_trainer_that_knew_nothing_at_the_split_skips_its_reference():
    """The book's last snapshot released first (nothing else reaches the trainer by the
    split) and a history with no early label: `known_at_split` is skipped, with a reason,
    and the other references stand."""
    from dataclasses import replace

    from streamer.evaluation.offline import early_at_budget

    ex, online, index, default, first_missed = _signal_book()
    order = np.r_[ex.seconds.argmax(), np.delete(np.arange(ex.seconds.size), ex.seconds.argmax())]
    book = replace(ex, seconds=ex.seconds[order], label=ex.label[order], score=ex.score[order],
                   features=ex.features[order], early_label=ex.early_label[order],
                   borrower_id=[ex.borrower_id[i] for i in order])
    history = replace(ex, early_label=np.full(ex.early_label.size, -1, dtype=np.int8))
    r = early_at_budget(book, index, default, first_missed, online, history=history)
    assert r["status"] == "ok" and "reference" in r["at_budget"]
    kn = r["known_at_split"]
    assert (kn["history_examples"], kn["book_examples_released"]) == (0, 0)
    assert kn["skipped"] and "known_at_split" not in r["at_budget"]


def test_the_online_early_score_is_ranked_over_every_labelled_snapshot():
    from streamer.evaluation.inputs import Examples, Scores
    from streamer.evaluation.offline import early_ranking

    # four borrowers; b3 never had an early score (a young account): left out
    seconds = np.array([1, 2, 3, 4, 5], dtype=np.float64) * DAY
    early = np.array([1, 0, 0, -1, 1], dtype=np.int8)  # -1: taken while overdue
    ex = Examples(seconds=seconds, label=np.zeros(5, dtype=np.int8), score=np.full(5, np.nan),
                  features=np.zeros((5, 1), dtype=np.float32), names=["x"],
                  borrower_id=["b0", "b1", "b2", "b0", "b3"], early_label=early)
    online = Scores(borrower=np.array([0, 1, 2, 3]), seconds=np.array([0.5, 1.5, 2.5, 4.5]) * DAY,
                    score=np.zeros(4), early=np.array([0.9, 0.2, 0.6, np.nan]))
    r = early_ranking(ex, {"b0": 0, "b1": 1, "b2": 2, "b3": 3}, online)
    assert (r["snapshots"], r["positives"]) == (3, 1) and r["roc_auc"] == 1.0


def test_counted_before_any_miss_a_good_borrowers_scores_after_a_cured_miss_spend_nothing():
    from streamer.evaluation.budget import before_any_miss

    # good borrowers 0-9 score 0.05 .. 0.5 before any miss; 0 and 1 peak at 0.99 and 0.98
    # after a miss they cured (day 100); defaulter 10 scores 0.6 before its first miss
    rows = [(g, 20, 0.05 * (g + 1)) for g in range(10)] + [(0, 120, 0.99), (1, 120, 0.98),
                                                            (10, 30, 0.6)]
    default, missed = [None] * 10 + [150], [100, 100] + [None] * 8 + [50]
    b, d, v = (np.array(x) for x in zip(*rows, strict=True))
    first = np.array([NEVER if x is None else x for x in missed], dtype=np.int64)
    kept = before_any_miss(b, d * DAY + 3600.0, v.astype(np.float64), first)
    assert np.isnan(kept[10:12]).all() and kept[0] == pytest.approx(0.05) and kept[12] == 0.6
    every = _book(rows, default, missed, budgets=(0.2,))["budgets"][0]
    counted = at_budget(b.astype(np.int64), d * DAY + 3600.0, kept,
                        np.array([NEVER] * 10 + [150]), first, 0, 364, budgets=(0.2,))
    # every score: the two peaks after cured misses set the threshold; the defaulter is missed
    assert every["threshold"] == pytest.approx(0.98) and every["before_first_missed"] == 0.0
    # before any miss: two in ten good borrowers reach 0.45, and the defaulter is caught
    x = counted["budgets"][0]
    assert x["threshold"] == pytest.approx(0.45) and x["before_first_missed"] == 1.0
