"""`streamer topics apply` on Apache Kafka and on the embedded broker."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from streamer.contract import load_topics
from streamer.runtime import topics
from streamer.runtime.embedded import EmbeddedBroker
from streamer.settings import Settings
from tests.integration.conftest import unique_name


def settings_for(bootstrap: str, **extra: str) -> Settings:
    return Settings.from_env({"STREAMER_BOOTSTRAP_SERVERS": bootstrap,
                              "STREAMER_TOPIC_PREFIX": unique_name("tp") + ".",
                              "STREAMER_APP_ID": unique_name("tp-app"), **extra})


async def describe(settings: Settings, names: list[str]) -> dict[str, dict[str, Any]]:
    """name -> {"partitions": n, <config>: value, ...}"""
    admin = AIOKafkaAdminClient(**topics.client_options(settings))
    await admin.start()
    try:
        out: dict[str, dict[str, Any]] = {}
        for meta in await admin.describe_topics(names):
            assert meta["error_code"] == 0, meta
            out[meta["topic"]] = {"partitions": len(meta["partitions"])}
        resources = [ConfigResource(ConfigResourceType.TOPIC, n) for n in names]
        for resp in await admin.describe_configs(resources):
            for res in resp.to_object()["resources"]:
                out[res["resource_name"]].update(
                    {e["config_names"]: e["config_value"] for e in res["config_entries"]})
        return out
    finally:
        await admin.close()


def apply(settings: Settings, partitions: int | None = None) -> tuple[int, list[str]]:
    lines: list[str] = []
    code = asyncio.run(asyncio.wait_for(
        topics.apply(settings, partitions, out=lines.append), 60))
    return code, lines


def cli(settings: Settings, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "STREAMER_TOPIC_PREFIX": settings.topic_prefix,
           "STREAMER_APP_ID": settings.app_id}
    return subprocess.run([sys.executable, "-m", "streamer.cli", "topics", "apply",
                           "--bootstrap", settings.bootstrap_servers, *args],
                          env=env, capture_output=True, text=True, timeout=120)


def check_created(settings: Settings, partitions: int) -> None:
    plan = topics.plan(settings, partitions)
    got = asyncio.run(describe(settings, [t.name for t in plan]))
    specs = {topics.topic(settings, s.name): s for s in load_topics()}
    for t in plan:
        d = got[t.name]
        assert d["partitions"] == t.partitions, t.name
        assert d["cleanup.policy"] == t.configs["cleanup.policy"], t.name
        assert d["retention.ms"] == t.configs["retention.ms"], t.name
        spec = specs.get(t.name)
        if spec is not None:  # a topic of topics.yaml, as written there
            assert d["cleanup.policy"] == spec.cleanup_policy
            assert int(d["retention.ms"]) == spec.retention_ms
            assert d["partitions"] == (1 if spec.partitions == 1 else partitions)
        else:  # the borrower table's changelog: compacted, never deleted by time
            assert t.name == topics.changelog(settings, topics.BORROWERS_TABLE)
            assert (d["cleanup.policy"], d["retention.ms"]) == ("compact", "-1")
            assert d["partitions"] == partitions
    assert int(got[topics.topic(settings, topics.MODELS)]["max.message.bytes"]) >= 16 << 20


def test_apply_creates_every_topic_and_is_safe_to_rerun(kafka_bootstrap: str) -> None:
    settings = settings_for(kafka_bootstrap)
    code, lines = apply(settings, 6)
    assert code == 0, lines
    assert lines[-1].startswith(f"{len(topics.plan(settings))} topics: "
                                f"{len(topics.plan(settings))} created")
    check_created(settings, 6)
    out = cli(settings, "--partitions", "6")  # again, through the command
    assert out.returncode == 0, out.stderr
    assert "0 created" in out.stdout and "0 mismatched" in out.stdout


def test_a_topic_with_other_partitions_or_policy_is_reported_not_kept(kafka_bootstrap: str) -> None:
    settings = settings_for(kafka_bootstrap)
    alerts = topics.topic(settings, topics.ALERTS)
    changelog = topics.changelog(settings, topics.BORROWERS_TABLE)

    async def precreate() -> None:
        admin = AIOKafkaAdminClient(**topics.client_options(settings))
        await admin.start()
        try:
            await admin.create_topics([
                NewTopic(alerts, 2, 1, topic_configs={"cleanup.policy": "delete"}),
                NewTopic(changelog, 4, 1, topic_configs={"cleanup.policy": "delete"}),
            ])
        finally:
            await admin.close()

    asyncio.run(precreate())
    out = cli(settings)
    assert out.returncode == 1, (out.stdout, out.stderr)
    assert f"MISMATCH {alerts}: has 2 partitions, expected 4" in out.stdout
    assert f"MISMATCH {changelog}: cleanup.policy=delete, expected compact" in out.stdout
    assert "created" in out.stdout  # the others were created all the same
    # the mismatched topics are kept as they are (nothing is deleted or recreated)
    got = asyncio.run(describe(settings, [alerts]))
    assert got[alerts]["partitions"] == 2


def test_apply_sets_configs_the_embedded_broker_reports(embedded_broker: EmbeddedBroker) -> None:
    """Tansu reports only configs given at creation: apply gives them all."""
    settings = settings_for(embedded_broker.bootstrap)
    code, lines = apply(settings)
    assert code == 0, lines
    check_created(settings, settings.partitions)
