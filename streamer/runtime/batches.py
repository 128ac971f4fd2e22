"""What the agents call: a batch of messages in; outputs, state and offsets out, in that order.

For each batch of borrower events (`Runtime.score`):

1. `Offsets.in_order` keeps the events this worker must process now, in offset order
   (records the consumer skipped are read and put first; see `streamer/faust015/offsets.py`);
2. the pipeline turns each into its effects, and an event whose borrower state already
   holds it (processed before a crash or a hand-over) is skipped;
3. the outputs (alerts, scores, training examples, dead letters) are sent and
   *acknowledged by Kafka*;
4. only then are the changed borrower states written to the table and its changelog
   (acknowledged too);
5. only then may the events' offsets be committed (`Offsets.commit`, every second).

A crash anywhere before the commit replays the batch: outputs come again with the same
`alert_id`, and state written before the crash makes the events duplicates. No batch
starts while a rebalance runs, and the batch in flight finishes before the partitions go
(`on_partitions_revoked`), so the partitions' next owner recovers a changelog that no late
write of ours will overtake.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import msgspec

from streamer.core import events as ev
from streamer.core.outputs import TrainingExample
from streamer.core.portfolio import Rebuild
from streamer.core.state import BorrowerState
from streamer.core.trainer import check_example
from streamer.faust015 import tables
from streamer.faust015.offsets import Offsets, RangeReader
from streamer.faust015.producer import BatchProducer
from streamer.pipeline import Pipeline, failed
from streamer.runtime import topics as t
from streamer.runtime.metrics import Metrics
from streamer.runtime.states import BorrowerStates, decode_value
from streamer.settings import Settings

log = logging.getLogger("streamer.runtime")
CHAMPION = b"champion"  # key of the newest snapshot in risk.models


class Runtime:
    """The worker's pipeline, its table, its offsets, and what moves bytes between them."""

    def __init__(self, app: Any, settings: Settings) -> None:
        self.app, self.settings = app, settings
        self.inputs = [t.topic(settings, n) for n in t.INPUT_TOPICS]
        self.states = BorrowerStates(settings.cache_borrowers, self.inputs)
        self.pipeline = Pipeline(settings, states=self.states)
        self.engine = self.pipeline.engine
        self.offsets = Offsets(app, RangeReader(t.client_options(settings), settings.app_id))
        self.producer = BatchProducer(app)
        self.metrics = Metrics(self.pipeline, portfolio=self.states.portfolio,
                               assignment=lambda: tables.active_counts(app),
                               holes=lambda: self.offsets.holes)
        self.table: Any = None  # the borrowers table (create_app; a trainer has none)
        self.role = "worker"  # or "trainer" (create_app)
        self.readers: list[Any] = []  # the Broadcasts scoring waits for (create_app)
        self.batches = 0  # batches scored (the watchdog looks for progress)
        self.stuck = False  # a recovery that nothing moves (the watchdog says so)
        self._lock = asyncio.Lock()  # one batch at a time: the agent's or the watchdog's

    # -- borrower events ----------------------------------------------------------------
    def busy(self) -> bool:
        return self._lock.locked()

    async def score(self, batch: list[Any]) -> None:
        """One batch of the `score` agent (see the module docstring)."""
        async with self._lock:
            await self._score(await self.offsets.in_order(batch))

    async def take(self, waiting: dict[Any, int]) -> None:
        """Read and process each partition's records up to its end offset in `waiting`
        (the watchdog's way to take what the consumer fetched and never delivered)."""
        async with self._lock:
            for tp, end in waiting.items():
                await self._score(await self.offsets.read_to(tp, end))

    async def _score(self, batch: list[Any]) -> None:
        if not batch:
            return
        started = time.perf_counter()
        states, process, outbox = self.states, self.pipeline.process, []
        states.table = self.table
        events = self.metrics.events
        for event in batch:
            msg = event.message
            states.event = event
            if states.holds(msg):  # processed before a crash or hand-over: outputs went out
                events[(msg.topic, "unknown", "duplicate")] += 1
                continue
            if not msg.key:  # a null key put the event on a random partition, where its
                # borrower's state is not: processing it there would fork that state
                fx = failed(msg.topic, msg.partition, msg.offset, msg.value, ValueError(
                    "no message key (borrower events are keyed by borrower_id)"), "invalid")
            else:
                fx = process(msg.value, msg.topic, msg.partition, msg.offset)
            self._record(msg.topic, fx)
            outbox.extend(self.pipeline.outputs(fx, msg.key))
        states.event = None
        await self._send(outbox)  # every output acknowledged by Kafka ...
        await self._persist()  # ... before the state that produced them ...
        self.offsets.made_durable(batch)  # ... before their offsets may be committed
        now = time.time()
        observe, positions = self.metrics.latency.observe, self.metrics.positions
        for event in batch:
            msg = event.message
            observe(max(0.0, now - msg.timestamp))
            if msg.offset >= positions.get((msg.topic, msg.partition), -1):
                positions[(msg.topic, msg.partition)] = msg.offset
        self.metrics.batch_seconds.observe(time.perf_counter() - started)
        self.batches += 1

    def _record(self, topic: str, fx: Any) -> None:
        self.metrics.record(topic, fx)
        if fx.deadletter is not None:
            self.metrics.deadletters[topic] += 1

    async def _send(self, outputs: list[tuple[str, bytes | None, bytes]]) -> None:
        """Produce (contract topic, key, value) records; returns once all are acknowledged."""
        settings = self.settings
        await self.producer.produce([(t.topic(settings, topic), key, value, None)
                                     for topic, key, value in outputs])

    async def _persist(self) -> None:
        """Write the batch's borrower states to the table and its changelog (acknowledged)."""
        table = self.table
        writes = self.states.persist()
        if not writes:
            return
        changelog = tables.changelog(table)
        newest = await self.producer.produce(
            [(changelog, k, v, e.message.partition) for k, v, e in writes])
        tables.mark_persisted(self.app, table, newest)

    # -- labeled examples: train on one partition, score everywhere ----------------------
    async def learn(self, batch: list[Any]) -> None:
        """One batch of the `train` agent: learn each example; publish due snapshots."""
        for event in await self.offsets.in_order(batch):
            msg = event.message
            try:
                example = msgspec.json.decode(msg.value, type=TrainingExample)
                check_example(example)
            except (msgspec.DecodeError, TypeError, ValueError) as exc:
                fx = failed(msg.topic, msg.partition, msg.offset, msg.value, exc, "invalid")
                self._record(msg.topic, fx)
                await self._send(self.pipeline.outputs(fx, msg.key))
                self.offsets.made_durable([event])
                continue
            self.metrics.events[(msg.topic, "training_example", "ok")] += 1
            self.metrics.training_examples += 1
            blob = self.pipeline.learn(example)
            if blob is not None:
                models = t.topic(self.settings, t.MODELS)
                await self.producer.produce([(models, CHAMPION, blob, None)])
            self.offsets.made_durable([event])

    async def on_model(self, record: Any) -> None:
        """A snapshot on risk.models (Broadcast): verify, swap if newer; refuse and count."""
        if record.value and not self.pipeline.load_snapshot(record.value):
            log.warning("refused the model snapshot at %s offset %d: unsigned or tampered",
                        record.topic, record.offset)

    # -- macro indicators: every worker applies every reading ----------------------------
    @staticmethod
    def macro_problem(record: Any) -> str:
        """Why a message of macro.indicators is not a valid reading ("" if it is one)."""
        try:
            reading = ev.decode(record.value)
        except ev.InvalidEvent as exc:
            return str(exc)
        if not isinstance(reading, ev.MacroIndicator):
            return f"{reading.__struct_config__.tag} events do not belong on macro.indicators"
        return ""

    async def on_macro(self, record: Any) -> None:
        """A reading from macro.indicators (Broadcast): into this worker's context."""
        if not self.macro_problem(record):
            fx = self.pipeline.process(record.value, record.topic, record.partition,
                                       record.offset)
            self.metrics.events[(record.topic, fx.event_type, fx.outcome)] += 1

    async def dead_letters(self, bad: list[tuple[Any, str]]) -> None:
        """Invalid macro readings (the Validator's) -> one dead letter each, acknowledged."""
        outputs = []
        for record, why in bad:
            fx = failed(record.topic, record.partition, record.offset, record.value,
                        ValueError(why), "invalid")
            self._record(record.topic, fx)
            outputs.extend(self.pipeline.outputs(fx, record.key))
        await self._send(outputs)

    async def caught_up(self) -> None:
        """Until every broadcast topic has been read to its end once."""
        for reader in self.readers:
            await reader.caught_up.wait()

    # -- rebalancing ---------------------------------------------------------------------
    async def on_partitions_revoked(self, app: Any, revoked: set, **_: Any) -> None:
        """Finish the batch in flight and commit it before the partitions go; forget
        decoded state. Its events may be read again by the next owner, which recognises
        them by the borrowers' state (`BorrowerStates.holds`)."""
        try:
            await asyncio.wait_for(self._lock.acquire(), self.settings.session_timeout_s * 0.5)
        except asyncio.TimeoutError:
            log.warning("a batch was still in flight when the partitions were revoked")
        else:
            self._lock.release()
        try:
            await asyncio.wait_for(self.offsets.commit(), self.settings.session_timeout_s * 0.3)
        except asyncio.TimeoutError:
            log.info("the commit at the revocation did not finish in time")
        if self.table is not None:
            self.states.forget()
            changelog = tables.changelog(self.table)
            self.states.portfolio.revoke(tp.partition for tp in revoked
                                         if tp.topic == changelog)
            self.engine.context.set_portfolio(self.states.portfolio.groups())
        if any(tp.topic == t.topic(self.settings, t.TRAINING) for tp in revoked):
            self.pipeline.stop_training()  # the partition's next owner resumes from a snapshot

    async def on_recovered(self) -> None:
        """Table recovery done: rebuild the portfolio of the active partitions from the table.

        Runs before Faust ends the rebalance (no batch starts meanwhile) and yields to the
        loop every 1,000 borrowers (~15 ms) so that heartbeats go on. A key's partition is
        Kafka's default partitioner's (murmur2), the one the inputs are keyed by: a memory
        store can still hold keys of partitions it no longer owns.
        """
        generation = self.app.consumer_generation_id
        active = tables.active_partitions(self.app, tables.changelog(self.table))
        n = self.settings.partitions
        fresh = Rebuild(active)
        for i, (key, value) in enumerate(tables.items(self.table)):
            partition = t.default_partition(key, n)
            if partition in active:
                fresh.add(partition, BorrowerState.loads(decode_value(value)[1]))
            if i % 1000 == 999:
                await asyncio.sleep(0)
        if self.app.consumer_generation_id != generation:
            return  # rebalanced again: the next recovery rebuilds
        self.states.portfolio.install(fresh)
        self.engine.context.set_portfolio(self.states.portfolio.groups())

    # -- probes ----------------------------------------------------------------------------
    def ready(self) -> bool:
        app = self.app
        return (not app.should_stop and app.tables.recovery.completed.is_set()
                and not app.rebalancing and bool(app.consumer.assignment())
                and all(r.caught_up.is_set() for r in self.readers))

    def healthy(self) -> bool:
        return not self.app.should_stop and not self.stuck
