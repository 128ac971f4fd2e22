"""`streamer simulate --kafka` (the docker-compose producer) on Apache Kafka."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable

import msgspec

from streamer.runtime import topics
from tests.integration.conftest import Deployment, read_all, simulated


def test_simulate_produces_every_event_to_its_topic_keyed_by_borrower(
        deploy: Callable[..., Deployment]) -> None:
    d = deploy()
    out = subprocess.run(
        [sys.executable, "-m", "streamer.cli", "simulate", "--kafka", "--borrowers", "6",
         "--days", "40", "--seed", "3", "--rate", "5000"],
        env={**os.environ, **d.env}, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    expected = simulated("baseline", 6, 40, 3)
    assert f"{len(expected):,} events produced" in out.stdout
    got: Counter = Counter()
    for name in (*topics.INPUT_TOPICS, topics.MACRO_TOPIC):
        for r in read_all(d.settings, d.topic(name)):
            event = msgspec.json.decode(r.value)
            key = event.get("borrower_id") or f"{event['scope']}:{event['scope_id']}"
            assert r.key == key.encode()
            got[(name, event["event_id"])] += 1
    assert got == Counter((topic, e["event_id"]) for topic, _, e in expected)
