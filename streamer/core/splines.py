"""Piecewise-linear feature curves: a linear model that can bend each feature.

The early-warning model needs shapes a straight line cannot draw: a salary a few days late
is normal, one six weeks late is the warning, and "no income seen at all" means something
else again. `Hats` expands each feature into degree-1 B-splines ("hats") on a few knots, so
a logistic regression over the expansion learns one curve per feature: its effect at each
knot, joined by straight lines, flat beyond the outer knots (a value never seen in
training is not extrapolated). The model stays additive, so each feature's share of a
score is still exact and an alert's reasons still name features.

The knots are each feature's quantiles over a warm-up sample (`Hats.at_quantiles`), then
fixed: a weight means the same thing for the model's whole life. A feature with two
values or fewer (a flag) passes through unchanged.

>>> h = Hats({"days_since_income": (0.0, 1.0, 2.0)})
>>> h.transform_one({"days_since_income": 1.5, "in_grace": 1.0})
{'days_since_income@0': 0.0, 'days_since_income@1': 0.5, 'days_since_income@2': 0.5, 'in_grace': 1.0}
>>> h.transform_one({"days_since_income": 9.0, "in_grace": 0.0})["days_since_income@2"]
1.0
>>> curve(h.knots["days_since_income"], (0.0, -1.0, 3.0), 1.5)   # the curve, read directly
1.0
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from itertools import pairwise

import numpy as np

SEP = "@"  # a basis column is named "<feature>@<knot index>"


def curve(knots: Sequence[float], values: Sequence[float], v: float) -> float:
    """The piecewise-linear curve through (knots[i], values[i]) at v, flat outside."""
    if v <= knots[0]:
        return values[0]
    last = len(knots) - 1
    if v >= knots[last]:
        return values[last]
    i = bisect_right(knots, v) - 1
    w = (v - knots[i]) / (knots[i + 1] - knots[i])
    return values[i] + w * (values[i + 1] - values[i])


class Hats:
    """Degree-1 B-spline expansion on fixed knots (River-style `transform_one`)."""

    def __init__(self, knots: dict[str, tuple[float, ...]]) -> None:
        for f, k in knots.items():
            if len(k) < 2 or any(b <= a for a, b in pairwise(k)):
                raise ValueError(f"knots of {f} must be at least two increasing values: {k}")
        self.knots = knots

    @classmethod
    def at_quantiles(cls, rows: Sequence[dict[str, float]], n_knots: int = 5) -> Hats:
        """Knots at the 0, 1/(n-1), ..., 1 quantiles of each feature over `rows` (repeats
        dropped: a feature that is mostly 0 gets fewer knots)."""
        names = list(rows[0]) if rows else []
        x = np.array([[r.get(f, 0.0) for f in names] for r in rows], dtype=np.float64)
        knots = {}
        for j, f in enumerate(names):
            q = np.unique(np.quantile(x[:, j], np.linspace(0.0, 1.0, n_knots)))
            if len(np.unique(x[:, j])) > 2 and len(q) >= 2:
                knots[f] = tuple(float(v) for v in q)
        return cls(knots)

    # feature -> (knots, their columns' names); built on first use, so that a Hats
    # pickled before it existed works too
    _cols: dict[str, tuple[tuple[float, ...], tuple[str, ...]]] | None = None

    def transform_one(self, x: dict[str, float]) -> dict[str, float]:
        """Every basis column, zeros included (a scaler downstream needs to see them)."""
        cols = self._cols
        if cols is None:
            cols = self._cols = {f: (k, tuple(f"{f}{SEP}{i}" for i in range(len(k))))
                                 for f, k in self.knots.items()}
        out: dict[str, float] = {}
        for f, v in x.items():
            kn = cols.get(f)
            if kn is None:
                out[f] = v
                continue
            k, names = kn
            last = len(k) - 1
            for name in names:  # in their order, as the regression sums them
                out[name] = 0.0
            if v <= k[0]:
                out[names[0]] = 1.0
            elif v >= k[last]:
                out[names[last]] = 1.0
            else:
                i = bisect_right(k, v) - 1
                w = (v - k[i]) / (k[i + 1] - k[i])
                out[names[i]], out[names[i + 1]] = 1.0 - w, w
        return out
