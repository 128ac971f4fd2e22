"""A Faust stream's events in batches that end when its queue runs dry (`runtime/intake.py`).

Faust 0.15.3's `Stream.noack_take(max, within)` ends a batch only when it is full or when
its timer runs out, so at light load every event waits out the timer. This reads the stream
the way `noack_take` does -- a processor collects each event as the stream's passive
drainer task iterates the channel, and the agent is handed lists of events, none acked to
Faust -- but hands a batch out as soon as the channel's queue holds nothing more.

Faust internals relied on: `Stream.add_processor`, `_enable_passive`, `_processors`,
`current_event`, `enable_acks`, `wait_for_stopped`, and `channel.queue` (the queue the
stream's iterator reads, `Stream._py_aiter`). Upstream has no take without a timer
(`noack_take`, `take`, `take_events` all end on `within`). Reproduced by
tests/unit/test_take.py (the batches of a real Faust stream over a channel) and exercised
by every worker test; it can go when Faust's take ends a batch on an empty queue.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from streamer.runtime.intake import Intake


async def drained_take(stream: Any, max_: int) -> AsyncIterator[list[Any]]:
    """Batches of `stream`'s events (at most `max_`), each as soon as the queue is dry."""
    intake: Intake[Any] = Intake(max_)
    queue = stream.channel.queue

    async def collect(value: Any) -> Any:
        event = stream.current_event
        if event is None:
            raise RuntimeError("a stream processor ran without the stream's current event")
        await intake.put(event, more=not queue.empty())
        return value

    acks = stream.enable_acks
    stream.enable_acks = False  # the worker commits its own offsets (offsets.py)
    stream.add_processor(collect)
    stream._enable_passive(aiter(stream.channel))
    try:
        while not stream.should_stop:
            await stream.wait_for_stopped(intake.ready)
            batch = intake.take()
            if batch:
                yield batch
    finally:
        stream.enable_acks = acks
        stream._processors.remove(collect)
