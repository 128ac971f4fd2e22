"""Named scenarios: which macro shocks happen, and how the lender collects.

A scenario changes the world and the lender, never the borrowers: with the same seed every
scenario draws the same population and the same individual shocks, so two scenarios can be
compared borrower by borrower (that is how the tests measure what a grace period does).
Days are counted from the start date.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Downturn:
    """An industry cycle: orders fall and raw-material prices rise, then recover."""

    industry: str = "manufacturing"
    orders_drop: float = 35.0  # index points at the trough (normal is 100)
    raw_rise: float = 30.0  # raw_material_price_index points at the peak
    start: int = -30  # already under way a month before the span (day 0) starts
    trough: int = 90
    recover: int = 240
    end: int = 330
    # industries that feel a share of the fall (suppliers, transport)
    spillover: tuple[tuple[str, float], ...] = (("logistics", 0.35), ("retail", 0.15))


@dataclass(frozen=True)
class RegionalShock:
    """A regional shock: unemployment and a stress index rise, then ease."""

    regions: tuple[str, ...] = ("R07", "R08")
    unemployment_rise: float = 0.07  # fraction, added to the region's rate
    stress_rise: float = 45.0  # stress_index points (normal 25-40)
    start: int = 0
    peak: int = 60
    recover: int = 240
    end: int = 360


@dataclass(frozen=True)
class CollectionPolicy:
    """When the lender acts, by the borrower's days past due at the previous end of day."""

    reminder_dpd: tuple[int, ...] = (1, 3, 7)
    call_dpd: tuple[int, ...] = (15, 30, 45, 60, 75, 90)
    call_every: int = 0  # > 0: a call every n days from call_from (harsh)
    call_from: int = 0
    grace_dpd: int = 30
    grace_share: float = 0.25  # share of borrowers crossing grace_dpd who are offered one
    grace_days: int = 30
    plan_dpd: int = 60
    plan_share: float = 0.30
    plan_months: int = 3
    legal_dpd: int = 100
    legal_share: float = 0.30


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    downturn: Downturn | None = None
    regional: RegionalShock | None = None
    policy: CollectionPolicy = field(default_factory=CollectionPolicy)

    def replace(self, **changes: object) -> Scenario:
        """A variant (e.g. ``policy=...``) for experiments and tests."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


HARSH = CollectionPolicy(
    reminder_dpd=(1,), call_dpd=(), call_every=2, call_from=2,
    grace_share=0.0, plan_share=0.0, legal_dpd=30, legal_share=0.8,
)
HUMANE = CollectionPolicy(
    reminder_dpd=(1, 3, 7), call_dpd=(30, 60), grace_dpd=10, grace_share=0.8, grace_days=45,
    plan_dpd=45, plan_share=0.6, legal_dpd=120, legal_share=0.2,
)

_ALL = (
    Scenario("baseline", "no macro shock; a typical mixed collection policy"),
    Scenario(
        "industry_downturn",
        "manufacturing orders fall 35% and raw materials rise 30% (trough in April)",
        downturn=Downturn(),
    ),
    Scenario(
        "regional_shock", "unemployment in regions R07 and R08 rises 7 points by March",
        regional=RegionalShock(),
    ),
    Scenario(
        "harsh_collections", "baseline world; calls every other day from 2 DPD, legal at 30 DPD",
        policy=HARSH,
    ),
    Scenario(
        "humane_collections", "baseline world; grace period at 10 DPD, installment plans at 45",
        policy=HUMANE,
    ),
)
SCENARIO_BY_NAME: dict[str, Scenario] = {s.name: s for s in _ALL}
SCENARIOS: tuple[str, ...] = tuple(SCENARIO_BY_NAME)


def get(scenario: str | Scenario) -> Scenario:
    """A scenario by name (or itself); ValueError naming the choices otherwise."""
    if isinstance(scenario, Scenario):
        return scenario
    try:
        return SCENARIO_BY_NAME[scenario]
    except KeyError:
        raise ValueError(
            f"--scenario: unknown scenario {scenario!r}; choose one of {', '.join(SCENARIOS)}"
        ) from None
