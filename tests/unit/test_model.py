"""Model layer: compiled scorer equals River, calibration, trainer snapshots and signatures."""

from __future__ import annotations

import math
import pickle
import random

import pytest
from river.metrics import RollingROCAUC

from streamer.core.model import (
    MIN_POSITIVES,
    Average,
    Calibrator,
    RiskModel,
    Scorer,
    SnapshotRefused,
    WeightedAdaGrad,
    WeightedScaler,
    _logit,
    _sigmoid,
    load_snapshot,
    make_challenger,
    mix,
    sign,
)
from streamer.core.outputs import TrainingExample
from streamer.core.policy import Policy, PolicyConfig, alert_id
from streamer.core.trainer import EARLY_AVERAGE_EXAMPLES, Trainer, sample_key

KEY = b"test-key-" * 4


def examples(n: int, seed: int = 3):
    rng = random.Random(seed)
    for _ in range(n):
        x = {"a": rng.gauss(0, 1), "b": rng.gauss(2, 3), "c": rng.random()}
        p = 1 / (1 + math.exp(-(-3 + 1.5 * x["a"] + 0.3 * x["b"])))
        yield x, rng.random() < p


def test_compiled_scorer_gives_the_same_probability_as_the_river_model():
    model = RiskModel()
    for x, y in examples(3000):
        model.learn_one(x, y)
    scorer = Scorer.from_model(model, version=1)
    for x, _ in examples(50, seed=9):
        assert math.isclose(scorer.score(x), model.predict_proba_one(x), rel_tol=1e-9,
                            abs_tol=1e-12)


def test_a_model_with_feature_curves_compiles_to_the_same_probability_and_reasons():
    """The early model's curves (splines.py): the compiled scorer gives River's probability
    row by row and vectorised, and its per-feature contributions add up to the logit."""
    import numpy as np

    model = RiskModel(n_knots=5, warmup=500)
    for x, y in examples(3000):
        x["flag"] = float(x["c"] > 0.9)  # two values: passes through unbent
        model.learn_one(x, y)
    scorer = Scorer.from_model(model, version=1)
    assert set(scorer.curves) == {"a", "b", "c"} and set(scorer.linear) == {"flag"}
    rows = [dict(x, flag=float(x["c"] > 0.9)) for x, _ in examples(50, seed=9)]
    rows.append({"a": 40.0, "b": -90.0, "c": 2.0, "flag": 1.0})  # beyond every knot
    names = ["a", "b", "c", "flag"]
    z = scorer.logits(np.array([[r[f] for f in names] for r in rows]), names)
    for x, zi in zip(rows, z):
        p = model.predict_proba_one(x)
        assert math.isclose(scorer.score(x), p, rel_tol=1e-9, abs_tol=1e-12)
        assert math.isclose(scorer.calibrate(zi), p, rel_tol=1e-9, abs_tol=1e-12)
        # the contributions are measured from the mean borrower: they and the mean's
        # logit make the row's logit
        mean_logit = scorer.offset + sum(c * scorer.means[f] for f, c in scorer.linear.items())
        mean_logit += sum(base for _, _, base in scorer.curves.values())
        assert math.isclose(mean_logit + sum(c for _, _, c in scorer.contributions(x)), zi,
                            abs_tol=1e-9)


def test_a_mix_scores_the_mean_calibrated_logit_and_its_reasons_are_the_mean_reasons():
    """Two models on the same knots that learned different borrowers (two partitions):
    their mix scores every row at the mean of their calibrated logits, and each feature's
    contribution is the mean of theirs (times each one's calibration slope)."""
    import copy

    warm = RiskModel(n_knots=4, warmup=300)
    for x, y in examples(300, seed=1):
        warm.learn_one(x, y)
    assert warm.basis is not None
    first, second = warm, copy.deepcopy(warm)
    for x, y in examples(3000, seed=2):
        first.learn_one(x, y)
    for x, y in examples(2000, seed=5):
        second.learn_one(dict(x, a=0.5 * x["a"]), y)  # another share of the book
    scorers = [Scorer.from_model(m, version=3) for m in (first, second)]
    mixed = mix(scorers, version=4)
    assert mixed.version == 4 and mixed.ready and set(mixed.curves) == {"a", "b", "c"}
    for x, _ in examples(40, seed=9):
        z = [_logit(s.score(x)) for s in scorers]
        assert math.isclose(mixed.score(x), _sigmoid(sum(z) / 2), rel_tol=1e-9)
        theirs = [{f: c for f, _, c in s.contributions(x)} for s in scorers]
        for f, _, c in mixed.contributions(x):
            expected = sum(s.cal_a * t[f] for s, t in zip(scorers, theirs)) / 2
            assert math.isclose(c, expected, rel_tol=1e-9, abs_tol=1e-12)
    other = RiskModel(n_knots=4, warmup=300)
    for x, y in examples(600, seed=7):
        other.learn_one(x, y)
    with pytest.raises(ValueError, match="different knots"):
        mix([scorers[0], Scorer.from_model(other, version=3)], version=4)


def test_the_compiled_logit_is_the_sum_of_the_terms_to_the_last_bit():
    """The engine scores a row in FEATURES order with straight-line code: it must give the
    sum `offset + coef * x + curve(x)` of the terms, in their order, exactly (a tier moves
    at a threshold, and replays are compared alert for alert), at the knots, between them
    and beyond both ends, and from a dict as from a row."""
    from streamer.core.features import FEATURES
    from streamer.core.splines import Hats, curve

    rng = random.Random(5)
    bent = ("income_trend", "utilization", "days_since_income")
    knots = {"income_trend": (-1.0, -0.25, 0.0, 0.5, 2.0), "utilization": (0.0, 0.7),
             "days_since_income": (0.0, 0.3, 1.1, 6.0)}
    coef = {f"{f}@{i}": rng.uniform(-2, 2) for f in bent for i in range(len(knots[f]))}
    coef.update({"dpd_now": 1.7, "in_grace": -0.4, "credit_score": -0.3})
    means = {name: rng.uniform(0, 1) for name in coef}
    scorer = Scorer(1, coef, means, intercept=-3.1, cal_a=0.9, cal_b=-0.2,
                    basis=Hats(knots))
    assert set(scorer.curves) == set(bent)
    probes = [v for k in knots.values() for v in k] + [-5.0, 0.35, 1.0, 9.0]
    for _ in range(300):
        x = dict.fromkeys(FEATURES, 0.0)
        for f in (*bent, "dpd_now", "in_grace", "credit_score"):
            x[f] = rng.choice(probes) if rng.random() < 0.5 else rng.uniform(-2, 8)
        z = scorer.offset
        for f, c in scorer.linear.items():
            z += c * x[f]
        for f, (k, values, _) in scorer.curves.items():
            z += curve(k, values, x[f])
        expected = scorer.calibrate(_logit(_sigmoid(z)))
        assert scorer.score(x) == expected
        assert scorer.score_row([x[f] for f in FEATURES]) == expected


@pytest.mark.parametrize("cal_a, cal_b", [(1.0, 0.0), (0.83, -0.41), (1.2, 0.3)])
def test_the_probability_of_a_logit_is_the_calibrated_sigmoid_exactly(cal_a, cal_b):
    scorer = Scorer(1, {}, {}, 0.0, cal_a, cal_b)
    rng = random.Random(8)
    for z in [0.0, -0.0, 13.8, -13.8, 40.0, -40.0, 800.0, -800.0] + [
            rng.uniform(-20, 20) for _ in range(2000)]:
        assert scorer._probability(z) == scorer.calibrate(_logit(_sigmoid(z)))


def test_a_scorer_of_features_the_engine_lacks_scores_dicts_but_no_row():
    # a coefficient that is not finite compiles too (as a float('nan') in the code)
    scorer = Scorer(1, {"a": 2.0, "nan": float("nan")}, {"a": 0.0, "nan": 0.0}, -1.0)
    assert math.isnan(scorer.score({"a": 1.0, "nan": 0.0}))
    with pytest.raises(KeyError, match="not in features.FEATURES"):
        scorer.score_row([0.0])


def test_scorer_is_not_ready_before_enough_outcomes():
    model = RiskModel()
    for x, y in list(examples(100)):
        model.learn_one(x, y)
    assert not Scorer.from_model(model, 1).ready
    for x, y in examples(3000):
        model.learn_one(x, y)
    assert Scorer.from_model(model, 2).ready


def test_a_book_of_negatives_alone_teaches_no_feature_weight():
    """A fresh book's first outcomes are negatives, some of them borrowers who missed and
    cured; a miss is a risk all the same once positives come. Until the default-score
    model has learned `MIN_POSITIVES` positives only its intercept learns, so it has not
    learned that a miss lowers the risk (without the rule it has) and ranks a miss first
    once it knows. The trainer's champion is built with the rule."""
    rng = random.Random(5)

    def book(model: RiskModel, n_negatives: int) -> None:
        # nothing is due in the first weeks; then one in twenty missed a payment and cured
        for i in range(n_negatives):
            missed = i >= 5_000 and i % 20 == 0
            model.learn_one({"missed": float(missed), "noise": rng.random()}, False)

    model, unguarded = RiskModel(min_positives=MIN_POSITIVES), RiskModel()
    for m in (model, unguarded):
        book(m, 20_000)
    weights = model.pipeline["LogisticRegression"].weights
    assert dict(weights) == {} or set(weights.values()) == {0.0}
    assert model.pipeline["LogisticRegression"].intercept < -3  # the base rate was learned
    assert unguarded.pipeline["LogisticRegression"].weights["missed"] < -0.05
    assert Trainer(KEY).champion.min_positives == MIN_POSITIVES > 0
    for i in range(4_000):  # then outcomes: a miss leads to default one time in ten
        missed = i % 20 == 0
        model.learn_one({"missed": float(missed), "noise": rng.random()},
                        missed and rng.random() < 0.5)
    assert model.n_positive >= MIN_POSITIVES
    assert model.predict_proba_one({"missed": 1.0, "noise": 0.5}) > \
        5 * model.predict_proba_one({"missed": 0.0, "noise": 0.5})


def test_calibrated_scores_match_observed_rates():
    model = RiskModel()
    data = list(examples(20000))
    for x, y in data[:15000]:
        model.learn_one(x, y)
    held = data[15000:]
    scores = [model.predict_proba_one(x) for x, _ in held]
    mean_score = sum(scores) / len(scores)
    rate = sum(y for _, y in held) / len(held)
    assert abs(mean_score - rate) < 0.04, (mean_score, rate)
    # and ranked: the riskiest fifth defaults far more often than the rest
    ranked = sorted(zip(scores, (y for _, y in held)), reverse=True)
    top = ranked[: len(ranked) // 5]
    assert sum(y for _, y in top) / len(top) > 2.5 * rate


def test_contributions_sum_to_the_logit_and_are_sorted():
    scorer = Scorer(3, {"a": 2.0, "b": -1.0}, {"a": 0.5, "b": 1.0}, intercept=-1.0)
    x = {"a": 1.5, "b": 3.0}
    contrib = scorer.contributions(x)
    assert [f for f, _, _ in contrib] == ["a", "b"]
    assert contrib[0][2] == 2.0 and contrib[1][2] == -2.0
    logit = -1.0 + sum(c for _, _, c in contrib)
    assert math.isclose(scorer.score(x), 1 / (1 + math.exp(-logit)))


def test_calibrator_learns_an_offset():
    c = Calibrator(warmup=0)
    for _ in range(5000):
        c.learn_one(0.2, False)
        c.learn_one(0.2, False)
        c.learn_one(0.2, False)
        c.learn_one(0.2, True)
    assert abs(c.transform(0.2) - 0.25) < 0.02


def test_trainer_publishes_signed_snapshots_and_resumes():
    t = Trainer(KEY, publish_every=500)
    blobs = [b for x, y in examples(1500) if (b := t.learn(x, y)) is not None]
    assert len(blobs) == 3 and t.version == 3
    version, contents = load_snapshot(blobs[-1], KEY)
    assert version == 3 and contents["model"].n_learned == 1500
    assert b"test-key" not in blobs[-1]  # the key never travels in a snapshot
    resumed = Trainer.restore(blobs[-1], KEY)
    assert resumed.examples == 1500 and resumed.version == 3 and resumed.key == KEY
    q = t.quality["champion"]
    assert 0.7 < q.auc <= 1.0 and q.logloss > 0 and 0 < q.brier < 0.25
    assert t.quality["challenger"].n == 1500


def test_a_snapshot_carries_the_challenger_and_quality_windows_of_every_tenth_publish():
    """The models in a snapshot are current; the challenger and the quality windows are
    those pickled at the last of every MONITOR_EVERY publishes (and the first)."""
    import copy

    from streamer.core.trainer import MONITOR_EVERY

    t = Trainer(KEY, publish_every=100)
    blobs, trees = [], {}
    for x, y in examples(100 * (MONITOR_EVERY + 5)):
        blob = t.learn(x, y)
        if blob is not None:
            blobs.append(blob)
            trees[t.version] = copy.deepcopy(t.challenger)
    probes = [x for x, _ in examples(20, seed=9)]

    def same_tree(a, b) -> bool:
        return [a.predict_proba_one(x) for x in probes] == [b.predict_proba_one(x) for x in probes]

    first = Trainer.restore(blobs[0], KEY)
    assert first.quality["champion"].n == 100 and same_tree(first.challenger, trees[1])
    resumed = Trainer.restore(blobs[-1], KEY)
    assert resumed.examples == resumed.champion.n_learned == 100 * (MONITOR_EVERY + 5)
    assert resumed.quality["champion"].n == resumed.quality["challenger"].n == 100 * MONITOR_EVERY
    assert same_tree(resumed.challenger, trees[MONITOR_EVERY])
    assert not same_tree(resumed.challenger, trees[MONITOR_EVERY + 5])  # the tree grew since
    resumed.learn(*next(examples(1)))  # and it goes on from there
    assert resumed.quality["challenger"].n == 100 * MONITOR_EVERY + 1
    twin = copy.deepcopy(t)  # a copy is exact: the tree and windows as they are now
    assert twin.quality["challenger"].n == t.quality["challenger"].n
    assert same_tree(twin.challenger, t.challenger)


def test_a_worker_loading_a_snapshot_to_score_does_not_unpickle_the_trainer(monkeypatch):
    from streamer.core.engine import Engine
    from streamer.settings import Settings

    t = Trainer(KEY, publish_every=2500)
    names = {"a": "dpd_now", "b": "utilization", "c": "coverage"}  # features the engine has
    blob = next(b for x, y in examples(2500)
                if (b := t.learn({names[k]: v for k, v in x.items()}, y)) is not None)

    def refuse(self, state):  # the challenger and quality windows: slow to unpickle
        raise AssertionError("the trainer was unpickled")

    monkeypatch.setattr(Trainer, "__setstate__", refuse, raising=False)
    engine = Engine(Settings(model_key=KEY.decode()))
    assert engine.load_snapshot(blob) and engine.scorer.version == 1
    monkeypatch.undo()
    resumed = Trainer.restore(blob, KEY)  # the trainer is in the snapshot all the same
    assert resumed.examples == 2500 and resumed.challenger is not None


@pytest.mark.parametrize("mutate", [
    lambda b: b[:20] + bytes([b[20] ^ 1]) + b[21:],  # signature bit flipped
    lambda b: b[:-1] + bytes([b[-1] ^ 1]),  # payload bit flipped
    lambda b: b[len(b"STRMSNAP1") + 32:],  # signature stripped
    lambda b: b"",
])
def test_tampered_snapshots_are_refused(mutate):
    blob = sign(RiskModel().dumps(version=1), KEY)
    with pytest.raises(SnapshotRefused):
        load_snapshot(mutate(blob), KEY)


def test_wrong_key_is_refused():
    with pytest.raises(SnapshotRefused):
        load_snapshot(sign(RiskModel().dumps(version=1), KEY), b"another-key")


def test_policy_rejects_unordered_thresholds():
    with pytest.raises(ValueError):
        Policy(PolicyConfig(watch=0.3, high=0.2, critical=0.5))


def test_policy_escalates_immediately_but_steps_down_only_after_cooldown():
    p = Policy(PolicyConfig(cooldown_days=10))
    day = 86_400.0
    assert p.decide("watch", 0.0, 0.6, 0, 0.5 * day, True).tier == "critical"
    assert p.decide("critical", 0.0, 0.28, 0, 5 * day, True) is None
    assert p.decide("critical", 0.0, 0.28, 0, 11 * day, True)[:2] == ("high", "de_escalated")
    # a DPD floor holds the tier whatever the score
    assert p.decide("critical", 0.0, 0.01, 65, 30 * day, True) is None
    assert p.decide("critical", 0.0, 0.01, 40, 30 * day, True)[:2] == ("high", "de_escalated")


@pytest.mark.parametrize("tier, reasons, dpd, offer, expected", [
    ("watch", [("utilization", 1.0, 1.0)], 0, False, "reminder"),
    ("high", [("income_trend", -0.8, 1.2)], 0, False, "grace_period"),
    ("high", [("dpd_now", 1.1, 0.0), ("industry_orders", -0.3, 0.9)], 33, False,
     "installment_plan"),
    ("high", [("utilization", 1.6, 1.0)], 0, False, "installment_plan"),
    ("critical", [("gambling_share", 0.4, 1.0)], 70, False, "escalate"),
    ("critical", [("dpd_now", 2.5, 2.0)], 75, False, "escalate"),
    ("critical", [("income_trend", -0.9, 2.0)], 75, True, "escalate"),
    ("high", [("income_trend", -0.9, 2.0)], 10, True, "reminder"),
    ("none", [], 0, False, "none"),
])
def test_action_fits_the_cause(tier, reasons, dpd, offer, expected):
    assert Policy().action(tier, reasons, dpd, offer) == expected


def test_alert_id_is_a_stable_uuid():
    a = alert_id("b1", "e1", "raised", "high")
    assert a == alert_id("b1", "e1", "raised", "high") and len(a) == 36
    assert a != alert_id("b1", "e1", "raised", "watch")


def test_the_early_score_raises_high_and_nothing_else():
    p = Policy(PolicyConfig(early_high=0.4, cooldown_days=10))
    day = 86_400.0
    assert p.decide("none", 0.0, 0.01, 0, 0.0, True, early=0.99)[:3] == ("high", "raised", True)
    assert p.decide("none", 0.0, 0.01, 0, 0.0, True, early=0.39) is None  # no `watch` of its own
    assert p.decide("none", 0.0, 0.12, 0, 0.0, True, early=0.39)[:3] == ("watch", "raised", False)
    assert p.decide("none", 0.0, 0.01, 0, 0.0, True, early=None) is None  # not ready
    # the default score drives when it reaches as high: the alert is not the early one's
    assert p.decide("none", 0.0, 0.30, 0, 0.0, True, early=0.99)[:3] == ("high", "raised", False)
    assert p.decide("high", 0.0, 0.6, 0, 0.0, True, early=0.0).tier == "critical"
    # the early score's hysteresis band is wider: 0.21 >= 0.5 x 0.4 holds `high`
    assert p.decide("high", 0.0, 0.01, 0, 20 * day, True, early=0.21) is None
    assert p.decide("high", 0.0, 0.01, 0, 20 * day, True, early=0.19)[:2] == ("none", "resolved")
    with pytest.raises(ValueError):
        Policy(PolicyConfig(early_high=1.5))


def test_trainer_learns_the_early_target_beside_the_default_one():
    t = Trainer(KEY, publish_every=1000)
    t.early.warmup = 200  # its knots are fixed after 200 examples, not 5,000
    rng = random.Random(3)
    blob = None
    for i in range(2000):
        late = rng.random() < 0.2  # "30+ DPD soon" follows late payments; default does not
        x = {"partial_90d": float(late) + rng.gauss(0, 0.3), "dpd_now": float(i % 50 == 0)}
        blob = t.learn_example(TrainingExample(
            borrower_id="b", ts="2026-01-01T00:00:00Z", label=int(i % 50 == 0), score=0.0,
            model_version=0, features=x, early_label=int(late))) or blob
    assert t.quality["early"].n == 2000 and t.quality["early"].auc > 0.9
    _, contents = load_snapshot(blob, KEY)
    early = Scorer.from_model(contents["early"], 2)
    knots, values, _ = early.curves["partial_90d"]  # a curve, rising with late payments
    assert early.ready and len(knots) == 5 and values[-1] > values[0]
    assert early.score({"partial_90d": 1.0, "dpd_now": 0.0}) > 0.5 > early.score(
        {"partial_90d": 0.0, "dpd_now": 0.0})
    # a trainer published before the early model existed resumes with a fresh one
    old = Trainer(KEY)
    del old.early, old.quality["early"]
    resumed = Trainer.restore(sign(old.champion.dumps(1, trainer=old), KEY), KEY)
    assert resumed.early.n_learned == 0 and resumed.learn({"dpd_now": 1.0}, True, False) is None
    assert resumed.quality["early"].n == 1


def test_the_published_early_scorer_is_the_mean_of_the_last_versions_and_workers_use_it():
    from streamer.core.engine import Engine
    from streamer.settings import Settings

    t = Trainer(KEY, publish_every=500)
    t.early.warmup = 200
    t.early_average = Average(n=3)
    rng = random.Random(4)
    blobs, versions = [], []
    for i in range(3000):
        late = rng.random() < 0.2
        x = {"partial_90d": float(late) + rng.gauss(0, 0.5), "dpd_now": 0.0}
        if (b := t.learn(x, i % 50 == 0, late)) is not None:
            blobs.append(b)
            versions.append(Scorer.from_model(t.early, t.version))  # this version alone
    _, contents = load_snapshot(blobs[-1], KEY)
    published = contents["early_scorer"]
    x = {"partial_90d": 1.3, "dpd_now": 0.0}
    mean_logit = sum(_logit(v.score(x)) for v in versions[-3:]) / 3
    assert published.version == 6 and published.ready
    assert _logit(published.score(x)) == pytest.approx(mean_logit, abs=1e-6)
    assert abs(_logit(published.score(x)) - _logit(versions[-1].score(x))) > 1e-4  # not the newest
    engine = Engine(Settings(model_key=KEY.decode()))
    assert engine.load_snapshot(blobs[-1])
    assert engine.early.score(x) == published.score(x)
    # a resumed trainer goes on with the same mean (its versions travel in the snapshot)
    resumed = Trainer.restore(blobs[-1], KEY)
    assert [v.version for v in resumed.early_average.recent] == [4, 5, 6]
    # a snapshot of a trainer from before the mean: the worker scores its early model
    old = Trainer.restore(blobs[-1], KEY)
    del old.early_average
    old_blob = sign(old.champion.dumps(7, early=old.early, trainer=pickle.dumps(old)), KEY)
    assert Trainer.restore(old_blob, KEY).early_average.n == EARLY_AVERAGE_EXAMPLES // 500
    assert engine.load_snapshot(old_blob)
    assert engine.early.score(x) == Scorer.from_model(old.early, 7).score(x)


def test_a_version_not_ready_is_published_alone_and_restarts_the_mean():
    avg = Average(n=4)
    young = RiskModel()
    for i in range(100):
        young.learn_one({"dpd_now": float(i % 5 == 0)}, i % 10 == 0)
    assert not avg.publish(young, 1).ready and avg.recent == []
    for i in range(3000):
        young.learn_one({"dpd_now": float(i % 5 == 0)}, i % 10 == 0)
    first = avg.publish(young, 2)
    assert first.ready and avg.recent == [first]  # alone until a second version joins
    assert avg.publish(young, 3).version == 3 and len(avg.recent) == 2


def test_the_challenger_splits_and_ranks_when_defaults_are_rare():
    rng = random.Random(5)
    tree_ = make_challenger()
    auc = RollingROCAUC(window_size=5000)
    for i in range(20_000):
        x = {"dpd_now": rng.random(), "noise": rng.random()}
        y = x["dpd_now"] > 0.99 and rng.random() < 0.8  # under 1% positives
        auc.update(y, tree_.predict_proba_one(x).get(True, 0.0))
        tree_.learn_one(x, y)
    assert tree_.n_nodes > 1 and auc.get() > 0.8


def test_a_training_example_with_a_feature_the_engine_lacks_is_refused():
    """A crafted risk.training message with a made-up feature: had it been learned, the
    next snapshot would ask every worker for a value no event gives (KeyError on every
    event). The trainer refuses it; an engine also refuses a snapshot that reads one."""
    from streamer.core.engine import Engine
    from streamer.core.features import FEATURES
    from streamer.settings import Settings

    t = Trainer(KEY, publish_every=1000)
    x = dict.fromkeys(FEATURES, 0.0)
    crafted = TrainingExample(borrower_id="b", ts="2026-01-01T00:00:00Z", label=1, score=0.0,
                              model_version=0, features={**x, "zzz": 1.0})
    with pytest.raises(ValueError, match="unknown feature"):
        t.learn_example(crafted)
    assert t.examples == 0
    # a snapshot from a trainer that did learn one (not this one) is refused and counted
    model = RiskModel()
    rng = random.Random(2)
    for i in range(3000):
        model.learn_one({**x, "dpd_now": float(i % 20 == 0), "zzz": rng.random()}, i % 20 == 0)
    engine = Engine(Settings(model_key=KEY.decode()))
    assert not engine.load_snapshot(sign(model.dumps(version=7), KEY))
    assert engine.snapshots_refused == 1 and engine.scorer.version == 0
    fx = engine.process_raw(b'{"event_id":"e1","type":"overdue_status","borrower_id":"b1",'
                            b'"ts":"2026-02-20T23:59:00Z","v":1,"loan_id":"L1",'
                            b'"days_past_due":35,"overdue_amount":1100}')
    assert fx.outcome == "ok" and fx.alert.tier == "high"


def test_a_weighted_example_counts_as_that_many_in_the_scaler_and_in_adagrads_sums():
    """Learning x once with weight 3 leaves the scale, and AdaGrad's sums, as learning it
    three times would; River's own AdaGrad would add 3^2 = 9 times its square."""
    a, b = WeightedScaler(), WeightedScaler()
    for x, w in (({"u": 1.0}, 1.0), ({"u": 5.0}, 3.0), ({"u": -2.0}, 2.0)):
        a.learn_one(x, w=w)
        for _ in range(int(w)):
            b.learn_one(x)
    assert a.counts["u"] == b.counts["u"] == 6
    assert math.isclose(a.means["u"], b.means["u"]) and math.isclose(a.vars["u"], b.vars["u"])
    opt = WeightedAdaGrad(0.1)
    opt.weight = 3.0
    opt.step(w={"u": 0.0}, g={"u": 3.0 * 0.5})  # the regression hands over w * gradient
    assert math.isclose(opt.g2["u"], 3 * 0.5**2)


def test_negatives_learned_one_in_four_with_weight_four_keep_the_probability_calibrated():
    """A quarter of the negatives, weighted 4, and every positive: the calibrated
    probability matches the observed rate, and the ranking, as learning them all does;
    unweighted, the same sample would overstate the risk."""
    data = list(examples(40000, seed=11))
    held = data[30000:]
    rate = sum(y for _, y in held) / len(held)
    models = {"all": RiskModel(), "weighted": RiskModel(), "unweighted": RiskModel()}
    for i, (x, y) in enumerate(data[:30000]):
        models["all"].learn_one(x, y)
        if y or i % 4 == 0:
            models["weighted"].learn_one(x, y, 1 if y else 4)
            models["unweighted"].learn_one(x, y)
    mean = {name: sum(m.predict_proba_one(x) for x, _ in held) / len(held)
            for name, m in models.items()}
    assert abs(mean["weighted"] - rate) < 0.01 and abs(mean["all"] - rate) < 0.01, (mean, rate)
    assert mean["unweighted"] > rate + 0.03, (mean, rate)
    auc = {}
    for name in ("all", "weighted"):
        metric = RollingROCAUC(window_size=len(held))
        for x, y in held:
            metric.update(y, models[name].predict_proba_one(x))
        auc[name] = metric.get()
    assert abs(auc["all"] - auc["weighted"]) < 0.005, auc
    # and the weight counts in the model's tally (its scorer's readiness)
    assert models["weighted"].n_learned == pytest.approx(models["all"].n_learned, rel=0.05)


def test_the_sample_of_negatives_is_a_fixed_quarter_and_the_trainer_learns_only_it():
    """Which negatives are learned depends on the borrower and the snapshot's time only:
    two trainers learn the same ones; every example is still scored."""
    keys = [sample_key(f"b{i}", f"2026-03-{1 + i % 28:02d}T00:00:00Z") for i in range(8000)]
    assert keys == [sample_key(f"b{i}", f"2026-03-{1 + i % 28:02d}T00:00:00Z")
                    for i in range(8000)]
    assert 0.23 < sum(k % 4 == 0 for k in keys) / len(keys) < 0.27
    t = Trainer(KEY)
    t.negative_every = {"champion": 4, "challenger": 1, "early": 4}
    for i in range(400):
        t.learn_example(TrainingExample(
            borrower_id=f"b{i}", ts="2026-01-01T00:00:00Z", label=int(i % 40 == 0),
            score=0.0, model_version=0, features={"dpd_now": float(i % 40 == 0)}))
    kept = sum(sample_key(f"b{i}", "2026-01-01T00:00:00Z") % 4 == 0
               for i in range(400) if i % 40)
    assert t.champion.n_learned == 10 + 4 * kept and t.champion.n_positive == 10
    assert t.challenger._train_weight_seen_by_model == 400  # 1 in 1: every example
    assert t.quality["champion"].n == 400


def test_a_model_pickled_with_rivers_own_scaler_and_adagrad_loads_and_learns_weighted():
    """Snapshots published before the weights (River's StandardScaler and AdaGrad in the
    pipeline) load with the weight-aware steps, score as before and go on learning."""
    import pickle

    from river import optim, preprocessing

    model = RiskModel()
    for x, y in examples(2000):
        model.learn_one(x, y)
    scaler = model.pipeline["StandardScaler"]
    lr = model.pipeline["LogisticRegression"]
    scaler.__class__, lr.optimizer.__class__ = preprocessing.StandardScaler, optim.AdaGrad
    old = pickle.dumps(model)
    assert b"WeightedScaler" not in old and b"WeightedAdaGrad" not in old
    loaded = pickle.loads(old)
    assert isinstance(loaded.pipeline["StandardScaler"], WeightedScaler)
    assert isinstance(loaded.pipeline["LogisticRegression"].optimizer, WeightedAdaGrad)
    x = {"a": 1.0, "b": 2.0, "c": 0.5}
    assert loaded.predict_proba_one(x) == model.predict_proba_one(x)
    loaded.learn_one(x, False, 4)
    assert loaded.n_learned == 2004 and loaded.pipeline["StandardScaler"].counts["a"] == 2004
