"""The worker's own account of the offsets it consumes in the group: what it processed, in
order, and what it commits.

Faust 0.15.3 commits what its streams acked, and after a rebalance that bookkeeping fails
three ways: a commit stays behind offsets right after it that were processed but never
acked (`Consumer._new_offset`, robinhood/faust#625, #559, faust-streaming #596: seen in CI
as a group whose lag never reached 0 after a hand-over); a commit jumps over an unacked
head (#606); a failed commit is recorded as done (#316). And its consumer can deliver
records past ones it skipped after a rebalance, which the stream then takes for a gap and
counts as acked. So the worker acks nothing to Faust (which then commits nothing) and
keeps the account itself, per partition and consumer generation:

* the first offset expected in a generation is the group's committed one (where Faust's
  seek puts the consumer; the log's start when there is no commit), then one past each
  message taken;
* a message of an older generation, of a partition no longer assigned, or taken while a
  rebalance runs is dropped: whoever owns the partition reads it again from the commit;
* a message behind the expected offset was taken already (delivered again after a seek):
  skipped;
* a message ahead of it means records were skipped: they are read here with a consumer of
  our own (:class:`RangeReader`) and processed first -- nothing is lost, and a record
  already processed before a crash is recognised by the borrower's state;
* once a batch's outputs and state are durable its offsets may be committed; `commit`
  (every second, and when partitions are revoked) commits them. A refused commit only
  means the next owner reads a little more again.

The guard can go when Faust commits exactly the acked prefix of each partition and never
skips records after a rebalance (then `stream.ack` is enough). Reproduced by
tests/unit/test_offsets.py (the rules, with a fake consumer) and by the hand-over tests
of tests/integration/test_runtime.py (a real broker, a killed worker, the group's lag).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Callable, Iterable

from faust.types import TP

from streamer.faust015.consumer import commit as commit_offsets

log = logging.getLogger("streamer.offsets")
READ_ATTEMPT_S = 20.0  # RangeReader: one attempt, with a consumer of its own
GIVE_UP_S = 300.0  # RangeReader: attempts go on this long (a broker restart), then it fails
RETRY_FIRST_S, RETRY_MAX_S = 0.5, 30.0  # pauses between attempts: doubling, capped


class Record:
    """A message read by :class:`RangeReader`: what the runtime reads of a Faust message."""

    __slots__ = ("topic", "partition", "offset", "key", "value", "timestamp", "tp",
                 "generation_id", "__weakref__")

    def __init__(self, record: Any, generation: int) -> None:
        self.topic, self.partition, self.offset = record.topic, record.partition, record.offset
        self.key, self.value = record.key, record.value
        self.timestamp = record.timestamp / 1000.0
        self.tp = TP(record.topic, record.partition)
        self.generation_id = generation


class Refetched:
    """An event of a :class:`Record`, processed like a stream's event (Faust's tables read
    the message of the event they act for)."""

    __slots__ = ("message", "__weakref__")

    def __init__(self, message: Record) -> None:
        self.message = message


class RangeReader:
    """Reads ranges of partitions, and the group's commits, with consumers of its own.

    One call at a time (the scoring and training agents share it): a client is created,
    started, used and, after a failure, replaced by one caller only. A failed attempt is
    tried again with a new client after a growing pause, for up to `GIVE_UP_S`: a broker
    that is away for a while (a restart) only pauses the agent. After that the error goes
    up, the agent crashes and the worker restarts from its commit, which loses nothing.
    """

    def __init__(self, client_options: dict[str, Any], group_id: str) -> None:
        self.options, self.group_id = client_options, group_id
        self._reader: Any = None
        self._offsets: Any = None  # a consumer of the group's name that never joins it
        self._lock = asyncio.Lock()

    async def read(self, tp: Any, start: int, end: int, generation: int) -> list[Refetched]:
        """Records [start, end) of one partition (fewer where the log has none)."""
        label = f"{tp.topic}[{tp.partition}]"
        started = time.monotonic()
        async with self._lock:
            out = await self._retried(f"read {label} {start}..{end - 1}", "_reader",
                                      lambda: self._read_once(tp, start, end))
        log.info("%s: read %d records of offsets %d..%d in %.2f s", label, len(out), start,
                 end - 1, time.monotonic() - started)
        return [Refetched(Record(r, generation)) for r in out]

    async def committed(self, tp: Any) -> int:
        """The group's committed offset of a partition, or its first offset if none."""
        async with self._lock:
            return await self._retried(f"read the group's commit of {tp.topic}[{tp.partition}]",
                                       "_offsets", lambda: self._committed_once(tp))

    async def _retried(self, what: str, client: str, once: Callable[[], Any]) -> Any:
        """`once()` within READ_ATTEMPT_S, tried again with a new `client` until it works
        or GIVE_UP_S have passed."""
        started, attempt = time.monotonic(), 0
        while True:
            attempt += 1
            try:
                return await asyncio.wait_for(once(), READ_ATTEMPT_S)
            except Exception as exc:  # noqa: BLE001 - tried again with a new consumer
                log.warning("could not %s (attempt %d): %r", what, attempt, exc)
                stale = getattr(self, client)
                setattr(self, client, None)
                if stale is not None:
                    await stale.stop()
                if time.monotonic() - started >= GIVE_UP_S:
                    raise RuntimeError(f"could not {what}") from exc
            await asyncio.sleep(min(RETRY_MAX_S, RETRY_FIRST_S * 2 ** (attempt - 1)))

    async def _read_once(self, tp: Any, start: int, end: int) -> list[Any]:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        if self._reader is None:
            self._reader = await _started(AIOKafkaConsumer(
                **self.options, enable_auto_commit=False, auto_offset_reset="earliest"))
        reader, ktp = self._reader, TopicPartition(tp.topic, tp.partition)
        reader.assign([ktp])
        reader.seek(ktp, start)
        out: list[Any] = []
        while await reader.position(ktp) < end:
            for records in (await reader.getmany(ktp, timeout_ms=1000)).values():
                out.extend(r for r in records if start <= r.offset < end)
        return out

    async def _committed_once(self, tp: Any) -> int:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        if self._offsets is None:
            self._offsets = await _started(AIOKafkaConsumer(
                **self.options, group_id=self.group_id, enable_auto_commit=False))
        ktp = TopicPartition(tp.topic, tp.partition)
        committed = await self._offsets.committed(ktp)
        if committed is not None and committed >= 0:
            return committed
        return (await self._offsets.beginning_offsets([ktp]))[ktp]

    async def stop(self) -> None:
        async with self._lock:
            for client in (self._reader, self._offsets):
                if client is not None:
                    await client.stop()
            self._reader = self._offsets = None


async def _started(client: Any) -> Any:
    """`client`, started; stopped again if it cannot start in time."""
    try:
        await asyncio.wait_for(client.start(), READ_ATTEMPT_S)
    except BaseException:
        await client.stop()
        raise
    return client


class Offsets:
    """Per partition of the current generation: the next offset expected, the offsets
    durable, the offsets committed (see the module docstring)."""

    def __init__(self, app: Any, reader: RangeReader) -> None:
        self.app, self.reader = app, reader
        self.generation: int | None = None
        self.expected: dict[Any, int] = {}
        self.durable: dict[Any, int] = {}
        self.committed: dict[Any, int] = {}
        self.holes = 0  # runs of offsets the consumer skipped, read here
        self.dropped = 0  # messages of an older generation or a revoked partition
        self.repeated = 0  # messages delivered again within a generation
        self.on_hole: Callable[[], None] = lambda: None

    def _current(self) -> int:
        generation = self.app.consumer_generation_id
        if generation != self.generation:
            self.generation = generation
            self.expected, self.durable, self.committed = {}, {}, {}
        return generation

    async def start_of(self, tp: Any) -> int:
        """The first offset this generation must process of `tp`."""
        self._current()
        expected = self.expected.get(tp)
        if expected is None:
            expected = await self.reader.committed(tp)
        return expected

    async def in_order(self, batch: Iterable[Any]) -> list[Any]:
        """The batch's events this worker must process now, in offset order, with any
        records the consumer skipped read and put first."""
        generation = self._current()
        if self.app.rebalancing:
            self.dropped += sum(1 for _ in batch)
            return []
        assigned = self.app.consumer.assignment()
        out: list[Any] = []
        app = self.app
        for event in batch:
            msg = event.message
            tp = msg.tp
            if (msg.generation_id != generation or tp not in assigned or app.rebalancing
                    or app.consumer_generation_id != generation):  # (a rebalance meanwhile)
                self.dropped += 1
                continue
            expected = self.expected.get(tp)
            if expected is None:
                expected = await self.start_of(tp)
                if app.consumer_generation_id != generation:
                    self.dropped += 1
                    continue
            offset = msg.offset
            if offset < expected:
                self.repeated += 1
                continue
            if offset > expected:
                log.warning("%s[%d]: offsets %d..%d were skipped by the consumer; reading them",
                            msg.topic, msg.partition, expected, offset - 1)
                self.holes += 1
                self.on_hole()
                out.extend(await self.reader.read(tp, expected, offset, generation))
            self.expected[tp] = offset + 1
            out.append(event)
        return out

    async def read_to(self, tp: Any, end: int) -> list[Any]:
        """The records of `tp` from the next one expected up to `end` (the watchdog's way to
        take what the consumer fetched and never delivered); they count as taken."""
        generation = self._current()
        start = await self.start_of(tp)
        if end <= start or self.generation != generation:
            return []
        out = await self.reader.read(tp, start, end, generation)
        if self.generation == generation:
            self.expected[tp] = max(self.expected.get(tp, start), end)
        return out

    def made_durable(self, events: Iterable[Any]) -> None:
        """The events' outputs and state are durable: their offsets may be committed."""
        generation, durable = self.generation, self.durable
        for event in events:
            msg = event.message
            if msg.generation_id == generation and msg.offset + 1 > durable.get(msg.tp, 0):
                durable[msg.tp] = msg.offset + 1

    async def commit(self) -> bool:
        """Commit the durable offsets not committed yet (False: nothing, or refused)."""
        self._current()
        changed = {tp: o for tp, o in self.durable.items() if self.committed.get(tp) != o}
        if not changed:
            return False
        generation = self.generation
        ok = await commit_offsets(self.app.consumer, changed)
        if ok and self.generation == generation:
            self.committed.update(changed)
        return ok
