"""Scenario 3 (issue 7): rebalance 1 -> 2 -> 1 workers while the stream runs.

One worker holds the 4 partitions; a producer streams the workload at a steady rate; at
a third of it a second worker joins, at two thirds it leaves (SIGTERM, a graceful leave).
Measured: seconds from each change (the second worker's start, its stop signal) until
every input partition is assigned again (to two workers after the join, to the one left
after the leave) -- at most 30 s; alerts lost (0), duplicates before dedupe (reported),
0 after, alerts equal to the oracle's, per-borrower state equal to the oracle's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import Deployment, wait_processed
from tests.reliability.conftest import (
    RELIABILITY_ENV,
    BackgroundProducer,
    assert_oracle_holds,
    processed_count,
    wait_until,
    workload,
)

ASSIGNED_BOUND_S = 30.0


@pytest.mark.reliability_slow
def test_rebalance_1_2_1_loses_nothing(deploy: Callable[..., Deployment], frozen_snapshot: bytes,
                                       tmp_path: Path, figures: dict[str, Any]) -> None:
    d = deploy(**RELIABILITY_ENV)
    w = workload(d, frozen_snapshot, tmp_path, seed=74)
    inputs = d.topic("credit.repayments")
    a = d.start_worker("a")
    a.wait_ready()
    producer = BackgroundProducer(d.settings, w.items, tmp_path, rate=500)
    total = w.borrower_events
    changes: list[float] = []

    def held(*workers: Any) -> list[int]:
        return [int(x.value("streamer_assigned_partitions", topic=inputs)) for x in workers]

    try:
        wait_until(lambda: processed_count(a) >= total // 3, "a third processed", 180, (a,))
        b = d.start_worker("b")
        t0 = time.monotonic()
        wait_until(lambda: sum(held(a, b)) == 4 and min(held(a, b)) >= 1,
                   "4 partitions split between a and b", 90, (a, b))
        changes.append(round(time.monotonic() - t0, 1))
        wait_until(lambda: processed_count(a, b) >= 2 * total // 3, "two thirds processed", 180,
                   (a, b))
        t0 = time.monotonic()
        assert b.stop() == 0
        wait_until(lambda: held(a) == [4], "a holding the 4 partitions again", 90, (a,))
        changes.append(round(time.monotonic() - t0, 1))
        producer.wait()
        wait_processed(d, a, timeout=180)
    finally:
        producer.kill()

    figures["assigned_after_change_s"] = changes
    assert_oracle_holds(d, w, figures, a)
    assert max(changes) <= ASSIGNED_BOUND_S, f"partitions assigned after {changes} s"
