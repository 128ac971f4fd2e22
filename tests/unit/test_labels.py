"""The labeler against its definition, written plainly: every snapshot, every event.

`Labeler.mature` skips the snapshots an event cannot change (so an overdue borrower's
events cost the same however many snapshots wait); this test holds it to the rules of
labels.py stated one snapshot at a time, over random borrowers' histories.
"""

from __future__ import annotations

import random

from streamer.core.labels import (
    DEFAULT_DPD,
    DEFAULTED,
    DELINQUENT,
    MISSED,
    NOT_CURRENT,
    SPELL_DEFAULTED,
    SPELL_GAP,
    Labeler,
)
from streamer.core.state import DAY, BorrowerState

DELINQUENT_DPD = 30


def reference_mature(lab: Labeler, s: BorrowerState, now: float, dpd: int) -> list[tuple]:
    """labels.py's rules, each snapshot looked at on every event."""
    seen = 0
    if dpd < DEFAULT_DPD:
        s.defaulted_at = 0.0
    elif not s.defaulted_at:
        s.defaulted_at = now
        seen = DEFAULTED
    if dpd > 0:
        if not s.last_overdue_ts or now - s.last_overdue_ts > SPELL_GAP:
            s.spell_start = now
        s.last_overdue_ts = max(s.last_overdue_ts, now)
        seen |= MISSED | (DELINQUENT if dpd >= DELINQUENT_DPD else 0)
        for p in s.pending:
            if now <= p.ts + lab.horizon:
                p.label = max(p.label, 0) | seen
        if seen & DEFAULTED:
            for p in s.pending:
                if p.label > 0 and p.label & MISSED and s.spell_start <= p.ts + lab.horizon:
                    p.label |= SPELL_DEFAULTED
    done, waiting = [], []
    for p in s.pending:
        bits = max(p.label, 0)
        end = p.ts + lab.horizon
        decided = (not bits & MISSED or bits & (SPELL_DEFAULTED | NOT_CURRENT)
                   or now > end + lab.max_wait
                   or (dpd == 0 and now - s.last_overdue_ts > SPELL_GAP)
                   or s.spell_start > end)
        if end >= now or not decided:
            waiting.append(p)
            continue
        early = None if bits & NOT_CURRENT else int(bits & (SPELL_DEFAULTED | DEFAULTED) > 0)
        done.append((p.ts, bits & DEFAULTED, early))
    s.pending = waiting
    return done


def history(rng: random.Random) -> list[tuple[float, int]]:
    """(day, DPD) of one borrower's events: current spells, misses that cure, spells
    that run to default and on past it, weeks without events."""
    day, dpd, out = 0.0, 0, []
    for _ in range(rng.randint(20, 160)):
        day += rng.choice((0.0, 0.5, 1, 3, 7, 12, 30, 45, 70))
        r = rng.random()
        if dpd == 0:
            dpd = rng.randint(1, 20) if r < 0.12 else 0
        elif r < 0.25:
            dpd = 0  # cured
        else:
            dpd = dpd + int(rng.choice((0, 3, 10, 30, 45)))
        out.append((day * DAY, dpd))
    return out


def test_mature_releases_and_labels_as_its_definition_over_random_histories():
    rng = random.Random(20261207)
    lab = Labeler(interval_days=7, horizon_days=90)
    kinds: dict[tuple, int] = {}
    for _ in range(400):
        fast, slow = BorrowerState.new(), BorrowerState.new()
        for now, dpd in history(rng):
            got = [(m.ts, m.label, m.early) for m in lab.mature(fast, now, dpd)]
            assert got == reference_mature(lab, slow, now, dpd)
            assert [(p.ts, p.label) for p in fast.pending] == [
                (p.ts, p.label) for p in slow.pending]
            assert (fast.spell_start, fast.last_overdue_ts, fast.defaulted_at) == (
                slow.spell_start, slow.last_overdue_ts, slow.defaulted_at)
            for s in (fast, slow):
                lab.maybe_snapshot(s, now, 0.1, 1, b"", dpd)
            for _, label, early in got:
                kinds[label, early] = kinds.get((label, early), 0) + 1
    # the histories released examples of every kind: defaults, early positives and
    # negatives, snapshots taken while overdue
    assert set(kinds) == {(0, 0), (0, 1), (1, 1), (0, None), (1, None)}, kinds
