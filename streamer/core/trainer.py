"""The trainer: every labeled example once, champion and challenger side by side.

The champion and the challenger learn the score's target (90+ DPD within 90 days); the
early-warning model, a second champion pipeline, learns the early target (a miss within
90 days whose delinquency spell ends in default, see `labels.py`) from the same examples. Each example is first scored by the models (progressive validation: the score is given
before the label is learned), which feeds their rolling quality figures and the drift
detector; then both learn it. Every `publish_every` examples the trainer publishes a new
signed snapshot, which the scorers load: the champion as it is, the early model as the
mean of its recent versions (`model.Average`). With an alert budget, the snapshot also
carries the early `high` threshold that spends it (`threshold.py`).

>>> t = Trainer(key=b"k" * 32, publish_every=100)
>>> blobs = [t.learn({"dpd_now": float(i % 3 == 0)}, i % 3 == 0) for i in range(300)]
>>> sum(b is not None for b in blobs), t.version
(3, 3)
>>> t.quality["champion"].auc > 0.9
True
>>> t.quality["early"].n   # these examples carry no early label
0
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import math
import pickle
from typing import Annotated

import msgspec
from river import drift, metrics, stats, utils

from streamer.core.features import KNOWN
from streamer.core.model import (
    MIN_POSITIVES,
    Average,
    RiskModel,
    Scorer,
    load_snapshot,
    make_challenger,
    sign,
)
from streamer.core.outputs import TrainingExample
from streamer.core.policy import early_may_raise
from streamer.core.threshold import BudgetThreshold

_ZonedTime = Annotated[dt.datetime, msgspec.Meta(tz=True)]
QUALITY_WINDOW = 5000  # examples in the rolling quality figures
# What a snapshot holds; bumped when that changes (2: the early-warning model; 3: its
# target a miss whose spell ends in default, and the alert budget's threshold; 4: its
# feature curves; 5: the default model's first positives, `model.MIN_POSITIVES`), so that
# a cached snapshot of an older trainer (the demo's starter model) is trained again.
SNAPSHOT_FORMAT = 5
# The early model bends each feature on 5 knots (splines.py), placed at the quantiles of
# its first 5,000 examples. On the 8,000-borrower books, replayed offline from the
# history book on, this lifted the early score's ROC AUC on the test snapshots from 0.924
# to 0.940 (baseline) and 0.920 to 0.935 (industry_downturn), average precision by a
# third to a half; the default score stays linear (its reasons are DPD, and it is
# already within 0.002 of LightGBM).
EARLY_KNOTS = 5
EARLY_WARMUP = 5000
# Each model learns every positive example but only 1 in k negatives (k below), with
# weight k: scaler, regression, its AdaGrad sums, calibrator and tree all count it k
# times, so the calibrated probability stays that of learning them all. Every example
# is still scored by every model (the rolling quality figures and the drift detector see
# all). Which negatives: `sample_key`, a hash of the borrower and the snapshot's time, so
# a replay learns the same ones every time. 1: learn every example.
NEGATIVE_EVERY = {"champion": 1, "challenger": 4, "early": 4}
# The early scorer published is the mean of the versions over about the last 160,000
# examples (`model.Average`; 80 versions at the default `publish_every`). On the
# 20,000-borrower books it ranks the test quarter at ROC AUC 0.963 / 0.954 (a mean over
# 40,000 examples: 0.957 / 0.947). Under the trainer's threshold alone its alerts spent
# 9.9% / 7.4% of good borrowers for the 5% asked; the workers' pacing (`pacing.py`) holds
# them to the budget (README).
EARLY_AVERAGE_EXAMPLES = 160_000


# The challenger's tree and the rolling quality windows are most of what a trainer weighs
# (a year on: 8.2 and 7.7 MB, 160 and 45 ms to pickle, nine tenths of a publish), and
# only the dashboards read them. A snapshot carries them as they were at the last of every
# MONITOR_EVERY publishes (and the first): a restored trainer's challenger and quality
# windows may be that many snapshots behind its models, and go on from there.
MONITOR_EVERY = 10


def sample_weight(every: int, positive: bool, key: int | None) -> int:
    """The weight a model that learns 1 in `every` negatives gives an example: 1 to every
    positive (and to all with `every` 1 or no `key`), `every` to the negatives whose
    `sample_key` is a multiple of it, 0 (not learned) to the rest.

    >>> [sample_weight(4, False, k) for k in (5, 8)], sample_weight(4, True, 5)
    ([0, 4], 1)
    """
    if positive or key is None or every == 1:
        return 1
    return every if key % every == 0 else 0


def check_example(ex: TrainingExample) -> None:
    """Refuse an example with a feature the engine does not compute: a model that learned
    a weight for it would ask every worker for a value no event gives. (A missing feature
    only teaches the models nothing about it.)"""
    unknown = ex.features.keys() - KNOWN
    if unknown:
        raise ValueError(f"unknown feature {min(unknown)[:40]!r} in a training example "
                         f"({len(unknown)} unknown; see streamer/core/features.py)")


def sample_key(borrower_id: str, ts: str) -> int:
    """A fixed 64-bit number per example: a model that learns 1 in k negatives learns
    those whose key is a multiple of k (`Trainer.learn`). The same on every run and every
    trainer (no random state); the models' samples nest (1 in 8 lie within 1 in 4).

    >>> sum(sample_key(f"b{i}", "2026-01-01T00:00:00Z") % 4 == 0 for i in range(4000))
    965
    """
    digest = hashlib.blake2b(f"{borrower_id}|{ts}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


class Quality:
    """Rolling ROC AUC, log loss and Brier score of one model's progressive scores."""

    def __init__(self, window: int = QUALITY_WINDOW) -> None:
        self._auc = metrics.RollingROCAUC(window_size=window)
        self._logloss = utils.Rolling(stats.Mean, window_size=window)
        self._brier = utils.Rolling(stats.Mean, window_size=window)
        self.n = 0

    def update(self, y: bool, p: float) -> float:
        """Record one (label, score); returns the example's log loss."""
        p = min(max(p, 1e-7), 1 - 1e-7)
        loss = -math.log(p if y else 1.0 - p)
        self._auc.update(y, p)
        self._logloss.update(loss)
        self._brier.update((p - (1.0 if y else 0.0)) ** 2)
        self.n += 1
        return loss

    @property
    def auc(self) -> float:
        return self._auc.get()

    @property
    def logloss(self) -> float:
        return self._logloss.get()

    @property
    def brier(self) -> float:
        return self._brier.get()


class Trainer:
    # a class default: a trainer restored from a snapshot samples as this code does
    negative_every = NEGATIVE_EVERY
    # the challenger and the quality windows as the last MONITOR_EVERY-th publish pickled
    # them (None: not yet; a snapshot then carries them as they are)
    _monitor: bytes | None = None

    def __init__(self, key: bytes, publish_every: int = 1000, early_budget: float = 0.0,
                 early_min_history_days: float = 0.0) -> None:
        self.key = key
        self.publish_every = publish_every
        # younger accounts have no early score (the engine's rule): the early model need
        # not rank them, and the budget must not count them
        self.early_min_history_days = early_min_history_days
        # early_budget 0: no budget, the workers keep their fixed early threshold
        self.budget = BudgetThreshold(early_budget) if early_budget else None
        self.early_high: float | None = None  # the last threshold the budget gave
        self.champion = RiskModel(min_positives=MIN_POSITIVES)
        self.challenger = make_challenger()
        self.early = RiskModel(n_knots=EARLY_KNOTS, warmup=EARLY_WARMUP)
        self.early_average = Average(EARLY_AVERAGE_EXAMPLES // publish_every)
        self.quality = {"champion": Quality(), "challenger": Quality(), "early": Quality()}
        self.drift = drift.ADWIN()
        self.drifts = 0
        self.version = 0
        self.examples = 0

    def set_budget(self, budget: float) -> None:
        """This run's alert budget (a resumed trainer keeps its threshold if it is the same)."""
        if budget != (self.budget.budget if self.budget else 0.0):
            self.budget = BudgetThreshold(budget) if budget else None
            self.early_high = None  # chosen for another budget

    def learn_example(self, ex: TrainingExample) -> bytes | None:
        """Learn one `risk.training` example; returns a signed snapshot when one is due.
        Raises ValueError, and learns nothing, if it names a feature the engine has not
        (`check_example`)."""
        check_example(ex)
        early = None if ex.early_label is None else ex.early_label == 1
        bad = ex.label == 1 or bool(early)
        if ex.features.get("tenure_years", 0.0) * 365 < self.early_min_history_days:
            early = None
        if self.budget is not None:
            # the budget counts only the snapshots the early score may raise (policy.py)
            counted = early if early_may_raise(ex.features.get("missed_90d", 0.0)) else None
            try:
                ts = msgspec.convert(ex.ts, _ZonedTime).timestamp()
                self.budget.add(ex.borrower_id, ts, ex.features, counted, bad)
            except (msgspec.ValidationError, KeyError):
                pass  # no valid time or not every feature: the models still learn it
        return self.learn(ex.features, ex.label == 1, early,
                          sample_key(ex.borrower_id, ex.ts))

    def learn(self, x: dict[str, float], y: bool, early: bool | None = None,
              key: int | None = None) -> bytes | None:
        """Learn one example (`early`: its early label, if known); returns a signed
        snapshot when one is due. `key`: the example's `sample_key`, which picks the
        negatives that a model sampling 1 in k learns, with weight k; None: every model
        learns it with weight 1. Every example is scored by every model.

        >>> t = Trainer(key=b"k" * 32)
        >>> t.negative_every = {"champion": 4, "challenger": 4, "early": 4}
        >>> t.learn({"dpd_now": 0.0}, False, key=5)   # not a multiple of 4: scored only
        >>> t.learn({"dpd_now": 0.0}, False, key=8)   # stands for 4 negatives
        >>> t.learn({"dpd_now": 3.0}, True, key=5)    # a positive: always learned
        >>> t.champion.n_learned, t.champion.n_positive, t.quality["champion"].n
        (5, 1, 3)
        """
        def weight(model: str, positive: bool) -> int:
            return sample_weight(self.negative_every[model], positive, key)

        w = weight("champion", y)
        if w:
            p = self.champion.score_then_learn(x, y, w)
        else:
            p = self.champion.predict_proba_one(x)
        loss = self.quality["champion"].update(y, p)
        self.quality["challenger"].update(y, self.challenger.predict_proba_one(x).get(True, 0.0))
        self.drift.update(loss)
        if self.drift.drift_detected:
            self.drifts += 1
        w = weight("challenger", y)
        if w:
            self.challenger.learn_one(x, y, w=w)
        if early is not None:
            # until its knots are fixed the early model holds every example for them
            held = self.early.n_knots and self.early.basis is None
            w = weight("early", early or held)
            if w:
                p = self.early.score_then_learn(x, early, w)
            else:
                p = self.early.predict_proba_one(x)
            self.quality["early"].update(early, p)
        self.examples += 1
        if self.examples % self.publish_every == 0:
            return self.publish()
        return None

    def publish(self) -> bytes:
        self.version += 1
        early = self.early_average.publish(self.early, self.version)
        if self.budget is not None and early.ready:
            self.early_high = self.budget.threshold(early) or self.early_high
        if self._monitor is None or self.version % MONITOR_EVERY == 0:
            self._monitor = pickle.dumps((self.challenger, self.quality), protocol=5)
        # The trainer rides along as a pickle of its own: a worker that loads the
        # snapshot to score unpickles the two models it scores with (under a millisecond),
        # not the challenger and the quality windows (a quarter of a second on a year's
        # trainer, with the worker's event loop blocked). Only `restore` opens it.
        return sign(self.champion.dumps(self.version, early=self.early, early_scorer=early,
                                        trainer=pickle.dumps(self, protocol=5),
                                        early_high=self.early_high), self.key)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["key"] = b""  # the signing key never travels inside a snapshot
        if self._monitor is not None:  # they travel as `_monitor` pickled them
            del state["challenger"], state["quality"]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        if "challenger" not in state:
            self.challenger, self.quality = pickle.loads(self._monitor)

    def __deepcopy__(self, memo: dict) -> Trainer:
        """An exact copy (the benchmarks start every run from one), challenger and
        windows as they are now: a pickle carries them as a snapshot does."""
        new = Trainer.__new__(Trainer)
        memo[id(self)] = new
        new.__dict__.update(copy.deepcopy(self.__dict__, memo))
        return new

    @classmethod
    def restore(cls, blob: bytes, key: bytes) -> Trainer:
        """Go on from the newest published snapshot (a restarted trainer)."""
        _, contents = load_snapshot(blob, key)
        trainer = contents["trainer"]
        if isinstance(trainer, bytes):  # since 2026-12-07; before, pickled in place
            trainer = pickle.loads(trainer)  # signed with the rest: checked above
        trainer.key = key
        if not hasattr(trainer, "early"):  # published before the early-warning model existed
            trainer.early = RiskModel(n_knots=EARLY_KNOTS, warmup=EARLY_WARMUP)
            trainer.quality["early"] = Quality()
        if not hasattr(trainer, "budget"):  # published before the alert budget existed
            trainer.budget, trainer.early_high = None, None
        if not hasattr(trainer, "early_min_history_days"):
            trainer.early_min_history_days = 0.0
        if not hasattr(trainer, "early_average"):  # published before the early mean
            trainer.early_average = Average(EARLY_AVERAGE_EXAMPLES // trainer.publish_every)
        return trainer
