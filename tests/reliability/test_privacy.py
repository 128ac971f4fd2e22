"""Scenario 11 (issue 7): canary personal data never leaves the worker in clear.

Canaries -- a name, a mobile number written two ways and a national id number -- are put
in the free-text `counterparty` of every transaction of a simulated portfolio, and in
poison messages: malformed JSON, a wrong type, a value in an enum field (which the
validation error quotes), an oversized event. Pass: no canary appears in clear in the
worker's log, its /metrics, risk.deadletter (the base64 `raw` decoded, and `error`),
risk.alerts, risk.scores, or the borrowers' changelog; and alerts equal the oracle's.

What a downstream operator gets instead (the decision; streamer/core/privacy.py has the
rules): a dead letter keeps where the message came from (topic, partition, offset: the
original is still there for the topic's retention, for whoever may read it), why it was
refused (the error, digit runs masked), and the message's structure and identifiers
(event_id, borrower_id, loan_id, type, ts ...), with free-text fields replaced by "***"
and runs of 7+ digits in other strings masked. So the operator can see what to fix and
resend the event (the masked JSON still decodes; the engine never uses free text), but
cannot read a counterparty's name or number from the dead-letter topic, which more
people read, for longer, than the input topics. Alerts carry the borrower id, scores,
reasons (feature names and values) and the action -- nothing from free text.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from streamer.runtime import topics
from tests.integration.conftest import (
    Deployment,
    alerts_of,
    assert_same_alerts,
    produce_items,
    read_all,
    wait_processed,
)
from tests.reliability.conftest import RELIABILITY_ENV, changelog_states, workload
from tests.reliability.test_bad_input import produce_raw

NAME = "Canary Zhang 张金丝雀"
PHONE = "13800138000"
PHONE_SPACED = "+86 138 0013 8000"
NATIONAL_ID = "11010519491231002X"
CANARY = f"{NAME} {PHONE} {PHONE_SPACED} id {NATIONAL_ID}"
# what must not be found, in any of the forms a leak could take
NEEDLES = [NAME, "张金丝雀", "Canary Zhang", PHONE, "138 0013 8000", "11010519491231002",
           json.dumps(NAME)[1:-1]]


def with_canaries(items: list[tuple[str, str, dict]]) -> list[tuple[str, str, dict]]:
    return [(t, k, {**e, "counterparty": CANARY} if e["type"] == "transaction" else e)
            for t, k, e in items]


def leaks(text: str) -> list[str]:
    return [n for n in NEEDLES if n in text]


def test_canaries_never_appear_in_clear(deploy: Callable[..., Deployment], frozen_snapshot: bytes,
                                        tmp_path: Path, figures: dict[str, Any]) -> None:
    d = deploy(**RELIABILITY_ENV)
    w = workload(d, frozen_snapshot, tmp_path, seed=77, borrowers=100, days=180,
                 transform=with_canaries)
    assert sum(CANARY in json.dumps(e, ensure_ascii=False) for _, _, e in w.items) > 1000
    borrower = next(k for t, k, _ in w.items if t != topics.MACRO_TOPIC)
    base = {"type": "transaction", "borrower_id": borrower, "ts": "2026-03-01T08:00:00Z",
            "v": 1, "amount": 10.0, "direction": "out", "category": "other",
            "counterparty": CANARY}
    poison = [
        json.dumps({**base, "event_id": "p-malformed"}, ensure_ascii=False).encode()[:-1],
        json.dumps({**base, "event_id": "p-type", "amount": "lots"}, ensure_ascii=False).encode(),
        json.dumps({**base, "event_id": "p-enum", "direction": PHONE}).encode(),
        json.dumps({**base, "event_id": "p-cat", "category": CANARY, "amount": -1},
                   ensure_ascii=False).encode(),
        b"\xff" + json.dumps({**base, "event_id": "p-utf8"}, ensure_ascii=False).encode(),
        json.dumps({**base, "event_id": "p-big", "counterparty": (CANARY + " ") * 5000},
                   ensure_ascii=False).encode(),
    ]
    worker = d.start_worker()
    half = len(w.items) // 2
    produce_items(d.settings, w.items[:half])
    asyncio.run(asyncio.wait_for(produce_raw(d.settings, [
        (d.topic("credit.transactions"), borrower.encode(), v) for v in poison]), 60))
    produce_items(d.settings, w.items[half:])
    wait_processed(d, worker, timeout=180)
    assert_same_alerts(alerts_of(d.settings), w.expected)
    metrics_text = "\n".join(f"{k} {v}" for k, v in worker.metrics().items())
    assert worker.stop() == 0

    dead = [msgspec.json.decode(r.value) for r in read_all(d.settings, d.topic(topics.DEADLETTER))]
    assert len(dead) == len(poison)
    found: dict[str, list[str]] = {}
    for x in dead:
        raw = base64.b64decode(x["raw"]).decode("utf-8", errors="replace")
        found[f"deadletter {x['offset']}"] = leaks(raw) + leaks(x["error"])
        assert x["error"], x
    # a dead letter of a well-formed event can be fixed and resent: it still decodes, with
    # its identifiers; only the free text is gone
    decodable = {}
    for x in dead:
        try:
            decodable[json.loads(base64.b64decode(x["raw"]))["event_id"]] = x
        except ValueError:
            pass
    assert set(decodable) == {"p-type", "p-enum", "p-cat"}, set(decodable)
    fixed = json.loads(base64.b64decode(decodable["p-type"]["raw"]))
    assert fixed["borrower_id"] == borrower and fixed["counterparty"] == "***"
    assert decodable["p-type"]["error"] == "Expected `float`, got `str` - at `$.amount`"
    found["log"] = leaks(worker.log_path.read_text(errors="replace"))
    found["metrics"] = leaks(metrics_text)
    for name in (topics.ALERTS, topics.SCORES):
        found[name] = leaks("\n".join(r.value.decode("utf-8", "replace")
                                      for r in read_all(d.settings, d.topic(name))))
    found["changelog"] = leaks("\n".join(repr(s.dumps()) for s in changelog_states(d).values()))
    leaked = {where: what for where, what in found.items() if what}
    figures.update(canary_events=sum(1 for _, _, e in w.items if e["type"] == "transaction"),
                   poison=len(poison), places_checked=len(found), leaks=len(leaked))
    assert not leaked, leaked
