"""streamer.faust015.consumer: Faust's drain loop with a task-free path for callbacks that finish at once."""

from __future__ import annotations

import asyncio
from typing import Any

import faust
import mode
import pytest
from faust.types import TP

from streamer.faust015.consumer import Consumer, Transport, _Resumed, install
from streamer.faust015.testing import FakeKafka, fake_consumer, fetch_of

TP0 = TP("t", 0)


# -- _Resumed: a partly-run coroutine, run on by a task ---------------------------------------
async def _waits(fut: asyncio.Future, log: list[str]) -> str:
    log.append("before")
    try:
        value = await fut
    except asyncio.CancelledError:
        log.append("cancelled")
        raise
    finally:
        log.append("finally")
    return f"got {value}"


def _stepped(fut: asyncio.Future, log: list[str]) -> _Resumed:
    coro = _waits(fut, log)
    first = coro.send(None)
    assert first is fut and fut._asyncio_future_blocking  # the awaited future, as yielded
    return _Resumed(coro, first)


def test_a_task_runs_a_resumed_coroutine_to_its_result() -> None:
    async def main() -> None:
        log: list[str] = []
        fut = asyncio.get_running_loop().create_future()
        task = asyncio.ensure_future(_stepped(fut, log))
        await asyncio.sleep(0)
        assert not task.done()
        fut.set_result(7)
        assert await task == "got 7"
        assert log == ["before", "finally"]  # the first part ran once

    asyncio.run(main())


def test_await_runs_a_resumed_coroutine_too() -> None:
    async def main() -> None:
        log: list[str] = []
        fut = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_later(0.01, fut.set_result, 1)
        assert await _stepped(fut, log) == "got 1"

    asyncio.run(main())


@pytest.mark.parametrize("started", [False, True])
def test_cancelling_the_task_cancels_the_coroutine_at_its_await(started: bool) -> None:
    async def main() -> None:
        log: list[str] = []
        fut = asyncio.get_running_loop().create_future()
        task = asyncio.ensure_future(_stepped(fut, log))
        if started:
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert log == ["before", "cancelled", "finally"]

    asyncio.run(main())


def test_close_closes_the_coroutine() -> None:
    log: list[str] = []
    loop = asyncio.new_event_loop()
    try:
        resumed = _stepped(loop.create_future(), log)
        resumed.close()
        assert log == ["before", "finally"]
    finally:
        loop.close()


def test_wait_first_with_suspend_flow_cancels_a_resumed_callback() -> None:
    """The race the slow path exists for: flow suspended while a delivery waits."""
    async def main() -> None:
        log: list[str] = []
        fut = asyncio.get_running_loop().create_future()
        suspend = asyncio.Event()
        asyncio.get_running_loop().call_later(0.01, suspend.set)
        service = mode.Service()
        result = await service.wait_first(_stepped(fut, log), suspend.wait())
        assert len(result.done) == 1 and result.done[0] is not None
        await asyncio.sleep(0)  # the cancelled loser runs its cancellation
        assert log == ["before", "cancelled", "finally"]

    asyncio.run(main())


# -- the drain loop ---------------------------------------------------------------------------
class Msg:
    def __init__(self, offset: int, topic: str = "t") -> None:
        self.offset, self.topic, self.key, self.value = offset, topic, None, None


async def drain(offsets: list[int], callback: Any, fast: bool = True,
                before: Any = None) -> tuple[Consumer, list[int]]:
    """Run a worker app's consumer's drain loop over one fetch of `offsets` of TP0."""
    app = faust.App("test-consumer", broker="kafka://127.0.0.1:1")
    install(app)
    consumer = app.consumer
    assert isinstance(consumer, Consumer)
    consumer.fast_path = fast
    fetcher = mode.Service()
    timeouts = consumer.timeouts = []  # type: ignore[attr-defined]

    async def getmany(timeout: float) -> Any:
        timeouts.append(timeout)
        for offset in offsets:
            yield TP0, Msg(offset)
        fetcher._stopped.set()

    consumer.getmany = getmany  # type: ignore[method-assign]
    consumer.callback = callback
    if before is not None:
        before(consumer)
    await consumer._drain_messages(fetcher)
    return consumer, [o for o in [consumer._read_offset[TP0]] if o is not None]


def test_a_callback_that_never_suspends_takes_no_task() -> None:
    got: list[int] = []

    async def callback(message: Msg) -> None:
        got.append(message.offset)

    async def main() -> None:
        before = len(asyncio.all_tasks())
        consumer, read = await drain([0, 1, 2, 5, 6], callback)
        assert got == [0, 1, 2, 5, 6] and read == [6]
        assert (consumer.drained, consumer.slow_path) == (5, 0)
        assert len(asyncio.all_tasks()) == before

    asyncio.run(main())


def test_messages_below_the_read_offset_are_dropped() -> None:
    got: list[int] = []

    async def callback(message: Msg) -> None:
        got.append(message.offset)

    def seeked(consumer: Consumer) -> None:
        consumer._read_offset[TP0] = 3

    async def main() -> None:
        consumer, read = await drain([1, 2, 3, 4], callback, before=seeked)
        assert got == [3, 4] and read == [4] and consumer.drained == 2

    asyncio.run(main())


@pytest.mark.parametrize("fast", [True, False])
def test_a_callback_that_suspends_is_finished_in_order(fast: bool) -> None:
    got: list[int] = []

    async def callback(message: Msg) -> None:
        if message.offset % 2:
            await asyncio.sleep(0.001)  # a full queue, the producer buffer, flow control
            await asyncio.sleep(0)
        got.append(message.offset)

    async def main() -> None:
        consumer, read = await drain(list(range(6)), callback, fast=fast)
        assert got == list(range(6)) and read == [5]
        assert consumer.slow_path == (3 if fast else 0)  # off: Faust's own loop

    asyncio.run(main())


def test_suspend_flow_set_takes_the_slow_path_and_wins_the_race() -> None:
    got: list[int] = []

    async def callback(message: Msg) -> None:
        await asyncio.Event().wait()  # flow control: until the rebalance ends
        got.append(message.offset)

    async def main() -> None:
        async def rebalance() -> None:
            await asyncio.sleep(0.01)
            consumer.suspend_flow.set()

        consumer: Any = None

        def remember(c: Consumer) -> None:
            nonlocal consumer
            consumer = c
            asyncio.ensure_future(rebalance())

        consumer, read = await drain([0, 1], callback, before=remember)
        # Faust's semantics: the suspended delivery is dropped, the next message takes
        # the slow path (suspend_flow is set) and is dropped at once; read offsets move on
        assert got == [] and read == [1] and consumer.slow_path == 2

    asyncio.run(main())


@pytest.mark.parametrize("buffered", [False, True])
def test_the_fetch_is_short_while_a_partition_waits_for_its_buffer(buffered: bool) -> None:
    async def callback(message: Msg) -> None:
        pass

    def full(consumer: Consumer) -> None:
        if buffered:
            consumer._buffered_partitions.add(TP0)  # as Consumer.on_buffer_full does

    async def main() -> None:
        consumer, _ = await drain([0], callback, before=full)
        assert consumer.timeouts == [0.1 if buffered else 1.0]

    asyncio.run(main())


def test_an_exception_in_the_callback_stops_the_loop() -> None:
    async def callback(message: Msg) -> None:
        raise ValueError(f"bad {message.offset}")

    async def main() -> None:
        with pytest.raises(ValueError, match="bad 0"):
            await drain([0, 1], callback)

    asyncio.run(main())


def test_the_worker_app_has_this_consumer() -> None:
    from streamer.runtime.app import create_app
    from streamer.settings import Settings

    app = create_app(Settings.from_env({}))
    assert type(app.transport) is Transport and type(app.consumer) is Consumer


# -- getmany: what a fetch did not hand out is fetched again ----------------------------------
async def hand_out(kafka: FakeKafka, stop_after: int | None, *,
                   meanwhile: Any = None) -> tuple[Consumer, list[tuple[int, int]]]:
    """One `getmany` over kafka's fetch. The flow stops (as a rebalance stops it) after
    `stop_after` messages handed out, 0: while the fetch is in flight, and then
    `meanwhile(kafka)` runs as Faust's seek back to the commits."""
    consumer = fake_consumer(kafka, stop_after, meanwhile)
    got = []
    async for tp, message in consumer.getmany(timeout=0.1):
        got.append((tp.partition, message.offset))
        if len(got) == stop_after:
            consumer.stop_flow()
    return consumer, got


TP1 = TP("t", 1)


def test_records_a_stopped_flow_did_not_hand_out_are_sought_back_to() -> None:
    kafka = FakeKafka({TP0: fetch_of(TP0, range(10, 15)), TP1: fetch_of(TP1, range(40, 43))},
                      {TP0: 10, TP1: 40})
    consumer, got = asyncio.run(hand_out(kafka, stop_after=2))
    assert len(got) == 2  # Faust's getmany broke off once the flow stopped
    last = {p: o for p, o in got}
    # each partition goes back to its first record not handed out
    expected = {tp: last[tp.partition] + 1 if tp.partition in last else records[0].offset
                for tp, records in kafka.records.items()}
    assert dict(kafka.seeks) == expected and consumer.refetched == 2
    assert all(consumer._read_offset[tp] == o for tp, o in expected.items())


def test_a_fetch_handed_out_whole_seeks_nothing() -> None:
    kafka = FakeKafka({TP0: fetch_of(TP0, range(10, 15))}, {TP0: 10})
    consumer, got = asyncio.run(hand_out(kafka, stop_after=None))
    assert [o for _, o in got] == [10, 11, 12, 13, 14]
    assert kafka.seeks == [] and consumer.refetched == 0


def test_a_partition_sought_or_revoked_meanwhile_keeps_that_seek() -> None:
    """The flow stops while the fetch is in flight: Faust drops all of it and seeks back to
    the commits. A partition that seek moved keeps it, a revoked one is left alone, and one
    it did not move (no commit: a changelog, a partition never committed) goes back."""
    tp2 = TP("t", 2)
    kafka = FakeKafka({TP0: fetch_of(TP0, range(10, 15)), TP1: fetch_of(TP1, range(0, 3)),
                       tp2: fetch_of(tp2, range(0, 4))}, {TP0: 10, TP1: 0, tp2: 0})

    def rebalance(k: FakeKafka) -> None:
        k.positions[TP0] = 3  # the group's commit
        k.revoked.add(TP1)

    consumer, got = asyncio.run(hand_out(kafka, stop_after=0, meanwhile=rebalance))
    assert got == [] and kafka.seeks == [(tp2, 0)] and consumer.refetched == 1


# -- commit: the worker's own commits ------------------------------------------------------
def test_commit_sends_the_offsets_of_assigned_partitions_and_trims_fausts_gaps() -> None:
    from streamer.faust015.consumer import commit

    kafka = FakeKafka({}, {TP0: 0, TP1: 0})
    consumer = fake_consumer(kafka)
    consumer._gap[TP0].addi(3, 6)  # offsets Faust's loop jumped over
    consumer._gap[TP0].addi(20, 25)
    stray = TP("t", 9)  # not assigned (revoked meanwhile): not committed
    assert asyncio.run(commit(consumer, {TP0: 12, TP1: 4, stray: 1}))
    assert kafka.commits == [{("t", 0): 12, ("t", 1): 4}]
    assert sorted((i.begin, i.end) for i in consumer._gap[TP0]) == [(20, 25)]


def test_a_refused_commit_is_reported_not_raised() -> None:
    from aiokafka.errors import CommitFailedError

    from streamer.faust015.consumer import commit

    kafka = FakeKafka({}, {TP0: 0})
    kafka.refuse = CommitFailedError("the group has already rebalanced")
    consumer = fake_consumer(kafka)
    consumer._gap[TP0].addi(3, 6)
    assert asyncio.run(commit(consumer, {TP0: 12})) is False
    assert kafka.commits == [] and len(consumer._gap[TP0]) == 1  # kept for the next commit
