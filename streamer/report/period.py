"""The months of a report period.

A report covers the calendar months that meet the period [from, to] (whole UTC days).
Each month is measured at its end: midnight UTC after its last day, or after `to` when
the period stops mid-month (that month is then marked partial). Flows (alerts raised,
accounts opened) count from the later of the month's first day and `from`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

SECONDS_PER_DAY = 86400


def parse_date(text: str, option: str) -> date:
    """`YYYY-MM-DD` -> date; ValueError naming the option otherwise."""
    try:
        return date.fromisoformat(text)
    except (TypeError, ValueError):
        raise ValueError(f"{option} {text!r} is not a date; write it as YYYY-MM-DD") from None


def epoch(day: date) -> float:
    """Midnight UTC at the start of `day`, in seconds since the epoch."""
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp()


@dataclass(frozen=True)
class Month:
    label: str  # YYYY-MM
    first: date  # first day counted (the month's first day, or `from`)
    last: date  # last day counted (the month's last day, or `to`)
    partial: bool  # the period ends (or starts) inside this month

    @property
    def start_seconds(self) -> float:
        return epoch(self.first)

    @property
    def end_seconds(self) -> float:
        """The measuring point: midnight after the last day (exclusive)."""
        return epoch(self.last + timedelta(days=1))

    def as_dict(self) -> dict:
        return {"month": self.label, "first_day": self.first.isoformat(),
                "last_day": self.last.isoformat(), "partial": self.partial}


def _next_month(day: date) -> date:
    return date(day.year + (day.month == 12), day.month % 12 + 1, 1)


def months(start: date, end: date) -> list[Month]:
    """The months meeting [start, end], in order.

    >>> [m.label for m in months(date(2026, 1, 15), date(2026, 3, 1))]
    ['2026-01', '2026-02', '2026-03']
    >>> months(date(2026, 1, 15), date(2026, 3, 1))[-1].partial
    True
    """
    if start > end:
        raise ValueError(f"--from {start} is after --to {end}")
    out = []
    first = date(start.year, start.month, 1)
    while first <= end:
        nxt = _next_month(first)
        last = nxt - timedelta(days=1)
        lo, hi = max(first, start), min(last, end)
        out.append(Month(f"{first:%Y-%m}", lo, hi, partial=(lo, hi) != (first, last)))
        first = nxt
    return out


def month_index(label: str) -> int:
    """'2026-03' -> a month number (consecutive months differ by 1)."""
    return int(label[:4]) * 12 + int(label[5:7]) - 1


def label_of(seconds: float) -> str:
    """The YYYY-MM of a UTC time in seconds."""
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m")
