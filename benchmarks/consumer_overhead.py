"""What streamer's `Consumer.getmany` adds per message to Faust's (`streamer/faust015/consumer.py`).

Both hand out the same fetch (20,000 records of two partitions, from the unit tests'
aiokafka stand-in `streamer.faust015.testing`, so only the Python path is measured), alternating, 15 runs each.

    .venv/bin/python benchmarks/consumer_overhead.py

Writes benchmarks/results/consumer_overhead.json (and prints a summary).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from pathlib import Path

from faust.transport import consumer as faust_consumer
from faust.types import TP

from streamer.faust015.testing import FakeKafka, fake_consumer, fetch_of

ROOT = Path(__file__).resolve().parents[1]

N, RUNS = 20_000, 15
TP0, TP1 = TP("t", 0), TP("t", 1)
OUT = ROOT / "benchmarks" / "results" / "consumer_overhead.json"


async def per_message_us(faust_own: bool) -> float:
    kafka = FakeKafka({TP0: fetch_of(TP0, range(N // 2)), TP1: fetch_of(TP1, range(N // 2))},
                      {TP0: 0, TP1: 0})
    consumer = fake_consumer(kafka)
    fetch = (faust_consumer.Consumer.getmany(consumer, 0.1) if faust_own
             else consumer.getmany(0.1))
    started, n = time.perf_counter(), 0
    async for _ in fetch:
        n += 1
    elapsed = time.perf_counter() - started
    assert n == N
    return elapsed / N * 1e6


def main() -> int:
    faust_us, ours_us = [], []
    for _ in range(RUNS):
        faust_us.append(asyncio.run(per_message_us(True)))
        ours_us.append(asyncio.run(per_message_us(False)))
    f, o = statistics.median(faust_us), statistics.median(ours_us)
    result = {"messages": N, "runs": RUNS, "faust_us_per_message": f,
              "streamer_us_per_message": o, "added_us_per_message": o - f,
              "faust_runs": faust_us, "streamer_runs": ours_us}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2))
    print(f"getmany: Faust {f:.2f} us/message ({min(faust_us):.2f}-{max(faust_us):.2f}), "
          f"streamer {o:.2f} ({min(ours_us):.2f}-{max(ours_us):.2f}); added {o - f:+.2f} us "
          f"(medians of {RUNS} alternating runs of {N:,} messages) -> {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
