"""Brokers for integration tests: Apache Kafka (KRaft) and the embedded Tansu broker.

* ``kafka_bootstrap`` (session): ``$STREAMER_TEST_BOOTSTRAP`` if set (CI starts the
  broker with ``deploy/kafka/kafka.sh start``); otherwise this session starts its own
  Apache Kafka with that script on free ports and stops it at the end. A broker that
  cannot be reached fails the tests that need it -- it never skips them.
* ``embedded_broker`` (module): a fresh :class:`streamer.embedded.EmbeddedBroker`.
* ``make_topic``: creates uniquely named topics on a given broker, deletes them after.

Every test in this folder is marked ``integration``.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streamer.embedded import BrokerUnavailableError, EmbeddedBroker, wait_for_kafka

REPO = Path(__file__).resolve().parents[2]
KAFKA_SH = REPO / "deploy" / "kafka" / "kafka.sh"
ENV_BOOTSTRAP = "STREAMER_TEST_BOOTSTRAP"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.integration)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap address of a live Apache Kafka broker (see the module docstring)."""
    given = os.environ.get(ENV_BOOTSTRAP, "").strip()
    if given:
        error = None
        try:
            wait_for_kafka(given, timeout=30)
        except BrokerUnavailableError as exc:
            error = f"{ENV_BOOTSTRAP}={given}: {exc}"
        if error:  # outside the except block: no chained traceback in the report
            pytest.fail(error, pytrace=False)
        yield given
        return

    data = tmp_path_factory.mktemp("kafka")
    port = _free_port()
    controller_port = _free_port()
    while controller_port == port:
        controller_port = _free_port()
    env = {
        **os.environ,
        "KAFKA_PORT": str(port),
        "KAFKA_CONTROLLER_PORT": str(controller_port),
        "KAFKA_DATA": str(data),
        # keep kafka.log under pytest's basetemp after the session, for post-mortems
        "KAFKA_KEEP_DATA": "1",
    }
    # The first run resolves the jars with Maven (~10-60 s); later runs take ~5 s.
    try:
        proc = subprocess.run(
            ["bash", str(KAFKA_SH), "start"],
            check=False,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
    except subprocess.TimeoutExpired as exc:
        proc = subprocess.CompletedProcess(exc.cmd, -1, "", f"timed out: {exc.stderr!r}")
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("KAFKA_BOOTSTRAP=")]
    if proc.returncode != 0 or not lines:
        subprocess.run(["bash", str(KAFKA_SH), "stop"], check=False, env=env, capture_output=True)
        pytest.fail(
            f"could not start Apache Kafka (set {ENV_BOOTSTRAP} to use a running one):\n"
            f"{proc.stderr[-4000:]}",
            pytrace=False,
        )
    bootstrap = lines[-1].split("=", 1)[1]
    try:
        yield bootstrap
    finally:
        subprocess.run(
            ["bash", str(KAFKA_SH), "stop"], check=False, env=env, capture_output=True, timeout=120
        )


@pytest.fixture(scope="module")
def embedded_broker() -> Iterator[EmbeddedBroker]:
    """A fresh embedded (Tansu, memory) broker per test module."""
    broker = EmbeddedBroker()
    error = None
    try:
        broker.start()
    except (BrokerUnavailableError, RuntimeError) as exc:
        error = f"embedded broker did not start: {exc}"
    if error:
        pytest.fail(error, pytrace=False)
    try:
        yield broker
    finally:
        broker.stop()


def unique_name(prefix: str = "it") -> str:
    """A topic (or group) name no other test or run uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


async def create_topic(
    bootstrap: str,
    name: str,
    partitions: int = 1,
    configs: dict[str, str] | None = None,
    timeout: float = 15.0,
) -> None:
    """Create a topic and wait until every partition has a leader; raise on any error.

    aiokafka's ``create_topics`` returns per-topic error codes instead of raising, so
    they are checked here. The wait matters on Apache Kafka, where a producer racing
    the leader election gets NOT_LEADER errors and retries.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        resp = await admin.create_topics(
            [NewTopic(name, partitions, 1, topic_configs=dict(configs or {}))],
            timeout_ms=int(timeout * 1000),
        )
        for err in resp.to_object()["topic_errors"]:
            if err["error_code"]:
                raise RuntimeError(
                    f"creating topic {err['topic']}: error {err['error_code']} "
                    f"{err['error_message']}"
                )
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            (meta,) = await admin.describe_topics([name])
            parts = meta["partitions"]
            if (
                meta["error_code"] == 0
                and len(parts) == partitions
                and all(p["error_code"] == 0 and p["leader"] >= 0 for p in parts)
            ):
                return
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"topic {name} has no leaders after {timeout} s: {meta}")
            await asyncio.sleep(0.1)
    finally:
        await admin.close()


async def delete_topics(bootstrap: str, names: list[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        await admin.delete_topics(names)
    finally:
        await admin.close()


@pytest.fixture
def make_topic() -> Iterator[Callable[..., str]]:
    """``make_topic(bootstrap, partitions=1, configs=None, prefix="it") -> name``.

    Creates a uniquely named topic (synchronously; call it outside a running event
    loop, or use :func:`create_topic` from async code) and deletes it after the test.
    """
    created: dict[str, list[str]] = {}

    def _make(
        bootstrap: str,
        partitions: int = 1,
        configs: dict[str, str] | None = None,
        prefix: str = "it",
    ) -> str:
        name = unique_name(prefix)
        asyncio.run(create_topic(bootstrap, name, partitions, configs))
        created.setdefault(bootstrap, []).append(name)
        return name

    yield _make
    for bootstrap, names in created.items():
        try:
            asyncio.run(delete_topics(bootstrap, names))
        except Exception as exc:  # noqa: BLE001 - cleanup must not mask the test's outcome
            warnings.warn(f"could not delete test topics {names} on {bootstrap}: {exc!r}")
