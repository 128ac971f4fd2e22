"""The early-warning threshold that spends an alert budget, and its way to the workers."""

from __future__ import annotations

import pickle
import random

import msgspec
import pytest

from streamer.core.engine import Engine, iso
from streamer.core.features import FEATURES
from streamer.core.model import Scorer, load_snapshot
from streamer.core.outputs import TrainingExample
from streamer.core.threshold import BudgetThreshold
from streamer.core.trainer import Trainer
from streamer.settings import Settings

KEY = b"test-key-" * 4
DAY = 86_400.0
SCORER = Scorer(1, {"gambling_share": 3.0, "income_trend": -1.0},
                {"gambling_share": 0.0, "income_trend": 0.0}, intercept=-4.0)


def _x(rng: random.Random, level: float) -> dict[str, float]:
    x = dict.fromkeys(FEATURES, 0.0)
    x["gambling_share"] = level + rng.gauss(0, 0.1)
    x["income_trend"] = rng.gauss(0, 0.2)
    return x


def _book(n: int, weeks: int, seed: int = 1, start: float = 0.0):
    """(borrower, ts, features) of n borrowers with a weekly snapshot each."""
    rng = random.Random(seed)
    levels = [rng.random() for _ in range(n)]
    for w in range(weeks):
        for i in range(n):
            yield f"b{i}", start + w * 7 * DAY, _x(rng, levels[i])


def _spent(rows, threshold: float, bad: set[str] = frozenset()) -> float:
    """Share of good borrowers whose highest score reaches the threshold."""
    best: dict[str, float] = {}
    for b, _, x in rows:
        if b not in bad:
            best[b] = max(best.get(b, 0.0), SCORER.score(x))
    return sum(v >= threshold for v in best.values()) / len(best)


def test_the_threshold_spends_the_budget_on_good_borrowers_only():
    rows = list(_book(2000, 53))
    t = BudgetThreshold(0.05, size=5000)
    for b, ts, x in rows:
        t.add(b, ts, x, early=False, default=False)
    th = t.threshold(SCORER)
    assert _spent(rows, th) == pytest.approx(0.05, abs=0.003)
    # borrowers who went on to default (or missed into a spell that did) do not count,
    # however high they score
    bad = {f"b{i}" for i in range(0, 2000, 10)}
    worse = BudgetThreshold(0.05, size=5000)
    for b, ts, x in rows:
        if b in bad:
            x = {**x, "gambling_share": 5.0}
        worse.add(b, ts, x, early=b in bad and ts > 100 * DAY, default=False)
    assert _spent(rows, worse.threshold(SCORER), bad) == pytest.approx(0.05, abs=0.003)


def test_the_sample_is_bounded_and_does_not_depend_on_arrival_order():
    ids = [f"b{i}" for i in range(1000)]
    kept = []
    for order in (ids, ids[::-1]):
        t = BudgetThreshold(0.05, size=100)
        for b in order:
            t.add(b, 0.0, dict.fromkeys(FEATURES, 0.0), early=False, default=False)
        kept.append(t.borrowers)
    assert len(kept[0]) == 100 and kept[0] == kept[1]


def test_old_snapshots_leave_the_window_and_a_short_window_is_stricter():
    year = list(_book(1000, 53, seed=2, start=400 * DAY))
    old = [(b, ts - 400 * DAY, {**x, "gambling_share": 3.0})
           for b, ts, x in _book(1000, 53, seed=3)]  # a worse year, before this one
    t = BudgetThreshold(0.05, size=5000)
    for b, ts, x in old + year:
        t.add(b, ts, x, early=False, default=False)
    assert _spent(year, t.threshold(SCORER)) == pytest.approx(0.05, abs=0.004)
    half = BudgetThreshold(0.05, size=5000)
    for b, ts, x in year[:1000 * 26]:  # half a year: a budget of about 2.5% of the book
        half.add(b, ts, x, early=False, default=False)
    assert _spent(year[:1000 * 26], half.threshold(SCORER)) == pytest.approx(0.025, abs=0.004)


def test_no_threshold_until_enough_borrowers_and_weeks():
    t = BudgetThreshold(0.05, size=5000, min_borrowers=200, min_days=60)
    for b, ts, x in _book(150, 20):
        t.add(b, ts, x, early=False, default=False)
    assert t.threshold(SCORER) is None  # 150 borrowers
    t = BudgetThreshold(0.05, size=5000, min_borrowers=200, min_days=60)
    for b, ts, x in _book(400, 8):
        t.add(b, ts, x, early=False, default=False)
    assert t.threshold(SCORER) is None  # 49 days


def test_the_sample_stays_out_of_a_pickled_trainer():
    t = BudgetThreshold(0.05, size=5000)
    for b, ts, x in _book(300, 20):
        t.add(b, ts, x, early=False, default=False)
    copy = pickle.loads(pickle.dumps(t))
    assert copy.budget == 0.05 and copy.borrowers == frozenset() and len(t.borrowers) == 300
    assert len(pickle.dumps(copy)) < 1000


def _examples(n: int, weeks: int, seed: int = 4):
    rng = random.Random(seed)
    levels = [rng.random() for _ in range(n)]
    for w in range(weeks):
        for i in range(n):
            x = _x(rng, levels[i])
            early = rng.random() < 0.01 * (1 + 4 * levels[i])
            yield TrainingExample(borrower_id=f"b{i}", ts=iso(1_767_225_600.0 + w * 7 * DAY),
                                  label=0, score=0.01, model_version=0, features=x,
                                  early_label=int(early))


def test_the_trainer_publishes_the_threshold_and_the_engine_alerts_at_it():
    trainer = Trainer(KEY, publish_every=1000, early_budget=0.05)
    trainer.early.warmup = 500  # knots after 500 examples: ready within this short book
    blobs = [b for ex in _examples(400, 10) if (b := trainer.learn_example(ex))]
    _, contents = load_snapshot(blobs[-1], KEY)
    th = contents["early_high"]
    assert th is not None and 0 < th < 1 and th != Settings().tier_early_high
    engine = Engine(Settings(model_key=KEY.decode()))
    assert engine.policy.config.early_high == Settings().tier_early_high
    assert engine.load_snapshot(blobs[-1])
    assert engine.policy.config.early_high == th
    fixed = Engine(Settings(model_key=KEY.decode(), early_budget=0.0))
    assert fixed.load_snapshot(blobs[-1])
    assert fixed.policy.config.early_high == Settings().tier_early_high
    # a trainer resumed from the snapshot keeps the threshold until it has its own sample
    resumed = Trainer.restore(blobs[-1], KEY)
    _, again = load_snapshot(resumed.publish(), KEY)
    assert again["early_high"] == th
    resumed.set_budget(0.10)  # another budget: that threshold no longer holds
    assert load_snapshot(resumed.publish(), KEY)[1]["early_high"] is None


def test_without_a_budget_no_threshold_is_published():
    trainer = Trainer(KEY, publish_every=1000)
    blobs = [b for ex in _examples(400, 10) if (b := trainer.learn_example(ex))]
    assert load_snapshot(blobs[-1], KEY)[1]["early_high"] is None


def test_an_example_the_sample_cannot_take_still_teaches_the_models():
    trainer = Trainer(KEY, publish_every=1000, early_budget=0.05)
    good = next(_examples(1, 1))
    for bad in (msgspec.structs.replace(good, ts="not a time"),
                msgspec.structs.replace(good, ts="2026-01-01T00:00:00"),  # no zone
                msgspec.structs.replace(good, features={"gambling_share": 0.5})):
        trainer.learn_example(bad)
    assert trainer.examples == 3 and trainer.budget.borrowers == frozenset()
    trainer.learn_example(good)
    assert trainer.budget.borrowers == {"b0"}


def test_a_snapshot_of_a_young_account_teaches_the_early_model_nothing():
    """The early score raises nobody in the account's first STREAMER_EARLY_MIN_HISTORY_DAYS:
    the early model does not learn those snapshots and the budget does not count them, but
    the default-score models learn them, and an early positive still marks the borrower bad."""
    trainer = Trainer(KEY, publish_every=10_000, early_budget=0.05, early_min_history_days=30)
    young = next(_examples(1, 1))
    young = msgspec.structs.replace(
        young, early_label=1, features={**young.features, "tenure_years": 10 / 365})
    trainer.learn_example(young)
    assert trainer.quality["early"].n == 0 and trainer.quality["champion"].n == 1
    kept = trainer.budget._kept["b0"]
    assert kept.vectors == [] and kept.bad_ts > 0
    grown = msgspec.structs.replace(young, features={**young.features, "tenure_years": 0.1})
    trainer.learn_example(grown)
    assert trainer.quality["early"].n == 1 and len(kept.vectors) == 1


def test_the_budget_counts_only_snapshots_the_early_score_may_raise():
    """A snapshot of a borrower who missed a payment lately (`missed_90d` of one miss in
    about 90 days, `policy.early_may_raise`) teaches the early model, but the budget does
    not count it: the early score raises no such borrower, so the threshold is set on
    those it may raise."""
    trainer = Trainer(KEY, publish_every=10_000, early_budget=0.05)
    ex = next(_examples(1, 1))
    lately = msgspec.structs.replace(ex, features={**ex.features, "missed_90d": 0.8})
    trainer.learn_example(lately)
    assert trainer.quality["early"].n == 1
    kept = trainer.budget._kept["b0"]
    assert kept.vectors == []
    older = msgspec.structs.replace(ex, features={**ex.features, "missed_90d": 0.3})
    trainer.learn_example(older)
    assert len(kept.vectors) == 1
