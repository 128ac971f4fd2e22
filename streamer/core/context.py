"""What the service knows beyond one borrower: macro indicators and the portfolio itself.

A macro indicator matters through how far it has moved from its own recent normal: an
orders index of 80 means little until we know it was 100 last quarter. Each indicator
keeps its latest value and a slow event-time baseline (half-life 180 days).

The portfolio's live delinquency rate per industry and region counts borrowers whose
worst loan is 30+ days past due. In a worker it is the rate among the borrowers of the
partitions that worker holds: a random sample of the book by key hash.

>>> ctx = Context()
>>> day = 86_400.0
>>> ctx.apply_macro("industry", "manufacturing", "orders_index", 100.0, 0.0)
>>> ctx.apply_macro("industry", "manufacturing", "orders_index", 80.0, 30 * day)
>>> round(ctx.deviation("industry", "manufacturing", "orders_index"), 3)
-0.2
>>> ctx.deviation("industry", "retail", "orders_index")
0.0
"""

from __future__ import annotations

import msgspec

BASELINE_HALF_LIFE = 180 * 86_400.0
DELINQUENT_DPD = 30
# Prior for the delinquency rate of a small group: 2% as if seen over 50 borrowers.
_PRIOR_RATE, _PRIOR_N = 0.02, 50.0


class Indicator(msgspec.Struct, array_like=True):
    value: float
    baseline: float
    ts: float


class Context:
    """Macro indicators (latest and baseline) and the portfolio's delinquency counts."""

    def __init__(self) -> None:
        self.indicators: dict[tuple[str, str, str], Indicator] = {}
        # (scope, scope_id) -> [borrowers, delinquent borrowers]
        self.portfolio: dict[tuple[str, str], list[int]] = {}
        self._version = 0  # bumped on every change; invalidates `_cache`
        self._cache: dict[tuple[str, str], tuple[int, tuple[float, ...]]] = {}

    def features(self, industry: str, region: str) -> tuple[float, ...]:
        """What the context says about a borrower of this industry and region:
        (orders, raw prices, regional stress, unemployment deviations; industry and region
        delinquency rates). Cached until the context changes (it changes rarely)."""
        key = (industry, region)
        hit = self._cache.get(key)
        if hit is not None and hit[0] == self._version:
            return hit[1]
        values = (
            self.deviation("industry", industry, "orders_index"),
            self.deviation("industry", industry, "raw_material_price_index"),
            self.deviation("region", region, "stress_index"),
            self.deviation("region", region, "unemployment_rate"),
            self.delinquency_rate("industry", industry),
            self.delinquency_rate("region", region),
        )
        self._cache[key] = (self._version, values)
        return values

    # -- macro ------------------------------------------------------------------------
    def apply_macro(self, scope: str, scope_id: str, name: str, value: float, ts: float) -> None:
        key = (scope, scope_id, name)
        self._version += 1
        ind = self.indicators.get(key)
        if ind is None:
            self.indicators[key] = Indicator(value, value, ts)
            return
        if ts < ind.ts:  # a late reading is not the latest; the newer one stands
            return
        weight = 1.0 - 2.0 ** ((ind.ts - ts) / BASELINE_HALF_LIFE)
        # The baseline moves toward the value it held until now, so a jump shows as deviation.
        ind.baseline += weight * (ind.value - ind.baseline)
        ind.value, ind.ts = value, ts

    def value(self, scope: str, scope_id: str, name: str, default: float = 0.0) -> float:
        ind = self.indicators.get((scope, scope_id, name))
        return default if ind is None else ind.value

    def deviation(self, scope: str, scope_id: str, name: str) -> float:
        """Relative distance of the latest value from its baseline (0 when unknown)."""
        ind = self.indicators.get((scope, scope_id, name))
        if ind is None or ind.baseline == 0.0:
            return 0.0
        return (ind.value - ind.baseline) / abs(ind.baseline)

    # -- portfolio ----------------------------------------------------------------------
    def count_borrower(self, industry: str, region: str, delta: int) -> None:
        self._version += 1
        for key in (("industry", industry), ("region", region)):
            self.portfolio.setdefault(key, [0, 0])[0] += delta

    def count_delinquent(self, industry: str, region: str, delta: int) -> None:
        self._version += 1
        for key in (("industry", industry), ("region", region)):
            self.portfolio.setdefault(key, [0, 0])[1] += delta

    def set_portfolio(self, counts: dict[tuple[str, str], list[int]]) -> None:
        """Replace the counts with ones rebuilt from the borrowers held (after a rebalance:
        see streamer.core.portfolio)."""
        self._version += 1
        self.portfolio = {k: list(v) for k, v in counts.items()}

    def borrowers(self) -> int:
        """The borrowers counted (those whose accounts are open and held here)."""
        return sum(v[0] for (scope, _), v in self.portfolio.items() if scope == "industry")

    def delinquency_rate(self, scope: str, scope_id: str) -> float:
        n, bad = self.portfolio.get((scope, scope_id), (0, 0))
        return (bad + _PRIOR_RATE * _PRIOR_N) / (n + _PRIOR_N)

    # -- serialization (the worker keeps macro readings in a global table) --------------
    def dumps_indicator(self, scope: str, scope_id: str, name: str) -> bytes:
        return msgspec.msgpack.encode(self.indicators[(scope, scope_id, name)])

    def loads_indicator(self, scope: str, scope_id: str, name: str, data: bytes) -> None:
        self._version += 1
        self.indicators[(scope, scope_id, name)] = msgspec.msgpack.decode(data, type=Indicator)
