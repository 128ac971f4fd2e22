"""The worker's Prometheus bundle, and the small HTTP server that serves it.

Counts are kept where they happen at no cost per event (the engine's own counters, plain
`collections.Counter`s in the worker) and turned into Prometheus samples only when
scraped. No label carries a borrower id: every label takes a handful of values (topic,
event type, outcome, tier, kind).

| metric | type | labels |
|---|---|---|
| streamer_events_total | counter | topic, type, outcome (ok, invalid, duplicate, late) |
| streamer_alerts_total | counter | tier, kind |
| streamer_deadletters_total | counter | topic |
| streamer_consumer_holes_total | counter | offsets the consumer skipped, read again (see app.py) |
| streamer_snapshots_refused_total | counter | |
| streamer_snapshots_loaded_total | counter | |
| streamer_model_version | gauge | |
| streamer_model_ready | gauge | 1 once the model has seen enough outcomes to be trusted |
| streamer_training_examples_total | counter | (trainer only) |
| streamer_assigned_partitions | gauge | topic: partitions this worker holds as active |
| streamer_processed_offset | gauge | topic, partition: newest offset with outputs and state durable |
| streamer_processing_latency_seconds | histogram | a message's broker timestamp -> outputs acked |
| streamer_batch_seconds | histogram | one batch: engine, outputs acknowledged, state persisted |

`/metrics` serves them; `/healthz` answers 200 while the worker runs and `/readyz` once
its tables are recovered and it holds partitions (503 before).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Callable, Iterator

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                   300.0)


class Metrics:
    """Everything a worker reports; `engine` is attached by the runtime."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.events: Counter[tuple[str, str, str]] = Counter()  # (topic, type, outcome)
        self.deadletters: Counter[str] = Counter()  # source topic
        self.positions: dict[tuple[str, int], int] = {}  # (topic, partition) -> offset
        self.snapshots_loaded = 0
        self.training_examples = 0
        self.holes = 0
        self.engine: Any = None
        self.assignment: Callable[[], dict[str, int]] = dict
        self.latency = Histogram(
            "streamer_processing_latency_seconds",
            "From a message's broker timestamp to its outputs being acknowledged",
            buckets=LATENCY_BUCKETS, registry=self.registry)
        self.batch_seconds = Histogram(
            "streamer_batch_seconds", "Processing one batch, outputs and state included",
            buckets=LATENCY_BUCKETS, registry=self.registry)
        self.registry.register(_Collector(self))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _Collector:
    def __init__(self, metrics: Metrics) -> None:
        self.m = metrics

    def describe(self) -> list[Metric]:
        return []  # samples are computed at scrape time

    def collect(self) -> Iterator[Metric]:
        m = self.m
        events = CounterMetricFamily("streamer_events", "Messages processed, by outcome",
                                     labels=["topic", "type", "outcome"])
        for (topic, etype, outcome), n in sorted(m.events.items()):
            events.add_metric([topic, etype, outcome], n)
        yield events
        dead = CounterMetricFamily("streamer_deadletters", "Messages sent to the dead-letter "
                                   "topic, by source topic", labels=["topic"])
        for topic, n in sorted(m.deadletters.items()):
            dead.add_metric([topic], n)
        yield dead
        engine = m.engine
        alerts = CounterMetricFamily("streamer_alerts", "Alerts emitted", labels=["tier", "kind"])
        if engine is not None:
            for (tier, kind), n in sorted(engine.alerts.items()):
                alerts.add_metric([tier, kind], n)
        yield alerts
        yield CounterMetricFamily(
            "streamer_snapshots_refused", "Model snapshots refused (unsigned or tampered)",
            value=engine.snapshots_refused if engine is not None else 0)
        yield CounterMetricFamily("streamer_snapshots_loaded",
                                  "Verified model snapshots newer than the one in use",
                                  value=m.snapshots_loaded)
        yield CounterMetricFamily("streamer_consumer_holes",
                                  "Runs of offsets the consumer skipped, read again",
                                  value=m.holes)
        yield CounterMetricFamily("streamer_training_examples",
                                  "Labeled examples learned by this worker's trainer",
                                  value=m.training_examples)
        assigned = GaugeMetricFamily("streamer_assigned_partitions",
                                     "Partitions this worker holds as active, by topic",
                                     labels=["topic"])
        for topic, n in sorted(m.assignment().items()):
            assigned.add_metric([topic], n)
        yield assigned
        done = GaugeMetricFamily("streamer_processed_offset",
                                 "Newest offset of a partition whose outputs and state are "
                                 "durable (processed; its commit may come later)",
                                 labels=["topic", "partition"])
        for (topic, partition), offset in sorted(m.positions.items()):
            done.add_metric([topic, str(partition)], offset)
        yield done
        scorer = engine.scorer if engine is not None else None
        yield GaugeMetricFamily("streamer_model_version", "Version of the model scoring now",
                                value=scorer.version if scorer is not None else 0)
        yield GaugeMetricFamily("streamer_model_ready",
                                "1 when the model has seen enough outcomes to be trusted",
                                value=1 if scorer is not None and scorer.ready else 0)


class MetricsServer:
    """/metrics, /healthz and /readyz on one host:port (aiohttp, in the worker's loop)."""

    def __init__(self, metrics: Metrics, addr: str,
                 ready: Callable[[], bool] = lambda: True,
                 healthy: Callable[[], bool] = lambda: True) -> None:
        host, _, port = addr.rpartition(":")
        self.host, self.port = host.strip("[]"), int(port)
        self.metrics, self.ready, self.healthy = metrics, ready, healthy
        self._runner: Any = None

    async def start(self) -> None:
        from aiohttp import web

        async def metrics(_request: Any) -> Any:
            body = self.metrics.exposition()  # in the loop: the counters change in it
            return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

        def probe(check: Callable[[], bool]) -> Callable[[Any], Any]:
            async def handler(_request: Any) -> Any:
                ok = check()
                return web.Response(text="ok\n" if ok else "not ready\n", status=200 if ok else 503)
            return handler

        app = web.Application()
        app.router.add_get("/metrics", metrics)
        app.router.add_get("/healthz", probe(self.healthy))
        app.router.add_get("/readyz", probe(self.ready))
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
