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
| streamer_consumer_holes_total | counter | runs of offsets the consumer skipped, read again (faust015/offsets.py) |
| streamer_stalls_total | counter | checks that found input (or, in recovery, a changelog) waiting and nothing delivered since the last (faust015/watchdog.py) |
| streamer_snapshots_refused_total | counter | |
| streamer_snapshots_loaded_total | counter | |
| streamer_model_version | gauge | |
| streamer_model_ready | gauge | 1 once the model has seen enough outcomes to be trusted |
| streamer_training_examples_total | counter | (trainer only) |
| streamer_assigned_partitions | gauge | topic: partitions this worker holds as active |
| streamer_processed_offset | gauge | topic, partition: newest offset with outputs and state durable |
| streamer_processing_latency_seconds | histogram | a message's broker timestamp -> outputs acked |
| streamer_batch_seconds | histogram | one batch: engine, outputs acknowledged, state persisted |
| streamer_event_lag_seconds | histogram | wall clock at processing - the event's own time (borrower events) |
| streamer_event_time_seconds | gauge | newest event time accepted (the stream's watermark) |
| streamer_early_threshold | gauge | source (trainer: the budget's threshold the model brought; live: the level the top of this worker's book reaches now, once its sample has one; in_force: that level, else the trainer's, paced on this worker's book; core/pacing.py) |
| streamer_alert_actions_total | counter | tier, action: recommended actions of raised/escalated alerts |
| streamer_portfolio_borrowers | gauge | dpd_bucket (current, 1-29, 30-59, 60-89, 90+), tier: borrowers held |
| streamer_portfolio_exposure_cny | gauge | dpd_bucket, tier: outstanding of the borrowers held |
| streamer_dpd_rolls_total | counter | from_bucket, to_bucket: borrowers whose DPD bucket changed |
| streamer_context_deviation_ratio | gauge | scope, scope_id, indicator: macro indicator vs its baseline |
| streamer_context_delinquency_ratio | gauge | scope, scope_id: delinquency rate the model's features use |
| streamer_model_roc_auc, _log_loss, _brier_score | gauge | model (champion, challenger): rolling, progressive |
| streamer_model_examples_learned_total | counter | model (trainer only) |
| streamer_model_drift_detections_total | counter | model: ADWIN drifts of the champion's loss |
| streamer_model_published_version | gauge | newest snapshot version the trainer published |
| faust_* | | Faust's own sensor (consumer, producer, tables, rebalances; topic/partition labels) |

The portfolio gauges cover the partitions this worker holds (streamer.core.portfolio keeps them
right across restarts and rebalances): sum them over workers. Context series are capped at
`MAX_SCOPE_IDS` ids per scope; labels are codes of industries and regions, never borrowers.

`/metrics` serves them; `/healthz` answers 200 while the worker runs (503 once a recovery
has stood still for `RECOVERY_STUCK_S` after the worker sought its changelogs again: a
restart is the way on) and `/readyz` once its tables are recovered and it holds partitions
(503 before).
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from typing import Any, Callable, Iterator

import mode
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                   300.0)
_H, _D = 3600.0, 86_400.0
# event time can trail (a backfill) or run ahead (a simulation) of the clock by days
LAG_BUCKETS = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, _H, 6 * _H, _D, 7 * _D, 30 * _D, 90 * _D,
               365 * _D)
MAX_SCOPE_IDS = 100  # context series per scope (industry, region)


class Metrics:
    """Everything a worker reports. The counters are written where things happen; the
    rest is read at scrape time from the sources given here: the pipeline (its engine,
    trainer and snapshot count), the portfolio, the partitions held and the holes read."""

    def __init__(self, pipeline: Any, portfolio: Any = None,
                 assignment: Callable[[], dict[str, int]] = dict,
                 holes: Callable[[], int] = lambda: 0,
                 registry: CollectorRegistry | None = None) -> None:
        self.pipeline, self.portfolio = pipeline, portfolio
        self.assignment, self.holes = assignment, holes
        self.registry = registry or CollectorRegistry()
        self.events: Counter[tuple[str, str, str]] = Counter()  # (topic, type, outcome)
        self.deadletters: Counter[str] = Counter()  # source topic
        self.positions: dict[tuple[str, int], int] = {}  # (topic, partition) -> offset
        self.training_examples = 0
        self.stalls = 0
        self.actions: Counter[tuple[str, str]] = Counter()  # (tier, recommended action)
        self.latency = Histogram(
            "streamer_processing_latency_seconds",
            "From a message's broker timestamp to its outputs being acknowledged",
            buckets=LATENCY_BUCKETS, registry=self.registry)
        self.batch_seconds = Histogram(
            "streamer_batch_seconds", "Processing one batch, outputs and state included",
            buckets=LATENCY_BUCKETS, registry=self.registry)
        self.event_lag = Histogram(
            "streamer_event_lag_seconds",
            "Wall clock at processing minus the event's own time (negative: counted as 0)",
            buckets=LAG_BUCKETS, registry=self.registry)
        self.registry.register(_Collector(self))

    def record(self, topic: str, fx: Any, now: float | None = None) -> None:
        """Count one processed message (an engine Effects)."""
        self.events[(topic, fx.event_type, fx.outcome)] += 1
        if fx.score is not None:
            ts = dt.datetime.fromisoformat(fx.score.ts).timestamp()
            self.event_lag.observe(max(0.0, (time.time() if now is None else now) - ts))
        alert = fx.alert
        if alert is not None and alert.kind in ("raised", "escalated"):
            self.actions[(alert.tier, alert.recommended_action)] += 1

    def faust_monitor(self) -> Any:
        """Faust's Prometheus sensor, on this bundle's registry (set as ``app.monitor``).

        Its labels are topics, partitions, table and stream names: no borrower data.
        """
        from faust.sensors.prometheus import FaustMetrics, PrometheusMonitor

        class Monitor(PrometheusMonitor):
            # Its four per-message hooks cost ~10% of a worker's CPU (py-spy, 2026-11-28)
            # and feed counters that streamer_events_total already gives; the consumer,
            # commit, rebalance, table and end-offset metrics stay.
            def on_message_in(self, *args: Any) -> None:
                pass

            def on_stream_event_in(self, *args: Any) -> None:
                return None

            def on_stream_event_out(self, *args: Any, **kwargs: Any) -> None:
                pass

            def on_message_out(self, *args: Any) -> None:
                pass

        return Monitor(metrics=FaustMetrics.create(self.registry, "faust"))

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
        engine = m.pipeline.engine
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
                                  value=m.pipeline.snapshots_loaded)
        yield CounterMetricFamily("streamer_consumer_holes",
                                  "Runs of offsets the consumer skipped, read again",
                                  value=m.holes())
        yield CounterMetricFamily("streamer_stalls",
                                  "Checks that found input or, in recovery, a changelog waiting and "
                                  "nothing read since the last: sought again",
                                  value=m.stalls)
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
        yield GaugeMetricFamily("streamer_event_time_seconds",
                                "Newest event time accepted (Unix seconds)",
                                value=engine.watermark if engine is not None else 0)
        if engine is not None:
            early = GaugeMetricFamily(
                "streamer_early_threshold", "Early-warning score that raises a borrower to "
                "high: the trainer's, the live book's level, and the one in force after pacing",
                labels=["source"])
            early.add_metric(["trainer"], engine.early_base)
            if engine.early_level is not None:
                early.add_metric(["live"], engine.early_level)
            early.add_metric(["in_force"], engine.policy.config.early_high)
            yield early
        actions = CounterMetricFamily("streamer_alert_actions",
                                      "Recommended actions of raised and escalated alerts",
                                      labels=["tier", "action"])
        for (tier, action), n in sorted(m.actions.items()):
            actions.add_metric([tier, action], n)
        yield actions
        yield from self._portfolio()
        if engine is not None:
            yield from _context(engine.context)
        yield from _quality(m.pipeline.trainer)

    def _portfolio(self) -> Iterator[Metric]:
        book = self.m.portfolio
        if book is None:
            return
        borrowers = GaugeMetricFamily(
            "streamer_portfolio_borrowers", "Borrowers with an open account in this worker's "
            "partitions, by DPD bucket and alert tier", labels=["dpd_bucket", "tier"])
        for (bucket, tier), n in book.borrowers().items():
            borrowers.add_metric([bucket, tier], n)
        yield borrowers
        exposure = GaugeMetricFamily(
            "streamer_portfolio_exposure_cny", "Outstanding principal (CNY) of those borrowers, "
            "by DPD bucket and alert tier", labels=["dpd_bucket", "tier"])
        for (bucket, tier), v in book.exposure().items():
            exposure.add_metric([bucket, tier], max(0.0, round(v, 2)))
        yield exposure
        rolls = CounterMetricFamily(
            "streamer_dpd_rolls", "Borrowers whose DPD bucket changed, from -> to",
            labels=["from_bucket", "to_bucket"])
        for (a, b), n in sorted(book.rolls.items()):
            rolls.add_metric([a, b], n)
        yield rolls


def _context(ctx: Any) -> Iterator[Metric]:
    """Industry and region stress as the model's features see it."""
    deviation = GaugeMetricFamily(
        "streamer_context_deviation_ratio",
        "Macro indicator relative to its slow baseline ((value - baseline) / baseline)",
        labels=["scope", "scope_id", "indicator"])
    seen: Counter[str] = Counter()
    for scope, scope_id, name in sorted(ctx.indicators):
        if seen[scope] < MAX_SCOPE_IDS * 4:
            seen[scope] += 1
            deviation.add_metric([scope, scope_id, name], ctx.deviation(scope, scope_id, name))
    yield deviation
    rate = GaugeMetricFamily(
        "streamer_context_delinquency_ratio",
        "Share of borrowers 30+ DPD (with a small prior), as the model's features see it",
        labels=["scope", "scope_id"])
    seen.clear()
    for scope, scope_id in sorted(ctx.portfolio):
        if seen[scope] < MAX_SCOPE_IDS:
            seen[scope] += 1
            rate.add_metric([scope, scope_id], ctx.delinquency_rate(scope, scope_id))
    yield rate


def _quality(trainer: Any) -> Iterator[Metric]:
    """Progressive quality of the trainer's models (only on the worker that trains)."""
    figures = {
        "roc_auc": GaugeMetricFamily("streamer_model_roc_auc", "Rolling ROC AUC of progressive "
                                     "scores (scored before learning)", labels=["model"]),
        "log_loss": GaugeMetricFamily("streamer_model_log_loss", "Rolling log loss",
                                      labels=["model"]),
        "brier": GaugeMetricFamily("streamer_model_brier_score", "Rolling Brier score",
                                   labels=["model"]),
    }
    learned = CounterMetricFamily("streamer_model_examples_learned",
                                  "Labeled examples the model has learned", labels=["model"])
    drifts = CounterMetricFamily("streamer_model_drift_detections",
                                 "Drifts ADWIN detected in the model's progressive loss",
                                 labels=["model"])
    if trainer is not None:
        for model, q in sorted(trainer.quality.items()):
            learned.add_metric([model], q.n)
            if q.n:
                figures["roc_auc"].add_metric([model], q.auc)
                figures["log_loss"].add_metric([model], q.logloss)
                figures["brier"].add_metric([model], q.brier)
        drifts.add_metric(["champion"], trainer.drifts)
    yield from figures.values()
    yield learned
    yield drifts
    yield GaugeMetricFamily("streamer_model_published_version",
                            "Newest model version this worker's trainer published",
                            value=trainer.version if trainer is not None else 0)


class MetricsServer(mode.Service):
    """/metrics, /healthz and /readyz on one host:port (aiohttp, in the worker's loop)."""

    def __init__(self, metrics: Metrics, addr: str,
                 ready: Callable[[], bool] = lambda: True,
                 healthy: Callable[[], bool] = lambda: True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        host, _, port = addr.rpartition(":")
        self.host, self.port = host.strip("[]"), int(port)
        self.metrics, self.ready, self.healthy = metrics, ready, healthy
        self._runner: Any = None

    async def on_start(self) -> None:
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

    async def on_stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
