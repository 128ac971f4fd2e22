"""The Kafka runtime on Apache Kafka: workers as separate processes, as in production.

Each test gets its own topics (STREAMER_TOPIC_PREFIX) and consumer group (STREAMER_APP_ID)
on the session's broker, created by `streamer topics apply`. Workers run as `streamer
worker` child processes; the tests wait on their /metrics (never on sleeps) and read the
output topics back with aiokafka (and kcat). Every wait has a timeout.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import pickle
import shutil
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import jsonschema
import msgspec
import pytest
from aiokafka import AIOKafkaProducer

from streamer.replay import replay
from streamer.runtime import topics
from streamer.settings import Settings
from tests.integration.conftest import (
    PRODUCE_REST,
    READY_S,
    Deployment,
    _free_port,
    alerts_of,
    assert_same_alerts,
    count_borrower_events,
    pickle_version,
    produce_items,
    publish,
    read_all,
    simulated,
    unique_name,
    wait_committed,
    wait_processed,
    write_atomically,
)

REPO = Path(__file__).resolve().parents[2]
ALERT_SCHEMA = json.loads((REPO / "topics" / "schemas" / "alert.json").read_text())
@pytest.fixture(scope="session")
def kcat() -> str:
    """The kcat binary (Debian package `kcat`), installed here if missing and we may."""
    path = shutil.which("kcat")
    if path is None and hasattr(os, "geteuid") and os.geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "-q", "kcat"], capture_output=True,
                       timeout=300, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        path = shutil.which("kcat")
    if path is None:
        pytest.fail("kcat is not installed (apt-get install kcat; ./dev.sh setup does it)",
                    pytrace=False)
    return path


# -- the tests ------------------------------------------------------------------------------
def test_end_to_end_alerts_validate_and_reach_a_non_python_client(
        deploy: Callable[..., Deployment], history: tuple[bytes, list[dict]], kcat: str) -> None:
    """Simulated portfolio in -> schema-valid alerts out, read by aiokafka and by kcat.

    A poison message and an invalid event in the middle become dead letters and the
    stream goes on.
    """
    d = deploy()
    publish(d.settings, d.topic(topics.MODELS), history[0])
    items = simulated("industry_downturn", 150, 200, seed=21)
    half = len(items) // 2
    poison = [("credit.transactions", "b-poison", None), ("credit.repayments", "b0000001", None)]
    worker = d.start_worker()
    produce_items(d.settings, items[:half])

    async def bad() -> None:
        producer = AIOKafkaProducer(**topics.client_options(d.settings))
        await producer.start()
        try:
            await producer.send_and_wait(d.topic("credit.transactions"), b"\x00\xffnot json",
                                         key=b"b-poison")
            await producer.send_and_wait(d.topic("credit.repayments"), json.dumps(
                {"event_id": "bad-1", "type": "payment", "borrower_id": "b0000001",
                 "ts": "2026-03-01T08:00:00Z", "v": 1, "loan_id": "L1", "amount": -5}).encode(),
                key=b"b0000001")
        finally:
            await producer.stop()

    asyncio.run(asyncio.wait_for(bad(), 30))
    produce_items(d.settings, items[half:])
    expected = count_borrower_events(items) + len(poison)
    worker.wait(lambda: worker.scored() >= expected, f"{expected} events scored")

    alerts = alerts_of(d.settings)
    assert len(alerts) >= 20, f"only {len(alerts)} alerts"
    for a in alerts:
        jsonschema.validate(a, ALERT_SCHEMA, cls=jsonschema.Draft202012Validator)
    assert {a["tier"] for a in alerts} >= {"watch", "high"}

    out = subprocess.run(
        [kcat, "-b", d.settings.bootstrap_servers, "-C", "-t", d.topic(topics.ALERTS), "-e",
         "-q", "-f", "%k\t%s\n"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    via_kcat = [line.split("\t", 1) for line in out.stdout.splitlines() if line]
    assert sorted(json.loads(v)["alert_id"] for _, v in via_kcat) == \
        sorted(a["alert_id"] for a in alerts)
    assert all(json.loads(v)["borrower_id"] == k for k, v in via_kcat)

    dead = [msgspec.json.decode(r.value) for r in read_all(d.settings, d.topic(topics.DEADLETTER))]
    assert {(x["topic"], x["error"][:14]) for x in dead} == {
        (d.topic("credit.transactions"), "not valid JSON"),
        (d.topic("credit.repayments"), "Expected `floa")}, dead
    assert all(x["offset"] >= 0 and x["raw"] for x in dead)

    scores = read_all(d.settings, d.topic(topics.SCORES))
    assert len(scores) == count_borrower_events(items), "one score update per valid event"
    m = worker.metrics()
    assert worker.value("streamer_deadletters_total") == 2
    assert worker.value("streamer_alerts_total") == len(alerts)
    assert worker.value("streamer_model_version") >= 1
    ids = {key for _, key, _ in items}
    assert not any(f'"{bid}"' in k for k in m for bid in ids), "a borrower id in a label"
    assert worker.stop() == 0


def test_frozen_worker_alerts_equal_replay(deploy: Callable[..., Deployment],
                                           frozen_snapshot: bytes, tmp_path: Path) -> None:
    """With learning off and one fixed snapshot, the worker says what `replay` says.

    Kafka orders messages per partition only, and the contract spreads a borrower's events
    over four topics: a consumer that drains a backlog interleaves those topics in an
    order of its own. The test therefore sends every borrower event through one topic
    (the worker does not care which input topic an event comes on), keyed by borrower, so
    that each borrower's events reach the worker in the file's order; the snapshot has no
    context features (see `frozen_snapshot`). Macro readings still go to their topic.
    """
    d = deploy(STREAMER_TRAINING="off")
    publish(d.settings, d.topic(topics.MODELS), frozen_snapshot)
    items = simulated("industry_downturn", 150, 240, seed=33)
    routed = [(t if t == topics.MACRO_TOPIC else "credit.repayments", k, e) for t, k, e in items]
    expected = replayed_alerts(items, d.settings, frozen_snapshot, tmp_path)
    assert len(expected) >= 30

    worker = d.start_worker()
    produce_items(d.settings, routed)
    wait_processed(d, worker)
    assert worker.scored() == count_borrower_events(items)
    got = alerts_of(d.settings)
    assert worker.value("streamer_model_version") == pickle_version(frozen_snapshot)
    assert_same_alerts(got, expected)
    assert worker.stop() == 0


def replayed_alerts(items: list[tuple[str, str, dict]], settings: Settings, model: bytes,
                    tmp_path: Path) -> list[dict]:
    """The oracle: `streamer replay`'s alerts for the same events, with the frozen model."""
    events_file = tmp_path / "events.jsonl"
    events_file.write_bytes(b"".join(msgspec.json.encode(e) + b"\n" for _, _, e in items))
    replayed = io.BytesIO()
    replay(events_file, alerts=replayed, settings=settings, model=model, learn=False)
    return [msgspec.json.decode(line) for line in replayed.getvalue().splitlines()]


@pytest.mark.parametrize("store,stop", [("memory://", "graceful"), ("rocksdb://", "crash")])
def test_two_workers_split_partitions_and_hand_over_state(
        deploy: Callable[..., Deployment], frozen_snapshot: bytes, tmp_path: Path,
        store: str, stop: str) -> None:
    """Two workers share the partitions; one stops (or is killed); the other goes on.

    Proof of the hand-over: the alerts of the whole run, across the stop, equal an
    uninterrupted replay's -- alert_id for alert_id, each borrower's tier history
    continuing (previous_tier) -- so no borrower is "raised" again after a hand-over.
    `crash` kills the worker (SIGKILL) while it is processing: events it had not
    committed are processed again by the other, whose state comes from the changelog.
    """
    d = deploy(STREAMER_TRAINING="off", STREAMER_STORE=store)
    publish(d.settings, d.topic(topics.MODELS), frozen_snapshot)
    items = simulated("industry_downturn", 200, 240, seed=44)
    routed = [(t if t == topics.MACRO_TOPIC else "credit.repayments", k, e) for t, k, e in items]
    expected = replayed_alerts(items, d.settings, frozen_snapshot, tmp_path)

    a, b = d.start_worker("a"), d.start_worker("b")
    a.wait_ready()
    b.wait_ready()
    inputs = d.topic("credit.repayments")
    both = lambda: (a.value("streamer_assigned_partitions", topic=inputs),  # noqa: E731
                    b.value("streamer_assigned_partitions", topic=inputs))
    a.wait(lambda: both() == (2, 2), "a 2/2 split of the input partitions")

    cut = len(routed) // 2
    first = count_borrower_events(routed[:cut])
    produce_items(d.settings, routed[:cut])
    a.wait(lambda: a.scored() + b.scored() >= first, f"{first} events scored by a and b")
    assert a.scored() > 0 and b.scored() > 0, "both workers processed events"

    if stop == "graceful":
        assert b.stop() == 0
        produce_items(d.settings, routed[cut:])
    else:
        by_b = b.scored()
        rest = write_atomically(tmp_path / "rest.json", msgspec.json.encode(routed[cut:]))
        producing = subprocess.Popen([sys.executable, "-c", PRODUCE_REST], env={
            **os.environ, "BOOTSTRAP": d.settings.bootstrap_servers,
            "PREFIX": d.settings.topic_prefix, "ITEMS": str(rest)},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        b.wait(lambda: b.scored() > by_b + 200, "b processing the second half", 60)
        b.kill()
        assert producing.wait(60) == 0, producing.stdout.read()
    a.wait(lambda: a.value("streamer_assigned_partitions", topic=inputs) == 4,
           "a taking over b's partitions")
    wait_processed(d, a)
    # ... and the group's commits follow (Faust's own bookkeeping, repaired by the worker)
    seconds = wait_committed(d, a, 60)
    if os.environ.get("STREAMER_TEST_VERBOSE"):
        print(f"committed in {seconds:.1f} s")

    got = alerts_of(d.settings)
    # At least once: a hand-over may replay uncommitted events; their alerts repeat with
    # the same alert_id, and a consumer drops the repeats.
    unique = list({al["alert_id"]: al for al in got}.values())
    assert_same_alerts(unique, expected)
    history = defaultdict(list)
    for al in unique:
        history[al["borrower_id"]].append(al)
    for alerts in history.values():
        for before, after in zip(alerts, alerts[1:]):
            assert after["previous_tier"] == before["tier"], (before, after)
    assert a.stop() == 0


def test_forged_and_unsigned_snapshots_are_refused_and_counted(
        deploy: Callable[..., Deployment], history: tuple[bytes, list[dict]]) -> None:
    """Every worker refuses unsigned, tampered and foreign-key snapshots and keeps its model."""
    good = history[0]
    version = pickle_version(good)
    d = deploy(STREAMER_TRAINING="off")
    publish(d.settings, d.topic(topics.MODELS), good)
    workers = [d.start_worker("a"), d.start_worker("b")]
    for w in workers:
        w.wait(lambda w=w: w.value("streamer_model_version") == version, f"model v{version}",
               READY_S)

    from streamer.core.model import MAGIC, sign

    payload = good[len(MAGIC) + 32:]
    evil = pickle.dumps({"version": version + 100, "model": None})
    forged = [
        evil,  # unsigned pickle
        good[:-1] + bytes([good[-1] ^ 1]),  # tampered payload
        sign(evil, b"k" * 32),  # signed with another key
        MAGIC + b"\x00" * 32 + payload,  # a header with a zero signature
    ]
    for blob in forged:
        publish(d.settings, d.topic(topics.MODELS), blob)
    for w in workers:
        w.wait(lambda w=w: w.value("streamer_snapshots_refused_total") == len(forged),
               f"{len(forged)} refusals", 30)
        assert w.value("streamer_model_version") == version

    items = simulated("industry_downturn", 60, 150, seed=55)
    produce_items(d.settings, items)
    a, b = workers
    wait_processed(d, a, b)
    assert a.scored() + b.scored() >= count_borrower_events(items)
    alerts = alerts_of(d.settings)
    assert alerts and {al["model_version"] for al in alerts} == {version}
    for w in workers:
        assert w.stop() == 0


def test_worker_refuses_to_start_without_its_topics(kafka_bootstrap: str, tmp_path: Path) -> None:
    env = {**os.environ, "STREAMER_BOOTSTRAP_SERVERS": kafka_bootstrap,
           "STREAMER_TOPIC_PREFIX": unique_name("none") + ".",
           "STREAMER_METRICS_ADDR": f"127.0.0.1:{_free_port()}"}
    out = subprocess.run([sys.executable, "-m", "streamer.cli", "worker"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "run `streamer topics apply`" in out.stderr and "missing" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_training_publishes_snapshots_that_every_worker_loads(
        deploy: Callable[..., Deployment], history: tuple[bytes, list[dict]]) -> None:
    """The trainer learns risk.training, publishes to risk.models; all workers swap to it."""
    d = deploy(STREAMER_PUBLISH_EVERY="200")
    start = pickle_version(history[0])
    publish(d.settings, d.topic(topics.MODELS), history[0])
    # crafted examples naming a feature the engine does not compute: had the trainer
    # learned them, every worker would fail every event on the next snapshot
    for i in range(3):
        crafted = {"borrower_id": "b", "ts": "2026-01-01T00:00:00Z", "label": i % 2,
                   "score": 0.1, "model_version": 1, "features": {"dpd_now": 0.0, "x": i}}
        publish(d.settings, d.topic(topics.TRAINING), json.dumps(crafted).encode(), b"b")
    a, b = d.start_worker("a"), d.start_worker("b")
    items = simulated("industry_downturn", 200, 300, seed=66)
    produce_items(d.settings, items)
    wait_processed(d, a, b)
    examples = len(read_all(d.settings, d.topic(topics.TRAINING))) - 3  # not the crafted
    assert examples >= 400
    learned = lambda: a.value("streamer_training_examples_total") + b.value(  # noqa: E731
        "streamer_training_examples_total")
    a.wait(lambda: learned() >= examples, f"{examples} examples learned")
    a.wait(lambda: min(a.value("streamer_model_version"), b.value("streamer_model_version"))
           > start, "a newer model on both workers")
    # the trainer resumed from the published snapshot (versions go on from it) and every
    # worker scores with the newest one
    published = [pickle_version(r.value) for r in read_all(d.settings, d.topic(topics.MODELS))]
    assert published[0] == start and published == sorted(published) and published[-1] > start
    a.wait(lambda: a.value("streamer_model_version") == b.value("streamer_model_version")
           == published[-1], f"both workers on model v{published[-1]}")
    dead = [json.loads(r.value) for r in read_all(d.settings, d.topic(topics.DEADLETTER))]
    refused = [x for x in dead if x["topic"] == d.topic(topics.TRAINING)]
    assert len(refused) == 3 and all("unknown feature" in x["error"] for x in refused)
    for w in (a, b):
        assert w.stop() == 0


def test_a_trainer_apart_learns_and_the_workers_that_never_learn_load_its_models(
        deploy: Callable[..., Deployment], history: tuple[bytes, list[dict]]) -> None:
    """Roles: workers with STREAMER_TRAINING=off score and learn nothing; `streamer
    trainer` learns every example and publishes; the workers swap to its models."""
    d = deploy(STREAMER_TRAINING="off", STREAMER_PUBLISH_EVERY="200")
    start = pickle_version(history[0])
    publish(d.settings, d.topic(topics.MODELS), history[0])
    w = d.start_worker("w")
    trainer = d.start_worker("trainer", command="trainer")
    trainer.wait_ready()
    produce_items(d.settings, simulated("industry_downturn", 200, 300, seed=67))
    wait_processed(d, w)
    examples = len(read_all(d.settings, d.topic(topics.TRAINING)))
    assert examples >= 400
    trainer.wait(lambda: trainer.value("streamer_training_examples_total") >= examples,
                 f"{examples} examples learned by the trainer")
    published = [pickle_version(r.value) for r in read_all(d.settings, d.topic(topics.MODELS))]
    assert published[0] == start and published[-1] > start  # it resumed from the snapshot
    w.wait(lambda: w.value("streamer_model_version") == published[-1],
           f"the worker on model v{published[-1]}")
    # the worker learned nothing itself, and the trainer scored nothing
    assert w.value("streamer_training_examples_total") == 0
    assert trainer.scored() == 0
    for p in (w, trainer):
        assert p.stop() == 0


def test_a_range_is_read_from_kafka_and_a_read_that_cannot_finish_gives_up(
        kafka_bootstrap: str, make_topic: Callable[..., str],
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """`RangeReader` on a real broker: the records asked for, in order, and the group's
    commit (the log's start without one); a range that never fills (past the log's end)
    ends in an error after GIVE_UP_S of attempts, each with a consumer of its own,
    instead of stalling the agent."""
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from faust.types import TP

    from streamer.faust015 import offsets as offsets_module
    from streamer.faust015.offsets import RangeReader

    topic = make_topic(kafka_bootstrap, partitions=2)
    tp = TP(topic, 1)

    async def go() -> tuple[list[int], set[int], int, int, bool]:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
        await producer.start()
        try:
            for i in range(30):
                await producer.send_and_wait(topic, str(i).encode(), key=b"k", partition=1)
        finally:
            await producer.stop()
        reader = RangeReader({"bootstrap_servers": kafka_bootstrap}, "range-group")
        try:
            got = await reader.read(tp, 5, 17, generation=7)
            before = await reader.committed(tp)
            group = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id="range-group",
                                     enable_auto_commit=False)
            await group.start()
            try:
                group.assign([TopicPartition(topic, 1)])
                await group.commit({TopicPartition(topic, 1): 12})
            finally:
                await group.stop()
            after = await reader.committed(tp)
            monkeypatch.setattr(offsets_module, "READ_ATTEMPT_S", 1.5)
            monkeypatch.setattr(offsets_module, "GIVE_UP_S", 2.5)
            with pytest.raises(RuntimeError, match=f"could not read {topic}\\[1\\] 25..34"):
                await reader.read(tp, 25, 35, generation=7)  # offsets 30..34 do not exist
            return ([int(e.message.value) for e in got],
                    {e.message.generation_id for e in got}, before, after,
                    reader._reader is None)
        finally:
            await reader.stop()

    caplog.set_level("INFO", logger="streamer.offsets")
    values, generations, before, after, dropped = asyncio.run(go())
    assert values == list(range(5, 17)) and generations == {7}
    assert (before, after) == (0, 12)
    failures = [r for r in caplog.records if "25..34 (attempt" in r.getMessage()]
    assert len(failures) >= 2 and dropped


FAULTS = str(Path(__file__).parent / "faults")


def test_a_fetch_the_flow_stopped_in_the_middle_of_is_fetched_again(
        deploy: Callable[..., Deployment]) -> None:
    """The flow stops (as in a rebalance) while Faust hands out a fetch: the records it did
    not hand out are fetched again at once (`Consumer.getmany`), with no hole to read and
    no stall to wait for."""
    d = deploy(STREAMER_TRAINING="off")
    w = d.start_worker("w", PYTHONPATH=FAULTS, STREAMER_TEST_FAULT="stop_flow_mid_fetch")
    w.wait_ready()
    items = simulated("baseline", 150, 60, 3)
    produce_items(d.settings, items)
    wait_processed(d, w)
    log = w.log_path.read_text()
    assert "fault: flow stopped after 5 of" in log, "the fault did not happen"
    assert "fetched records not handed out" in log
    assert w.value("streamer_consumer_holes_total") == 0
    assert w.value("streamer_stalls_total") == 0
    assert w.scored() == count_borrower_events(items)
    assert w.stop() == 0


def test_a_worker_whose_recovery_fetch_is_dropped_reads_the_changelog_again(
        deploy: Callable[..., Deployment]) -> None:
    """A real worker, the real broker, and the fault of Faust's seen in CI: the recovery's
    first changelog fetch is handed out and dropped (tests/integration/faults). Without
    `check_recovery` the worker waits for the changelog forever and never becomes ready."""
    d = deploy(STREAMER_STORE="memory://", STREAMER_TRAINING="off")
    w1 = d.start_worker("w1")
    w1.wait_ready()
    items = simulated("industry_downturn", 60, 120, 9)
    opened = sum(1 for _, _, e in items if e["type"] == "account_opened")
    produce_items(d.settings, items)
    wait_processed(d, w1)
    w1.wait(lambda: w1.value("streamer_portfolio_borrowers") == opened, "every open account")
    assert w1.stop() == 0

    # memory store: the new worker's recovery reads every changelog partition from 0
    w2 = d.start_worker("w2", PYTHONPATH=FAULTS, STREAMER_TEST_FAULT="drop_recovery_fetch")
    w2.wait_ready()
    log = w2.log_path.read_text()
    assert "fault: dropped" in log and "recovery: seeking the waiting changelog" in log
    assert w2.value("streamer_stalls_total") == 1
    # the state is whole again: the dropped records were read after the seek
    w2.wait(lambda: w2.value("streamer_portfolio_borrowers") == opened,
            "every open account rebuilt from the changelog", 30)
    assert w2.stop() == 0
