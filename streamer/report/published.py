"""What the service published, as the report reads it: alerts and score updates.

Alerts are few (one per change of tier) and are kept as numpy arrays. Score updates are
many (replay writes one per event): they are streamed and only each borrower's latest
score at a handful of instants (the months' starts) is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import msgspec
import numpy as np

from streamer.evaluation.inputs import KINDS, TIERS, batches, parse_times

ACTIONS = ("none", "reminder", "grace_period", "installment_plan", "escalate")
_KIND = {k: i for i, k in enumerate(KINDS)}
_TIER = {t: i for i, t in enumerate(TIERS)}
_ACTION = {a: i for i, a in enumerate(ACTIONS)}


class _AlertLine(msgspec.Struct):
    borrower_id: str
    ts: str
    kind: str
    tier: str
    recommended_action: str = "none"


@dataclass
class Alerts:
    """Alerts sorted by (borrower, time); codes index KINDS, TIERS and ACTIONS."""

    borrower: np.ndarray  # int64, Book.index (borrowers not in the events are added)
    seconds: np.ndarray  # float64 event time of the trigger
    kind: np.ndarray  # int8
    tier: np.ndarray  # int8
    action: np.ndarray  # int8, -1 for an action this report does not know
    unknown: int = 0  # lines with a kind or tier outside the contract (skipped)


def read_alerts(path: Path, index: dict[str, int]) -> Alerts:
    """The alerts file as arrays; borrower ids are mapped (and added) through `index`."""
    bor, sec, kind, tier, action = [], [], [], [], []
    unknown = 0
    for batch in batches(path, msgspec.json.Decoder(_AlertLine)):
        t = parse_times([r.ts for r in batch], path)
        for r, s in zip(batch, t.tolist()):
            k, ti = _KIND.get(r.kind), _TIER.get(r.tier)
            if k is None or ti is None:
                unknown += 1
                continue
            b = index.setdefault(r.borrower_id, len(index))
            bor.append(b)
            sec.append(s)
            kind.append(k)
            tier.append(ti)
            action.append(_ACTION.get(r.recommended_action, -1))
    b = np.array(bor, dtype=np.int64)
    s = np.array(sec, dtype=np.float64)
    order = np.lexsort((np.arange(b.size), s, b))
    return Alerts(b[order], s[order], np.array(kind, dtype=np.int8)[order],
                  np.array(tier, dtype=np.int8)[order], np.array(action, dtype=np.int8)[order],
                  unknown)


def tier_at(alerts: Alerts, n: int, seconds: float) -> np.ndarray:
    """Each borrower's tier (index into TIERS) by its latest alert before `seconds`;
    0 (none) without one."""
    out = np.zeros(n, dtype=np.int8)
    before = alerts.seconds < seconds
    b, t = alerts.borrower[before], alerts.tier[before]
    if b.size:
        last = np.ones(b.size, dtype=bool)
        last[:-1] = b[1:] != b[:-1]  # sorted by (borrower, time): the last row of each
        keep = b[last] < n
        out[b[last][keep]] = t[last][keep]
    return out


class _ScoreLine(msgspec.Struct):
    borrower_id: str
    ts: str
    score: float | None = None


def latest_scores(path: Path, index: dict[str, int], instants: list[float]
                  ) -> tuple[list[np.ndarray], int]:
    """Each known borrower's latest score strictly before each instant (NaN: none yet),
    and how many lines came after an instant they precede (applied late).

    Scores of borrowers not in `index` are skipped (they have no outcome to compare with).
    Reading stops at the end of the block that passes the last instant.
    """
    n = len(index)
    latest = np.full(n, np.nan)
    out: list[np.ndarray] = []
    late = 0
    get = index.get
    for batch in batches(path, msgspec.json.Decoder(_ScoreLine)):
        t = parse_times([r.ts for r in batch], path)
        b = np.fromiter((get(r.borrower_id, -1) for r in batch), dtype=np.int64, count=len(batch))
        v = np.array([r.score for r in batch], dtype=np.float64)  # None -> NaN
        order = np.argsort(t, kind="stable")
        b, t, v = b[order], t[order], v[order]
        if out:
            late += int((t < instants[len(out) - 1]).sum())
        at = 0
        while at < t.size:
            cut = t.size if len(out) == len(instants) else int(
                np.searchsorted(t, instants[len(out)], side="left"))
            _assign(latest, b[at:cut], v[at:cut])
            at = cut
            if at < t.size:
                out.append(latest.copy())
        if len(out) == len(instants):
            break
    while len(out) < len(instants):
        out.append(latest.copy())
    return out, late


def _assign(latest: np.ndarray, b: np.ndarray, v: np.ndarray) -> None:
    """latest[b] = v for the last row of each borrower, skipping unknown ones and NaNs."""
    keep = (b >= 0) & ~np.isnan(v)
    b, v = b[keep][::-1], v[keep][::-1]
    if b.size:
        _, first = np.unique(b, return_index=True)  # first in reverse = last in order
        latest[b[first]] = v[first]
