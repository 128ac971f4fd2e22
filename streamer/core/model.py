"""The online model: River learners, Platt calibration, compiled scorers and signed snapshots.

Learning happens in one place (the trainer, see `trainer.py`); scoring happens on every
worker from the newest verified snapshot. A snapshot carries the River objects (so a new
trainer can go on learning) and is compiled on load into a :class:`Scorer`: the champion
is ``StandardScaler | LogisticRegression``, which is linear in the raw features, so one
dot product gives exactly the same logit for a fraction of River's per-event cost, and
the per-feature terms of that dot product are the alert's reasons.

>>> m = RiskModel()
>>> for i in range(400):
...     y = i % 4 == 0
...     m.learn_one({"dpd_now": 2.0 if y else 0.0, "income_trend": -0.5 if y else 0.1}, y)
>>> scorer = Scorer.from_model(m, version=1)
>>> scorer.score({"dpd_now": 2.0, "income_trend": -0.5}) > 0.5 > scorer.score(
...     {"dpd_now": 0.0, "income_trend": 0.1})
True
>>> blob = sign(m.dumps(version=1), b"k" * 32)
>>> load_snapshot(blob, b"k" * 32)[0]
1
>>> load_snapshot(blob[:-1] + b"x", b"k" * 32)
Traceback (most recent call last):
...
streamer.core.model.SnapshotRefused: model snapshot signature does not match (tampered, or signed with another key)
"""

from __future__ import annotations

import hashlib
import hmac
import math
import pickle
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from river import compose, linear_model, optim, preprocessing, tree

from streamer.core.features import FEATURES, KNOWN
from streamer.core.splines import SEP, Hats, curve

MAGIC = b"STRMSNAP1"
# The default-score model learns no feature weight before it has learned as many
# positives as make its scorer ready (`Scorer.from_model`): until then only its intercept
# (and its scaler and calibrator) learn. A fresh book's first outcomes are one-sided: a
# borrower who missed and cured is a negative within weeks, one who goes on to 90+ DPD a
# positive only months later; and AdaGrad takes a full step on a rare feature's first
# gradients however small. Learning those negatives alone, a model learned that a miss
# lowers the risk and unlearned it for months: from scratch on a simulated year of 10,000
# borrowers it ranked May's snapshots at ROC AUC 0.61 (0.991 with the rule), and a book
# started from it scored its year at 0.962 (0.988). The early model does without: its
# curves' warm-up holds its first examples, and the rule did not help it (README, "The
# history before the year").
MIN_POSITIVES = 30
_SIG_LEN = 32


class SnapshotRefused(Exception):
    """A model snapshot that is unsigned, malformed or signed with another key."""


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1.0 - p))


class WeightedAdaGrad(optim.AdaGrad):
    """AdaGrad that counts an example of weight `w` as `w` examples (River's counts it once).

    The trainer learns 1 in k negative examples with weight k (`trainer.NEGATIVE_EVERY`).
    River's logistic regression hands its optimizer the gradient times the weight, and
    plain AdaGrad adds that gradient's square to its sums: k^2 g^2 where the k examples
    the weighted one stands for would have added k g^2. Its sums would then grow k times
    too fast on the negatives and every later step would shrink, by up to sqrt(k). Here
    the square is divided by the weight (`weight`, set by the model before each step), so
    the sums, and the steps, are what learning every example gives, on average. With
    weight 1 every step is River's to the last bit; the learning rate is read once per
    step, not once per feature (half the step's cost over the early model's columns).

    >>> opt = WeightedAdaGrad(0.1)
    >>> opt.weight = 4.0
    >>> w = opt.step(w={"x": 0.0}, g={"x": 4.0})   # one example of weight 4, gradient 1 each
    >>> opt.g2["x"], round(w["x"], 3)               # sums as 4 examples' 1^2; step 0.1 * 4 / 2
    (4.0, -0.2)
    """

    weight = 1.0  # of the example being learned; a class default for unpickled AdaGrads

    def _step_with_dict(self, w: Any, g: Any) -> Any:
        g2, lr, eps, k = self.g2, self.learning_rate, self.eps, self.weight
        for i, gi in g.items():
            g2[i] += gi**2 / k
            w[i] -= lr / (g2[i] + eps) ** 0.5 * gi
        return w


class WeightedScaler(preprocessing.StandardScaler):
    """River's StandardScaler whose running mean and variance take an example's weight.

    So the scale stays that of every example seen although only a sample of the negatives
    is learned (weighted Welford); with weight 1 it is River's update unchanged.

    >>> s = WeightedScaler()
    >>> s.learn_one({"x": 0.0}, w=3.0); s.learn_one({"x": 4.0})
    >>> s.means["x"], s.vars["x"]   # as 0, 0, 0, 4
    (1.0, 3.0)
    """

    def learn_one(self, x: dict, w: float = 1.0) -> None:
        if w == 1.0:
            super().learn_one(x)
            return
        counts, means, vars_ = self.counts, self.means, self.vars
        for i, xi in x.items():
            counts[i] += w
            old_mean = means[i]
            means[i] += w * (xi - old_mean) / counts[i]
            vars_[i] += w * ((xi - old_mean) * (xi - means[i]) - vars_[i]) / counts[i]


def _literal(v: float) -> str:
    """A float as Python source that reads back as the same float (inf and nan too)."""
    return repr(v) if math.isfinite(v) else f"float('{v}')"


def make_champion() -> Any:
    """Standardized logistic regression: fast, stable, and its reasons are exact.

    AdaGrad, not plain SGD: rare, decisive features (a loan overdue at all) get large
    steps while the dense ones settle (progressive ROC AUC on simulated examples: 0.99 vs
    0.93 with SGD(0.02); see the closing notes of the quality issue). Both steps take an
    example's weight (`WeightedScaler`, `WeightedAdaGrad`); they keep River's step names,
    which the compiled scorer reads.
    """
    return compose.Pipeline(
        ("StandardScaler", WeightedScaler()),
        ("LogisticRegression", linear_model.LogisticRegression(optimizer=WeightedAdaGrad(0.05))))


def _upgrade(pipeline: Any) -> None:
    """A pipeline pickled with River's own scaler and AdaGrad takes weights from now on (the
    subclasses add no state: the same objects, only their learning is weight-aware)."""
    scaler, lr = pipeline["StandardScaler"], pipeline["LogisticRegression"]
    if type(scaler) is preprocessing.StandardScaler:
        scaler.__class__ = WeightedScaler
    if type(lr.optimizer) is optim.AdaGrad:
        lr.optimizer.__class__ = WeightedAdaGrad


def make_challenger() -> Any:
    """A Hoeffding tree: catches interactions (e.g. stressed industry x high utilization).

    `max_share_to_split=1.0`: River's default (0.99) never tries a split while one class
    holds 99% of a leaf, and defaults are rarer than 1% of the examples, so the tree stayed
    a single leaf with a constant score (progressive ROC AUC 0.50 on 133,000 simulated
    examples; 0.89 with these settings, at the same ~70 us per example).
    """
    return tree.HoeffdingTreeClassifier(grace_period=300, max_depth=10, leaf_prediction="mc",
                                        max_share_to_split=1.0)


class Calibrator:
    """Online Platt scaling: p' = sigmoid(a * logit(p) + b), learned on log loss.

    It learns from each example *before* the base model does (progressive), so it maps
    what the model says on unseen borrowers to how often they default. Its steps shrink
    as it learns (AdaGrad: each parameter's step is `rate` over the root of its summed
    squared gradients): a young model gets calibrated within thousands of examples, and a
    mature one keeps one scale from version to version. Every version is scored on its
    own, but a borrower's scores from successive versions are compared (tiers, the alert
    budget, a dashboard's trend); a fixed step of 0.005 swung the early score's scale by a
    quarter between versions, which alone cost its ranking over a quarter's snapshots
    0.015 ROC AUC.

    >>> c = Calibrator(warmup=0)
    >>> for _ in range(4000):
    ...     c.learn_one(0.5, False); c.learn_one(0.5, False); c.learn_one(0.5, True)
    >>> round(c.transform(0.5), 2)   # a raw 0.5 turned out to mean 1 in 3
    0.33
    """

    # class-level defaults: a calibrator pickled with a fixed step reads as a fresh AdaGrad
    rate, g2_a, g2_b = 0.05, 0.0, 0.0

    def __init__(self, rate: float = 0.05, warmup: int = 1000) -> None:
        self.a, self.b, self.rate = 1.0, 0.0, rate
        self.g2_a = self.g2_b = 0.0
        # The first examples meet a base model that is still far from its fit; learning
        # the mapping from them would only teach the calibrator the base's infancy.
        self.warmup, self.n = warmup, 0

    def transform(self, p: float) -> float:
        return _sigmoid(self.a * _logit(p) + self.b)

    def learn_one(self, p: float, y: bool, w: float = 1) -> None:
        """Learn that a raw `p` was followed by `y`; `w`: how many examples this one
        stands for (its gradient counts `w` times, and `w` times in AdaGrad's sums, so a
        sample of weighted examples calibrates as the whole would)."""
        self.n += w
        if self.n <= self.warmup:
            return
        z = _logit(p)
        err = _sigmoid(self.a * z + self.b) - (1.0 if y else 0.0)
        grad_a, grad_b = err * z, err
        self.g2_a += w * grad_a * grad_a
        self.g2_b += w * grad_b * grad_b
        self.a -= self.rate * w * grad_a / math.sqrt(self.g2_a + 1e-12)
        self.b -= self.rate * w * grad_b / math.sqrt(self.g2_b + 1e-12)


class RiskModel:
    """The champion pipeline plus its calibrator (River-style learn_one/predict_proba_one).

    With `n_knots`, every feature first bends on that many knots (`splines.Hats`), fixed at
    the features' quantiles over the first `warmup` examples: those are held, not learned,
    until the knots are known, then learned in their order. The model scores a constant
    meanwhile (and its scorer is not ready).

    >>> m = RiskModel(n_knots=3, warmup=50)
    >>> for i in range(400):   # risk is high at *both* ends of u: no straight line fits it
    ...     u = (i % 20) / 19
    ...     m.learn_one({"u": u}, (i % 20 in (0, 19)) and i % 3 == 0)
    >>> len(m.basis.knots["u"]), m.n_learned   # knots fixed after 50, then all 400 learned
    (3, 400)
    >>> m.predict_proba_one({"u": 0.0}) > m.predict_proba_one({"u": 0.5}) < m.predict_proba_one({"u": 1.0})
    True
    """

    # class-level defaults: a model pickled before the curves existed reads as linear
    n_knots, warmup, basis, min_positives = 0, 0, None, 0

    def __init__(self, n_knots: int = 0, warmup: int = 5000, min_positives: int = 0) -> None:
        self.pipeline = make_champion()
        self.calibrator = Calibrator()
        self.n_learned = 0
        self.n_positive = 0
        self.n_knots, self.warmup = n_knots, warmup
        # positives to learn before any feature weight (0: from the first example)
        self.min_positives = min_positives
        self.basis: Hats | None = None
        # until the knots are fixed: (x, y, w); a snapshot's older entries are (x, y)
        self._held: list[tuple] = []

    def raw_proba_one(self, x: dict[str, float]) -> float:
        """The pipeline's probability before calibration."""
        if self.basis is not None:
            x = self.basis.transform_one(x)
        return self.pipeline.predict_proba_one(x).get(True, 0.0)

    def predict_proba_one(self, x: dict[str, float]) -> float:
        return self.calibrator.transform(self.raw_proba_one(x))

    def learn_one(self, x: dict[str, float], y: bool, w: float = 1) -> None:
        self.score_then_learn(x, y, w)

    def score_then_learn(self, x: dict[str, float], y: bool, w: float = 1) -> float:
        """Learn one example; returns the probability given to it first (progressive
        validation), from the one pass through the pipeline that both need. `w`: how
        many examples it stands for (a sampled negative's weight: scaler, regression and
        calibrator count it `w` times, and so do `n_learned` and `n_positive`).

        The pipeline's steps are called one by one, as River's `Pipeline` would (the
        scaler scores with what it knew before the example, then learns it, then scales
        it again for the regression to learn), because the pipeline would not pass `w`
        to the scaler."""
        if self.n_knots and self.basis is None:
            p = self.predict_proba_one(x)
            self._held.append((dict(x), y, w))
            if len(self._held) >= self.warmup:
                held, self._held = self._held, []
                self.basis = Hats.at_quantiles([h[0] for h in held], self.n_knots)
                for h in held:
                    self.score_then_learn(*h)
            return p
        z = x if self.basis is None else self.basis.transform_one(x)
        steps = self.pipeline.steps
        scaler, lr = steps["StandardScaler"], steps["LogisticRegression"]
        raw = lr.predict_proba_one(scaler.transform_one(z)).get(True, 0.0)
        p = self.calibrator.transform(raw)
        self.calibrator.learn_one(raw, y, w)
        scaler.learn_one(z, w)
        lr.optimizer.weight = w
        # one class only so far: the intercept alone learns it (`MIN_POSITIVES`)
        lr.learn_one(scaler.transform_one(z) if self.n_positive >= self.min_positives else {},
                     y, w)
        self.n_learned += w
        self.n_positive += w if y else 0
        return p

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        _upgrade(self.pipeline)

    def dumps(self, version: int, **extra: Any) -> bytes:
        """Snapshot payload (unsigned): version, this model and any extra objects."""
        return pickle.dumps({"version": version, "model": self, **extra}, protocol=5)


class Scorer:
    """A frozen, compiled model: logit = offset + sum(coef[f] * x[f]) + sum(curve_f(x[f])).

    `coef` and `means` are per column of the model's input; with a `basis` (`splines.Hats`)
    a feature's columns collapse into one piecewise-linear curve through its knots."""

    def __init__(self, version: int, coef: dict[str, float], means: dict[str, float],
                 intercept: float, cal_a: float = 1.0, cal_b: float = 0.0,
                 ready: bool = True, basis: Hats | None = None) -> None:
        self.version = version
        self.coef = coef
        self.means = means
        self.offset = intercept - sum(c * means.get(f, 0.0) for f, c in coef.items())
        self.cal_a, self.cal_b = cal_a, cal_b
        # Until the model has seen enough outcomes its scores mean little;
        # the policy then alerts on hard rules only.
        self.ready = ready
        self.basis = basis
        knots = self.knots
        self.linear = {f: c for f, c in coef.items() if SEP not in f or
                       f.rpartition(SEP)[0] not in knots}
        # feature -> (knots, the curve's logit at each knot, its mean over the training)
        self.curves: dict[str, tuple[tuple[float, ...], tuple[float, ...], float]] = {}
        for f, k in knots.items():
            values = tuple(coef.get(f"{f}{SEP}{i}", 0.0) for i in range(len(k)))
            if any(values):
                base = sum(v * means.get(f"{f}{SEP}{i}", 0.0) for i, v in enumerate(values))
                self.curves[f] = (k, values, base)
        # the logit of a dict, and of a row in `features.FEATURES` order (the engine's: a
        # list is read faster than a dict), each compiled when first used (~3 ms each for
        # the early model; the trainer builds a scorer at every publish and uses `logits`)
        self._logit_of: Callable[[Any], float] | None = None
        self._logit_of_row: Callable[[Any], float] | None = None

    @property
    def knots(self) -> dict[str, tuple[float, ...]]:
        """Each bent feature's knots (none for a linear scorer): the scorer's columns."""
        return self.basis.knots if self.basis is not None else {}

    def __getstate__(self) -> dict:
        # the compiled logits are code made by exec: compiled again after unpickling
        return {**self.__dict__, "_logit_of": None, "_logit_of_row": None}

    def _compile(self, key: Callable[[str], str]) -> Callable[[Any], float]:
        """The logit as one function of straight-line code (`_source`)."""
        namespace: dict[str, Any] = {}
        exec(compile(self._source(key), f"<Scorer v{self.version}>", "exec"), namespace)
        return namespace["logit"]

    def _source(self, key: Callable[[str], str]) -> str:
        """The source of `logit(x)`: `key(f)` is where feature f is in x (`repr` of the
        name for a dict), and every number is a constant in the code.

        It is the sum `offset + coef[f] * x[f] ... + curve_f(x[f]) ...` term by term, in
        that order and with the same floats as `splines.curve` (a segment's width and
        rise, then `values[i] + (v - knots[i]) / width * rise`), so it scores to the last
        bit as that sum does; unrolled, it costs a fraction of a loop that calls `curve`
        for every feature (the early model reads ~35 curves on every event).
        """
        lines = ["def logit(x):", f"    z = {_literal(self.offset)}"]
        for f, c in self.linear.items():
            lines.append(f"    z += {_literal(c)} * x[{key(f)}]  # {f!r}")
        for f, (k, values, _) in self.curves.items():
            last = len(k) - 1
            lines += [f"    v = x[{key(f)}]  # {f!r}",
                      f"    if v <= {_literal(k[0])}:",
                      f"        z += {_literal(values[0])}"]
            for i in range(last):  # knots[i] <= v < knots[i + 1]
                width, rise = k[i + 1] - k[i], values[i + 1] - values[i]
                lines += [f"    elif v < {_literal(k[i + 1])}:",
                          f"        z += {_literal(values[i])} + (v - {_literal(k[i])}) "
                          f"/ {_literal(width)} * {_literal(rise)}"]
            lines += ["    else:", f"        z += {_literal(values[last])}"]
        lines.append("    return z")
        return "\n".join(lines)

    @classmethod
    def from_model(cls, model: RiskModel, version: int, min_examples: int = 2000,
                   min_positive: int = MIN_POSITIVES) -> Scorer:
        scaler, lr = model.pipeline["StandardScaler"], model.pipeline["LogisticRegression"]
        coef, means = {}, {}
        for f, w in lr.weights.items():
            var = scaler.vars.get(f, 0.0)
            if var > 0 and w != 0.0:
                coef[f] = w / math.sqrt(var)
                means[f] = scaler.means[f]
        ready = model.n_learned >= min_examples and model.n_positive >= min_positive
        return cls(version, coef, means, lr.intercept, model.calibrator.a, model.calibrator.b,
                   ready, model.basis)

    @classmethod
    def prior(cls) -> Scorer:
        """The scorer before any snapshot: a constant 1%, and not ready."""
        return cls(0, {}, {}, _logit(0.01), ready=False)

    def score(self, x: dict[str, float]) -> float:
        """The calibrated probability of the features `x` (by name)."""
        if self._logit_of is None:
            self._logit_of = self._compile(repr)
        return self._probability(self._logit_of(x))

    def score_row(self, row: Sequence[float]) -> float:
        """`score` of the features as a row in `features.FEATURES` order."""
        if self._logit_of_row is None:
            if not self.inputs() <= KNOWN:
                raise KeyError(f"{sorted(self.inputs() - KNOWN)} are not in features.FEATURES")
            column = {f: j for j, f in enumerate(FEATURES)}
            self._logit_of_row = self._compile(lambda f: repr(column[f]))
        return self._probability(self._logit_of_row(row))

    def _probability(self, z: float) -> float:
        """`calibrate(_logit(_sigmoid(z)))` in one call, the same operations on the same
        floats: the base model's probability, bounded to [1e-6, 1 - 1e-6] as the River
        pipeline's is before the calibrator, then calibrated. (Four calls cost a quarter
        of what the early model's whole logit does.)"""
        if z >= 0:
            p = 1.0 / (1.0 + math.exp(-z))
        else:
            e = math.exp(z)
            p = e / (1.0 + e)
        p = min(max(p, 1e-6), 1 - 1e-6)
        z = self.cal_a * math.log(p / (1.0 - p)) + self.cal_b
        if z >= 0:
            return 1.0 / (1.0 + math.exp(-z))
        e = math.exp(z)
        return e / (1.0 + e)

    def inputs(self) -> set[str]:
        """The features this scorer reads."""
        return set(self.linear) | set(self.curves)

    def logits(self, x: np.ndarray, names: Sequence[str]) -> np.ndarray:
        """The uncalibrated logit of each row of `x` (columns `names`), vectorised."""
        col = {f: j for j, f in enumerate(names)}
        z = np.full(x.shape[0], self.offset)
        for f, c in self.linear.items():
            z += c * x[:, col[f]]
        for f, (k, values, _) in self.curves.items():
            z += np.interp(x[:, col[f]], k, values)
        return z

    def calibrate(self, z: float) -> float:
        """A logit `z` as the calibrated probability (increasing in z when cal_a > 0)."""
        return _sigmoid(self.cal_a * z + self.cal_b)

    def contributions(self, x: dict[str, float]) -> list[tuple[str, float, float]]:
        """(feature, value, signed logit contribution), most risk-raising first.

        A contribution is measured from the average borrower the model has seen, so 0
        means "no different from most borrowers here".
        """
        means = self.means
        out = [(f, x[f], c * (x[f] - means[f])) for f, c in self.linear.items()]
        out += [(f, x[f], curve(k, values, x[f]) - base)
                for f, (k, values, base) in self.curves.items()]
        out.sort(key=lambda t: t[2], reverse=True)
        return out


def mix(scorers: Sequence[Scorer], version: int) -> Scorer:
    """One scorer whose logit is the mean of the scorers' calibrated logits: k trainers,
    each learning a share of the borrowers, published as one model
    (`benchmarks/partitioned_trainers.py`).

    A scorer's calibrated logit, cal_a * (offset + sum c_f x_f + curves) + cal_b, is linear
    in its columns; over the same columns (the same knots) the mean of k of them is one
    such sum with the mean coefficients, so the mix is a `Scorer` like any other (linear
    terms and curves, compiled the same way). Each column's mean is chosen so that a
    contribution c (x - mean) is the mean of the scorers' contributions: reasons stay
    additive. (A scorer bounds its base probability to [1e-6, 1 - 1e-6] before
    calibrating; the mix bounds the mean once, so the two differ only beyond that.)

    >>> a = Scorer(1, {"dpd_now": 2.0}, {"dpd_now": 0.5}, -4.0)
    >>> b = Scorer(1, {"dpd_now": 1.0}, {"dpd_now": 1.0}, -3.0, cal_a=2.0, cal_b=0.5)
    >>> m = mix([a, b], version=7)
    >>> m.coef, m.offset   # (2 + 2 * 1) / 2, ((-4 - 1) + (2 * (-3 - 1) + 0.5)) / 2
    ({'dpd_now': 2.0}, -6.25)
    >>> m.contributions({"dpd_now": 3.0})   # (2 * 2.5 + 2 * 1 * 2) / 2
    [('dpd_now', 3.0, 4.5)]
    """
    if not scorers:
        raise ValueError("nothing to mix")
    if any(s.knots != scorers[0].knots for s in scorers[1:]):
        raise ValueError("the scorers bend their features on different knots: their columns "
                         "differ, so no one linear scorer is their mean")
    k = len(scorers)
    coef: dict[str, float] = {}
    moment: dict[str, float] = {}  # the mean of cal_a * c * mean, per column
    offset = 0.0
    for s in scorers:
        offset += (s.cal_a * s.offset + s.cal_b) / k
        for f, c in s.coef.items():
            coef[f] = coef.get(f, 0.0) + s.cal_a * c / k
            moment[f] = moment.get(f, 0.0) + s.cal_a * c * s.means.get(f, 0.0) / k
    coef = {f: c for f, c in coef.items() if c != 0.0}
    means = {f: moment[f] / c for f, c in coef.items()}
    intercept = offset + sum(c * means[f] for f, c in coef.items())
    return Scorer(version, coef, means, intercept, 1.0, 0.0,
                  all(s.ready for s in scorers), scorers[0].basis)


class Average:
    """The published early scorer: the mean of the model's last `n` versions (`mix`).

    The early model's online steps keep it moving around its fit: each version is one
    draw from that wander, and a borrower's scores from successive versions are compared
    (a tier, the budget's year of maxima). The mean of recent versions (iterate
    averaging) keeps the model's fit and drops most of the wander: the longer the mean,
    the better the early score ranks a quarter's snapshots, up to a few months of
    examples (`benchmarks/version_scale.py`; the trainer's window and why it is not
    longer: `trainer.EARLY_AVERAGE_EXAMPLES`).

    A version that is not ready (too few outcomes learned) is published alone, and resets
    the mean: its scale means nothing yet. So does a model whose curves changed (another
    basis: the columns differ).

    >>> m = RiskModel()
    >>> for i in range(3000):
    ...     m.learn_one({"dpd_now": float(i % 5 == 0)}, i % 5 == 0 and i % 2 == 0)
    >>> avg = Average(n=3)
    >>> versions = [avg.publish(m, version=v) for v in (1, 2, 3, 4)]
    >>> len(avg.recent), versions[-1].ready, versions[-1].version
    (3, True, 4)
    """

    def __init__(self, n: int) -> None:
        self.n = max(1, n)
        self.recent: list[Scorer] = []

    def publish(self, model: RiskModel, version: int) -> Scorer:
        """The scorer to publish now: the newest version joins the mean of the last `n`."""
        newest = Scorer.from_model(model, version)
        if not newest.ready or self.n == 1:
            self.recent = []
            return newest
        if self.recent and self.recent[0].knots != newest.knots:
            self.recent = []
        self.recent = [*self.recent[-(self.n - 1):], newest]
        return newest if len(self.recent) == 1 else mix(self.recent, version)


def sign(payload: bytes, key: bytes) -> bytes:
    """Wrap a payload as MAGIC + HMAC-SHA256(key, payload) + payload."""
    if not key:
        raise ValueError("a model signing key is required (STREAMER_MODEL_KEY)")
    return MAGIC + hmac.new(key, payload, hashlib.sha256).digest() + payload


def load_snapshot(blob: bytes, key: bytes) -> tuple[int, dict[str, Any]]:
    """Verify then unpickle a snapshot: (version, contents). Refuses anything unsigned.

    The signature is checked before unpickling: a pickle from a topic is code.
    """
    if not blob.startswith(MAGIC) or len(blob) <= len(MAGIC) + _SIG_LEN:
        raise SnapshotRefused("model snapshot is not signed (no streamer snapshot header)")
    sig = blob[len(MAGIC):len(MAGIC) + _SIG_LEN]
    payload = blob[len(MAGIC) + _SIG_LEN:]
    if not hmac.compare_digest(sig, hmac.new(key, payload, hashlib.sha256).digest()):
        raise SnapshotRefused(
            "model snapshot signature does not match (tampered, or signed with another key)")
    contents = pickle.loads(payload)
    return int(contents["version"]), contents
