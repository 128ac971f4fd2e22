"""Scenario 1 (issue 7): `kill -9` of a worker three times mid-stream, at least once.

Two workers share the 4 partitions (RocksDB stores, as in production) while a producer
streams ~26,000 borrower events at a steady rate. Three times, at a quarter, half and
three quarters of the stream, one worker (a, b, then a again) is killed with SIGKILL and
started again on its own data dir. Measured against `streamer replay` of the same events:

* alerts lost: the oracle's alert_ids missing from risk.alerts -- must be 0;
* duplicates before dedupe (reported) and after dedupe by alert_id -- must be 0, and the
  deduped alerts equal the oracle's field for field, in order per borrower;
* per-borrower state: the newest changelog state of every borrower (what a worker that
  takes over restores) equals the replay's;
* resume: seconds from each kill until every partition the dead worker held has its
  processed offset advance again (on whichever worker holds it now) -- at most 30 s.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.integration.conftest import Deployment, processed, wait_processed
from tests.reliability.conftest import (
    RELIABILITY_ENV,
    BackgroundProducer,
    assert_oracle_holds,
    input_ends,
    processed_count,
    wait_until,
    workload,
)

RESUME_BOUND_S = 30.0
RATE = 500  # events/s: the stream lasts ~50 s, long enough for three kills and restarts


def test_kill_9_three_times_loses_nothing(deploy: Callable[..., Deployment],
                                          frozen_snapshot: bytes, tmp_path: Path,
                                          figures: dict[str, Any]) -> None:
    d = deploy(**RELIABILITY_ENV, STREAMER_STORE="rocksdb://")
    w = workload(d, frozen_snapshot, tmp_path, seed=71)
    live = {"a": d.start_worker("a"), "b": d.start_worker("b")}
    for worker in live.values():
        worker.wait_ready()
    producer = BackgroundProducer(d.settings, w.items, tmp_path, rate=RATE)
    total = w.borrower_events

    resumes = []
    try:
        for i, victim in enumerate(("a", "b", "a")):
            target = (i + 1) * total // 4
            wait_until(lambda: processed_count(*live.values()) >= target,
                       f"{target} events processed", 180, tuple(live.values()))
            held = processed(live[victim])
            live[victim].kill()
            killed_at = time.monotonic()
            live[victim] = d.start_worker(victim)

            def resumed(held: dict = held) -> bool:
                now = processed(*live.values())
                ends = input_ends(d) if producer.done() else {}
                return all(now.get(tp, -1) > off or (tp in ends and off >= ends[tp] - 1)
                           for tp, off in held.items())

            wait_until(resumed, f"the partitions of the killed worker {victim} to resume", 90,
                       tuple(live.values()))
            resumes.append(round(time.monotonic() - killed_at, 1))
        producer.wait()
        wait_processed(d, *live.values(), timeout=180)
    finally:
        producer.kill()

    figures["resume_s"] = resumes
    assert_oracle_holds(d, w, figures, *live.values())
    assert max(resumes) <= RESUME_BOUND_S, f"resume took {resumes} s"
