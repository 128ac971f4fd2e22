"""Pacing the early alert budget on the live book.

The trainer's threshold (`threshold.py`) is set on labelled snapshots three months old, of
a sample of a thousand borrowers, and a new book starts under the threshold of the book
its model came from. Both lag: on the 20,000-borrower baseline the early score spent two
thirds of its year's budget in March under the inherited threshold, and almost nothing
from August to November under later ones. The workers see every early alert as it is
raised, so each keeps the spending on pace itself: an offset, in logits, added to the
trainer's threshold. Every early raise adds `gain / (budget x book)` to it (the year's
budget, spent in full, adds `gain`); every day of event time takes `gain / 365` away. The
offset is the integral of the overspend, in years of budget: the raises follow the
budget's pace whatever the trainer's threshold, which stays the level the offset corrects.
A gain of 3 lets the first weeks flag the book's stock of borrowers at risk and brings
the spending back on pace within months; 6 and 12 spread it more evenly and caught fewer
defaulters before their first miss in the simulated year (README, "Pacing").

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
- The offset lives in the worker's memory: a restarted worker starts again from the
  trainer's threshold.

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

import math

DAY = 86_400.0
YEAR = 365.0 * DAY
MIN_RAISES = 20  # a year's budget, in borrowers, below which a book is not paced
_CEILING = 10.0  # logits: keeps the threshold below 1 whatever the raises


class Pacer:
    """An offset on the early threshold that keeps the early raises on the budget's pace."""

    def __init__(self, budget: float, gain: float = 3.0, carry: float = 0.25) -> None:
        if not 0 < budget < 1:
            raise ValueError("the alert budget must be a share between 0 and 1")
        self.budget = budget
        self.gain = gain
        self.floor = -gain * carry
        self.offset = 0.0  # logits added to the trainer's threshold
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
        """The trainer's threshold `base`, moved by the offset (in logits)."""
        if not self.offset:
            return base
        z = math.log(base / (1.0 - base)) + self.offset
        return 1.0 / (1.0 + math.exp(-z))
