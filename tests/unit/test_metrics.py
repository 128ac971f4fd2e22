"""The worker's Prometheus bundle: names, labels, cardinality, no borrower ids."""

from __future__ import annotations

import msgspec
import prometheus_client
from prometheus_client.parser import text_string_to_metric_families

from streamer.core.engine import Engine
from streamer.core.portfolio import Portfolio
from streamer.core.trainer import Trainer
from streamer.pipeline import Pipeline
from streamer.runtime.metrics import Metrics
from streamer.settings import Settings
from streamer.simulate import generate

KEY = b"k" * 32


def scrape(m: Metrics) -> dict[str, list]:
    out: dict[str, list] = {}
    for family in text_string_to_metric_families(m.exposition().decode()):
        for s in family.samples:
            out.setdefault(s.name, []).append(s)
    return out


def worker_metrics() -> tuple[Metrics, Engine, set[str]]:
    sim = generate("industry_downturn", 150, 300, 9, "2025-01-01")
    pipeline = Pipeline(Settings())
    engine = pipeline.engine
    book = Portfolio()
    m = Metrics(pipeline, portfolio=book, holes=lambda: 3)
    trainer = pipeline.trainer = Trainer(KEY, publish_every=200)
    bids: set[str] = set()
    bad = engine.process_raw(b"{not json", "credit.repayments")
    m.record("credit.repayments", bad)
    m.deadletters["credit.repayments"] += 1
    for topic, _key, event in sim.events():
        raw = msgspec.json.encode(event)
        fx = engine.process_raw(raw, topic)
        m.record(topic, fx, now=fx.score and 2e9 or None)
        if fx.score is not None:
            bid = fx.score.borrower_id
            bids.add(bid)
            book.persisted(bid, 0, engine.states[bid])
    for i in range(600):  # a learnable stream: quality figures with both classes
        trainer.learn({"dpd_now": float(i % 3 == 0)}, i % 3 == 0)
    return m, engine, bids


def test_the_bundle_has_every_metric_with_labels_and_no_borrower_id() -> None:
    m, engine, bids = worker_metrics()
    got = scrape(m)
    for name in ("streamer_events_total", "streamer_alerts_total", "streamer_alert_actions_total",
                 "streamer_event_lag_seconds_bucket", "streamer_processing_latency_seconds_bucket",
                 "streamer_portfolio_borrowers", "streamer_portfolio_exposure_cny",
                 "streamer_dpd_rolls_total", "streamer_context_deviation_ratio",
                 "streamer_context_delinquency_ratio", "streamer_model_roc_auc",
                 "streamer_model_log_loss", "streamer_model_brier_score",
                 "streamer_model_examples_learned_total", "streamer_model_drift_detections_total",
                 "streamer_model_published_version", "streamer_event_time_seconds",
                 "streamer_snapshots_refused_total"):
        assert name in got, name
    assert [s.labels for s in got["streamer_events_total"] if s.labels["outcome"] == "invalid"] \
        == [{"topic": "credit.repayments", "type": "unknown", "outcome": "invalid"}]
    assert got["streamer_deadletters_total"][0].value == 1
    early = {s.labels["source"]: s.value for s in got["streamer_early_threshold"]}
    assert early == {"trainer": engine.early_base, "in_force": engine.policy.config.early_high}
    engine.early_level = 0.3  # a book large enough for a live level (pacing.py) shows it
    early = {s.labels["source"]: s.value for s in scrape(m)["streamer_early_threshold"]}
    assert early["live"] == 0.3
    assert got["streamer_consumer_holes_total"][0].value == 3  # read from its source
    buckets = {s.labels["dpd_bucket"] for s in got["streamer_portfolio_borrowers"]}
    assert buckets == {"current", "1-29", "30-59", "60-89", "90+"}
    tiers = {s.labels["tier"] for s in got["streamer_portfolio_borrowers"]}
    assert tiers == {"none", "watch", "high", "critical"}
    held = sum(s.value for s in got["streamer_portfolio_borrowers"])
    assert held == sum(1 for s in engine.states.values() if s.segment)
    assert {s.labels["model"] for s in got["streamer_model_roc_auc"]} == {"champion", "challenger"}
    champion = next(s for s in got["streamer_model_roc_auc"] if s.labels["model"] == "champion")
    assert 0.5 < champion.value <= 1.0
    # the simulated events are ~a year before 2e9 s: every lag lands past 30 days
    lag = {s.labels["le"]: s.value for s in got["streamer_event_lag_seconds_bucket"]}
    assert lag["+Inf"] > 0 and lag["2.592e+06"] == 0
    samples = [s for ss in got.values() for s in ss]
    assert len(samples) < 1000
    values = {v for s in samples for v in s.labels.values()}
    assert not values & bids, "a label carries a borrower id"


def test_faust_sensor_uses_the_bundles_own_registry() -> None:
    m = Metrics(Pipeline(Settings()))
    monitor = m.faust_monitor()
    monitor._metrics.messages_received.inc()
    assert "faust_messages_received_total 1.0" in m.exposition().decode()
    assert prometheus_client.REGISTRY.get_sample_value("faust_messages_received_total") is None
    Metrics(Pipeline(Settings())).faust_monitor()  # a second worker bundle in the process: no name clash
