"""Scenario 13: rebalances that overlap recoveries -- workers killed and stopped while others
are still recovering their state, as a crash loop or a rolling restart gone wrong does.

Three worker names over a memory store (every recovery reads the changelog from its start,
so recoveries are long enough to be caught in the middle) and a steady stream:

1. a and b run; at a fifth of the stream c starts, and while c recovers a is killed (-9);
2. a starts again, and while it recovers b is stopped (SIGTERM);
3. b starts again, and while it recovers c is killed (-9); c starts again.

Pass: every input event processed, the group's commits caught up with the log (lag 0, the
worker's own offsets: streamer/faust015/offsets.py), 0 alerts lost, after dedupe by
alert_id the oracle's alerts, and every borrower's changelog state equal to the oracle's.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import Deployment, WorkerProcess, wait_committed, wait_processed
from tests.reliability.conftest import (
    RELIABILITY_ENV,
    BackgroundProducer,
    assert_oracle_holds,
    processed_count,
    wait_until,
    workload,
)


def recovering(w: WorkerProcess) -> bool:
    """Serving /metrics, not ready yet: joining the group or recovering its tables."""
    return w._get("/metrics")[0] == 200 and w._get("/readyz")[0] != 200


@pytest.mark.reliability_slow
def test_workers_killed_and_stopped_while_others_recover_lose_nothing(
        deploy: Callable[..., Deployment], frozen_snapshot: bytes, tmp_path: Path,
        figures: dict[str, Any]) -> None:
    d = deploy(**RELIABILITY_ENV, STREAMER_STORE="memory://")
    w = workload(d, frozen_snapshot, tmp_path, seed=79)
    live = {"a": d.start_worker("a"), "b": d.start_worker("b")}
    for worker in live.values():
        worker.wait_ready()
    producer = BackgroundProducer(d.settings, w.items, tmp_path, rate=400)
    total = w.borrower_events
    faults = []
    try:
        # (starts, then hit while it recovers, how)
        for i, (starting, victim, how) in enumerate((("c", "a", "kill"), ("a", "b", "stop"),
                                                      ("b", "c", "kill"))):
            target = (i + 1) * total // 5
            wait_until(lambda: processed_count(*live.values()) >= target,
                       f"{target} events processed", 180, tuple(live.values()))
            live[starting] = d.start_worker(starting)
            wait_until(lambda: recovering(live[starting]), f"{starting} recovering", 60,
                       tuple(live.values()))
            if how == "kill":
                live.pop(victim).kill()
            else:
                assert live.pop(victim).stop() == 0
            faults.append(f"{how} {victim} while {starting} recovers")
        live["c"] = d.start_worker("c")
        producer.wait()
        wait_processed(d, *live.values(), timeout=240)
        figures["committed_s"] = round(wait_committed(d, live["a"], 120), 1)
    finally:
        producer.kill()
    figures["faults"] = faults
    assert_oracle_holds(d, w, figures, *live.values())
