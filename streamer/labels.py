"""Delayed labels: feature snapshots wait until their 90-day outcome is known.

The target is "this borrower reaches 90+ DPD within the next 90 days". At most one
snapshot per borrower per `interval` of event time is kept pending. When the borrower
reaches 90 DPD every pending snapshot becomes a positive example; a snapshot whose
horizon passes without it becomes a negative one. While a borrower is at 90+ DPD no
snapshot is taken: the outcome is already known.

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
>>> [m.label for m in lab.mature(s, now=t + 100 * day, dpd=95)]   # reached 90+ DPD: positive
[1]
"""

from __future__ import annotations

from typing import NamedTuple

from streamer.state import DAY, BorrowerState, Pending

DEFAULT_DPD = 90


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
        s.pending.append(Pending(now, score, model_version, vector))
        s.last_snapshot_ts = now
        return True

    def mature(self, s: BorrowerState, now: float, dpd: int) -> list[Matured]:
        """Snapshots whose outcome is now known, removed from the pending list."""
        if not s.pending:
            if dpd < DEFAULT_DPD:
                s.defaulted_at = 0.0
            elif not s.defaulted_at:
                s.defaulted_at = now
            return []
        if dpd >= DEFAULT_DPD and not s.defaulted_at:
            s.defaulted_at = now
            done = [Matured(p.ts, 1, p.score, p.model_version, p.vector) for p in s.pending
                    if now <= p.ts + self.horizon]
            done += [Matured(p.ts, 0, p.score, p.model_version, p.vector) for p in s.pending
                     if now > p.ts + self.horizon]
            s.pending = []
            return sorted(done)
        if dpd < DEFAULT_DPD:
            s.defaulted_at = 0.0
        cutoff = now - self.horizon
        if s.pending[0].ts >= cutoff:
            return []
        done = [Matured(p.ts, 0, p.score, p.model_version, p.vector) for p in s.pending
                if p.ts < cutoff]
        s.pending = [p for p in s.pending if p.ts >= cutoff]
        return done
