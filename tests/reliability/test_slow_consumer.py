"""Scenario 9 (issue 7): a slow consumer -- 1% of the events take 200 ms more to process.

The slowness is injected into the worker process, not imitated: a `sitecustomize` module
on the worker's PYTHONPATH (written by this test) wraps the real `Engine.process_raw` so
that one message in a hundred (chosen by a CRC of its bytes, so the same ones on every
run) blocks the worker's event loop for 200 ms before being processed as usual. The
workload streams at 500 events/s, about what the slowed worker can take.

Pass: no rebalance storm (the worker's partitions are assigned once, never revoked),
memory bounded (resident memory grows < 50 MB from the start of the stream to the end),
the backlog drains within 60 s of the producer's end, and the alerts equal the oracle's.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from streamer.runtime import topics
from tests.integration.conftest import Deployment, wait_processed
from tests.reliability.conftest import (
    RELIABILITY_ENV,
    BackgroundProducer,
    assert_oracle_holds,
    workload,
)
from tests.reliability.test_limits import rss_mb

SHARE, DELAY_S = 0.01, 0.2
DRAIN_BOUND_S = 60.0
RSS_BOUND_MB = 50.0
INJECT = f'''
"""Fault injection for tests/reliability/test_slow_consumer.py (this process only)."""
import time
import zlib

import streamer.core.engine as _engine

_process_raw = _engine.Engine.process_raw


def _slow_process_raw(self, raw, *args, **kwargs):
    if raw and zlib.crc32(bytes(raw)) % 10_000 < {SHARE * 10_000:.0f}:
        time.sleep({DELAY_S})
    return _process_raw(self, raw, *args, **kwargs)


_engine.Engine.process_raw = _slow_process_raw
'''


@pytest.mark.reliability_slow
def test_slow_consumer_drains_without_rebalancing(deploy: Callable[..., Deployment],
                                                  frozen_snapshot: bytes, tmp_path: Path,
                                                  figures: dict[str, Any]) -> None:
    inject = tmp_path / "inject"
    inject.mkdir()
    (inject / "sitecustomize.py").write_text(INJECT)
    d = deploy(**RELIABILITY_ENV)
    w = workload(d, frozen_snapshot, tmp_path, seed=81)
    worker = d.start_worker(PYTHONPATH=str(inject))
    worker.wait_ready()
    before = rss_mb(worker)
    producer = BackgroundProducer(d.settings, w.items, tmp_path, rate=500)
    try:
        producer.wait(300)
    finally:
        producer.kill()
    produced = time.monotonic()
    wait_processed(d, worker, timeout=DRAIN_BOUND_S * 3)
    drained_s = round(time.monotonic() - produced, 1)
    after = rss_mb(worker)
    log = worker.log_path.read_text(errors="replace")
    assignments = log.count("Setting newly assigned partitions")
    revocations = log.count("Revoking previously assigned partitions") - log.count(
        "Revoking previously assigned partitions set()")
    # the injection took effect: the batches took at least the delays' worth of time
    delayed = sum(1 for topic, _, e in w.items if topic != topics.MACRO_TOPIC
                  and zlib.crc32(msgspec.json.encode(e)) % 10_000 < SHARE * 10_000)
    batch_s = worker.value("streamer_batch_seconds_sum")
    assert delayed >= 0.005 * w.borrower_events and batch_s >= delayed * DELAY_S * 0.95
    figures.update(delayed=delayed, batch_seconds=round(batch_s, 1),
                   drain_after_producer_s=drained_s,
                   assignments=assignments, revocations=revocations,
                   rss_growth_mb=round(after - before, 1))
    assert assignments == 1 and revocations == 0, "the group rebalanced"
    assert after - before < RSS_BOUND_MB
    assert_oracle_holds(d, w, figures, worker)
    assert drained_s <= DRAIN_BOUND_S
