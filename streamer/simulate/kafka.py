"""The simulator's Kafka output: a portfolio's events produced to the input topics, paced.

Each `(topic, key, event)` of ``Simulation.events()`` becomes one message: the key is the
borrower id (or ``scope:scope_id`` on macro.indicators), UTF-8; the value the event as
compact JSON. Keys go through Kafka's default (murmur2) partitioner, the one the workers'
co-partitioning relies on. ``rate`` paces the stream to that many events per second of
wall clock (the simulated clock runs as fast as that makes it: a year of a 1,000-borrower
portfolio is ~150,000 events); ``rate=None`` produces as fast as the broker takes them.

    async with Producer(client_options) as p:
        await p.produce(generate("baseline", 1000, 365).events(), rate=2000)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from typing import Any

import msgspec

Item = tuple[str, str, dict]
PACE_EVERY = 50  # events between two checks of the pace
CHECK_EVERY = 5000  # events between two checks that earlier sends were acknowledged


class Progress:
    """Counts of a running production, for a progress line."""

    def __init__(self) -> None:
        self.sent = 0
        self.started = time.monotonic()
        self.last_ts = ""  # event time of the newest event sent

    @property
    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.sent / elapsed if elapsed > 0 else 0.0


class Producer:
    """An aiokafka producer for simulated events (acks=all, small linger)."""

    def __init__(self, client_options: dict[str, Any], prefix: str = "",
                 linger_ms: int = 5) -> None:
        from aiokafka import AIOKafkaProducer

        self.prefix = prefix
        self._producer = AIOKafkaProducer(**client_options, acks="all", linger_ms=linger_ms,
                                          max_batch_size=256 * 1024)
        self.progress = Progress()

    async def __aenter__(self) -> Producer:
        await self._producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._producer.stop()

    async def produce(self, items: Iterable[Item], rate: float | None = None,
                      stop: asyncio.Event | None = None, limit: int | None = None,
                      on_progress: Callable[[Progress], None] | None = None,
                      progress_every: float = 0.5) -> int:
        """Produce items (paced to `rate` events/s) until exhausted, `stop` or `limit`.

        Returns the number produced; every one of them is acknowledged when it returns.
        """
        send, prefix, dumps = self._producer.send, self.prefix, msgspec.json.encode
        progress = self.progress
        started = time.monotonic()
        next_report = started + progress_every
        pending: list[asyncio.Future] = []
        count = 0
        for topic, key, event in items:
            if limit is not None and count >= limit:
                break
            pending.append(await send(prefix + topic, dumps(event), key=key.encode()))
            count += 1
            progress.sent += 1
            if count % PACE_EVERY == 0:
                progress.last_ts = event.get("ts", progress.last_ts)
                if stop is not None and stop.is_set():
                    break
                if rate:
                    ahead = started + count / rate - time.monotonic()
                    if ahead > 0:
                        await asyncio.sleep(ahead)
                if on_progress is not None and time.monotonic() >= next_report:
                    next_report = time.monotonic() + progress_every
                    on_progress(progress)
            if len(pending) >= CHECK_EVERY:
                await _check(pending)
        await self._producer.flush()
        await _check(pending)
        if on_progress is not None:
            on_progress(progress)
        return count


async def _check(pending: list[asyncio.Future]) -> None:
    """Raise the first delivery error among earlier sends (then forget them)."""
    done = await asyncio.gather(*pending, return_exceptions=True)
    pending.clear()
    for result in done:
        if isinstance(result, BaseException):
            raise result


async def produce(items: Iterable[Item], client_options: dict[str, Any], prefix: str = "",
                  rate: float | None = None, **kwargs: Any) -> int:
    """One-shot: produce `items` and return how many."""
    async with Producer(client_options, prefix) as p:
        return await p.produce(items, rate=rate, **kwargs)
