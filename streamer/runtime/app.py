"""The worker's Faust app: its topics, table, agents and services, and its Faust settings.

```
 credit.accounts ──────┐
 credit.repayments ────┤                   borrowers (Table: bytes + changelog)
 credit.transactions ──┼─► score ─► Runtime.score ─► risk.alerts, risk.scores,
 collections.actions ──┘             ▲       ▲        risk.training, risk.deadletter
 macro.indicators ══ every worker ═══╛ context│
 risk.training ─► train ─► risk.models ══ every worker ══╛ Pipeline.load_snapshot
```
(─ a consumer-group agent: each message to one worker; ═ a Broadcast: every worker reads
every message.)

Each agent is a few lines; what they call is `streamer.runtime.batches.Runtime`, and from
"bytes" to "alert" it is `streamer.pipeline` and `streamer.core` (no Kafka there). What
works around Faust 0.15.3 lives in `streamer.faust015`, each guard with its upstream bug.

* **At least once, no alert lost:** a batch's outputs, then its borrower states, are
  acknowledged by Kafka before its offsets may be committed (`batches.py`); the worker
  commits those offsets itself (`faust015/offsets.py`) and acks nothing to Faust.
* **A poison message never stops an agent:** the pipeline turns it, or an unexpected
  exception on it, into a dead letter. Anything else (a broker that keeps refusing our
  writes) crashes the worker (`CrashingSupervisor`) so that it restarts from its last
  commit instead of carrying on with a hole.
* **Every worker reads every macro reading and every model snapshot** (`readers.Broadcast`);
  invalid macro readings become dead letters once (`readers.Validator`, a consumer group
  of its own). Scoring starts once both topics are read to their end.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import faust
import mode

from streamer.faust015 import consumer, take, watchdog
from streamer.runtime import topics as t
from streamer.runtime.batches import Runtime
from streamer.runtime.metrics import MetricsServer
from streamer.runtime.readers import Broadcast, Validator
from streamer.settings import Settings

# Faust's RocksDB defaults are sized for a dedicated host: a 2 GiB block cache and up to
# 3 x 64 MiB of memtables per partition's database. A worker's hot borrowers are in its
# decoded cache already, and a miss reads through the OS page cache, so RocksDB gets
# little memory: at 100,000 borrowers 405 B resident per borrower, 908 B with 8 MiB
# memtables and a 32 MiB block cache (benchmarks/memory.py).
ROCKSDB_OPTIONS: dict[str, Any] = dict(write_buffer_size=4 * 2**20, max_write_buffer_number=2,
                                       block_cache_size=8 * 2**20,
                                       block_cache_compressed_size=0)
ROLES = ("worker", "trainer")
RAW: dict[str, Any] = dict(key_type=bytes, value_type=bytes, key_serializer="raw",
                           value_serializer="raw")  # bytes in, bytes out: the engine decodes


def create_app(settings: Settings, role: str = "worker") -> faust.App:
    """The worker's Faust app, or the trainer's (`role="trainer"`); the :class:`Runtime`
    is ``app.streamer``.

    The trainer (`streamer trainer`) only learns: its own consumer group
    (``<STREAMER_APP_ID>-trainer``) reads risk.training, and it holds no borrowers, reads
    no input topic and no macro reading. Workers beside it run with STREAMER_TRAINING=off,
    and so never wait on learning.
    """
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    trainer = role == "trainer"
    if trainer:
        settings = replace(settings, app_id=f"{settings.app_id}-trainer")
    app = faust.App(settings.app_id, **faust_settings(settings))
    # Faust's fetch loop, without four tasks per message and with its dropped fetches
    # sought back to (faust015/consumer.py)
    consumer.install(app, fast_path=settings.drain_fast_path == "on")
    rt = app.streamer = Runtime(app, settings)
    rt.role = role

    def raw_topic(*names: str) -> faust.TopicT:
        return app.topic(*(t.topic(settings, n) for n in names), **RAW)

    def batches(stream: faust.StreamT) -> AsyncIterator[list[Any]]:
        if settings.batch_wait_s:  # Faust's take: ends when full or on its timer
            return stream.noack_take(settings.batch_max, within=settings.batch_wait_s)
        return take.drained_take(stream, settings.batch_max)  # ends when the queue is dry

    app.monitor = rt.metrics.faust_monitor()
    models = Broadcast(settings, t.MODELS, rt.on_model, fetch_bytes=t.MODEL_MAX_BYTES)
    rt.readers = [models] if trainer else [Broadcast(settings, t.MACRO_TOPIC, rt.on_macro),
                                           models]
    app.on_partitions_revoked.connect(rt.on_partitions_revoked)
    if not trainer:
        rt.table = app.Table(t.BORROWERS_TABLE, key_type=bytes, value_type=bytes,
                             partitions=settings.partitions, on_recover=rt.on_recovered,
                             options=dict(ROCKSDB_OPTIONS))  # Faust's store pops from it

        @app.agent(raw_topic(*t.INPUT_TOPICS), name="score")
        async def score(stream: faust.StreamT) -> None:
            """Borrower events -> pipeline -> outputs, state, then offsets (none acked to Faust)."""
            await rt.caught_up()
            async for batch in batches(stream):
                await rt.score(batch)

    if trainer or settings.training == "on":
        @app.agent(raw_topic(t.TRAINING), name="train")
        async def train(stream: faust.StreamT) -> None:
            """Labeled examples -> trainer -> signed snapshots in risk.models."""
            await rt.caught_up()
            async for batch in batches(stream):
                await rt.learn(batch)

    return app


def services(app: faust.App) -> list[mode.ServiceT]:
    """Every service a worker runs beside the app, started with the worker: an app's own
    services and timers start only after its first recovery, and the probes, the readers
    the recovery's end waits for, and the watchdog of recoveries must run before that."""
    rt: Runtime = app.streamer
    settings = rt.settings
    probes = MetricsServer(rt.metrics, settings.metrics_addr, ready=rt.ready,
                           healthy=rt.healthy)
    if rt.role == "trainer":  # no input topic to guard, no macro reading to check
        return [probes, *rt.readers, Commits(rt), Closing(rt)]
    return [
        probes,
        *rt.readers,
        Validator(settings, t.MACRO_TOPIC, rt.macro_problem, rt.dead_letters),
        Commits(rt),
        watchdog.Watchdog(rt),
        Closing(rt),
    ]


class Commits(mode.Service):
    """Commits the offsets whose outputs and state are durable, every second."""

    def __init__(self, runtime: Runtime, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.runtime = runtime

    @mode.Service.timer(1.0)
    async def _commit(self) -> None:
        if not self.runtime.app.rebalancing:
            await self.runtime.offsets.commit()


class Closing(mode.Service):
    """Closes the runtime's own Kafka clients when the app stops."""

    def __init__(self, runtime: Runtime, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.runtime = runtime

    async def on_stop(self) -> None:
        await self.runtime.offsets.reader.stop()


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
        cython_optimizations=settings.faust_cython == "on",
        stream_buffer_maxsize=settings.stream_buffer_maxsize,
        broker_max_poll_records=settings.max_poll_records or None,
        agent_supervisor=mode.CrashingSupervisor,
        web_enabled=settings.web_port != 0,
        web_bind=settings.web_host,
        web_host=settings.web_host,
        web_port=settings.web_port or 6066,
        # Nothing is acked to Faust (the worker commits itself): its wait for every
        # delivered event to be acked would hang each rebalance.
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
