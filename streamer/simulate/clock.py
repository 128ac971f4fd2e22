"""Calendar of a run: day index <-> date, monthly due dates, time-of-day strings."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np

# A 12-month term plus up to 3 installments an installment plan may append, and a spare.
MAX_INSTALLMENTS = 16
NEVER = np.iinfo(np.int32).max  # "no such day"

# "HH:MM:SSZ" for every second of a day, so a timestamp is one string concatenation.
TIME_OF_DAY: list[str] = [
    f"T{h:02d}:{m:02d}:{s:02d}Z" for h in range(24) for m in range(60) for s in range(60)
]

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_start(text: str) -> dt.date:
    """``YYYY-MM-DD`` -> date, or a ValueError naming the argument."""
    try:
        if not _DATE.fullmatch(text):
            raise ValueError
        return dt.date.fromisoformat(text)
    except (ValueError, TypeError):
        raise ValueError(
            f"--start: {text!r} is not a date; give it as YYYY-MM-DD, e.g. 2026-01-01"
        ) from None


class Calendar:
    """Dates of days 0..days-1 and beyond (due dates run past the end of the span)."""

    def __init__(self, start: dt.date, days: int) -> None:
        self.start = start
        self.days = days
        horizon = days + 31 * (MAX_INSTALLMENTS + days // 28 + 3)
        dates = [start + dt.timedelta(days=i) for i in range(horizon)]
        self.iso: list[str] = [x.isoformat() for x in dates]
        self.weekday = np.array([x.weekday() for x in dates[:days]], dtype=np.int8)
        self.day_of_month = np.array([x.day for x in dates[:days]], dtype=np.int8)
        # due[d, k]: the day index of installment k+1 of a loan drawn on day d: same day of
        # the month, k+1 months later (days 29-31 fall back to the 28th, as lenders do).
        # Wider than a schedule: an installment plan on a loan past its term is scheduled
        # from the next month on, which may be many months after the draw.
        self.months = MAX_INSTALLMENTS + days // 28 + 2
        due = np.empty((days, self.months), dtype=np.int32)
        for d, x in enumerate(dates[:days]):
            for k in range(self.months):
                m = x.month + k  # months after January of x.year, zero-based, +1 month
                year, month = x.year + m // 12, m % 12 + 1
                due[d, k] = (dt.date(year, month, min(x.day, 28)) - start).days
        self.due = due
