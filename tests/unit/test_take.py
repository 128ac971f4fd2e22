"""Batches end when the queue runs dry: runtime/intake.py, and faust015/take.py on a real
Faust stream (an agent's test context: Faust's own channel, stream and drainer task)."""

from __future__ import annotations

import asyncio

import faust
import pytest

from streamer.faust015.take import drained_take
from streamer.runtime.intake import Intake

GUARD_S = 30.0  # only against a hang: nothing here waits on a timer of its own


async def _until(check, what: str) -> None:
    async def poll() -> None:
        while not check():
            await asyncio.sleep(0.005)
    try:
        await asyncio.wait_for(poll(), GUARD_S)
    except asyncio.TimeoutError:
        pytest.fail(f"never: {what}")


def test_an_item_with_nothing_behind_it_is_a_batch_and_a_full_batch_holds_the_producer():
    async def run() -> tuple[list[list[int]], bool]:
        intake: Intake[int] = Intake(2)
        await intake.put(1, more=False)  # alone: ready at once
        first = await intake.get()
        await intake.put(2, more=True)
        assert not intake.ready.is_set()  # more is queued behind it: not yet
        third = asyncio.ensure_future(intake.put(3, more=True))  # fills the batch ...
        await asyncio.sleep(0)
        held = not third.done()  # ... and waits until it is taken
        second = await intake.get()
        await third
        return [first, second], held

    batches, held = asyncio.run(run())
    assert batches == [[1], [2, 3]] and held


def test_intake_refuses_an_empty_batch_size():
    with pytest.raises(ValueError):
        Intake(0)


def test_a_faust_stream_is_handed_out_in_batches_as_soon_as_its_queue_is_dry():
    app = faust.App("test-take", broker="kafka://localhost:1", store="memory://")
    batches: list[list[int]] = []

    @app.agent()
    async def agent(stream: faust.StreamT) -> None:
        async for batch in drained_take(stream, 3):
            batches.append([e.value for e in batch])

    async def run() -> None:
        async with agent.test_context() as a:
            for i in range(7):
                await a.put(i, wait=False)
            await _until(lambda: sum(map(len, batches)) == 7, "seven events handed out")
            # one event on a quiet stream: handed out alone, not after a timer
            await a.put(100, wait=False)
            await _until(lambda: batches[-1] == [100], "the lone event handed out")

    asyncio.run(run())
    assert [v for b in batches for v in b] == [*range(7), 100]  # every event, in order
    assert max(map(len, batches)) == 3 and all(batches)  # full batches, never above max
