"""Batches that end when the queue runs dry, not on a timer.

Faust's `Stream.noack_take(max, within)` hands out a batch when it holds `max` events or
when `within` seconds have passed since it began waiting: at light load every event waits
for the timer (the old default of 50 ms was most of the event-to-alert latency at 1,000
events/s), and a shorter timer cut a backlog's batches to what arrived in it (a backlog
was worked off at half the rate with 5 ms). A batch here is what is queued when the
agent asks for one: at light load it is the event or two that just arrived, at once;
under a backlog it is `max` events, and the agent never waits for them.

:class:`Intake` is that rule, on its own (plain asyncio: what it is given, it hands out);
`streamer.faust015.take` feeds it from a Faust stream.

>>> import asyncio
>>> async def demo():
...     intake = Intake(3)
...     for i in range(4):  # four events queued at once, a batch holds at most three
...         asyncio.ensure_future(intake.put(i, more=i < 3))
...     first = await intake.get()
...     second = await intake.get()
...     return first, second
>>> asyncio.run(demo())
([0, 1, 2], [3])
"""

from __future__ import annotations

import asyncio
from typing import Generic, TypeVar

T = TypeVar("T")


class Intake(Generic[T]):
    """Items in one at a time from a producer task; batches out when asked.

    `put(item, more)`: `more` says whether the producer's own queue holds more right now.
    A batch is ready when an item arrives with nothing behind it, or when `max_` items
    wait; a full batch holds the producer back until it is taken (the queue behind it
    fills and the consumer pauses its partitions, as with Faust's own take).
    """

    def __init__(self, max_: int) -> None:
        if max_ < 1:
            raise ValueError("a batch holds at least one event")
        self.max = max_
        self._items: list[T] = []
        self.ready = asyncio.Event()  # a batch can be handed out
        self._taken = asyncio.Event()  # the full batch was handed out: put may go on
        self._taken.set()

    async def put(self, item: T, more: bool) -> None:
        await self._taken.wait()
        self._items.append(item)
        full = len(self._items) >= self.max
        if full or not more:
            self.ready.set()
        if full:
            self._taken.clear()
            await self._taken.wait()

    def take(self) -> list[T]:
        """The batch that is ready (empty if none is)."""
        if not self.ready.is_set():
            return []
        items, self._items = self._items, []
        self.ready.clear()
        self._taken.set()
        return items

    async def get(self) -> list[T]:
        """The next batch, once one is ready."""
        await self.ready.wait()
        return self.take()
