"""Shared test helpers: contract-v1 events as bytes, built the way upstream systems send them."""

from __future__ import annotations

import itertools
import json

import pytest

_ids = itertools.count(1)
DAY = 86_400.0
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def ts_at(days: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(T0 + days * DAY, dt.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def event(type_: str, days: float = 0.0, borrower: str | None = "b1", **fields) -> dict:
    e = {"event_id": fields.pop("event_id", f"t{next(_ids)}"), "type": type_, "ts": ts_at(days),
         "v": 1}
    if borrower is not None:
        e["borrower_id"] = borrower
    e.update(fields)
    return e


def raw(e: dict) -> bytes:
    return json.dumps(e).encode()


def opened(borrower: str = "b1", days: float = 0.0, **kw) -> dict:
    fields = dict(credit_limit=20000, segment="salaried", industry="retail", region="R01",
                  credit_score=700, prior_delinquencies=0)
    fields.update(kw)
    return event("account_opened", days, borrower, **fields)


@pytest.fixture
def mk():
    """The builders, for tests that want them as a fixture."""
    class Builders:
        event = staticmethod(event)
        raw = staticmethod(raw)
        opened = staticmethod(opened)
        ts_at = staticmethod(ts_at)
    return Builders
