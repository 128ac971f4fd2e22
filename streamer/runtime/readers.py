"""The macro readings and model snapshots every worker needs, read with plain aiokafka
consumers beside Faust's.

* :class:`Broadcast`: every message of a topic on every worker -- a consumer outside any
  group, from the topic's beginning. Faust's GlobalTable was the first choice and was
  dropped: a changelog message arriving while a worker recovers after a rebalance can be
  skipped for good (faust-streaming #283; seen here: a worker never saw offset 1 of
  risk.models), and every rebalance re-reads the whole table. macro.indicators keeps a
  year (topics.yaml) and risk.models is compacted: both are short.
* :class:`Validator`: every message of a topic once across the workers -- a consumer group
  of its own, which sends the invalid ones to the dead-letter topic and commits after
  they are acknowledged. The valid ones are the Broadcast's; a separate group keeps these
  commits out of the workers' own group, so that nothing there waits on them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import mode

from streamer.runtime import topics as t
from streamer.settings import Settings

log = logging.getLogger("streamer.readers")


class Broadcast(mode.Service):
    """Calls `handle(record)` for each message of one topic, in order, from its beginning;
    `caught_up` is set once the end of the topic (as of the first fetch) is reached."""

    def __init__(self, settings: Settings, topic: str,
                 handle: Callable[[Any], Awaitable[None]], fetch_bytes: int = 1024 * 1024,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settings, self.topic, self.handle = settings, t.topic(settings, topic), handle
        self.fetch_bytes = fetch_bytes
        self.caught_up = asyncio.Event()

    @property
    def label(self) -> str:
        return f"Broadcast: {self.topic}"

    @mode.Service.task
    async def _read(self) -> None:
        from aiokafka import AIOKafkaConsumer, TopicPartition
        from aiokafka.admin import AIOKafkaAdminClient

        options = t.client_options(self.settings)
        admin = AIOKafkaAdminClient(**options)
        await admin.start()
        try:
            (meta,) = await admin.describe_topics([self.topic])
        finally:
            await admin.close()
        tps = [TopicPartition(self.topic, p["partition"]) for p in meta["partitions"]]
        consumer = AIOKafkaConsumer(**options, enable_auto_commit=False,
                                    max_partition_fetch_bytes=self.fetch_bytes)
        await consumer.start()
        try:
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            while not self.should_stop:
                batches = await consumer.getmany(timeout_ms=500)
                for records in batches.values():
                    for record in records:
                        try:
                            await self.handle(record)
                        except Exception:  # noqa: BLE001 - one bad message is not fatal
                            log.exception("%s: message at offset %d", self.topic, record.offset)
                if not self.caught_up.is_set() and await _at_end(consumer, tps):
                    self.caught_up.set()
                    log.info("%s read to its end", self.topic)
        finally:
            await consumer.stop()


async def _at_end(consumer: Any, tps: list[Any]) -> bool:
    # The high watermark of a fetch response, not end_offsets(): the embedded broker
    # answers ListOffsets one batch short.
    for tp in tps:
        hw = consumer.highwater(tp)
        if hw is None or await consumer.position(tp) < hw:
            return False
    return True


class Validator(mode.Service):
    """Sends the messages of a topic that `why_invalid` refuses to the dead-letter topic,
    once across the workers (consumer group ``<app id>.<topic>.check``)."""

    def __init__(self, settings: Settings, topic: str,
                 why_invalid: Callable[[Any], str],
                 dead_letters: Callable[[list[tuple[Any, str]]], Awaitable[None]],
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settings, self.topic = settings, t.topic(settings, topic)
        self.group = f"{settings.app_id}.{topic}.check"
        self.why_invalid, self.dead_letters = why_invalid, dead_letters

    @property
    def label(self) -> str:
        return f"Validator: {self.topic}"

    @mode.Service.task
    async def _check(self) -> None:
        from aiokafka import AIOKafkaConsumer
        from aiokafka.errors import KafkaError

        consumer = AIOKafkaConsumer(self.topic, **t.client_options(self.settings),
                                    group_id=self.group, enable_auto_commit=False,
                                    auto_offset_reset="earliest")
        await consumer.start()
        try:
            while not self.should_stop:
                batches = await consumer.getmany(timeout_ms=500)
                bad = [(record, why) for records in batches.values() for record in records
                       if (why := self.why_invalid(record))]
                if bad:
                    await self.dead_letters(bad)  # acknowledged before the commit
                if batches:
                    try:
                        await consumer.commit()
                    except KafkaError as exc:  # a rebalance, the broker away: at least once
                        log.info("%s: commit refused (%r)", self.group, exc)
        finally:
            await consumer.stop()
