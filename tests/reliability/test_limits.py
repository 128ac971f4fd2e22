"""Scenarios 7 and 10 (issue 7): an oversized event, and what a worker exposes.

Scenario 7 -- three 900 KB events (a transaction whose counterparty is 900 KB of text)
arrive between good events. Pass: each is dead-lettered with a reason (over the
64 KB event limit; its raw bytes cut to the first 64 KB, which the reason says, so the
dead letter fits the topic), the good events around them give the oracle's alerts, and
the worker's resident memory grows by less than 50 MB from before the big events to
after them.

Scenario 10 -- exposure. Pass: every socket the worker listens on is bound to 127.0.0.1
(the configured metrics address; /metrics does not answer on 127.0.0.2); Faust's web
server, when enabled, answers 404 on its table, router, graph and stats paths; no metric
label value holds a borrower id (or any event's event_id); fewer than 1,000 series.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
from prometheus_client.parser import text_string_to_metric_families

from streamer.core.events import MAX_EVENT_BYTES
from streamer.core.privacy import MAX_DEADLETTER_RAW
from streamer.runtime import topics
from streamer.settings import Settings
from tests.integration.conftest import (
    Deployment,
    WorkerProcess,
    _free_port,
    alerts_of,
    assert_same_alerts,
    produce_items,
    read_all,
    wait_processed,
)
from tests.reliability.conftest import RELIABILITY_ENV, workload
from tests.reliability.test_bad_input import produce_raw

BIG = 900 * 1024
RSS_BOUND_MB = 50.0
SERIES_BOUND = 1000


def rss_mb(worker: WorkerProcess) -> float:
    for line in Path(f"/proc/{worker.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_900_kb_events_are_dead_lettered_and_memory_stays_bounded(
        deploy: Callable[..., Deployment], frozen_snapshot: bytes, tmp_path: Path,
        figures: dict[str, Any]) -> None:
    d = deploy(**RELIABILITY_ENV)
    w = workload(d, frozen_snapshot, tmp_path, seed=75, borrowers=100, days=240)
    half = len(w.items) // 2
    worker = d.start_worker()
    produce_items(d.settings, w.items[:half])
    wait_processed(d, worker, timeout=180)
    before = rss_mb(worker)
    borrower = next(k for t, k, _ in w.items if t != topics.MACRO_TOPIC)
    big = [json.dumps({"event_id": f"big-{i}", "type": "transaction", "borrower_id": borrower,
                       "ts": "2026-03-01T08:00:00Z", "v": 1, "amount": 10.0, "direction": "out",
                       "category": "other", "counterparty": "x" * BIG}).encode()
           for i in range(3)]
    where = asyncio.run(asyncio.wait_for(produce_raw(
        d.settings, [(d.topic("credit.transactions"), borrower.encode(), v) for v in big]), 60))
    produce_items(d.settings, w.items[half:])
    wait_processed(d, worker, timeout=180)
    after = rss_mb(worker)

    dead = [msgspec.json.decode(r.value) for r in read_all(d.settings, d.topic(topics.DEADLETTER))]
    assert {(x["topic"], x["partition"], x["offset"]) for x in dead} == set(where)
    for x in dead:
        assert f"over the {MAX_EVENT_BYTES}-byte limit" in x["error"], x["error"]
        assert f"the first {MAX_DEADLETTER_RAW} of" in x["error"], x["error"]
    assert_same_alerts(alerts_of(d.settings), w.expected)
    assert worker.stop() == 0
    figures.update(event_kb=BIG // 1024, dead_letters=len(dead), rss_before_mb=round(before, 1),
                   rss_after_mb=round(after, 1), rss_growth_mb=round(after - before, 1))
    assert after - before < RSS_BOUND_MB


def listening_addresses(pid: int) -> set[tuple[str, int]]:
    """(address, port) of every TCP socket the process listens on (from /proc)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    out = set()
    for table, width in (("tcp", 8), ("tcp6", 32)):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            cols = line.split()
            if cols[3] != "0A" or cols[9] not in inodes:  # 0A: LISTEN
                continue
            hex_addr, hex_port = cols[1].split(":")
            raw = bytes.fromhex(hex_addr)
            if width == 8:
                addr = socket.inet_ntop(socket.AF_INET, raw[::-1])
            else:
                words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
                addr = socket.inet_ntop(socket.AF_INET6, words)
            out.add((addr, int(hex_port, 16)))
    return out


def http_status(url: str) -> int:
    """The HTTP status of a GET, or 0 if nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def test_worker_exposes_metrics_on_loopback_only_and_no_borrower_data(
        deploy: Callable[..., Deployment], frozen_snapshot: bytes, tmp_path: Path,
        figures: dict[str, Any]) -> None:
    assert Settings().metrics_addr.startswith("127.0.0.1:")
    web_port = _free_port()
    d = deploy(**RELIABILITY_ENV)
    w = workload(d, frozen_snapshot, tmp_path, seed=76, borrowers=100, days=180)
    worker = d.start_worker(STREAMER_WEB_PORT=str(web_port))
    produce_items(d.settings, w.items)
    wait_processed(d, worker, timeout=180)

    listening = listening_addresses(worker.proc.pid)
    metrics_port = int(worker.addr.rsplit(":", 1)[1])
    assert ("127.0.0.1", metrics_port) in listening
    assert all(addr == "127.0.0.1" for addr, _ in listening), listening
    assert http_status(f"http://127.0.0.1:{metrics_port}/metrics") == 200
    assert http_status(f"http://127.0.0.2:{metrics_port}/metrics") == 0
    faust_paths = ["/table/borrowers/", "/table/borrowers/b0000001/", "/router/borrowers/",
                   "/graph/", "/stats/", "/signal/"]
    statuses = {p: http_status(f"http://127.0.0.1:{web_port}{p}") for p in faust_paths}
    assert all(s in (0, 404) for s in statuses.values()), statuses

    status, text = 0, ""
    with urllib.request.urlopen(f"http://{worker.addr}/metrics", timeout=5) as resp:
        status, text = resp.status, resp.read().decode()
    assert status == 200
    samples = [s for fam in text_string_to_metric_families(text) for s in fam.samples]
    values = {v for s in samples for v in s.labels.values()}
    ids = {k for t, k, _ in w.items if t != topics.MACRO_TOPIC}
    ids |= {e["event_id"] for _, _, e in w.items}
    leaked = sorted(v for v in values if v in ids or any(i in v for i in ids if len(i) > 3))
    assert not leaked, leaked[:5]
    assert worker.stop() == 0
    figures.update(series=len(samples), listening=sorted(listening),
                   faust_paths=sorted(set(statuses.values())))
    assert len(samples) < SERIES_BOUND

