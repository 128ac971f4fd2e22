"""streamer.faust015.offsets: the worker's own account of what it processed and commits."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from faust.types import TP

from streamer.faust015 import offsets as offsets_module
from streamer.faust015.offsets import Offsets

T0, T1 = TP("credit.repayments", 0), TP("credit.repayments", 1)


class FakeEvent:  # what the runtime reads of a Faust event (weak-referenceable, like one)
    def __init__(self, message: SimpleNamespace) -> None:
        self.message = message


def event(offset: int, tp: TP = T0, generation: int = 1) -> FakeEvent:
    return FakeEvent(SimpleNamespace(topic=tp.topic, partition=tp.partition, offset=offset,
                                     tp=tp, generation_id=generation, key=b"b1", value=b"{}"))


class FakeReader:
    """The group's commits, and ranges read (every offset exists unless `missing`)."""

    def __init__(self, committed: dict[TP, int], missing: set[int] = frozenset()) -> None:
        self.commits, self.missing, self.reads = dict(committed), missing, []

    async def committed(self, tp: TP) -> int:
        return self.commits[tp]

    async def read(self, tp: TP, start: int, end: int, generation: int) -> list[Any]:
        self.reads.append((tp.partition, start, end))
        return [event(o, tp, generation) for o in range(start, end) if o not in self.missing]


def account(committed: dict[TP, int], **kw: Any) -> Offsets:
    app = SimpleNamespace(consumer_generation_id=1, rebalancing=False,
                          consumer=SimpleNamespace(assignment=lambda: {T0, T1}))
    return Offsets(app, FakeReader(committed, **kw))


def taken(o: Offsets, batch: list[FakeEvent]) -> list[tuple[int, int]]:
    return [(e.message.partition, e.message.offset) for e in asyncio.run(o.in_order(batch))]


def test_a_contiguous_run_from_the_commit_passes_as_it_is() -> None:
    o = account({T0: 10})
    assert taken(o, [event(10), event(11), event(12)]) == [(0, 10), (0, 11), (0, 12)]
    assert o.reader.reads == [] and o.holes == 0


def test_records_the_consumer_skipped_are_read_and_put_first() -> None:
    o = account({T0: 10, T1: 5})
    got = taken(o, [event(13), event(5, T1), event(14), event(6, T1)])
    assert got == [(0, 10), (0, 11), (0, 12), (0, 13), (1, 5), (0, 14), (1, 6)]
    assert o.reader.reads == [(0, 10, 13)] and o.holes == 1
    # records delivered again later (behind what was taken) are skipped, not reprocessed
    assert taken(o, [event(12), event(15)]) == [(0, 15)]
    assert o.repeated == 1 and o.reader.reads == [(0, 10, 13)]


def test_a_real_gap_in_the_log_is_read_once_and_passed() -> None:
    o = account({T0: 10}, missing={11, 12})  # e.g. transaction markers
    assert taken(o, [event(10), event(13)]) == [(0, 10), (0, 13)]
    assert o.reader.reads == [(0, 11, 13)]
    assert taken(o, [event(14)]) == [(0, 14)]


def test_a_new_generation_starts_from_the_groups_commit_again() -> None:
    o = account({T0: 10})
    assert len(taken(o, [event(10), event(11)])) == 2
    o.app.consumer_generation_id = 2
    o.reader.commits[T0] = 11  # the commit of the generation before
    got = taken(o, [event(20, generation=2)])
    assert got == [(0, o) for o in range(11, 21)]


def test_messages_of_another_generation_a_revoked_partition_or_a_rebalance_are_dropped() -> None:
    o = account({T0: 10, T1: 0})
    o.app.consumer_generation_id = 2
    assert taken(o, [event(10, generation=1)]) == []
    o.app.consumer.assignment = lambda: {T1}
    assert taken(o, [event(10, generation=2)]) == []
    o.app.rebalancing = True
    assert taken(o, [event(0, T1, generation=2)]) == []
    assert o.dropped == 3 and o.reader.reads == []


def test_a_rebalance_while_a_hole_is_read_drops_the_rest_of_the_batch() -> None:
    o = account({T0: 10})
    read = o.reader.read

    async def rebalancing_read(*args: Any) -> list[Any]:
        o.app.consumer_generation_id = 2
        return await read(*args)

    o.reader.read = rebalancing_read
    got = taken(o, [event(12), event(13)])
    assert got == [(0, 10), (0, 11), (0, 12)] and o.dropped == 1


def commits(monkeypatch: pytest.MonkeyPatch, refuse: list[bool]) -> list[dict]:
    sent: list[dict] = []

    async def commit(consumer: Any, offsets: dict) -> bool:
        sent.append(dict(offsets))
        return not (refuse and refuse.pop(0))

    monkeypatch.setattr(offsets_module, "commit_offsets", commit)
    return sent


def test_only_durable_offsets_are_committed_once_each(monkeypatch: pytest.MonkeyPatch) -> None:
    sent = commits(monkeypatch, refuse=[False, True])
    o = account({T0: 10, T1: 3})
    batch = asyncio.run(o.in_order([event(12), event(3, T1)]))  # 10..11 read as a hole
    assert asyncio.run(o.commit()) is False and sent == []  # taken, not durable yet
    o.made_durable(batch)
    assert asyncio.run(o.commit()) and sent == [{T0: 13, T1: 4}]
    assert asyncio.run(o.commit()) is False and len(sent) == 1  # nothing new
    o.made_durable(asyncio.run(o.in_order([event(13)])))
    assert asyncio.run(o.commit()) is False  # refused (e.g. a rebalance) ...
    assert asyncio.run(o.commit()) and sent[-1] == {T0: 14}  # ... so sent again
    # a batch processed for a generation that has ended is not committed in the next
    stale = asyncio.run(o.in_order([event(14)]))
    o.app.consumer_generation_id = 2
    o.made_durable(stale)
    assert asyncio.run(o.commit()) is False and sent[-1] == {T0: 14}


def test_the_watchdog_reads_up_to_an_end_and_the_stream_goes_on_after_it() -> None:
    o = account({T0: 10})
    got = asyncio.run(o.read_to(T0, 15))
    assert [e.message.offset for e in got] == [10, 11, 12, 13, 14]
    assert asyncio.run(o.read_to(T0, 15)) == []  # nothing new
    assert taken(o, [event(14), event(15)]) == [(0, 15)]


class SlowStartingConsumer:
    """An aiokafka consumer whose `start` yields to the loop before it can be used."""

    started: list[SlowStartingConsumer] = []

    def __init__(self, **options: Any) -> None:
        self.ready = False

    async def start(self) -> None:
        await asyncio.sleep(0.01)
        self.ready = True
        SlowStartingConsumer.started.append(self)

    async def stop(self) -> None:
        self.ready = False

    async def committed(self, tp: Any) -> int:
        assert self.ready, "used before it started"
        return 42


def test_the_scoring_and_training_agents_can_ask_for_commits_at_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Both agents start together and both ask for their partition's commit: one client is
    started and used by both (CI: a client used before it had started, then stopped under
    the other caller, crashed the worker)."""
    import aiokafka

    monkeypatch.setattr(aiokafka, "AIOKafkaConsumer", SlowStartingConsumer)
    reader = offsets_module.RangeReader({}, "group")

    async def both() -> list[int]:
        return list(await asyncio.gather(reader.committed(T0), reader.committed(T1)))

    assert asyncio.run(both()) == [42, 42]
    assert len(SlowStartingConsumer.started) == 1


class AwayThenBack(SlowStartingConsumer):
    """A consumer that cannot start while the broker is away (its first `away` starts)."""

    away = 3

    async def start(self) -> None:
        if AwayThenBack.away > 0:
            AwayThenBack.away -= 1
            raise ConnectionError("Unable to bootstrap")
        await super().start()


def test_a_broker_away_for_a_while_pauses_the_reader_and_one_away_for_good_stops_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """CI's broker-outage scenario: the agent asked for a commit while the broker was down
    for 20 s, and four attempts in a few milliseconds crashed the worker."""
    import aiokafka

    monkeypatch.setattr(aiokafka, "AIOKafkaConsumer", AwayThenBack)
    monkeypatch.setattr(offsets_module, "RETRY_FIRST_S", 0.001)
    reader = offsets_module.RangeReader({}, "group")
    assert asyncio.run(reader.committed(T0)) == 42 and AwayThenBack.away == 0
    AwayThenBack.away = 10**6
    reader = offsets_module.RangeReader({}, "group")
    monkeypatch.setattr(offsets_module, "GIVE_UP_S", 0.05)
    with pytest.raises(RuntimeError, match="could not read the group's commit"):
        asyncio.run(reader.committed(T0))
