"""Records sent through the aiokafka producer under Faust, as batches, awaited until Kafka
acknowledged every one of them.

The worker commits an offset only after the outputs and state of its events are
acknowledged. Faust's own path does not give that: its buffer flush gives up after 0.1 s
without progress, and a failed delivery does not stop its commit. So records go straight to
the aiokafka producer Faust created (`Producer._ensure_producer`, private), one
`send_batch` per partition: a send per record costs ~30 us of the producer's Python, a
record appended to a batch ~4 us.

Can go when Faust's producer exposes an awaited batch send. Reproduced by every
integration test that reads outputs back (tests/integration/test_runtime.py) and by the
broker-outage scenario (tests/reliability/test_broker_outage.py: sends retried until the
broker is back, nothing lost).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from streamer.runtime.topics import default_partition

log = logging.getLogger("streamer.producer")
RETRY_MAX_S = 30.0

Record = tuple[str, "bytes | None", bytes, "int | None"]  # topic, key, value, partition


class BatchProducer:
    """Sends records as acknowledged batches through Faust's aiokafka producer."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._partitions: dict[str, list[int]] = {}  # topic -> its partitions

    async def produce(self, records: list[Record]) -> dict[Any, int]:
        """Send (topic, key, value, partition) records; retry any that fail until none does.

        Returns the newest acknowledged offset of each topic-partition written. A partition
        of None is chosen as Kafka's default partitioner does (murmur2 of the key). Giving
        up would mean committing offsets whose outputs are lost, so a broker that keeps
        refusing stalls the agent (lag and /readyz show it) instead.
        """
        producer = self.app.producer._ensure_producer()
        newest: dict[Any, int] = {}
        attempt = 0
        while records:
            by_partition: dict[tuple[str, int], list[Record]] = {}
            for record in records:
                topic, key, _value, partition = record
                if partition is None:
                    partition = await self._partition_of(producer, topic, key)
                by_partition.setdefault((topic, partition), []).append(record)
            sends: list[tuple[list[Record], Any]] = []  # (records of one batch, its future)
            for (topic, partition), group in by_partition.items():
                batch, members = producer.create_batch(), []
                for record in group:
                    if batch.append(key=record[1], value=record[2], timestamp=None) is None:
                        sends.append((members, await _send(producer, batch, topic, partition)))
                        batch, members = producer.create_batch(), []
                        batch.append(key=record[1], value=record[2], timestamp=None)
                    members.append(record)
                sends.append((members, await _send(producer, batch, topic, partition)))
            results = await asyncio.gather(*(f for _, f in sends), return_exceptions=True)
            failed: list[Record] = []
            error: BaseException | None = None
            for (members, _), md in zip(sends, results):
                if isinstance(md, BaseException):
                    failed.extend(members)
                    error = md
                else:
                    last = md.offset + len(members) - 1
                    newest[md.topic_partition] = max(last, newest.get(md.topic_partition, -1))
            if failed:
                attempt += 1
                log.warning("%d of %d messages not acknowledged (%r); retry %d",
                            len(failed), len(records), error, attempt)
                await asyncio.sleep(min(RETRY_MAX_S, 0.2 * 2 ** attempt))
            records = failed
        return newest

    async def _partition_of(self, producer: Any, topic: str, key: bytes | None) -> int:
        parts = self._partitions.get(topic)
        if parts is None:
            parts = self._partitions[topic] = sorted(await producer.partitions_for(topic))
        if key is None:
            return parts[0]
        return parts[default_partition(key, len(parts))]


async def _send(producer: Any, batch: Any, topic: str, partition: int) -> Any:
    try:
        return await producer.send_batch(batch, topic, partition=partition)
    except Exception as exc:  # noqa: BLE001 - retried by produce
        fut = asyncio.get_running_loop().create_future()
        fut.set_exception(exc)
        return fut
