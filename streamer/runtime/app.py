"""The Faust shell around the functional core: topics, tables and agents, nothing else.

```
 credit.accounts ──────┐
 credit.repayments ────┤                 borrowers (Table: bytes + changelog)
 credit.transactions ──┼─► score ─► Engine.process_raw ─► risk.alerts, risk.scores,
 collections.actions ──┘             ▲        ▲            risk.training, risk.deadletter
 macro.indicators ══ every worker ═══╛ context │
 risk.training ─► train ─► risk.models ══ every worker ══╛ engine.load_snapshot
```
(─ a consumer-group agent: each message to one worker; ═ a broadcast: every worker reads
every message.)

Each agent is a few lines; what they call lives in :class:`Runtime` below, and everything
from "bytes" to "alert" lives in `streamer.core.engine` (no Kafka there).

Guarantees, and how:

* **At least once, no alert lost.** The scoring agent takes events in batches without
  acking them (`noack_take`). For a batch: the engine runs; its outputs are produced and
  *acknowledged by Kafka* (retried until they are); only then is the changed borrower state
  written to the table and its changelog (acknowledged too); only then are the events
  acked, which is what lets Faust commit their offsets. A crash anywhere before the ack
  replays the batch: outputs come again with the same `alert_id`, and state written
  before the crash makes the engine skip the events as duplicates (their outputs were
  already acknowledged). Faust's own commit path (producer flush, then commit) is not
  relied on alone: its buffer flush gives up after 0.1 s without progress and a failed
  delivery does not stop the commit.
* **Rebalances** (a worker joins or leaves): no batch starts while one runs, the batch in
  flight finishes before the partitions go (Runtime.on_partitions_revoked), and nothing is
  acked across it. Faust 0.15.3 needs three guards here, each explained where it lives:
  a partition's offsets must follow on without a hole (`Runtime.in_order`: its consumer
  can skip records after a rebalance and mark them acked), repeated acked offsets are
  removed (`Runtime.repair_acks`: else commits crawl), and events processed twice are
  recognised by per-borrower offsets stored with the state (`BorrowerStates.holds`).
* **A poison message never stops an agent:** the engine turns it into a dead letter; an
  unexpected exception on one message does too. Anything else (a broker that keeps
  refusing our writes) crashes the worker (`CrashingSupervisor`) so that it restarts from
  its last commit instead of carrying on with a hole.
* **Borrower state** is stored as `BorrowerState.dumps()` bytes (see :class:`BorrowerStates`).
* **Every worker reads every macro reading and every model snapshot** (:class:`Broadcast`:
  a consumer outside the group, from the beginning of the topic). Faust's GlobalTable was
  the first choice and was dropped: a changelog message that arrives while a worker
  recovers after a rebalance can be skipped for good (seen on Apache Kafka: a worker
  never saw offset 1 of risk.models), and each rebalance re-reads the whole table.
  macro.indicators keeps a year (topics.yaml), risk.models is compacted: both are short.
  Scoring starts once both are read to their end. The `macro` agent (in the group) only
  sends invalid readings to the dead-letter topic, once.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Iterator, MutableMapping
from contextlib import asynccontextmanager, contextmanager
from itertools import islice
from typing import Any

import faust
import mode
import msgspec
from faust.streams import _current_event  # the stream's "current event" (see acting_for)
from mode.utils.tracebacks import format_task_stack

from streamer.core import events as ev
from streamer.runtime import topics as t
from streamer.faust015.consumer import install as install_consumer
from streamer.faust015.consumer import kafka_state
from streamer.core.engine import Effects, Engine
from streamer.runtime.metrics import Metrics
from streamer.core.outputs import TrainingExample, encode
from streamer.core.portfolio import Portfolio, Rebuild
from streamer.core.privacy import dead_letter
from streamer.settings import Settings
from streamer.core.state import BorrowerState
from streamer.core.trainer import Trainer

log = logging.getLogger("streamer.runtime.app")

CHAMPION = b"champion"  # key of the newest snapshot in risk.models
RETRY_MAX_S = 30.0
HOLE_ATTEMPTS, HOLE_ATTEMPT_S = 4, 20.0  # Runtime._read_range: a new consumer per attempt
STALL_CHECK_S = 5.0  # Runtime.check_progress: a stall is seen 5-10 s after the last batch
# Runtime.check_recovery: a recovery still standing this long after its changelogs were
# sought again makes /healthz fail, so that the orchestrator restarts the worker
RECOVERY_STUCK_S = 300.0
# Faust's RocksDB defaults are sized for a dedicated host: a 2 GiB block cache and up to
# 3 x 64 MiB of memtables per partition's database. A worker's hot borrowers are in its
# decoded cache already, and a miss reads through the OS page cache, so RocksDB gets
# little memory: at 100,000 borrowers 405 B resident per borrower, 908 B with 8 MiB
# memtables and a 32 MiB block cache (benchmarks/memory.py).
ROCKSDB_OPTIONS: dict[str, Any] = dict(write_buffer_size=4 * 2**20, max_write_buffer_number=2,
                                       block_cache_size=8 * 2**20,
                                       block_cache_compressed_size=0)
RAW: dict[str, Any] = dict(key_type=bytes, value_type=bytes, key_serializer="raw",
                           value_serializer="raw")  # bytes in, bytes out: the engine decodes


def create_app(settings: Settings, metrics: Metrics | None = None) -> faust.App:
    """The worker's Faust app; its :class:`Runtime` is ``app.streamer``."""
    app = faust.App(settings.app_id, **faust_settings(settings))
    # Faust's fetch loop without four tasks per message (consumer.py)
    install_consumer(app, fast_path=settings.drain_fast_path == "on")
    rt = app.streamer = Runtime(app, settings, metrics or Metrics())

    def raw_topic(*names: str) -> faust.TopicT:
        return app.topic(*(t.topic(settings, n) for n in names), **RAW)

    inputs = raw_topic(*t.INPUT_TOPICS)
    rt.borrowers = app.Table(t.BORROWERS_TABLE, key_type=bytes, value_type=bytes,
                             partitions=settings.partitions, on_recover=rt.on_recovered,
                             options=dict(ROCKSDB_OPTIONS))  # Faust's store pops from it
    app.monitor = rt.metrics.faust_monitor()
    rt.readers = [Broadcast(settings, t.MACRO_TOPIC, rt.on_macro),
                  Broadcast(settings, t.MODELS, rt.on_model, fetch_bytes=t.MODEL_MAX_BYTES)]
    for service in (*rt.readers, Resources(rt)):
        app.service(service)

    @app.agent(inputs, name="score")
    async def score(stream: faust.StreamT) -> None:
        """Borrower events -> engine -> outputs; acked once outputs and state are durable."""
        await rt.caught_up()
        async for batch in stream.noack_take(settings.batch_max, within=settings.batch_wait_s):
            if not app.rebalancing:  # else: left unacked, for the partitions' next owner
                async with rt.processing():
                    done = await rt.score(await rt.in_order(batch))
                await rt.ack(stream, done)
                done.clear()
            batch.clear()

    @app.agent(raw_topic(t.MACRO_TOPIC), name="macro")
    async def macro(stream: faust.StreamT) -> None:
        """Invalid macro readings -> risk.deadletter (the valid ones: `Broadcast`)."""
        async for event in stream.events():
            await rt.check_macro(event)

    if settings.training == "on":
        @app.agent(raw_topic(t.TRAINING), name="train")
        async def train(stream: faust.StreamT) -> None:
            """Labeled examples -> trainer -> signed snapshots in risk.models."""
            await rt.caught_up()
            async for event in stream.events():
                await rt.learn(event)

    app.on_partitions_revoked.connect(rt.on_partitions_revoked)

    @app.timer(1.0)
    async def repair_acks() -> None:
        """Keep Faust's commits moving after a rebalance (see Runtime.repair_acks)."""
        rt.repair_acks()

    return app


class Watchdog(mode.Service):
    """`Runtime.check_progress` every `STALL_CHECK_S` from the worker's start.

    A service of the worker's own, not a Faust timer: Faust starts an app's timers once
    its first recovery is done, and a recovery that receives nothing is one of the stalls.
    """

    def __init__(self, runtime: Runtime, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.runtime = runtime

    @mode.Service.timer(STALL_CHECK_S)
    async def _check_progress(self) -> None:
        await self.runtime.check_progress()


def faust_settings(settings: Settings) -> dict[str, Any]:
    """Faust's configuration, all of it derived from streamer's settings."""
    session = settings.session_timeout_s
    return dict(
        broker=[f"kafka://{s.strip()}" for s in settings.bootstrap_servers.split(",")],
        broker_credentials=credentials(settings),
        processing_guarantee=settings.processing_guarantee,
        store=settings.store,
        datadir=settings.data_dir,
        topic_partitions=settings.partitions,
        # `streamer topics apply` creates every topic, changelogs included
        topic_allow_declare=False,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=session,
        broker_heartbeat_interval=min(3.0, session / 3),
        broker_rebalance_timeout=max(session, 30.0),
        producer_acks=-1,
        producer_max_request_size=t.MODEL_MAX_BYTES,
        producer_linger=0.005,
        agent_supervisor=mode.CrashingSupervisor,
        web_enabled=settings.web_port != 0,
        web_bind=settings.web_host,
        web_host=settings.web_host,
        web_port=settings.web_port or 6066,
        # The worker waits for its batch in flight itself (Runtime.on_partitions_revoked):
        # Faust's wait for every delivered event to be acked can hang a rebalance.
        stream_wait_empty=False,
        # these would serve borrower state and the cluster's layout to anyone
        web_tables_enabled=False,
        web_router_enabled=False,
        web_graph_enabled=False,
        web_stats_enabled=False,
        web_metrics_enabled=False,
        autodiscover=False,
    )


def credentials(settings: Settings) -> faust.auth.Credentials | None:
    protocol = settings.security_protocol
    if protocol == "SSL":
        return faust.SSLCredentials(t.ssl_context(settings))
    if protocol.startswith("SASL"):
        return faust.SASLCredentials(
            username=settings.sasl_username, password=settings.sasl_password,
            mechanism=settings.sasl_mechanism,
            ssl_context=t.ssl_context(settings) if protocol == "SASL_SSL" else None)
    return None


@contextmanager
def acting_for(event: faust.EventT | None) -> Iterator[None]:
    """Make `event` the stream's current event while writing a table outside iteration.

    Faust routes a table write by its current event: the changelog partition and, with
    RocksDB, the partition's database. Batched writes happen after the batch, so each
    is made on behalf of the borrower's own latest event (same partition number).
    """
    if event is None:
        yield
        return
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


class BorrowerStates(MutableMapping[str, BorrowerState]):
    """The engine's view of the `borrowers` table: decoded states over bytes.

    A table value is msgpack ``(offsets, BorrowerState.dumps())``: the state bytes, which
    recovery and standby replicas copy without decoding, and for each input topic the
    offset of the last of the borrower's events the state includes. With those offsets a
    worker that takes over after a crash recognises an event the state already holds
    (written, not yet committed) whatever its age; the engine's own dedupe only remembers a
    borrower's last 64 event ids.

    A bounded cache keeps the decoded states of the borrowers in play; writes stay here
    (dirty) until `persist`, which runs once the batch's outputs are acknowledged: one
    changelog message per borrower per batch. The cache is dropped at every rebalance.
    """

    def __init__(self, limit: int, inputs: list[str]) -> None:
        self.table: Any = None
        self.limit = limit
        self.topic_index = {name: i for i, name in enumerate(inputs)}
        self.live: dict[str, BorrowerState] = {}
        self.offsets: dict[str, dict[int, int]] = {}  # borrower -> {input topic: offset}
        self.dirty: dict[str, faust.EventT] = {}  # borrower -> the event that changed it
        self.event: faust.EventT | None = None  # the event being processed
        self.portfolio = Portfolio()  # aggregates by DPD bucket and tier, per partition

    def __getitem__(self, bid: str) -> BorrowerState:
        s = self.live.get(bid)
        if s is None:
            with acting_for(self.event):
                raw = self.table.get(bid.encode())
            if raw is None:
                raise KeyError(bid)
            offsets, state = _decode_value(raw)
            s = self.live[bid] = BorrowerState.loads(state)
            self.offsets[bid] = offsets
            self.portfolio.loaded(bid, s)
        return s

    def __setitem__(self, bid: str, state: BorrowerState) -> None:
        self.live[bid] = state
        event = self.event
        self.dirty[bid] = event
        if event is not None:
            msg = event.message
            index = self.topic_index.get(msg.topic)
            if index is not None:
                self.offsets.setdefault(bid, {})[index] = msg.offset

    def __delitem__(self, bid: str) -> None:
        raise TypeError("borrower state is never deleted by the engine")

    def __iter__(self) -> Iterator[str]:
        return iter(self.live)

    def __len__(self) -> int:
        return len(self.live)

    def holds(self, msg: Any) -> bool:
        """True if the state of the message's borrower (its key) already includes it."""
        index = self.topic_index.get(msg.topic)
        if msg.key is None or index is None:
            return False
        try:
            bid = msg.key.decode()
            if bid not in self.live and self.get(bid) is None:
                return False
        except (UnicodeDecodeError, ValueError):
            return False
        return msg.offset <= self.offsets.get(bid, {}).get(index, -1)

    def persist(self) -> list[tuple[bytes, bytes, Any]]:
        """Write the dirty states to the table; returns (key, value, event) per write."""
        writes = []
        table = self.table
        for bid, event in self.dirty.items():
            key = bid.encode()
            value = _encode_value((self.offsets.get(bid, {}), self.live[bid].dumps()))
            with acting_for(event):
                table.data[key] = value
            writes.append((key, value, event))
            self.portfolio.persisted(bid, event.message.partition, self.live[bid])
        self.dirty.clear()
        if len(self.live) > self.limit:
            for bid in list(islice(self.live, len(self.live) - int(self.limit * 0.9))):
                del self.live[bid]
                self.offsets.pop(bid, None)
                self.portfolio.evict(bid)
        return writes

    def forget(self) -> None:
        """Drop the decoded cache (nothing is dirty between batches)."""
        self.live.clear()
        self.offsets.clear()
        self.portfolio.forget()


_encode_value = msgspec.msgpack.Encoder().encode
_decode_value = msgspec.msgpack.Decoder(tuple[dict[int, int], bytes]).decode


class Runtime:
    """What the agents call: moves bytes between Kafka, the tables and the engine."""

    def __init__(self, app: faust.App, settings: Settings, metrics: Metrics) -> None:
        self.app, self.settings, self.metrics = app, settings, metrics
        self.states = BorrowerStates(settings.cache_borrowers,
                                     [t.topic(settings, n) for n in t.INPUT_TOPICS])
        self.engine = Engine(settings, states=self.states)
        metrics.engine = self.engine
        metrics.assignment = self.assignment
        metrics.portfolio = self.states.portfolio
        metrics.trainer = lambda: self.trainer
        self.key = settings.model_key_bytes
        self.trainer: Trainer | None = None
        self.champion: bytes | None = None  # the newest verified snapshot
        self.borrowers: Any = None
        self.readers: list[Broadcast] = []
        self._generation: int | None = None
        self._expected: dict[Any, int] = {}  # partition -> next offset (this generation)
        self._reader: Any = None  # a consumer outside the group, for holes
        self._offsets: Any = None  # reads the group's commits (see _committed)
        self._idle = asyncio.Event()
        self._idle.set()
        self.topic = {n: t.topic(settings, n) for n in (t.ALERTS, t.SCORES, t.DEADLETTER,
                                                         t.TRAINING)}
        self._outbox: list[tuple[str, bytes | None, bytes, int | None]] = []
        self._partitions: dict[str, list[int]] = {}  # topic -> its partitions (_produce)
        self._batches = 0  # batches scored (check_progress)
        self._seen_batches = -1
        self._stalled: dict[str, tuple[int, int]] = {}  # check_progress: the last stall seen
        self._recovered: dict[Any, int] | None = None  # check_recovery: offsets at the last check
        self._recovery_stalled: dict[Any, int] | None = None  # ... and at the last seek
        self._recovery_sought_at = 0.0
        self.stuck = False  # a recovery that did not move after its seek (healthy)

    # -- score: one batch of borrower events ------------------------------------------
    async def score(self, batch: list[faust.EventT]) -> list[faust.EventT]:
        """Process a batch; returns it once its outputs and state are durable."""
        started = time.perf_counter()
        states, process, emit = self.states, self.engine.process_raw, self._emit
        states.table = self.borrowers
        events = self.metrics.events
        for event in batch:
            msg = event.message
            states.event = event
            if states.holds(msg):  # processed before a crash or hand-over: outputs went out
                events[(msg.topic, "unknown", "duplicate")] += 1
                continue
            if not msg.key:  # reliability scenario 6: a null key put the event on a random
                # partition, where its borrower's state is not: processing it there would
                # fork that state. The contract keys borrower events by borrower_id.
                emit(msg, _failed(msg, ValueError("no message key (borrower events are keyed "
                                                  "by borrower_id)"), "invalid"))
                continue
            try:
                fx = process(msg.value, msg.topic, msg.partition, msg.offset)
            except Exception as exc:  # noqa: BLE001 - a bug must not stop the stream either
                log.exception("processing %s[%d]@%d failed", msg.topic, msg.partition, msg.offset)
                fx = _failed(msg, exc)
            emit(msg, fx)
        states.event = None
        await self._deliver()  # every output acknowledged by Kafka ...
        await self._persist()  # ... before the state that produced them ...
        now = time.time()  # ... before the events are acked (by the agent)
        observe, positions = self.metrics.latency.observe, self.metrics.positions
        for event in batch:
            msg = event.message
            observe(max(0.0, now - msg.timestamp))
            if msg.offset >= positions.get((msg.topic, msg.partition), -1):
                positions[(msg.topic, msg.partition)] = msg.offset
        self.metrics.batch_seconds.observe(time.perf_counter() - started)
        self._batches += 1
        return batch

    def _emit(self, msg: Any, fx: Effects) -> None:
        self.metrics.record(msg.topic, fx)
        out = self._outbox.append
        if fx.deadletter is not None:
            self.metrics.deadletters[msg.topic] += 1
            out((self.topic[t.DEADLETTER], msg.key, encode(fx.deadletter), None))
            return
        if fx.score is None:
            return  # a duplicate: its outputs went out the first time
        key = fx.score.borrower_id.encode()
        if fx.alert is not None:
            out((self.topic[t.ALERTS], key, encode(fx.alert), None))
        out((self.topic[t.SCORES], key, encode(fx.score), None))
        for example in fx.examples:
            out((self.topic[t.TRAINING], key, encode(example), None))

    async def _deliver(self) -> None:
        """Produce the outbox; return once Kafka acknowledged every message of it."""
        records, self._outbox = self._outbox, []
        await self._produce(records)

    async def _persist(self) -> None:
        """Write the batch's borrower states to the table and its changelog (acknowledged).

        The changelog messages go straight to the producer rather than through Faust's
        table write path, whose buffer cannot be waited for reliably; the bookkeeping
        that path does (the changelog offset a RocksDB store has persisted) is kept.
        """
        table = self.borrowers
        name = table.changelog_topic.get_topic_name()
        writes = self.states.persist()
        newest = await self._produce([(name, k, v, e.message.partition) for k, v, e in writes])
        for tp, offset in newest.items():
            if self.app.in_transaction:
                self.app.tables.persist_offset_on_commit(table.data, tp, offset)
            else:
                table.data.set_persisted_offset(tp, offset)

    async def _produce(self, records: list[tuple[str, bytes | None, bytes, int | None]]
                       ) -> dict[Any, int]:
        """Send (topic, key, value, partition) records; retry any that fail until none does.

        Returns the newest acknowledged offset of each topic-partition written. Records go
        out as one aiokafka batch per partition (`send_batch`): a send per record costs
        ~30 us of the producer's Python, a record appended to a batch ~4 us. A partition of
        None is chosen as Kafka's default partitioner does (murmur2 of the key). Giving up
        would mean committing offsets whose outputs are lost, so a broker that keeps
        refusing stalls the agent (lag and /readyz show it) instead.
        """
        producer = self.app.producer._ensure_producer()  # the aiokafka producer under Faust
        newest: dict[Any, int] = {}
        attempt = 0
        while records:
            by_partition: dict[tuple[str, int], list[tuple[str, bytes | None, bytes, int | None]]] = {}
            for record in records:
                topic, key, _value, partition = record
                if partition is None:
                    partition = await self._partition_of(producer, topic, key)
                by_partition.setdefault((topic, partition), []).append(record)
            sends: list[tuple[list[Any], Any]] = []  # (records of one batch, its future)
            for (topic, partition), group in by_partition.items():
                batch, members = producer.create_batch(), []
                for record in group:
                    if batch.append(key=record[1], value=record[2], timestamp=None) is None:
                        sends.append((members, await self._send_batch(producer, batch, topic,
                                                                      partition)))
                        batch, members = producer.create_batch(), []
                        batch.append(key=record[1], value=record[2], timestamp=None)
                    members.append(record)
                sends.append((members, await self._send_batch(producer, batch, topic, partition)))
            results = await asyncio.gather(*(f for _, f in sends), return_exceptions=True)
            failed: list[Any] = []
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

    @staticmethod
    async def _send_batch(producer: Any, batch: Any, topic: str, partition: int) -> Any:
        try:
            return await producer.send_batch(batch, topic, partition=partition)
        except Exception as exc:  # noqa: BLE001 - retried by _produce
            return _done_with(exc)

    async def _partition_of(self, producer: Any, topic: str, key: bytes | None) -> int:
        parts = self._partitions.get(topic)
        if parts is None:
            parts = self._partitions[topic] = sorted(await producer.partitions_for(topic))
        if key is None:
            return parts[0]
        return parts[t.default_partition(key, len(parts))]

    async def in_order(self, batch: list[faust.EventT]) -> list[Any]:
        """The batch with any hole in a partition's offsets filled, in offset order.

        Faust 0.15.3 can skip records after a rebalance: its consumer thread may still
        deliver records fetched before the seek to the committed offsets, and the stream
        then takes the offsets between the committed one and those records for a gap in
        the log (as compaction makes) and counts them as acked, unread. A seek back does
        not help: its fetch loop drops records behind the newest it has seen. So each
        partition's offsets are checked to follow on from the group's commit (at the start
        of a generation) or from the previous message, and a hole is read here, with a
        consumer of our own, and processed first. Nothing is lost; a record that was in
        fact processed before is recognised by the borrower's state.
        """
        generation = self.app.consumer_generation_id
        if generation != self._generation:
            self._generation, self._expected = generation, {}
        out: list[Any] = []
        for event in batch:
            msg = event.message
            tp = msg.tp
            expected = self._expected.get(tp)
            if expected is None:
                expected = await self._committed(tp)
            if expected is not None and msg.offset > expected:
                log.warning("%s[%d]: offsets %d..%d were skipped by the consumer; reading them",
                            msg.topic, msg.partition, expected, msg.offset - 1)
                self.metrics.holes += 1
                out.extend(await self._read_range(msg.topic, msg.partition, expected, msg.offset))
            if expected is None or msg.offset >= expected:
                self._expected[tp] = msg.offset + 1
            out.append(event)
        return out

    async def _read_range(self, topic: str, partition: int, start: int, end: int) -> list[Any]:
        """Records [start, end) of one partition, as events the runtime can process.

        Each attempt has its own consumer and a time limit: a consumer that makes no
        progress (e.g. stale metadata after a hand-over) is replaced, not waited on.
        """
        started = time.monotonic()
        for attempt in range(1, HOLE_ATTEMPTS + 1):
            try:
                out = await asyncio.wait_for(self._read_once(topic, partition, start, end),
                                             HOLE_ATTEMPT_S)
            except Exception as exc:  # noqa: BLE001 - retried with a new consumer
                log.warning("%s[%d]: reading offsets %d..%d failed (attempt %d of %d): %r",
                            topic, partition, start, end - 1, attempt, HOLE_ATTEMPTS, exc)
                reader, self._reader = self._reader, None
                if reader is not None:
                    await reader.stop()
                continue
            log.info("%s[%d]: read %d records of offsets %d..%d in %.2f s",
                     topic, partition, len(out), start, end - 1, time.monotonic() - started)
            return out
        # the agent crashes and the worker restarts from its last commit: nothing is lost
        raise RuntimeError(f"could not read {topic}[{partition}] {start}..{end - 1}")

    async def _read_once(self, topic: str, partition: int, start: int, end: int) -> list[Any]:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        if self._reader is None:
            self._reader = AIOKafkaConsumer(**t.client_options(self.settings),
                                            enable_auto_commit=False)
            await self._reader.start()
        reader, tp = self._reader, TopicPartition(topic, partition)
        reader.assign([tp])
        reader.seek(tp, start)
        out: list[Any] = []
        while await reader.position(tp) < end:
            for records in (await reader.getmany(tp, timeout_ms=1000)).values():
                out.extend(Refetched(r, self.app.consumer_generation_id)
                           for r in records if start <= r.offset < end)
        return out

    async def _committed(self, tp: Any) -> int | None:
        """The group's committed offset of a partition (its earliest offset if none).

        None when it cannot be learnt: the partition's first message is then taken as
        the start (a hole there goes unnoticed, nothing else changes).
        """
        from aiokafka import AIOKafkaConsumer, TopicPartition

        try:
            if self._offsets is None:
                # a consumer of the group's name that never joins: it only reads commits
                self._offsets = AIOKafkaConsumer(**t.client_options(self.settings),
                                                 group_id=self.settings.app_id,
                                                 enable_auto_commit=False)
                await self._offsets.start()
            committed = await asyncio.wait_for(
                self._offsets.committed(TopicPartition(tp.topic, tp.partition)), HOLE_ATTEMPT_S)
            if committed is not None and committed >= 0:
                return committed
            earliest = await self.app.consumer.earliest_offsets(tp)
            return earliest.get(tp)
        except Exception as exc:  # noqa: BLE001 - a guard must not stop the stream
            log.warning("cannot read the committed offset of %s: %r", tp, exc)
            offsets, self._offsets = self._offsets, None  # the next call starts afresh
            if offsets is not None:
                await offsets.stop()
            return None

    async def check_progress(self) -> None:
        """Unstick a worker whose input waits while nothing is fetched.

        When assigned input partitions hold unprocessed events, the worker is ready and
        idle, and no batch was scored since the last check, the log gets what the consumer
        believes (flow, active/paused/buffered partitions, read offsets, aiokafka's
        positions) and the consumer is sent back to the group's committed offsets.
        """
        batches, self._seen_batches = self._seen_batches, self._batches
        app = self.app
        if app.tables.recovery.in_recovery:
            await self.check_recovery()
            return
        self._recovered = self._recovery_stalled = None
        self.stuck = False
        if batches != self._batches or not self._idle.is_set() or not self.ready():
            return
        consumer = app.consumer
        inputs = set(self.states.topic_index)
        tps = [tp for tp in consumer.assignment() if tp.topic in inputs]
        if not tps:
            return
        try:
            ends = await asyncio.wait_for(consumer.highwaters(*tps), HOLE_ATTEMPT_S)
        except Exception:  # noqa: BLE001 - a diagnostic must not stop the worker
            return
        positions = self.metrics.positions
        behind: dict[str, tuple[int, int]] = {}
        for tp in tps:
            done, last = positions.get((tp.topic, tp.partition), -1), ends.get(tp, 0) - 1
            if last > done:
                behind[f"{tp.topic}[{tp.partition}]"] = (done, last)
        if not behind or behind == self._stalled or not self.ready():  # (a rebalance began)
            # the same offsets after a seek: not a fetch that skipped records (e.g. the
            # log ends in a transaction marker, never delivered); said once is enough
            return
        self._stalled = behind
        self.metrics.stalls += 1
        short = lambda tp: f"{tp.topic.rsplit('.', 1)[-1]}[{tp.partition}]"  # noqa: E731
        part = lambda s: sorted(short(tp) for tp in (s or ()) if tp.topic in inputs)  # noqa: E731
        log.warning("no batch for %.0f s with input waiting (processed, last offset): %s; "
                    "consumer: flow_active=%s can_resume=%s suspend_flow=%s active=%s paused=%s "
                    "buffered=%s read_offsets=%s", STALL_CHECK_S, behind, consumer.flow_active,
                    consumer.can_resume_flow.is_set(), consumer.suspend_flow.is_set(),
                    part(consumer._active_partitions), part(consumer._paused_partitions),
                    part(consumer._buffered_partitions),
                    {short(tp): o for tp, o in consumer._read_offset.items()
                     if tp.topic in inputs})
        log_kafka_positions(consumer, tps, short)
        # Records the consumer fetched but never delivered (Faust drops a fetch whose
        # generation or flow changed while it was handed out) are behind its position,
        # and no later message reveals the hole when they were the partition's last.
        # Reading again from the group's commits delivers them; whatever was processed
        # already is recognised by the borrowers' state.
        log.warning("seeking the input partitions back to the group's committed offsets")
        await consumer.perform_seek()
        # aiokafka seeks only to a commit above 0: a lagging partition the group has not
        # committed yet (e.g. just taken over from a killed worker) would stay where the
        # dropped fetch left it, so it goes back to its start (auto_offset_reset=earliest)
        uncommitted = [tp for tp in tps if f"{tp.topic}[{tp.partition}]" in behind
                       and not consumer._read_offset.get(tp)]
        if uncommitted:
            starts = await consumer.earliest_offsets(*uncommitted)
            for tp in uncommitted:
                await consumer.seek(tp, starts[tp])

    async def check_recovery(self) -> None:
        """Fetch again the changelogs that recovery waits for while nothing arrives.

        Seen in CI after a hand-over with the memory store (recovery reads every changelog
        partition from its start): recovery sought the changelogs, resumed the flow, and no
        changelog event arrived for minutes (Faust: "No event received for active tp ...
        since recovery start"); the worker never became ready. When no changelog offset
        moved in a whole check interval, the log gets what recovery, Faust's consumer and
        aiokafka believe, with the stacks of the fetch loop and of recovery's reader, and
        the waiting partitions are sought back to where recovery stands (as Faust's own
        seek does) and resumed: a record applied twice leaves the same table.
        """
        recovery = self.app.tables.recovery
        read = {tp: o for tp, o in recovery.active_offsets.items() if o is not None}
        waiting = {tp: (read.get(tp, -1), last) for tp, last in recovery.active_highwaters.items()
                   if last is not None and last > read.get(tp, -1)}
        seen, self._recovered = self._recovered, read
        if not waiting or read != seen:
            self.stuck = False
            return  # done, or moving
        if read == self._recovery_stalled:  # sought from these very offsets already
            if (not self.stuck
                    and time.monotonic() - self._recovery_sought_at > RECOVERY_STUCK_S):
                self.stuck = True
                log.error("recovery: no changelog event in the %.0f s since the seek; the "
                          "worker reports itself unhealthy (/healthz) to be restarted",
                          RECOVERY_STUCK_S)
            return
        self._recovery_stalled, self._recovery_sought_at = read, time.monotonic()
        self.metrics.stalls += 1
        consumer = self.app.consumer
        short = lambda tp: f"{tp.topic}[{tp.partition}]"  # noqa: E731
        log.warning("recovery: no changelog event for %.0f s (read, last offset): %s; consumer: "
                    "flow_active=%s suspend_flow=%s active=%s paused=%s read_offsets=%s",
                    STALL_CHECK_S, {short(tp): v for tp, v in waiting.items()},
                    consumer.flow_active, consumer.suspend_flow.is_set(),
                    sorted(map(short, set(consumer._active_partitions or ()) & set(waiting))),
                    sorted(map(short, set(consumer._paused_partitions) & set(waiting))),
                    {short(tp): consumer._read_offset.get(tp) for tp in waiting})
        log_kafka_positions(consumer, list(waiting), short)
        for task in asyncio.all_tasks():
            stack = format_task_stack(task)
            if "_drain_messages" in stack or "_slurp_changelogs" in stack:
                log.warning("recovery: task %s\n%s", task.get_name(), stack)
        log.warning("recovery: seeking the waiting changelog partitions back to the offsets read")
        await consumer.seek_wait({tp: max(o, 0) for tp, (o, _) in waiting.items()})
        consumer.resume_partitions(list(waiting))

    def repair_acks(self) -> None:
        """Remove repeated offsets from Faust's per-partition lists of acked offsets.

        After a rebalance Faust can record an offset as acked twice (once from its "gap"
        bookkeeping, once from the ack itself). Its commit takes the first run of
        consecutive offsets, which a repeat cuts to one offset: commits then advance by
        one offset per partition per commit interval (seen here after hand-overs, and
        reported upstream: robinhood/faust#625, faust-streaming/faust#596). The set of
        offsets is unchanged; only the repeats go.
        """
        acked = getattr(self.app.consumer, "_acked", None)
        if not acked:
            return
        for offsets in list(acked.values()):
            if len(offsets) > 1 and len(set(offsets)) != len(offsets):
                offsets[:] = sorted(set(offsets))
        if not self.app.rebalancing:
            self._fill_ack_heads(acked)

    def _fill_ack_heads(self, acked: Any) -> None:
        """Ack the offsets that hold a partition's commit back, when they are processed.

        Faust commits nothing for a partition while offsets right after its last commit are
        unacked and later ones are (`Consumer._new_offset`): a commit held for good when
        those offsets were processed but not acked (events of the generation before a
        rebalance, see `ackable`) and are not fetched again. Everything from the group's
        commit up to this worker's newest processed offset was processed (`in_order` reads
        any hole first), so such a head of the queue is acked here.
        """
        consumer = self.app.consumer
        committed, index = consumer._committed_offset, consumer._acked_index
        positions = self.metrics.positions
        for tp, offsets in list(acked.items()):
            start = committed.get(tp)
            if not offsets or not start:
                continue
            head = min(offsets)
            if head - start > 1 and head - 1 <= positions.get((tp.topic, tp.partition), -1):
                missing = [o for o in range(start, head) if o not in index[tp]]
                offsets.extend(missing)
                offsets.sort()
                index[tp].update(missing)
                log.info("%s[%d]: commit held at %d by offsets %d..%d, processed and not "
                         "acked; acked now", tp.topic, tp.partition, start, start, head - 1)

    def ackable(self, batch: list[faust.EventT]) -> list[faust.EventT]:
        """The events whose offsets may be committed: none while a rebalance runs.

        Faust clears its per-partition ack bookkeeping when a rebalance starts; an ack
        arriving after that would land in the next generation's bookkeeping. An event
        left unacked is fetched again from the last commit, and `BorrowerStates.holds`
        recognises it: its outputs are not sent twice.
        """
        app = self.app
        if app.rebalancing:
            return []
        generation = app.consumer_generation_id
        return [e for e in batch if e.message.generation_id == generation]

    async def ack(self, stream: faust.StreamT, done: list[Any]) -> None:
        """Ack what `ackable` allows: stream events to the stream, refetched records to the
        consumer (their offsets may never have been delivered to, nor acked by, Faust)."""
        ack = self.app.consumer.ack
        for event in self.ackable(done):
            if isinstance(event, Refetched):
                ack(event.message)
            else:
                await stream.ack(event)

    # -- macro indicators: every worker applies every reading ------------------------
    def _macro_reading(self, value: bytes | None) -> tuple[ev.MacroIndicator | None, str]:
        """(reading, "") or (None, why it is not a valid macro reading)."""
        try:
            reading = ev.decode(value)
        except ev.InvalidEvent as exc:
            return None, str(exc)
        if not isinstance(reading, ev.MacroIndicator):
            return None, f"{reading.__struct_config__.tag} events do not belong on macro.indicators"
        return reading, ""

    async def on_macro(self, record: Any) -> None:
        """A reading from macro.indicators (Broadcast): into this worker's context."""
        reading, _why = self._macro_reading(record.value)
        if reading is None:
            return  # the `macro` agent counts it and sends it to the dead-letter topic
        fx = self.engine.process_raw(record.value, record.topic, record.partition, record.offset)
        self.metrics.events[(record.topic, fx.event_type, fx.outcome)] += 1

    async def check_macro(self, event: faust.EventT) -> None:
        """The `macro` agent: an invalid reading becomes one dead letter."""
        msg = event.message
        reading, why = self._macro_reading(msg.value)
        if reading is None:
            self._emit(msg, _failed(msg, ValueError(why), "invalid"))
            await self._deliver()

    # -- model: train on one partition, score everywhere ------------------------------
    async def learn(self, event: faust.EventT) -> None:
        msg = event.message
        try:
            example = msgspec.json.decode(msg.value, type=TrainingExample)
        except (msgspec.DecodeError, TypeError) as exc:
            self._emit(msg, _failed(msg, exc, "invalid"))
            await self._deliver()
            return
        self.metrics.events[(msg.topic, "training_example", "ok")] += 1
        self.metrics.training_examples += 1
        if self.trainer is None:
            self.trainer = self._restore_trainer()
        blob = self.trainer.learn_example(example)
        if blob is not None:
            await self._produce([(t.topic(self.settings, t.MODELS), CHAMPION, blob, None)])

    def _restore_trainer(self) -> Trainer:
        """Resume from the newest verified snapshot, or start a fresh model."""
        trainer = Trainer(self.key, self.settings.publish_every)
        if self.champion is not None:
            trainer = Trainer.restore(self.champion, self.key)
            trainer.publish_every = self.settings.publish_every
            log.info("trainer resumes from model v%d (%d examples)", trainer.version,
                     trainer.examples)
        return trainer

    async def on_model(self, record: Any) -> None:
        """A snapshot on risk.models (Broadcast): verify, swap if newer; refuse and count."""
        blob = record.value
        if not blob:
            return
        engine = self.engine
        before = engine.scorer.version
        if not engine.load_snapshot(blob):
            log.warning("refused the model snapshot at %s offset %d: unsigned or tampered",
                        record.topic, record.offset)
            return
        if engine.scorer.version > before:
            self.champion = blob
            self.metrics.snapshots_loaded += 1
            log.info("scoring with model v%d", engine.scorer.version)
        if self.trainer is not None and engine.scorer.version > self.trainer.version:
            self.trainer = None  # another worker trained further: resume from its snapshot

    async def caught_up(self) -> None:
        """Until every broadcast topic has been read to its end once."""
        for reader in self.readers:
            await reader.caught_up.wait()

    # -- rebalancing --------------------------------------------------------------------
    @asynccontextmanager
    async def processing(self) -> Any:
        """Marks a batch in flight (see on_partitions_revoked)."""
        self._idle.clear()
        try:
            yield
        finally:
            self._idle.set()

    async def on_partitions_revoked(self, app: Any, revoked: set, **_: Any) -> None:
        """Finish the batch in flight before the partitions go; forget decoded state.

        No batch starts while a rebalance runs (the agent checks), and the one under way
        completes here -- outputs acknowledged, state written -- so that the partitions'
        next owner recovers a changelog no late write of ours will overtake. Its events
        stay unacked: the next owner reads them again and recognises them by the
        borrowers' state (`BorrowerStates.holds`).
        """
        try:
            await asyncio.wait_for(self._idle.wait(), self.settings.session_timeout_s * 0.8)
        except asyncio.TimeoutError:
            log.warning("a batch was still in flight when the partitions were revoked")
        self.states.forget()
        self._drop_portfolio(revoked)
        training = self.topic[t.TRAINING]
        if self.trainer is not None and any(tp.topic == training for tp in revoked):
            self.trainer = None  # whoever gets the partition resumes from the newest snapshot

    def _drop_portfolio(self, revoked: set) -> None:
        """The revoked partitions' borrowers leave this worker's portfolio and context."""
        changelog = self.borrowers.changelog_topic.get_topic_name()
        self.states.portfolio.revoke(tp.partition for tp in revoked if tp.topic == changelog)
        self.engine.context.set_portfolio(self.states.portfolio.groups())

    async def on_recovered(self) -> None:
        """Table recovery done: rebuild the portfolio of the active partitions from the table.

        Runs before Faust ends the rebalance (no batch starts meanwhile) and yields to the
        loop every 1,000 borrowers (~15 ms) so that heartbeats go on. A key's partition is
        Kafka's default partitioner's (murmur2), the one the inputs are keyed by: a memory
        store can still hold keys of partitions it no longer owns (and takes standby
        writes meanwhile: its items are copied first).
        """
        generation = self.app.consumer_generation_id
        changelog = self.borrowers.changelog_topic.get_topic_name()
        active = {tp.partition for tp in self.app.assignor.assigned_actives()
                  if tp.topic == changelog}
        n = self.settings.partitions
        fresh = Rebuild(active)
        items = self.borrowers.data.items()
        if isinstance(getattr(self.borrowers.data, "data", None), dict):  # memory store
            items = list(items)
        for i, (key, value) in enumerate(items):
            partition = t.default_partition(key, n)
            if partition in active:
                fresh.add(partition, BorrowerState.loads(_decode_value(value)[1]))
            if i % 1000 == 999:
                await asyncio.sleep(0)
        if self.app.consumer_generation_id != generation:
            return  # rebalanced again: the next recovery rebuilds
        self.states.portfolio.install(fresh)
        self.engine.context.set_portfolio(self.states.portfolio.groups())

    def assignment(self) -> dict[str, int]:
        """Active partitions by topic (borrower topics, training, macro, changelogs)."""
        counts: dict[str, int] = {}
        for tp in self.app.assignor.assigned_actives():
            counts[tp.topic] = counts.get(tp.topic, 0) + 1
        return counts

    # -- probes --------------------------------------------------------------------------
    def ready(self) -> bool:
        app = self.app
        return (not app.should_stop and app.tables.recovery.completed.is_set()
                and not app.rebalancing and bool(app.consumer.assignment())
                and all(r.caught_up.is_set() for r in self.readers))

    def healthy(self) -> bool:
        return not self.app.should_stop and not self.stuck


def log_kafka_positions(consumer: Any, tps: list[Any], short: Any) -> None:
    """Log what aiokafka, in Faust's consumer thread, believes of `tps` (diagnostics)."""
    try:
        log.warning("aiokafka: %s", {
            short(tp): (st.position if st.has_valid_position else "no position",
                        "paused" if st.paused else "", "reset" if st.awaiting_reset else "")
            for tp in tps if (st := kafka_state(consumer, tp)) is not None})
    except Exception as exc:  # noqa: BLE001 - internals differ between versions
        log.warning("aiokafka state unavailable: %r", exc)


class Refetched:
    """A record read by `Runtime.in_order` to fill a hole: processed like a stream event,
    acked to the consumer directly once durable."""

    __slots__ = ("message", "__weakref__")

    def __init__(self, record: Any, generation: int) -> None:
        from faust.types.tuples import Message

        self.message = Message(record.topic, record.partition, record.offset,
                               record.timestamp / 1000.0, record.timestamp_type,
                               record.headers, record.key, record.value, None,
                               generation_id=generation)


def _failed(msg: Any, exc: BaseException, what: str = "processing failed") -> Effects:
    """A dead letter for a message the engine could not handle (masked: privacy.py)."""
    fx = Effects("invalid")
    fx.deadletter = dead_letter(msg.topic, msg.partition, msg.offset, msg.value,
                                f"{what}: {type(exc).__name__}: {exc}")
    return fx


def _done_with(exc: BaseException) -> asyncio.Future:
    fut = asyncio.get_running_loop().create_future()
    fut.set_exception(exc)
    return fut


class Resources(mode.Service):
    """Closes the runtime's own Kafka clients when the app stops."""

    def __init__(self, runtime: Runtime, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.runtime = runtime

    async def on_stop(self) -> None:
        rt = self.runtime
        for client in (rt._reader, rt._offsets):
            if client is not None:
                await client.stop()
        rt._reader = rt._offsets = None


class Broadcast(mode.Service):
    """Every message of one topic, on every worker: a consumer outside the consumer group.

    Reads from the beginning and calls `handle(record)` for each message, in order;
    `caught_up` is set once the end of the topic (as of the first fetch) is reached.
    """

    def __init__(self, settings: Settings, topic: str, handle: Any,
                 fetch_bytes: int = 1024 * 1024, **kwargs: Any) -> None:
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
                if not self.caught_up.is_set() and await self._at_end(consumer, tps):
                    self.caught_up.set()
                    log.info("%s read to its end", self.topic)
        finally:
            await consumer.stop()

    @staticmethod
    async def _at_end(consumer: Any, tps: list[Any]) -> bool:
        # The high watermark of a fetch response, not end_offsets(): the embedded broker
        # answers ListOffsets one batch short.
        for tp in tps:
            hw = consumer.highwater(tp)
            if hw is None or await consumer.position(tp) < hw:
                return False
        return True
