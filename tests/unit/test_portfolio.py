"""Portfolio aggregates by DPD bucket and tier: right after restarts and rebalances."""

from __future__ import annotations

from collections import Counter

import msgspec
import pytest

from streamer.core.engine import Engine
from streamer.core.portfolio import BUCKETS, Portfolio, dpd_bucket, position
from streamer.core.state import BorrowerState
from streamer.simulate import generate

N_PARTITIONS = 4


def part(bid: str) -> int:
    return int(bid.lstrip("b") or 0) % N_PARTITIONS


@pytest.fixture(scope="module")
def events() -> list[bytes]:
    sim = generate("industry_downturn", 120, 300, 5, "2025-01-01")
    return [msgspec.json.encode(e) for topic, _, e in sim.events()
            if topic != "macro.indicators"]


def brute(states: dict[str, BorrowerState], partitions: set[int]) -> tuple[Counter, Counter]:
    """Counts recomputed from scratch: what the aggregates must equal."""
    n: Counter = Counter()
    exp: Counter = Counter()
    for bid, s in states.items():
        pos = position(s)
        if pos is None or part(bid) not in partitions:
            continue
        n[pos.cell] += 1
        exp[pos.cell] += pos.exposure
    return n, exp


def assert_matches(p: Portfolio, states: dict[str, BorrowerState], partitions: set[int]) -> None:
    n, exp = brute(states, partitions)
    got_n = [v for v in p.borrowers().values()]
    got_e = [v for v in p.exposure().values()]
    assert got_n == [n[i] for i in range(len(got_n))]
    assert got_e == pytest.approx([exp[i] for i in range(len(got_e))], abs=1e-3)


class Worker:
    """An engine whose state writes go through the portfolio hooks, as in app.py."""

    def __init__(self, table: dict[str, bytes], partitions: set[int]) -> None:
        self.table, self.partitions = table, partitions
        self.engine = Engine()
        self.portfolio = Portfolio()

    def restart(self) -> None:
        """A new process: nothing in memory; rebuild from the table (recovery)."""
        self.portfolio = Portfolio()
        self.portfolio.rebuild(self.partitions, (
            (part(bid), BorrowerState.loads(raw)) for bid, raw in self.table.items()))

    def process(self, raw: bytes) -> None:
        bid = msgspec.json.decode(raw)["borrower_id"]
        if part(bid) not in self.partitions:
            return
        state = None
        if bid in self.table:
            state = BorrowerState.loads(self.table[bid])
            self.portfolio.loaded(bid, state)
            self.engine.states[bid] = state
        self.engine.process_raw(raw)
        state = self.engine.states[bid]
        self.table[bid] = state.dumps()
        self.portfolio.persisted(bid, part(bid), state)
        self.portfolio.evict(bid)  # every state is read again: the harder case
        del self.engine.states[bid]


def states_of(table: dict[str, bytes]) -> dict[str, BorrowerState]:
    return {bid: BorrowerState.loads(raw) for bid, raw in table.items()}


def test_buckets() -> None:
    assert [BUCKETS[dpd_bucket(d)] for d in (0, 1, 29, 30, 59, 60, 89, 90, 400)] == [
        "current", "1-29", "1-29", "30-59", "30-59", "60-89", "60-89", "90+", "90+"]


def test_transitions_keep_counts_equal_to_a_recount(events: list[bytes]) -> None:
    table: dict[str, bytes] = {}
    w = Worker(table, set(range(N_PARTITIONS)))
    for raw in events:
        w.process(raw)
    states = states_of(table)
    assert_matches(w.portfolio, states, set(range(N_PARTITIONS)))
    assert sum(w.portfolio.borrowers().values()) == sum(1 for s in states.values() if s.segment)
    n = w.portfolio.borrowers()
    assert sum(v for (b, _), v in n.items() if b != "current") > 0  # some are delinquent
    assert sum(v for (_, t), v in n.items() if t != "none") > 0  # some are under alert
    assert w.portfolio.rolls[("60-89", "90+")] > 0
    # the context's delinquency counts, same borrowers
    groups = w.portfolio.groups()
    assert groups == {k: v for k, v in w.engine.context.portfolio.items() if v[0] or v[1]}


def half_way(events: list[bytes]) -> tuple[dict[str, bytes], Worker, int]:
    """A worker holding every partition after the first half of the events."""
    table: dict[str, bytes] = {}
    w = Worker(table, set(range(N_PARTITIONS)))
    half = len(events) // 2
    for raw in events[:half]:
        w.process(raw)
    return table, w, half


def test_restart_midway_rebuilds_from_the_table(events: list[bytes]) -> None:
    table, w, half = half_way(events)
    w.restart()
    assert_matches(w.portfolio, states_of(table), set(range(N_PARTITIONS)))
    for raw in events[half:]:
        w.process(raw)
    assert_matches(w.portfolio, states_of(table), set(range(N_PARTITIONS)))


def test_counting_on_first_sight_after_a_restart_would_be_wrong(events: list[bytes]) -> None:
    """Without the rebuild, a restarted worker misses every borrower it does not see again."""
    table, w, half = half_way(events)
    w.portfolio = Portfolio()  # restarted, no rebuild
    for raw in events[half:half + 50]:
        w.process(raw)
    n, _ = brute(states_of(table), set(range(N_PARTITIONS)))
    assert sum(w.portfolio.borrowers().values()) != sum(n.values())


def test_rebalance_revokes_and_rebuilds(events: list[bytes]) -> None:
    table: dict[str, bytes] = {}
    w1 = Worker(table, {0, 1})
    w2 = Worker(table, {2, 3})
    third = len(events) // 3
    for raw in events[:third]:
        w1.process(raw)
        w2.process(raw)
    assert_matches(w1.portfolio, states_of(table), {0, 1})
    # w2 leaves: w1 takes every partition (revoke all, recover, rebuild)
    w1.portfolio.revoke({0, 1})
    assert sum(w1.portfolio.borrowers().values()) == 0
    w1.partitions = set(range(N_PARTITIONS))
    w1.restart()
    for raw in events[third:2 * third]:
        w1.process(raw)
    assert_matches(w1.portfolio, states_of(table), set(range(N_PARTITIONS)))
    # w2 comes back with 2 and 3: w1 keeps 0 and 1
    w1.portfolio.revoke({2, 3})
    assert_matches(w1.portfolio, states_of(table), {0, 1})
    w1.partitions, w2.partitions = {0, 1}, {2, 3}
    w2.restart()
    for raw in events[2 * third:]:
        w1.process(raw)
        w2.process(raw)
    states = states_of(table)
    assert_matches(w1.portfolio, states, {0, 1})
    assert_matches(w2.portfolio, states, {2, 3})
