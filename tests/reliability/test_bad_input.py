"""Bad input (issue 7, scenarios 6 and 8): poison messages and a disordered, repeated stream.

Scenario 6 -- poison mix at 5% of the traffic. Malformed JSON, wrong types, missing
fields, non-UTF-8 bytes, emoji and right-to-left text, negative and NaN amounts,
timestamps ten years ahead, null keys and empty values, and the crafted kinds of
tests/unit/crafted.py (nesting 10,000 deep and up to the size limit, type confusion,
repeated fields, lone surrogates, byte-order marks, overlong UTF-8, NUL bytes, numbers
out of range, 4,000 fields, a message exactly at and one byte over the size limit) are
interleaved with a simulated portfolio's events (one worker). Pass: every poison message
is in risk.deadletter, at its own (topic, partition, offset), with a reason naming what
is wrong; the worker never restarts (same process throughout, no traceback in its log);
the good events give exactly the oracle's alerts and per-borrower state.

Scenario 8 -- 10% of the events sent twice (same event_id, later in the stream) and
events shuffled within 5-minute windows of event time. Pass: 0 duplicate alerts (before
any dedupe), per-borrower state equal to replay's of the same disordered stream, and the
worker's late count equals the oracle's (events older than the borrower's newest by
more than STREAMER_ALLOWED_LATENESS_S, set to 120 s here so that the shuffle makes some).
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
from aiokafka import AIOKafkaProducer

from streamer.runtime import topics
from tests.integration.conftest import (
    Deployment,
    alerts_of,
    assert_same_alerts,
    read_all,
    wait_processed,
)
from tests.reliability.conftest import (
    RELIABILITY_ENV,
    assert_states_equal,
    changelog_states,
    outcome_counts,
    workload,
)
from tests.unit.crafted import crafted

POISON_SHARE = 0.05
GOOD = {"event_id": "", "type": "payment", "borrower_id": "", "ts": "2026-03-01T08:00:00Z",
        "v": 1, "loan_id": "L-poison", "amount": 100.0}


def poison_kinds(borrower: str) -> list[tuple[str, bytes | None, bytes | None, str]]:
    """(kind, key, value, a fragment of the expected reason); `event_id` is set later."""
    def ev(**change: Any) -> dict:
        e = {**GOOD, "borrower_id": borrower, **change}
        return {k: v for k, v in e.items() if v is not None}

    k = borrower.encode()
    return [
        ("malformed JSON", k, b'{"event_id": "@ID", "type": "payment", "amount": 1',
         "not valid JSON"),
        ("wrong type", k, json.dumps(ev(amount="lots")).encode(), "Expected `float`"),
        ("missing field", k, json.dumps(ev(loan_id=None)).encode(), "missing required field"),
        ("non-UTF-8", k, b'\xff\xfe{"event_id": "@ID", "type": "payment"}', "not valid JSON"),
        ("emoji and RTL", "😀שלום".encode(), json.dumps(
            ev(type="transaction", loan_id=None, direction="😀 שלום مرحبا", category="other"),
            ensure_ascii=False).encode(), "Invalid enum value"),
        ("negative amount", k, json.dumps(ev(amount=-5)).encode(), "Expected `float` > 0.0"),
        ("NaN amount", k, json.dumps(ev(amount=float("nan"))).encode(), "not valid JSON"),
        ("ten years ahead", k, json.dumps(ev(ts="2036-11-28T08:00:00Z")).encode(),
         "ahead of the stream and the clock"),
        ("null key", None, json.dumps(ev()).encode(), "no message key"),
        ("empty value", k, b"", "empty message value"),
        ("null value", k, None, "empty message value"),
    ] + [(kind, k, value, reason) for kind, value, reason in crafted(borrower)]


async def produce_raw(settings: Any, items: list[tuple[str, bytes | None, bytes | None]]
                      ) -> list[tuple[str, int, int]]:
    """Produce raw (topic, key, value) in order; returns each one's (topic, partition, offset)."""
    producer = AIOKafkaProducer(**topics.client_options(settings), acks="all", linger_ms=5)
    await producer.start()
    try:
        futures = [await producer.send(topic, value, key=key) for topic, key, value in items]
        return [(md.topic, md.partition, md.offset) for md in await asyncio.gather(*futures)]
    finally:
        await producer.stop()


def test_poison_mix_is_dead_lettered_and_the_stream_goes_on(
        deploy: Callable[..., Deployment], frozen_snapshot: bytes, tmp_path: Path,
        figures: dict[str, Any]) -> None:
    d = deploy(**RELIABILITY_ENV)
    w = workload(d, frozen_snapshot, tmp_path, seed=72)
    rng = random.Random(6)
    borrowers = sorted({k for t, k, _ in w.items if t != topics.MACRO_TOPIC})
    n_poison = round(len(w.items) * POISON_SHARE / (1 - POISON_SHARE))
    stream: list[tuple[str, bytes | None, bytes | None, str | None]] = [
        (d.topic(t), k.encode(), msgspec.json.encode(e), None) for t, k, e in w.items]
    reasons: dict[int, tuple[str, str]] = {}  # index in the stream -> (kind, reason)
    n_kinds = len(poison_kinds(borrowers[0]))
    assert n_poison >= 2 * n_kinds, (n_poison, n_kinds)  # every kind, more than once
    for i in range(n_poison):
        kind, key, value, reason = poison_kinds(rng.choice(borrowers))[i % n_kinds]
        if value:
            value = value.replace(b'"event_id": ""', f'"event_id": "poison-{i}"'.encode())
            value = value.replace(b"@ID", f"poison-{i}".encode())
        topic = d.topic("credit.transactions" if i % 2 else "credit.repayments")
        at = rng.randrange(len(stream) + 1)
        stream.insert(at, (topic, key, value, f"{kind}\t{reason}"))
    worker = d.start_worker()
    worker.wait_ready()
    pid = worker.proc.pid
    where = asyncio.run(asyncio.wait_for(
        produce_raw(d.settings, [(t, k, v) for t, k, v, _ in stream]), 180))
    for i, (_, _, _, tag) in enumerate(stream):
        if tag is not None:
            kind, reason = tag.split("\t")
            reasons[i] = (kind, reason)
    expected_dead = {where[i]: reasons[i] for i in reasons}
    wait_processed(d, worker, timeout=300)

    dead = [msgspec.json.decode(r.value) for r in read_all(d.settings, d.topic(topics.DEADLETTER))]
    got_dead = {(x["topic"], x["partition"], x["offset"]): x for x in dead}
    assert len(dead) == len(got_dead) == n_poison, (len(dead), n_poison)
    assert set(got_dead) == set(expected_dead), "dead letters at other places than the poison"
    wrong = [(kind, reason, got_dead[at]["error"]) for at, (kind, reason) in expected_dead.items()
             if reason not in got_dead[at]["error"]]
    assert not wrong, wrong[:5]
    for x in dead:
        base64.b64decode(x["raw"], validate=True)
    assert worker.value("streamer_deadletters_total") == n_poison

    got = alerts_of(d.settings)
    assert_same_alerts(got, w.expected)
    assert worker.proc.poll() is None and worker.proc.pid == pid, "the worker restarted"
    log = worker.log_path.read_text(errors="replace")
    assert "Traceback" not in log and "crashed" not in log.lower(), worker.log_tail()
    assert worker.stop() == 0
    figures.update(good_events=w.borrower_events, poison=n_poison, dead_letters=len(dead),
                   alerts=len(got), agent_restarts=0,
                   borrower_states_equal=assert_states_equal(changelog_states(d), w.states))


def disorder(items: list[tuple[str, str, dict]], seed: int = 8) -> list[tuple[str, str, dict]]:
    """10% of the events repeated later (same event_id) and events shuffled within 5 min."""
    import datetime as dt

    rng = random.Random(seed)
    out: list[tuple[str, str, dict]] = []
    window: list[tuple[str, str, dict]] = []
    start = None
    for item in items:
        ts = dt.datetime.fromisoformat(item[2]["ts"].replace("Z", "+00:00")).timestamp()
        if start is None or ts - start >= 300:
            rng.shuffle(window)
            out.extend(window)
            window, start = [], ts
        window.append(item)
    rng.shuffle(window)
    out.extend(window)
    borrower = [i for i, (t, _, _) in enumerate(out) if t != topics.MACRO_TOPIC]
    for i in sorted(rng.sample(borrower, len(borrower) // 10), reverse=True):
        out.insert(min(len(out), i + rng.randrange(1, 200)), out[i])
    return out


def test_duplicates_and_shuffled_events_give_no_duplicate_alert(
        deploy: Callable[..., Deployment], frozen_snapshot: bytes, tmp_path: Path,
        figures: dict[str, Any]) -> None:
    d = deploy(**RELIABILITY_ENV, STREAMER_ALLOWED_LATENESS_S="120")
    w = workload(d, frozen_snapshot, tmp_path, seed=73, transform=disorder)
    ids = [e["event_id"] for t, _, e in w.items if t != topics.MACRO_TOPIC]
    repeated = len(ids) - len(set(ids))
    assert repeated >= len(set(ids)) // 10 - 1
    worker = d.start_worker()
    from tests.integration.conftest import produce_items

    produce_items(d.settings, w.items)
    wait_processed(d, worker, timeout=300)
    got = alerts_of(d.settings)
    assert_same_alerts(got, w.expected)  # no alert_id twice, none missing, none extra
    outcomes = outcome_counts(worker)
    assert outcomes["duplicate"] == repeated
    assert w.late > 0 and outcomes["late"] == w.late
    assert worker.stop() == 0
    figures.update(events=len(ids), repeated=repeated, late=outcomes["late"],
                   duplicate_alerts=len(got) - len({a["alert_id"] for a in got}),
                   borrower_states_equal=assert_states_equal(changelog_states(d), w.states))
