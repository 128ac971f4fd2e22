"""Brokers for integration tests: Apache Kafka (KRaft) and the embedded Tansu broker.

* ``kafka_bootstrap`` (session, defined in ``tests/conftest.py`` so that tests/reliability
  shares the broker): ``$STREAMER_TEST_BOOTSTRAP`` if set (CI starts the broker with
  ``deploy/kafka/kafka.sh start``); otherwise this session starts its own Apache Kafka
  (:class:`KafkaBroker`) on free ports and stops it at the end. A broker that cannot be
  reached fails the tests that need it -- it never skips them.
* :class:`Deployment` / :class:`WorkerProcess` and the Kafka helpers below: one test's
  topics and `streamer worker` processes, read back through their /metrics and topics
  (``deploy``, ``history`` and ``frozen_snapshot`` are fixtures of ``tests/conftest.py``).
* ``embedded_broker`` (module): a fresh :class:`streamer.runtime.embedded.EmbeddedBroker`.
* ``make_topic``: creates uniquely named topics on a given broker, deletes them after.

Every test in this folder is marked ``integration``.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from prometheus_client.parser import text_string_to_metric_families

from streamer.runtime import topics
from streamer.runtime.embedded import BrokerUnavailableError, EmbeddedBroker, wait_for_kafka  # noqa: F401
from streamer.settings import Settings
from streamer.simulate import generate
from streamer.simulate.kafka import produce

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


class KafkaBroker:
    """One Apache Kafka started with deploy/kafka/kafka.sh on free loopback ports.

    `stop()` keeps the data dir so that `start()` brings the same broker back (the
    reliability suite stops and kills brokers); `close()` stops it for good.
    """

    def __init__(self, data: Path, extra_config: Path | None = None) -> None:
        port = _free_port()
        controller_port = _free_port()
        while controller_port == port:
            controller_port = _free_port()
        self.env = {
            **os.environ,
            "KAFKA_PORT": str(port),
            "KAFKA_CONTROLLER_PORT": str(controller_port),
            "KAFKA_DATA": str(data),
            # keep kafka.log (and the log dirs) for post-mortems and restarts
            "KAFKA_KEEP_DATA": "1",
        }
        if extra_config is not None:
            self.env["KAFKA_EXTRA_CONFIG"] = str(extra_config)
        self.bootstrap = f"127.0.0.1:{port}"

    def _run(self, command: str, timeout: float = 600) -> subprocess.CompletedProcess:
        try:
            return subprocess.run(["bash", str(KAFKA_SH), command], check=False, env=self.env,
                                  capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            return subprocess.CompletedProcess(exc.cmd, -1, "", f"timed out: {exc.stderr!r}")

    def start(self) -> str:
        """Start (or restart on the same data); returns the bootstrap address or fails."""
        # The first run resolves the jars with Maven (~10-60 s); later runs take ~5 s.
        proc = self._run("start")
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("KAFKA_BOOTSTRAP=")]
        if proc.returncode != 0 or not lines:
            self._run("stop", 120)
            pytest.fail(f"could not start Apache Kafka (set {ENV_BOOTSTRAP} to use a running "
                        f"one):\n{proc.stderr[-4000:]}", pytrace=False)
        return lines[-1].split("=", 1)[1]

    def stop(self) -> None:
        """A clean shutdown (SIGTERM, controlled), data kept."""
        self._run("stop", 120)

    def kill(self) -> None:
        """SIGKILL, data kept (`kafka.sh kill`)."""
        self._run("kill", 60)

    close = stop


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


# -- deployments: topics and worker processes (shared by integration and reliability) ---
KEY = Settings().model_key_bytes
CONTEXT_FEATURES = {"industry_orders", "industry_raw_prices", "region_stress",
                    "region_unemployment", "industry_delinquency", "region_delinquency"}
BORROWER_TOPICS = set(topics.INPUT_TOPICS)
READY_S = 60.0
PROCESS_S = 120.0


class Deployment:
    """One test's topics and worker settings on the session's Kafka."""

    def __init__(self, bootstrap: str, workdir: Path, **env: str) -> None:
        prefix = unique_name("rt")
        self.env = {
            "STREAMER_BOOTSTRAP_SERVERS": bootstrap, "STREAMER_TOPIC_PREFIX": prefix + ".",
            "STREAMER_APP_ID": prefix + "-app", "STREAMER_WEB_PORT": "0",
            "STREAMER_SESSION_TIMEOUT_S": "6", "STREAMER_LOG_LEVEL": "info",
            **env,
        }
        self.settings = Settings.from_env(self.env)
        self.workdir = workdir
        self.workers: list[WorkerProcess] = []
        code = asyncio.run(topics.apply(self.settings, out=lambda _line: None))
        assert code == 0, "streamer topics apply failed"

    def topic(self, name: str) -> str:
        return topics.topic(self.settings, name)

    def start_worker(self, name: str = "w1", command: str = "worker",
                     **env: str) -> WorkerProcess:
        w = WorkerProcess({**self.env, **env}, self.workdir, name, command)
        self.workers.append(w)
        return w

    def close(self) -> None:
        for w in self.workers:
            w.kill()


class WorkerProcess:
    """`streamer worker` (or `streamer trainer`) in a child process, observed through its
    /metrics."""

    def __init__(self, env: dict[str, str], workdir: Path, name: str,
                 command: str = "worker") -> None:
        self.name = name
        self.addr = f"127.0.0.1:{_free_port()}"
        self.log_path = workdir / f"{name}.log"
        self.data_dir = workdir / f"{name}-data"
        full = {**os.environ, **env, "STREAMER_METRICS_ADDR": self.addr,
                "STREAMER_DATA_DIR": str(self.data_dir)}
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "streamer.cli", command], env=full, stdout=log,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return f"--- {self.name} log tail ---\n" + "\n".join(text[-lines:])

    def _get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://{self.addr}{path}", timeout=2) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, ""
        except OSError:
            return 0, ""

    def metrics(self) -> dict[str, float]:
        """'name{label="v",...}' (labels sorted) -> value."""
        status, text = self._get("/metrics")
        out: dict[str, float] = {}
        if status != 200:
            return out
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
                out[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
        return out

    def value(self, name: str, **labels: str) -> float:
        """Sum of the samples of `name` whose labels include `labels`."""
        total = 0.0
        for key, v in self.metrics().items():
            base, _, rest = key.partition("{")
            if base == name and all(f'{k}="{val}"' in rest for k, val in labels.items()):
                total += v
        return total

    def scored(self) -> int:
        """Borrower-topic events whose outputs are acknowledged (latency observed after)."""
        return int(self.value("streamer_processing_latency_seconds_count"))

    def wait(self, check: Callable[[], bool], what: str, timeout: float = PROCESS_S) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.25)
        state = f"exited {self.proc.returncode}" if self.proc.poll() is not None else "running"
        raise AssertionError(f"{self.name} ({state}): timed out after {timeout:g} s waiting for "
                             f"{what}\n{self.log_tail()}")

    def wait_ready(self, timeout: float = READY_S) -> None:
        self.wait(lambda: self._get("/readyz")[0] == 200, "/readyz", timeout)

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM (a graceful leave), then wait; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise AssertionError(f"{self.name} ignored SIGTERM for {timeout} s\n{self.log_tail()}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


# -- Kafka helpers ------------------------------------------------------------------------
def publish(settings: Settings, topic: str, value: bytes, key: bytes = b"champion") -> None:
    async def go() -> None:
        producer = AIOKafkaProducer(**topics.client_options(settings), acks="all",
                                    max_request_size=topics.MODEL_MAX_BYTES)
        await producer.start()
        try:
            await producer.send_and_wait(topic, value, key=key)
        finally:
            await producer.stop()

    asyncio.run(asyncio.wait_for(go(), 30))


def produce_items(settings: Settings, items: list[tuple[str, str, dict]]) -> None:
    asyncio.run(asyncio.wait_for(
        produce(items, topics.client_options(settings), settings.topic_prefix), 120))


async def partitions(settings: Settings, names: list[str]) -> list[TopicPartition]:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(**topics.client_options(settings))
    await admin.start()
    try:
        return [TopicPartition(m["topic"], p["partition"])
                for m in await admin.describe_topics(names) for p in m["partitions"]]
    finally:
        await admin.close()


def read_all(settings: Settings, topic: str, timeout: float = 30.0) -> list[Any]:
    """Every record of `topic` up to its current end offsets (no consumer group)."""
    async def go() -> list[Any]:
        tps = await partitions(settings, [topic])
        consumer = AIOKafkaConsumer(**topics.client_options(settings), enable_auto_commit=False,
                                    auto_offset_reset="earliest")
        await consumer.start()
        try:
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            ends = await consumer.end_offsets(tps)
            got: list[Any] = []
            async def behind() -> bool:
                return any([await consumer.position(tp) < ends[tp] for tp in tps])

            while await behind():
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    got.extend(records)
            return got
        finally:
            await consumer.stop()

    return asyncio.run(asyncio.wait_for(go(), timeout))


def lags(settings: Settings, names: list[str], group: str | None = None) -> dict[str, str]:
    """Partitions of `names` with messages a consumer group (by default the workers') has
    not committed: "committed/end offset" by partition."""
    from aiokafka.admin import AIOKafkaAdminClient

    async def go() -> dict[str, str]:
        admin = AIOKafkaAdminClient(**topics.client_options(settings))
        consumer = AIOKafkaConsumer(**topics.client_options(settings))
        await admin.start()
        await consumer.start()
        try:
            committed = await admin.list_consumer_group_offsets(group or settings.app_id)
            tps = await partitions(settings, names)
            ends = await consumer.end_offsets(tps)
            done = {tp: committed[tp].offset if tp in committed else 0 for tp in ends}
            return {f"{tp.topic}[{tp.partition}]": f"{done[tp]}/{end}"
                    for tp, end in ends.items() if end > done[tp]}
        finally:
            await consumer.stop()
            await admin.close()

    return asyncio.run(asyncio.wait_for(go(), 30))


def end_offsets(settings: Settings, names: list[str]) -> dict[tuple[str, int], int]:
    async def go() -> dict[tuple[str, int], int]:
        tps = await partitions(settings, names)
        consumer = AIOKafkaConsumer(**topics.client_options(settings))
        await consumer.start()
        try:
            return {(tp.topic, tp.partition): end
                    for tp, end in (await consumer.end_offsets(tps)).items()}
        finally:
            await consumer.stop()

    return asyncio.run(asyncio.wait_for(go(), 30))


def processed(*workers: WorkerProcess) -> dict[tuple[str, int], float]:
    """(topic, partition) -> newest offset with outputs and state durable, over `workers`."""
    seen: dict[tuple[str, int], float] = {}
    for w in workers:
        for key, value in w.metrics().items():
            if key.startswith("streamer_processed_offset{"):
                labels = dict(part.split("=", 1) for part in key[26:-1].split(","))
                tp = (labels["topic"].strip('"'), int(labels["partition"].strip('"')))
                seen[tp] = max(seen.get(tp, -1), value)
    return seen


def wait_processed(d: Deployment, *workers: WorkerProcess, timeout: float = PROCESS_S) -> None:
    """Until the workers have processed every borrower event now on the input topics.

    "Processed" is the worker's `streamer_processed_offset`: outputs acknowledged and state
    persisted. Consumer-group commits follow every few seconds (and are checked apart:
    after a rebalance Faust's own commit bookkeeping can lag, see the report).
    """
    ends = end_offsets(d.settings, [d.topic(n) for n in topics.INPUT_TOPICS])
    t0 = time.monotonic()

    def done() -> bool:
        seen = processed(*workers)
        return all(seen.get(tp, -1) >= end - 1 for tp, end in ends.items() if end > 0)

    try:
        workers[0].wait(done, "every input event processed", timeout)
    except AssertionError as exc:  # say which partitions lag, and by how much
        seen = processed(*workers)
        behind = {f"{tp[0]}[{tp[1]}]": f"{seen.get(tp, -1):.0f}/{end - 1}"
                  for tp, end in ends.items() if end > 0 and seen.get(tp, -1) < end - 1}
        raise AssertionError(f"processed/last offset of lagging partitions: {behind}\n"
                             f"{exc}") from None
    if os.environ.get("STREAMER_TEST_VERBOSE"):
        print(f"processed in {time.monotonic() - t0:.1f} s")


def wait_committed(d: Deployment, worker: WorkerProcess, timeout: float = PROCESS_S) -> float:
    """Until the workers' group has committed every input message, and the macro
    readings' validator group every reading; returns the seconds it took."""
    inputs = [d.topic(n) for n in topics.INPUT_TOPICS]
    macro, checks = [d.topic(topics.MACRO_TOPIC)], f"{d.settings.app_id}.{topics.MACRO_TOPIC}.check"

    def lagging() -> dict[str, str]:
        return {**lags(d.settings, inputs), **lags(d.settings, macro, checks)}

    t0 = time.monotonic()
    try:
        worker.wait(lambda: not lagging(), "consumer-group lag 0", timeout)
    except AssertionError as exc:  # say which partitions, and what the worker processed
        seen = processed(worker)
        raise AssertionError(f"committed/end offset of lagging partitions: "
                             f"{lagging()}; processed: {seen}\n{exc}") from None
    return time.monotonic() - t0


def alerts_of(settings: Settings) -> list[dict]:
    records = read_all(settings, topics.topic(settings, topics.ALERTS))
    out = []
    for r in records:
        a = msgspec.json.decode(r.value)
        assert r.key == a["borrower_id"].encode(), "alerts are keyed by borrower id"
        out.append(a)
    return out


def simulated(scenario: str, borrowers: int, days: int, seed: int,
              start: str = "2026-01-01") -> list[tuple[str, str, dict]]:
    return list(generate(scenario, borrowers, days, seed, start).events())


def count_borrower_events(items: list[tuple[str, str, dict]]) -> int:
    return sum(1 for topic, _, _ in items if topic in BORROWER_TOPICS)




def pickle_version(blob: bytes) -> int:
    from streamer.core.model import load_snapshot

    return load_snapshot(blob, KEY)[0]


def assert_same_alerts(got: list[dict], expected: list[dict]) -> None:
    """Same alerts, field for field (emitted_at aside), in the same order per borrower."""
    def key(a: dict) -> tuple:
        return tuple((k, json.dumps(v, sort_keys=True)) for k, v in sorted(a.items())
                     if k != "emitted_at")

    def by_borrower(alerts: list[dict]) -> dict[str, list[tuple]]:
        out: dict[str, list[tuple]] = defaultdict(list)
        for a in alerts:
            out[a["borrower_id"]].append(key(a))
        return out

    got_ids = [a["alert_id"] for a in got]
    assert len(got_ids) == len(set(got_ids)), "an alert was emitted twice"
    missing = {a["alert_id"] for a in expected} - set(got_ids)
    extra = set(got_ids) - {a["alert_id"] for a in expected}
    assert not missing and not extra, f"{len(missing)} missing, {len(extra)} extra alerts"
    assert by_borrower(got) == by_borrower(expected)


# Produces the items of $ITEMS (written whole before the process starts: write_atomically)
# in another process, so that a test can kill a worker while they stream in.
PRODUCE_REST = """
import asyncio, os, msgspec
from pathlib import Path
from streamer.simulate.kafka import produce
items = [tuple(x) for x in msgspec.json.decode(Path(os.environ["ITEMS"]).read_bytes())]
asyncio.run(produce(items, {"bootstrap_servers": os.environ["BOOTSTRAP"]},
                    os.environ["PREFIX"], rate=float(os.environ.get("RATE", "4000"))))
"""


def write_atomically(path: Path, data: bytes) -> Path:
    """Write `path` whole or not at all (a temporary file renamed), e.g. before a child
    process that reads it starts."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path
