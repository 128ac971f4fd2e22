"""The synthetic portfolio: a seeded, deterministic generator of contract-v1 events.

>>> sim = generate("baseline", borrowers=50, days=40, seed=1)
>>> first = next(iter(sim.events()))
>>> first[0], first[2]["v"]
('macro.indicators', 1)
"""

from __future__ import annotations

from .clock import parse_start
from .portfolio import Simulation
from .scenarios import SCENARIOS, Scenario, get

__all__ = ["SCENARIOS", "Scenario", "Simulation", "generate"]

MAX_BORROWERS = 10_000_000


def generate(scenario: str | Scenario, borrowers: int, days: int = 365, seed: int = 42,
             start: str = "2026-01-01") -> Simulation:
    """A simulation of `borrowers` over `days` from `start` (YYYY-MM-DD).

    `scenario` is one of SCENARIOS (or a Scenario, e.g. a variant made with
    ``scenarios.get("baseline").replace(policy=...)``). Bad arguments raise ValueError
    with a one-line message naming the argument."""
    sc = get(scenario)
    if isinstance(borrowers, bool) or not isinstance(borrowers, int) or not (
            1 <= borrowers <= MAX_BORROWERS):
        raise ValueError(f"--borrowers: {borrowers!r} is not a whole number from 1 to "
                         f"{MAX_BORROWERS:,}")
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 3660:
        raise ValueError(f"--days: {days!r} is not a whole number from 1 to 3660")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"--seed: {seed!r} is not a whole number >= 0")
    return Simulation(sc, borrowers, days, seed, parse_start(start))
