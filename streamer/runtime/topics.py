"""`streamer topics apply`: create the topics of `topics/topics.yaml` (and the changelogs).

Workers never create topics (Faust's ``topic_allow_declare`` is off): production clusters
usually forbid it, and a topic created on the fly gets the broker's defaults instead of the
cleanup policy and retention the contract asks for. This command creates each topic with
its partitions, ``cleanup.policy`` and ``retention.ms`` set explicitly (the embedded broker
reports no configs otherwise), plus the Faust changelog topic of the worker's borrower
table (compacted, never deleted by time). It is safe to run again: an existing topic is checked,
not recreated, and one whose partition count or cleanup policy differs is reported (exit
status 1), never silently kept.

`--partitions N` (default STREAMER_PARTITIONS) sets the partition count of every topic that
topics.yaml does not pin to a single partition; the borrower-keyed inputs and the borrower
table's changelog must agree on it, because a borrower's events and state live in the
partition of the same number.
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import sys
from dataclasses import dataclass
from typing import Any

from aiokafka.partitioner import murmur2

from streamer.contract import (  # noqa: F401 - the topics' names, for the runtime's modules
    ALERTS,
    DEADLETTER,
    INPUT_TOPICS,
    MACRO_TOPIC,
    MODELS,
    SCORES,
    TRAINING,
    load_topics,
)
from streamer.settings import Settings

# The worker's table (streamer/runtime/app.py); Faust names a changelog "<app id>-<table>-changelog".
BORROWERS_TABLE = "borrowers"

# A signed snapshot carries the trainer's rolling quality windows and the challenger tree:
# about 1.6 MB after a year of examples, above Kafka's 1 MB default message size.
MODEL_MAX_BYTES = 32 * 1024 * 1024
EXTRA_CONFIGS = {MODELS: {"max.message.bytes": str(MODEL_MAX_BYTES)}}

_TOPIC_ALREADY_EXISTS = 36


@dataclass(frozen=True)
class Planned:
    name: str
    partitions: int
    configs: dict[str, str]

    @property
    def cleanup(self) -> str:
        return self.configs["cleanup.policy"]


def topic(settings: Settings, name: str) -> str:
    """The real name of a topic of topics.yaml (STREAMER_TOPIC_PREFIX applied)."""
    return settings.topic_prefix + name


def changelog(settings: Settings, table: str) -> str:
    return f"{settings.app_id}-{table}-changelog"


def plan(settings: Settings, partitions: int | None = None) -> list[Planned]:
    """Every topic the service needs, with its partitions and configs."""
    n = partitions or settings.partitions
    out = []
    for spec in load_topics():
        configs = {"cleanup.policy": spec.cleanup_policy, "retention.ms": str(spec.retention_ms)}
        configs.update(EXTRA_CONFIGS.get(spec.name, {}))
        out.append(Planned(topic(settings, spec.name), 1 if spec.partitions == 1 else n, configs))
    compacted = {"cleanup.policy": "compact", "retention.ms": "-1"}
    out.append(Planned(changelog(settings, BORROWERS_TABLE), n, compacted))
    return out


def client_options(settings: Settings) -> dict[str, Any]:
    """aiokafka client keyword arguments (bootstrap, TLS, SASL) from the settings."""
    opts: dict[str, Any] = {"bootstrap_servers": settings.bootstrap_servers.split(","),
                            "security_protocol": settings.security_protocol}
    if settings.security_protocol in ("SSL", "SASL_SSL"):
        opts["ssl_context"] = ssl_context(settings)
    if settings.security_protocol.startswith("SASL"):
        opts.update(sasl_mechanism=settings.sasl_mechanism,
                    sasl_plain_username=settings.sasl_username,
                    sasl_plain_password=settings.sasl_password)
    return opts


def ssl_context(settings: Settings) -> ssl.SSLContext:
    """Verify the brokers' certificates against STREAMER_SSL_CAFILE (or the system's CAs)."""
    return ssl.create_default_context(cafile=settings.ssl_cafile or None)


def default_partition(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner gives a key (murmur2, as the Java client):
    where the producers put a borrower's events, so where its state and changelog are.

    >>> from aiokafka.partitioner import DefaultPartitioner
    >>> default_partition(b"borrower-42", 12) == DefaultPartitioner()(b"borrower-42", list(range(12)), [])
    True
    """
    return (murmur2(key) & 0x7FFFFFFF) % partitions


async def publish_model(settings: Settings, snapshot: bytes) -> None:
    """Put a signed model snapshot on risk.models (acknowledged), as the trainer does."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(**client_options(settings), acks="all",
                                max_request_size=MODEL_MAX_BYTES)
    await producer.start()
    try:
        await producer.send_and_wait(topic(settings, MODELS), snapshot, key=b"champion")
    finally:
        await producer.stop()


async def describe(admin: Any, names: list[str]) -> dict[str, tuple[int, str | None]]:
    """name -> (partition count, cleanup.policy or None if not reported) for existing topics."""
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    existing = set(await admin.list_topics())
    present = [n for n in names if n in existing]
    out: dict[str, tuple[int, str | None]] = {}
    if not present:
        return out
    for meta in await admin.describe_topics(present):
        if meta["error_code"] == 0:
            out[meta["topic"]] = (len(meta["partitions"]), None)
    resources = [ConfigResource(ConfigResourceType.TOPIC, n) for n in out]
    for resp in await admin.describe_configs(resources):
        for res in resp.to_object()["resources"]:
            entries = {e["config_names"]: e["config_value"] for e in res["config_entries"]}
            name = res["resource_name"]
            if name in out:
                out[name] = (out[name][0], entries.get("cleanup.policy"))
    return out


def problems(wanted: list[Planned], found: dict[str, tuple[int, str | None]]) -> list[str]:
    """What differs between the plan and the cluster (missing topics included)."""
    out = []
    for t in wanted:
        if t.name not in found:
            out.append(f"{t.name}: missing")
            continue
        parts, cleanup = found[t.name]
        if parts != t.partitions:
            out.append(f"{t.name}: has {parts} partitions, expected {t.partitions}")
        if cleanup is not None and cleanup != t.cleanup:
            out.append(f"{t.name}: cleanup.policy={cleanup}, expected {t.cleanup}")
    return out


async def apply(settings: Settings, partitions: int | None = None,
                timeout: float = 30.0, out=print) -> int:
    """Create what is missing, report what differs; 0 when every topic is as planned."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    wanted = plan(settings, partitions)
    admin = AIOKafkaAdminClient(**client_options(settings), request_timeout_ms=int(timeout * 1000))
    await admin.start()
    try:
        found = await describe(admin, [t.name for t in wanted])
        missing = [t for t in wanted if t.name not in found]
        if missing:
            resp = await admin.create_topics(
                [NewTopic(t.name, t.partitions, 1, topic_configs=t.configs) for t in missing],
                timeout_ms=int(timeout * 1000))
            for err in resp.to_object()["topic_errors"]:
                code = err["error_code"]
                if code and code != _TOPIC_ALREADY_EXISTS:
                    raise RuntimeError(f"creating {err['topic']}: error {code} "
                                       f"{err.get('error_message') or ''}".strip())
            for t in missing:
                out(f"created {t.name} ({t.partitions} partitions, {t.cleanup}, "
                    f"retention.ms={t.configs['retention.ms']})")
            found = await _wait_until_described(admin, wanted, timeout)
        bad = problems(wanted, found)
        for line in bad:
            out(f"MISMATCH {line}")
        kept = len(wanted) - len(missing)
        out(f"{len(wanted)} topics: {len(missing)} created, {kept} already there, "
            f"{len(bad)} mismatched")
        return 1 if bad else 0
    finally:
        await admin.close()


async def check(settings: Settings, timeout: float = 30.0) -> list[str]:
    """Problems with the cluster's topics, for a worker about to start ([] when ready)."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(**client_options(settings), request_timeout_ms=int(timeout * 1000))
    await admin.start()
    try:
        wanted = plan(settings)
        return problems(wanted, await describe(admin, [t.name for t in wanted]))
    finally:
        await admin.close()


async def _wait_until_described(admin: Any, wanted: list[Planned], timeout: float
                                ) -> dict[str, tuple[int, str | None]]:
    """Topic creation is asynchronous on Kafka: wait until every new topic has its leaders."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    names = [t.name for t in wanted]
    while True:
        found = await describe(admin, names)
        if len(found) == len(names):
            metas = await admin.describe_topics(names)
            if all(p["leader"] >= 0 for m in metas for p in m["partitions"]):
                return found
        if loop.time() > deadline:
            return found
        await asyncio.sleep(0.2)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["apply", "plan"],
                        help="apply: create missing topics and check the others; "
                             "plan: print what apply would create")
    parser.add_argument("--bootstrap", metavar="HOST:PORT[,...]",
                        help="Kafka bootstrap servers (default: STREAMER_BOOTSTRAP_SERVERS)")
    parser.add_argument("--partitions", type=int, metavar="N",
                        help="partitions of the borrower-keyed topics "
                             "(default: STREAMER_PARTITIONS)")
    parser.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                        help="give up on an unreachable cluster after this long (default 30)")


def settings_from(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    if getattr(args, "bootstrap", None):
        overrides["bootstrap_servers"] = args.bootstrap
    return Settings.from_env(**overrides)


def run(args: argparse.Namespace) -> int:
    if args.partitions is not None and args.partitions < 1:
        print("streamer topics: --partitions must be at least 1", file=sys.stderr)
        return 2
    settings = settings_from(args)
    import logging

    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # the error is reported below
    if args.action == "plan":
        for t in plan(settings, args.partitions):
            configs = ",".join(f"{k}={v}" for k, v in t.configs.items())
            print(f"{t.name}\t{t.partitions}\t{configs}")
        return 0
    try:
        return asyncio.run(asyncio.wait_for(
            apply(settings, args.partitions, args.timeout), args.timeout * 3))
    except (OSError, asyncio.TimeoutError) as exc:
        print(f"streamer topics: cannot reach Kafka at {settings.bootstrap_servers}: "
              f"{exc or type(exc).__name__}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - a KafkaError, named in one line
        print(f"streamer topics: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
