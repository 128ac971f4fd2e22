"""Every setting of streamer, read from the environment, with its documented default.

`Settings.from_env()` is the only place that reads `STREAMER_*` variables. A bad value
raises :class:`SettingsError` with one line naming the variable, what was wrong and the
expected form; the CLI prints it and exits 2.

| variable | default | meaning |
|---|---|---|
| STREAMER_BOOTSTRAP_SERVERS | 127.0.0.1:9092 | Kafka bootstrap servers, comma-separated |
| STREAMER_SECURITY_PROTOCOL | PLAINTEXT | PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL |
| STREAMER_SASL_MECHANISM | SCRAM-SHA-512 | SCRAM-SHA-256, SCRAM-SHA-512 or PLAIN |
| STREAMER_SASL_USERNAME / STREAMER_SASL_PASSWORD | (empty) | SASL credentials |
| STREAMER_SSL_CAFILE | (empty) | CA bundle that signed the brokers' certificates |
| STREAMER_PROFILE | development | `production` refuses PLAINTEXT and a missing model key |
| STREAMER_APP_ID | streamer | Faust app id: consumer group and changelog topic prefix |
| STREAMER_STORE | memory:// | table store: memory:// or rocksdb:// |
| STREAMER_DATA_DIR | ./var/streamer | the worker's data directory (RocksDB) |
| STREAMER_PARTITIONS | 4 | partitions of the input and table topics |
| STREAMER_PROCESSING_GUARANTEE | at_least_once | at_least_once or exactly_once (`streamer worker` runs at_least_once only: alerts carry a stable alert_id) |
| STREAMER_METRICS_ADDR | 127.0.0.1:9400 | host:port of the Prometheus /metrics endpoint |
| STREAMER_WEB_HOST / STREAMER_WEB_PORT | 127.0.0.1 / 6066 | Faust's web server (its table, router, graph and stats endpoints are always off; port 0: no web server) |
| STREAMER_MODEL_KEY | (empty) | HMAC key that signs and verifies model snapshots |
| STREAMER_SNAPSHOT_INTERVAL_DAYS | 7 | at most one pending feature snapshot per borrower per interval |
| STREAMER_LABEL_HORIZON_DAYS | 90 | "reaches 90+ DPD within" this many days |
| STREAMER_PUBLISH_EVERY | 2000 | training examples between two model snapshots |
| STREAMER_ALLOWED_LATENESS_S | 86400 | events older than the borrower's newest by more are counted late |
| STREAMER_MAX_FUTURE_S | 604800 | events further ahead of the stream and the clock are refused |
| STREAMER_TIER_WATCH / _HIGH / _CRITICAL | 0.10 / 0.25 / 0.50 | score thresholds of the tiers |
| STREAMER_TIER_EARLY_HIGH | 0.11 | early-warning score (P(a miss within 90 days whose spell ends in default)) at which a borrower is raised to `high` (see README: the trade-off) |
| STREAMER_EARLY_BUDGET | 0.05 | alert budget: the share of good borrowers the early-warning score may raise to `high` in a year; the trainer publishes the threshold that spends it with each model (`streamer/core/threshold.py`), and STREAMER_TIER_EARLY_HIGH holds until it has one; once a worker's book is large enough (budget x eligible borrowers >= 160), the level is instead the score the top eighth of that share of its book reaches now; each worker moves the level to keep its early alerts on the budget's pace (`streamer/core/pacing.py`). 0: the fixed threshold only, not paced |
| STREAMER_EARLY_MIN_HISTORY_DAYS | 30 | days an account must have been open (since its `account_opened`; for an account opened before go-live, since its first money flow seen) before it has an early-warning score (`early_score` null until then) and so before that score may raise it: a first month's spending is one or two transactions, not a habit. The early model learns from, and the budget counts, only such borrowers' snapshots. Hard rules are not held back; the default score's tiers wait STREAMER_MODEL_MIN_HISTORY_DAYS |
| STREAMER_MODEL_MIN_HISTORY_DAYS | 30 | days an account must have been open before the default score may raise its tier (its score is published from the first event): at opening the model knows only the application, and a tier it raised then is not something anyone can act on. Hard rules apply from day one; an account opened before go-live counts from its first money flow seen |
| STREAMER_COOLDOWN_DAYS | 30 | event-time days a tier is kept after the last day it was earned (a score at its threshold, a DPD floor): a tier goes down only after a quiet month, a full payment cycle (on the simulated books 14 days sent 21-24% more alerts and caught the same defaulters; `benchmarks/quality.sh`) |
| STREAMER_TOPIC_PREFIX | (empty) | prepended to every topic name of topics/topics.yaml, e.g. `staging.` (changelogs are named after STREAMER_APP_ID) |
| STREAMER_FAUST_CYTHON | off | Faust's `cython_optimizations` (its repaired Cython fast paths for stream iteration and decoding, opt-in upstream): `on` or `off` (see README, Performance) |
| STREAMER_STREAM_BUFFER_MAXSIZE | 4096 | Faust's `stream_buffer_maxsize`: events a stream's queue holds before the consumer pauses its partitions |
| STREAMER_MAX_POLL_RECORDS | 0 | Faust's `broker_max_poll_records`: most records one fetch hands out (0: no limit, aiokafka's default) |
| STREAMER_DRAIN_FAST_PATH | on | `on`: the worker's consumer delivers a message without Faust's four asyncio tasks when it can (`streamer/faust015/consumer.py`); `off`: Faust's own fetch loop |
| STREAMER_TRAINING | on | `on`: this worker group also runs the trainer on risk.training (one process for everything); `off`: the workers score with the newest snapshot on risk.models and never learn (with a `streamer trainer` beside them, or frozen) |
| STREAMER_BATCH_MAX | 1000 | most events a worker processes before it waits for their outputs to be acknowledged |
| STREAMER_BATCH_WAIT_S | 0 | 0: a batch is what is queued when the worker asks for one (it ends when the queue runs dry; `streamer/runtime/intake.py`); > 0: Faust's own take, which waits up to this long for a batch to fill (for comparisons) |
| STREAMER_CACHE_BORROWERS | 10000 | decoded borrower states a worker keeps in memory, ~5 KB each (the table holds every borrower as ~1.7 KB of bytes; decoding one again costs ~6 us) |
| STREAMER_SESSION_TIMEOUT_S | 10 | consumer-group session timeout; a dead worker's partitions move after this (the embedded broker also answers a first join only after half of it) |
| STREAMER_LOG_LEVEL | info | debug, info, warning or error |
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from typing import Mapping

from streamer.core.policy import PolicyConfig


class SettingsError(ValueError):
    """A setting with a bad value: the message is one line saying how to fix it."""


@dataclass(frozen=True)
class Settings:
    bootstrap_servers: str = "127.0.0.1:9092"
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "SCRAM-SHA-512"
    sasl_username: str = ""
    sasl_password: str = ""
    ssl_cafile: str = ""
    profile: str = "development"
    app_id: str = "streamer"
    store: str = "memory://"
    data_dir: str = "./var/streamer"
    partitions: int = 4
    processing_guarantee: str = "at_least_once"
    metrics_addr: str = "127.0.0.1:9400"
    web_host: str = "127.0.0.1"
    web_port: int = 6066
    model_key: str = ""
    snapshot_interval_days: float = 7.0
    label_horizon_days: float = 90.0
    publish_every: int = 2000
    allowed_lateness_s: float = 86_400.0
    max_future_s: float = 7 * 86_400.0
    tier_watch: float = 0.10
    tier_high: float = 0.25
    tier_critical: float = 0.50
    tier_early_high: float = 0.11
    early_budget: float = 0.05
    early_min_history_days: float = 30.0
    model_min_history_days: float = 30.0
    cooldown_days: float = 30.0
    topic_prefix: str = ""
    training: str = "on"
    drain_fast_path: str = "on"
    faust_cython: str = "off"
    stream_buffer_maxsize: int = 4096
    max_poll_records: int = 0
    batch_max: int = 1000
    batch_wait_s: float = 0.0
    cache_borrowers: int = 10_000
    session_timeout_s: float = 10.0
    log_level: str = "info"

    _CHOICES = {
        "security_protocol": ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"),
        "sasl_mechanism": ("SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"),
        "profile": ("development", "production"),
        "processing_guarantee": ("at_least_once", "exactly_once"),
        "training": ("on", "off"),
        "drain_fast_path": ("on", "off"),
        "faust_cython": ("on", "off"),
        "log_level": ("debug", "info", "warning", "error"),
    }

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for f in fields(cls):
            name = "STREAMER_" + f.name.upper()
            raw = env.get(name)
            if raw is None or raw == "":
                continue
            kind = type(f.default)
            try:
                values[f.name] = kind(raw) if kind is not str else raw
            except ValueError:
                raise SettingsError(
                    f"{name}={raw!r} is not a valid {kind.__name__}; "
                    f"set it like {name}={f.default}") from None
        values.update(overrides)
        settings = cls(**values)  # type: ignore[arg-type]
        settings.check()
        return settings

    def check(self) -> None:
        for name, allowed in self._CHOICES.items():
            if getattr(self, name) not in allowed:
                raise SettingsError(
                    f"STREAMER_{name.upper()}={getattr(self, name)!r} is not one of "
                    + ", ".join(allowed))
        for name in ("partitions", "publish_every", "snapshot_interval_days",
                     "label_horizon_days", "batch_max", "cache_borrowers",
                     "session_timeout_s", "stream_buffer_maxsize"):
            if getattr(self, name) <= 0:
                raise SettingsError(f"STREAMER_{name.upper()} must be > 0")
        if self.max_poll_records < 0:
            raise SettingsError("STREAMER_MAX_POLL_RECORDS must be >= 0 (0: no limit)")
        if self.batch_wait_s < 0:
            raise SettingsError("STREAMER_BATCH_WAIT_S must be >= 0 (0: a batch ends when "
                                "the queue runs dry)")
        if not self.store.startswith(("memory://", "rocksdb://")):
            raise SettingsError(
                f"STREAMER_STORE={self.store!r}: use memory:// (tests) or rocksdb:// (production)")
        host, _, port = self.metrics_addr.rpartition(":")
        if not host or not port.isdigit() or int(port) > 65535:
            raise SettingsError(
                f"STREAMER_METRICS_ADDR={self.metrics_addr!r}: use host:port, e.g. 127.0.0.1:9400")
        if not 0 <= self.web_port <= 65535:
            raise SettingsError(f"STREAMER_WEB_PORT={self.web_port}: use 1-65535, or 0 for none")
        for server in self.bootstrap_servers.split(","):
            h, _, p = server.strip().rpartition(":")
            if not h or not p.isdigit():
                raise SettingsError(
                    f"STREAMER_BOOTSTRAP_SERVERS={self.bootstrap_servers!r}: use host:port[,host:port...]")
        if self.security_protocol.startswith("SASL") and not (
                self.sasl_username and self.sasl_password):
            raise SettingsError(
                f"STREAMER_SECURITY_PROTOCOL={self.security_protocol} needs "
                "STREAMER_SASL_USERNAME and STREAMER_SASL_PASSWORD")
        if self.ssl_cafile and not os.path.isfile(self.ssl_cafile):
            raise SettingsError(f"STREAMER_SSL_CAFILE={self.ssl_cafile!r}: no such file")
        if not 0 <= self.early_budget < 1:
            raise SettingsError(
                f"STREAMER_EARLY_BUDGET={self.early_budget:g}: use a share of the book, "
                "e.g. 0.05 for 5%, or 0 for the fixed STREAMER_TIER_EARLY_HIGH")
        for name in ("early_min_history_days", "model_min_history_days"):
            if not 0 <= getattr(self, name) <= 3 * 365:
                raise SettingsError(
                    f"STREAMER_{name.upper()}={getattr(self, name):g}: use days between 0 "
                    "and 1095, e.g. 30")
        if self.session_timeout_s < 6:
            raise SettingsError(
                f"STREAMER_SESSION_TIMEOUT_S={self.session_timeout_s:g}: Kafka refuses less than 6")
        try:
            self.policy()
        except ValueError as exc:
            raise SettingsError(f"STREAMER_TIER_*: {exc}") from None
        if self.profile == "production":
            if self.security_protocol in ("PLAINTEXT", "SASL_PLAINTEXT"):
                raise SettingsError(
                    "STREAMER_PROFILE=production refuses an unencrypted connection: "
                    "set STREAMER_SECURITY_PROTOCOL=SASL_SSL (or SSL)")
            if len(self.model_key) < 32:
                raise SettingsError(
                    "STREAMER_PROFILE=production needs STREAMER_MODEL_KEY of 32+ characters")

    def policy(self) -> PolicyConfig:
        from streamer.core.policy import Policy

        config = PolicyConfig(watch=self.tier_watch, high=self.tier_high,
                              critical=self.tier_critical, early_high=self.tier_early_high,
                              cooldown_days=self.cooldown_days)
        Policy(config)  # validates the thresholds
        return config

    @property
    def model_key_bytes(self) -> bytes:
        # Development runs sign with a fixed, public key; production requires a real one.
        return (self.model_key or "streamer-development-key-not-secret").encode()
