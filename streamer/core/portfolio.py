"""The portfolio a worker holds, by DPD bucket and tier: counts kept right across hand-overs.

A worker holds the borrowers of its partitions only, and those change: a restart, a
worker joining or leaving. Counting borrowers "the first time we see them" is wrong after
any of these (the state recovered from the changelog was seen by another process). So
the aggregates are kept **per partition** and follow the state the table holds:

* every time a borrower's state is written (`persisted`), its position before the write
  (bucket, tier, exposure, industry, region; remembered when the state was loaded) is
  taken out of its partition's aggregates and its position after is put in;
* when partitions are revoked (`revoke`) their aggregates go;
* when table recovery completes (`rebuild`), the aggregates of every active partition are
  computed again from the states in the table.

A borrower counts once its account is open (it has a segment), as in the context's
delinquency counts. No Kafka in here: the runtime calls these methods.

>>> from streamer.core.state import BorrowerState, Loan
>>> p = Portfolio()
>>> s = BorrowerState.new()
>>> s.segment, s.industry, s.region = "salaried", "retail", "R01"
>>> s.loans["L1"] = Loan(outstanding=5000.0, dpd=35)
>>> p.persisted("b1", 0, s)
>>> p.borrowers()[("30-59", "none")], p.exposure()[("30-59", "none")]
(1, 5000.0)
>>> s.loans["L1"].dpd = 65
>>> p.persisted("b1", 0, s)
>>> p.borrowers()[("30-59", "none")], p.borrowers()[("60-89", "none")], p.rolls[("30-59", "60-89")]
(0, 1, 1)
>>> p.revoke({0})
>>> sum(p.borrowers().values())
0
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import NamedTuple

from streamer.core.context import DELINQUENT_DPD
from streamer.core.state import TIERS, BorrowerState

BUCKETS = ("current", "1-29", "30-59", "60-89", "90+")
_TIER_INDEX = {t: i for i, t in enumerate(TIERS)}
_CELLS = len(BUCKETS) * len(TIERS)


def dpd_bucket(dpd: int) -> int:
    """Index in BUCKETS of a days-past-due figure."""
    if dpd <= 0:
        return 0
    if dpd < 30:
        return 1
    return min(4, 2 + (dpd - 30) // 30)


class Position(NamedTuple):
    """Where one borrower sits in the portfolio's aggregates."""

    cell: int  # bucket * len(TIERS) + tier
    exposure: float  # outstanding, CNY
    industry: str
    region: str
    delinquent: bool  # 30+ DPD, as context.DELINQUENT_DPD


def position(state: BorrowerState) -> Position | None:
    """The borrower's position, or None while its account is not open."""
    if not state.segment:
        return None
    dpd = state.dpd_now
    return Position(dpd_bucket(dpd) * len(TIERS) + _TIER_INDEX.get(state.tier, 0),
                    state.outstanding, state.industry, state.region, dpd >= DELINQUENT_DPD)


class _Book:
    """One partition's aggregates."""

    __slots__ = ("borrowers", "exposure", "groups")

    def __init__(self) -> None:
        self.borrowers = [0] * _CELLS
        self.exposure = [0.0] * _CELLS
        # ("industry" | "region", id) -> [borrowers, delinquent borrowers]
        self.groups: dict[tuple[str, str], list[int]] = {}

    def add(self, pos: Position, sign: int) -> None:
        self.borrowers[pos.cell] += sign
        self.exposure[pos.cell] += sign * pos.exposure
        for key in (("industry", pos.industry), ("region", pos.region)):
            counts = self.groups.setdefault(key, [0, 0])
            counts[0] += sign
            if pos.delinquent:
                counts[1] += sign


class Portfolio:
    """Per-partition aggregates of the borrowers a worker holds (see the module doc)."""

    def __init__(self) -> None:
        self.books: dict[int, _Book] = {}
        self.known: dict[str, Position | None] = {}  # positions of the borrowers in play
        # bucket changes seen on writes, (from, to): a counter, never reset (PromQL's
        # increase() copes with a restart's reset)
        self.rolls: Counter[tuple[str, str]] = Counter()

    # -- the runtime's hooks --------------------------------------------------------------
    def loaded(self, bid: str, state: BorrowerState) -> None:
        """A state was read from the table: remember its position."""
        self.known[bid] = position(state)

    def persisted(self, bid: str, partition: int, state: BorrowerState) -> None:
        """A state was written to its partition of the table: move the borrower."""
        before = self.known.get(bid)  # None: new to the table (or not yet open)
        after = self.known[bid] = position(state)
        if before == after:
            return
        book = self.books.get(partition)
        if book is None:
            book = self.books[partition] = _Book()
        if before is not None:
            book.add(before, -1)
        if after is not None:
            book.add(after, 1)
            if before is not None:
                b0, b1 = before.cell // len(TIERS), after.cell // len(TIERS)
                if b0 != b1:
                    self.rolls[(BUCKETS[b0], BUCKETS[b1])] += 1

    def evict(self, bid: str) -> None:
        """The state left the decoded cache (it is read, and `loaded`, again if needed)."""
        self.known.pop(bid, None)

    def forget(self) -> None:
        self.known.clear()

    def revoke(self, partitions: Iterable[int]) -> None:
        for p in partitions:
            self.books.pop(p, None)

    def rebuild(self, partitions: Iterable[int],
                states: Iterable[tuple[int, BorrowerState]]) -> None:
        """Recompute the aggregates of `partitions` from (partition, state) pairs, the
        table's contents; aggregates of any other partition go (no longer held)."""
        fresh = Rebuild(partitions)
        for partition, state in states:
            fresh.add(partition, state)
        self.install(fresh)

    def install(self, fresh: Rebuild) -> None:
        """Replace the aggregates with those of a finished `Rebuild`."""
        self.books = fresh.books
        self.known.clear()

    # -- what the metrics read ---------------------------------------------------------
    def borrowers(self) -> dict[tuple[str, str], int]:
        """(DPD bucket, tier) -> borrowers, over the partitions held."""
        return self._cells("borrowers")

    def exposure(self) -> dict[tuple[str, str], float]:
        """(DPD bucket, tier) -> outstanding exposure (CNY), over the partitions held."""
        return self._cells("exposure")

    def _cells(self, attr: str) -> dict:
        total = [0] * _CELLS
        for book in self.books.values():
            for i, v in enumerate(getattr(book, attr)):
                total[i] += v
        return {(BUCKETS[i // len(TIERS)], TIERS[i % len(TIERS)]): v
                for i, v in enumerate(total)}

    def groups(self) -> dict[tuple[str, str], list[int]]:
        """("industry" | "region", id) -> [borrowers, delinquent], over the partitions held:
        the counts the context's delinquency features are made of."""
        out: dict[tuple[str, str], list[int]] = {}
        for book in self.books.values():
            for key, (n, bad) in book.groups.items():
                counts = out.setdefault(key, [0, 0])
                counts[0] += n
                counts[1] += bad
        return {k: v for k, v in out.items() if v[0] or v[1]}


class Rebuild:
    """Aggregates being recomputed from a table, a state at a time (the runtime yields to
    its event loop between states; `Portfolio.install` when done)."""

    def __init__(self, partitions: Iterable[int]) -> None:
        self.books = {p: _Book() for p in partitions}

    def add(self, partition: int, state: BorrowerState) -> None:
        book = self.books.get(partition)
        pos = position(state)
        if book is not None and pos is not None:
            book.add(pos, 1)
