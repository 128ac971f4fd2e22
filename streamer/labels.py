"""Delayed labels: feature snapshots wait until their 90-day outcome is known.

The target is "this borrower reaches 90+ DPD within the next 90 days". At most one
snapshot per borrower per `interval` of event time is kept pending; while a borrower is
at 90+ DPD none is taken (the outcome is already known). When the borrower reaches 90 DPD
every pending snapshot is labeled positive; a snapshot whose horizon passes without it
is negative.

Every example is *released* to the trainer when its horizon has passed, positive or
negative. Releasing positives at once would feed the trainer nothing but positives for
the first 90 days of a stream (negatives cannot be known sooner), and a model that learns
from that mix scores the whole book too high, then too low as the negatives arrive: its
scores would not mean the same at two points in time. Released in snapshot order, the
examples keep the book's own balance of outcomes at every moment.

>>> from streamer.state import BorrowerState
>>> lab = Labeler(interval_days=7, horizon_days=90)
>>> s = BorrowerState.new()
>>> t, day = 1_767_225_600.0, 86_400.0   # 2026-01-01
>>> lab.maybe_snapshot(s, now=t, score=0.1, model_version=1, vector=b"")
True
>>> lab.maybe_snapshot(s, now=t + 3 * day, score=0.1, model_version=1, vector=b"")
False
>>> [m.label for m in lab.mature(s, now=t + 91 * day, dpd=0)]   # horizon passed: negative
[0]
>>> lab.maybe_snapshot(s, now=t + 92 * day, score=0.3, model_version=1, vector=b"")
True
>>> lab.mature(s, now=t + 100 * day, dpd=95)   # reached 90+ DPD: labeled, not yet released
[]
>>> [m.label for m in lab.mature(s, now=t + 183 * day, dpd=120)]
[1]
"""

from __future__ import annotations

from typing import NamedTuple

from streamer.state import DAY, BorrowerState, Pending

DEFAULT_DPD = 90
UNKNOWN = -1


class Matured(NamedTuple):
    ts: float  # snapshot time
    label: int
    score: float
    model_version: int
    vector: bytes


class Labeler:
    def __init__(self, interval_days: float = 7.0, horizon_days: float = 90.0) -> None:
        self.interval = interval_days * DAY
        self.horizon = horizon_days * DAY

    def due(self, s: BorrowerState, now: float) -> bool:
        """Is a snapshot due: none kept in the last interval, and no default on?"""
        return not s.defaulted_at and not (
            s.last_snapshot_ts and now < s.last_snapshot_ts + self.interval)

    def maybe_snapshot(self, s: BorrowerState, now: float, score: float, model_version: int,
                       vector: bytes) -> bool:
        """Keep a snapshot if one is due."""
        if not self.due(s, now):
            return False
        s.pending.append(Pending(UNKNOWN, now, score, model_version, vector))
        s.last_snapshot_ts = now
        return True

    def mature(self, s: BorrowerState, now: float, dpd: int) -> list[Matured]:
        """Label what a default decides; release the examples whose horizon has passed."""
        if dpd < DEFAULT_DPD:
            s.defaulted_at = 0.0
        elif not s.defaulted_at:
            s.defaulted_at = now
            for p in s.pending:
                if p.label == UNKNOWN and now <= p.ts + self.horizon:
                    p.label = 1
        pending = s.pending
        if not pending or pending[0].ts + self.horizon >= now:
            return []
        cutoff = now - self.horizon
        done = [Matured(p.ts, max(p.label, 0), p.score, p.model_version, p.vector)
                for p in pending if p.ts < cutoff]
        s.pending = [p for p in pending if p.ts >= cutoff]
        return done
