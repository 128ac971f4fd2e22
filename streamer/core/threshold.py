"""The early-warning threshold that spends an alert budget.

A collections team plans by capacity: it can call about B of its good borrowers in a year
(`STREAMER_EARLY_BUDGET`, e.g. 5%). A fixed threshold on the early score cannot keep that
promise: the score's level moves with the model, the economy and the book. So the trainer
chooses the threshold the way `evaluation/budget.py` measures it. It keeps the recent
snapshots of a fixed random sample of borrowers, scores them with the current early model,
takes each sampled borrower's highest score over the window, and publishes the score that B
of those borrowers reach, counting only borrowers with no default or early positive in the
window. The threshold travels with the model snapshot. It lags the live book, so a worker
whose book is large enough sets the level from its live book's early scores instead, and
paces its early alerts on either (`pacing.py`).
Only the snapshots the early score may raise count (the trainer gives the others as
`early=None`): a current borrower's, of an account past its first month, with no recent
missed payment (`policy.early_may_raise`).

- **The sample**: the `size` borrowers whose id has the smallest hash. The rule is the same on
  every trainer, for any book size, and the sample stays stable as borrowers come and go.
- **A window shorter than a year** (a new book): the budget is scaled by the window's share
  of a year. Fewer weeks give fewer chances to cross, so the early threshold is stricter, not
  looser.
- **Snapshots, not every event**: the live score also moves between two weekly snapshots, so
  the budget a book really spends is somewhat above B. `streamer evaluate` reports what was
  spent.

>>> from streamer.core.features import FEATURES
>>> from streamer.core.model import Scorer
>>> t = BudgetThreshold(budget=0.10, size=500, min_borrowers=50)
>>> for i in range(400):                       # 400 borrowers, a year of weekly snapshots
...     for w in range(53):
...         x = dict.fromkeys(FEATURES, 0.0)
...         x["gambling_share"] = (i % 100) / 100   # the riskier borrowers gamble more
...         t.add(f"b{i}", ts=w * 7 * 86_400.0, x=x, early=False, default=False)
>>> scorer = Scorer(1, {"gambling_share": 4.0}, {"gambling_share": 0.0}, intercept=-5.0)
>>> th = t.threshold(scorer)
>>> round(th, 3)
0.193
>>> sum(scorer.score({"gambling_share": (i % 100) / 100}) >= th for i in range(400)) / 400
0.1
"""

from __future__ import annotations

import hashlib
import math

import numpy as np

from streamer.core.features import FEATURES, to_vector
from streamer.core.model import Scorer
from streamer.core.sample import admit

YEAR_DAYS = 365.0
_DAY = 86_400.0


def _hash(borrower_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(borrower_id.encode(), digest_size=8).digest(), "big")


class _Kept:
    __slots__ = ("ts", "vectors", "bad_ts")

    def __init__(self) -> None:
        self.ts: list[float] = []
        self.vectors: list[bytes] = []  # float16, `features.to_vector`
        self.bad_ts = -math.inf  # newest snapshot that ended in default or an early positive


class BudgetThreshold:
    """The early `high` threshold that about `budget` of good borrowers reach in a year."""

    def __init__(self, budget: float, size: int = 1000, window_days: float = YEAR_DAYS,
                 min_borrowers: int = 200, min_days: float = 60.0) -> None:
        if not 0 < budget < 1:
            raise ValueError("the alert budget must be a share between 0 and 1")
        self.budget = budget
        self.size = size
        self.window = window_days * _DAY
        self.min_borrowers = min_borrowers
        self.min_span = min_days * _DAY
        self._kept: dict[str, _Kept] = {}
        self._heap: list[tuple[int, str]] = []  # the sample (sample.py)
        self._newest = -math.inf

    @property
    def borrowers(self) -> frozenset[str]:
        """The sampled borrowers' ids."""
        return frozenset(self._kept)

    def add(self, borrower_id: str, ts: float, x: dict[str, float], early: bool | None,
            default: bool) -> None:
        """One labeled snapshot (`early`: its early label, None if the early score could
        not raise it: taken while overdue or too young; `default`: it ended in default or
        in an early positive). Raises KeyError, and keeps nothing, if `x` lacks a feature."""
        vector = None if early is None else to_vector(x)
        kept = self._kept.get(borrower_id)
        if kept is None:
            entered, out = admit(self._heap, self.size, _hash(borrower_id), borrower_id)
            if not entered:
                return  # not in the sample
            if out is not None:
                del self._kept[out]
            kept = self._kept[borrower_id] = _Kept()
        self._newest = max(self._newest, ts)
        if default or early:
            kept.bad_ts = max(kept.bad_ts, ts)
        if vector is not None:  # the early model scores current borrowers' snapshots
            kept.ts.append(ts)
            kept.vectors.append(vector)

    def threshold(self, scorer: Scorer) -> float | None:
        """The early score that `budget` of the sample's good borrowers reach at least once
        in the window; None while fewer than `min_borrowers` of them have a snapshot or the
        window spans less than `min_days`."""
        start = self._newest - self.window
        rows, owners, first = [], [], self._newest
        for kept in self._kept.values():
            cut = next((i for i, t in enumerate(kept.ts) if t >= start), len(kept.ts))
            del kept.ts[:cut], kept.vectors[:cut]  # older than the window
            if not kept.ts or kept.bad_ts >= start:
                continue
            first = min(first, kept.ts[0])
            owners.append(len(kept.ts))
            rows.extend(kept.vectors)
        if (len(owners) < self.min_borrowers or self._newest - first < self.min_span
                or scorer.cal_a <= 0):
            return None
        x = np.frombuffer(b"".join(rows), dtype="<f2").reshape(-1, len(FEATURES))
        z = scorer.logits(x.astype(np.float64), FEATURES)
        best = np.maximum.reduceat(z, np.cumsum([0, *owners[:-1]]))
        share = self.budget * min(1.0, (self._newest - first) / (YEAR_DAYS * _DAY))
        z_cut = float(np.quantile(best, 1.0 - share)) if share > 0 else float(best.max())
        return scorer.calibrate(z_cut)  # increasing in z, as cal_a > 0 here

    def __getstate__(self) -> dict:
        # The sample's snapshots (megabytes) stay out of the published model: a trainer
        # that resumes from a snapshot gathers them again, and publishes no threshold
        # until it has (the workers keep the last one meanwhile).
        state = self.__dict__.copy()
        state["_kept"], state["_heap"], state["_newest"] = {}, [], -math.inf
        return state
