"""Pacing the early alert budget on the live book.

The trainer's threshold (`threshold.py`) is set on labelled snapshots three months old, of
a sample of a thousand borrowers, and a new book starts under the threshold of the book
its model came from. Both lag, and the early score's level moves with every model: over
the 20,000-borrower baseline year the share of the book above one fixed score went from
3.3% (February) to 0.7% (August) and back to 2.0% (December). So a worker sets the level
itself, in two parts:

- **The level** (`LiveBook`): the score that the top `budget / 8` of the book's borrowers
  reach now, among those the early score may raise (current, no recent miss), on a fixed
  sample of the book. It follows the score's level as the models change. The share is
  what a year's budget comes to when a good borrower's spell in the top share lasts about
  six weeks: on the simulated 20,000-borrower books, a level at the top 0.5% raised 4.4%
  (baseline) and 4.2% (industry_downturn) of the good borrowers in the year, and caught as
  many defaulters before their first miss as the threshold that, in hindsight, spent as
  much (README, "The level from the live book"). Until the sample holds enough borrowers
  (a new book, a restarted worker), the trainer's threshold is the level.
- **The pace** (`Pacer`): an offset, in logits, on that level. Every early raise adds
  `gain / (budget x book)` to it (the year's budget, spent in full, adds `gain`); every
  day of event time takes `gain / 365` away. The offset is the integral of the overspend,
  in years of budget: the raises follow the budget's pace whatever the level.

- **The book**: the borrowers whose accounts the engine holds (a worker: those of its
  partitions, a random sample of the book by key hash; its pace is its share of the
  budget).
- **What counts** is what the budget counts: good borrowers raised in a year. A borrower
  raised again within a year of the raise counted is not counted again, and a raise is
  given back when its borrower defaults within the year (the engine keeps the time of
  the raise counted in the borrower's state).
- **Bounds**: an unspent budget carries forward at most `carry` of a year (a quiet spell
  does not bank alerts for a burst); a book smaller than `20 / budget` is not paced (one
  raise would move the threshold by more than a twentieth of `gain`).
- The level and the offset live in the worker's memory: a restarted worker starts again
  from the trainer's threshold.

>>> p = Pacer(budget=0.05, gain=3.0)
>>> day = 86_400.0
>>> p.advance(0.0, book=1000)
>>> for i in range(10):                     # 10 raises in a day: a fifth of the year's 50
...     p.raised()
>>> round(p.offset, 2)
0.6
>>> p.advance(30 * day, book=1000)          # a month on the budget's pace: 4 raises due
>>> round(p.offset, 2), round(p.threshold(0.10), 3)
(0.35, 0.137)
>>> p.advance(400 * day, book=1000)         # a quiet year carries a quarter of it
>>> round(p.offset, 2)
-0.75
>>> p.advance(401 * day, book=300)          # 15 borrowers a year: too few to pace
>>> p.raised(); p.offset, p.threshold(0.10)
(0.0, 0.1)
"""

from __future__ import annotations

import heapq
import math
import zlib

import numpy as np

from streamer.core.sample import admit

DAY = 86_400.0
YEAR = 365.0 * DAY
MIN_RAISES = 20  # a year's budget, in borrowers, below which a book is not paced
_CEILING = 10.0  # logits: keeps the threshold below 1 whatever the raises
_EDGE = 1e-6  # a level at least this far inside (0, 1): a valid threshold for the policy
STALE_DAYS = 60  # two payment cycles without an event: the borrower left this book
TOP_SHARE = 1 / 8  # of the budget: the share of the book at or above the level (above)


class Pacer:
    """An offset on the early threshold that keeps the early raises on the budget's pace."""

    def __init__(self, budget: float, gain: float = 3.0, carry: float = 0.25) -> None:
        if not 0 < budget < 1:
            raise ValueError("the alert budget must be a share between 0 and 1")
        self.budget = budget
        self.gain = gain
        self.floor = -gain * carry
        self.offset = 0.0  # logits added to the level
        self._step = 0.0  # what one raise adds; 0 while the book is too small to pace
        self._ts: float | None = None

    def due(self, ts: float) -> bool:
        """Whether event time `ts` is a day or more past the last `advance` (the engine
        steps the pacer once a day, not on every event)."""
        return self._ts is None or ts >= self._ts + DAY

    def advance(self, ts: float, book: int) -> None:
        """Event time moved on to `ts`, and the book holds `book` borrowers."""
        if self._ts is not None and ts > self._ts and self._step:
            self.offset = max(self.floor, self.offset - self.gain * (ts - self._ts) / YEAR)
        if self._ts is None or ts > self._ts:
            self._ts = ts
        paced = book * self.budget >= MIN_RAISES
        self._step = self.gain / (self.budget * book) if paced else 0.0
        if not paced:
            self.offset = 0.0

    def raised(self) -> None:
        """The early score raised a borrower to `high` (the first time in a year)."""
        self.offset = min(_CEILING, self.offset + self._step)

    def refund(self) -> None:
        """A borrower it raised in the last year defaulted: not a good borrower's alert."""
        self.offset = max(self.floor, self.offset - self._step)

    def threshold(self, base: float) -> float:
        """The level `base` (the live book's or the trainer's), moved by the offset (in
        logits)."""
        if not self.offset:
            return base
        z = math.log(base / (1.0 - base)) + self.offset
        return 1.0 / (1.0 + math.exp(-z))


def _crc(borrower_id: str) -> int:
    return zlib.crc32(borrower_id.encode())


class LiveBook:
    """The early scores a sample of the book has now, and the level its top share reaches.

    The sample is the `size` borrowers with the smallest CRC-32 of their id: stable across
    runs and restarts, and a random share of any book. A borrower's score is the last one
    given, or None while the early score may not raise them. A borrower with no event for
    `STALE_DAYS` leaves the sample: their account closed, or their partition moved to
    another worker.

    >>> day = 86_400.0
    >>> book = LiveBook(share=0.01, size=5_000)
    >>> for i in range(6_000):
    ...     book.update(f"b{i}", (i % 1000) / 1000, ts=0.0)
    >>> len(book), book.level(now=day)          # the top 1% of the 5,000 kept: 0.99 and up
    (5000, 0.99)
    >>> for i in range(6_000):                  # most borrowers fall behind on payments
    ...     book.update(f"b{i}", None if i % 3 else 0.5, ts=day)
    >>> book.level(now=day) is None             # 1,667 left, 16 in the top share: too few
    True
    >>> book.update("b0", 0.2, ts=70 * day)
    >>> book.level(now=70 * day), len(book)     # the others are gone
    (None, 1)
    """

    def __init__(self, share: float, size: int = 20_000) -> None:
        if not 0 < share < 1:
            raise ValueError("the top share must be between 0 and 1")
        self.share = share
        self.size = size
        # each sampled borrower's score (NaN: may not be raised) and last event time, apart:
        # `level` reads each whole once a day, at C speed
        self._scores: dict[str, float] = {}
        self._seen: dict[str, float] = {}
        self._kept: list[tuple[int, str]] = []  # the sample (sample.py)

    def __len__(self) -> int:
        return len(self._scores)

    def update(self, borrower_id: str, early: float | None, ts: float) -> None:
        """The borrower's early score at event time `ts` (None: the early score may not
        raise them)."""
        scores = self._scores
        if borrower_id not in scores:
            entered, out = admit(self._kept, self.size, _crc(borrower_id), borrower_id)
            if not entered:
                return
            if out is not None:
                del scores[out], self._seen[out]
        scores[borrower_id] = math.nan if early is None else early
        self._seen[borrower_id] = ts

    def level(self, now: float) -> float | None:
        """The score the top `share` of the sampled borrowers reach at event time `now`;
        None while fewer than `MIN_RAISES` borrowers make that share."""
        since = now - STALE_DAYS * DAY
        scores, seen = self._scores, self._seen
        if min(seen.values(), default=since) < since:
            self._seen = seen = {b: ts for b, ts in seen.items() if ts >= since}
            self._scores = scores = {b: scores[b] for b in seen}
            self._kept = [(-_crc(b), b) for b in scores]
            heapq.heapify(self._kept)
        values = np.fromiter(scores.values(), float, len(scores))
        values = values[~np.isnan(values)]
        top = int(values.size * self.share)
        if top < MIN_RAISES:
            return None
        level = float(np.partition(values, values.size - top)[values.size - top])
        return min(max(level, _EDGE), 1.0 - _EDGE)  # a threshold strictly inside (0, 1)
