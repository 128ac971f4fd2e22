"""Macro paths per industry and region, the indicators published from them, and what they do
to a borrower's income and job security (after the borrower's own lag).

The paths are drawn for the whole run up front (they are exogenous), with `HISTORY` days
before the start so a lagged look-up on day 0 has data.
"""

from __future__ import annotations

import numpy as np

from .borrowers import INDUSTRIES, REGIONS, SEGMENTS
from .scenarios import Scenario

HISTORY = 150

# How strongly a segment's income follows its industry's orders, raw-material prices and
# its region's stress (salaries are sticky; small businesses feel everything).
ORDERS_ELASTICITY = np.array([0.15, 0.9, 1.3, 0.05, 0.5])
MARGIN_ELASTICITY = np.array([0.0, 0.4, 0.8, 0.0, 0.0])
STRESS_ELASTICITY = np.array([0.1, 0.7, 0.8, 0.15, 0.6])
# How much of an industry's costs are raw materials.
RAW_MATERIAL_WEIGHT = np.array([1.0, 0.3, 0.8, 0.4, 0.1, 0.5, 0.6, 0.0])
assert len(ORDERS_ELASTICITY) == len(SEGMENTS) and len(RAW_MATERIAL_WEIGHT) == len(INDUSTRIES)


def _r(x: float) -> float:
    return round(float(x), 2)


def _ar1(rng: np.random.Generator, rows: int, length: int, sd: float, phi: float) -> np.ndarray:
    """Stationary AR(1) paths with standard deviation `sd` (slow business-cycle noise)."""
    eps = rng.standard_normal((rows, length)) * sd * np.sqrt(1 - phi * phi)
    out = np.empty((rows, length))
    out[:, 0] = rng.standard_normal(rows) * sd
    for t in range(1, length):
        out[:, t] = phi * out[:, t - 1] + eps[:, t]
    return out


def _bump(t: np.ndarray, start: int, top: int, ease: int, end: int) -> np.ndarray:
    """0 before `start`, rising smoothly to 1 at `top`, 1 until `ease`, back to 0 at `end`."""

    def ramp(a: int, b: int) -> np.ndarray:
        x = np.clip((t - a) / max(b - a, 1), 0.0, 1.0)
        return x * x * (3 - 2 * x)

    return ramp(start, top) - ramp(ease, end)


class Macro:
    """orders_index, raw_material_price_index per industry; unemployment, stress per region."""

    def __init__(self, scenario: Scenario, days: int, rng: np.random.Generator) -> None:
        length = HISTORY + days
        n_ind, n_reg = len(INDUSTRIES), len(REGIONS)
        self.orders = 100 + _ar1(rng, n_ind, length, sd=3.0, phi=0.99)
        self.raw = 100 + _ar1(rng, n_ind, length, sd=3.0, phi=0.99)
        self.unemployment_base = rng.uniform(0.042, 0.062, n_reg)
        self.stress_base = rng.uniform(25.0, 40.0, n_reg)
        self.unemployment = self.unemployment_base[:, None] + _ar1(rng, n_reg, length, 0.002, 0.99)
        self.stress = self.stress_base[:, None] + _ar1(rng, n_reg, length, 3.0, 0.99)
        self.noise = np.random.default_rng(rng.integers(2**63))  # publication noise only

        t = np.arange(length) - HISTORY  # day index of each path column
        if (dn := scenario.downturn) is not None:
            shape = _bump(t, dn.start, dn.trough, dn.recover, dn.end)
            # raw materials turn a few weeks before orders (input costs lead)
            early = _bump(t, dn.start - 20, dn.trough - 20, dn.recover, dn.end)
            for name, share in ((dn.industry, 1.0), *dn.spillover):
                i = INDUSTRIES.index(name)
                self.orders[i] -= share * dn.orders_drop * shape
                self.raw[i] += share * dn.raw_rise * early
        if (rs := scenario.regional) is not None:
            shape = _bump(t, rs.start, rs.peak, rs.recover, rs.end)
            for name in rs.regions:
                r = REGIONS.index(name)
                self.unemployment[r] += rs.unemployment_rise * shape
                self.stress[r] += rs.stress_rise * shape

    def income_factor(
        self, day: int, segment: np.ndarray, industry: np.ndarray, region: np.ndarray,
        industry_lag: np.ndarray, region_lag: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(industry factor, regional factor) of each borrower's income today, 1 = normal."""
        ti = HISTORY + day - industry_lag
        tr = HISTORY + day - region_lag
        orders = self.orders[industry, ti] / 100.0 - 1.0
        raw = self.raw[industry, ti] / 100.0 - 1.0
        f_ind = 1.0 + ORDERS_ELASTICITY[segment] * orders
        f_ind -= MARGIN_ELASTICITY[segment] * RAW_MATERIAL_WEIGHT[industry] * raw
        stress = (self.stress[region, tr] - self.stress_base[region]) / 100.0
        f_reg = 1.0 - STRESS_ELASTICITY[segment] * stress
        return np.clip(f_ind, 0.15, 1.3), np.clip(f_reg, 0.3, 1.2)

    def job_loss_multiplier(
        self, day: int, industry: np.ndarray, region: np.ndarray,
        industry_lag: np.ndarray, region_lag: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """How much more likely than normal a job loss is, from the industry and the region."""
        orders = self.orders[industry, HISTORY + day - industry_lag] / 100.0
        m_ind = 1.0 + 12.0 * np.maximum(0.0, 1.0 - orders)
        u = self.unemployment[region, HISTORY + day - region_lag]
        m_reg = np.maximum(u / self.unemployment_base[region], 0.5) ** 1.5
        return m_ind, m_reg

    def published(
        self, day: int, weekday: int, day_of_month: int,
    ) -> list[tuple[str, str, str, float]]:
        """Indicators published today as (scope, scope_id, name, value): the indices weekly
        on Mondays, unemployment monthly on the 1st. Published figures carry survey noise."""
        t = HISTORY + day
        out: list[tuple[str, str, str, float]] = []
        if weekday == 0:
            n_ind = len(INDUSTRIES)
            e = self.noise.normal(0.0, 0.6, (2, n_ind))
            for i, name in enumerate(INDUSTRIES):
                out.append(("industry", name, "orders_index", _r(self.orders[i, t] + e[0, i])))
                out.append(("industry", name, "raw_material_price_index",
                            _r(self.raw[i, t] + e[1, i])))
            e = self.noise.normal(0.0, 1.0, len(REGIONS))
            for r, name in enumerate(REGIONS):
                out.append(("region", name, "stress_index", _r(self.stress[r, t] + e[r])))
        if day_of_month == 1:
            e = self.noise.normal(0.0, 0.05, len(REGIONS))
            for r, name in enumerate(REGIONS):
                value = 100.0 * self.unemployment[r, t] + e[r]
                out.append(("region", name, "unemployment_rate", _r(max(value, 0.5))))
        return out
