"""The worker's Faust consumer: Faust's fetch loop without four asyncio tasks per message.

Faust's `Consumer._drain_messages` hands every fetched message to the conductor with
``await self.wait_first(callback(message), self.suspend_flow.wait())``: mode's
`Service.wait_first` wraps the callback, the `suspend_flow` wait and the consumer's
stopped and crashed waits in four tasks, runs `asyncio.wait` and cancels the losers
(~35 us a message on the 2-core VM). The race is for a callback that suspends: the
conductor's handler (Faust's Cython `ConductorHandler.__call__`) waits while
`app.flow_control` is suspended (a rebalance), while the producer buffer is over its
limit, or while a stream's queue is full; a rebalance sets `suspend_flow`, and the
message, which may be of a revoked partition, is dropped instead of delivered late. Most
of the time the handler suspends nowhere: it decodes the message and puts it in a queue
with room.

So :class:`Consumer` steps the callback's coroutine once itself. Finished: delivered,
with no task and nothing to race (the loop was not released meanwhile, so no rebalance
callback ran: what Faust's path does when its callback task runs first; the handler
sets no context variable, so running in the loop's own task changes nothing).
Suspended: the partly-run coroutine goes to Faust's race through :class:`_Resumed`,
which hands the task the very future the coroutine yielded (its
`_asyncio_future_blocking` flag intact) and then forwards send/throw/close. While
`suspend_flow` is set, Faust's path is taken from the start.

A second change follows from the first: while a partition is paused because its
stream's buffer is under pressure (`_buffered_partitions`) the fetch waits 0.1 s instead
of 1 s. Faust's loop, which releases the event loop for every message, rarely fills a
buffer; this one fills it whenever the agent is the bottleneck, and a 1 s fetch on the
other partitions then kept the paused one waiting after the agent had emptied its queue
(seen: a fetch of 1 s returning nothing while the queue went from 4,086 events to 0).

A third change is not about speed. Faust's `getmany` stops handing out a fetch when the
flow stops or the generation changes meanwhile (a rebalance), and the records it did not
hand out are gone: aiokafka's position is already past them, nothing fetches them again
until the next seek, and when they were a partition's last no later message shows the hole
(seen in CI: input partitions and a recovery's changelogs that received nothing more).
:meth:`Consumer.getmany` remembers each fetch and where aiokafka stood after it; what was
not handed out is sought back to, in the consumer's thread, unless the partition was
revoked or sought meanwhile (Faust's own seeks after a rebalance, recovery's) -- theirs
stand. The watchdog (`watchdog.py`) and the worker's own offsets (`offsets.py`) stay for
what this does not cover.

Everything else is Faust 0.15.3's loop, line for line: read offsets, gaps,
`commit_every`, a `sleep(0)` every 100 messages (now the loop's only regular yield),
messages below the read offset dropped, the same exception handling.

Faust internals relied on (faust-streaming 0.15.x): `_drain_messages` and what it reads
(`_read_offset`, `_add_gap`, `_n_acked`, `_commit_every`, `suspend_flow`, `diag`,
`consumer_stopped_errors`, `CONSUMER_FETCHING`), `_buffered_partitions`, the aiokafka
driver's `Transport.Consumer` class attribute, and the `app.transport` setter, which
:func:`install` uses before anything creates the app's consumer.
``STREAMER_DRAIN_FAST_PATH=off`` runs Faust's own loop (for comparisons). The counts
(messages, and those that took `wait_first`) are logged at INFO whenever the loop ends.

Upstream: the tasks per message are by design (robinhood/faust#563, #718, #310); the
dropped fetch is open (faust-streaming PRs #223, #234, #235, #253, reverted by #256;
robinhood/faust#580, #583). Reproduced by tests/unit/test_consumer.py (the drain loop and
the seek-back's decisions, with `testing.py`'s stand-ins) and
tests/integration/test_runtime.py::test_a_fetch_the_flow_stopped_in_the_middle_of_is_fetched_again
(a real worker, the flow stopped mid-fetch). The fast path can go when Faust's loop stops
making tasks per message (measure with STREAMER_DRAIN_FAST_PATH=off), the seek-back when
`getmany` seeks back to what it did not hand out.

Also here, since they read the same internals: `commit` (the worker's own commits,
`offsets.py`, through the consumer thread's aiokafka consumer; it trims Faust's `_gap`
record, which only Faust's own commits used to trim) and `describe` (what the guards log).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

import faust
from faust.transport import by_url
from faust.transport import consumer as _faust_consumer
from faust.transport.drivers import aiokafka as _aiokafka

log = logging.getLogger("streamer.faust015.consumer")
BUFFERED_FETCH_S = 0.1  # fetch timeout while a partition is paused for a full buffer
_TAKEN = object()  # _Resumed: its first value was handed out


class _Resumed(Coroutine):
    """A coroutine that already ran to its first suspension, which yielded `first`.

    To whatever runs it (a Task, or ``await``) it behaves as that coroutine not yet
    started: the first ``send(None)`` returns `first` itself, everything after goes
    to the coroutine. A throw before that (a task cancelled before its first step) goes
    into the coroutine at its await, which cleans up as on any cancellation.
    """

    __slots__ = ("_coro", "_first")

    def __init__(self, coro: Any, first: Any) -> None:
        self._coro, self._first = coro, first

    def send(self, value: Any) -> Any:
        first = self._first
        if first is not _TAKEN:
            self._first = _TAKEN
            return first
        return self._coro.send(value)

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        self._first = _TAKEN
        if val is None and tb is None:
            return self._coro.throw(typ)
        return self._coro.throw(typ, val, tb)

    def close(self) -> None:
        self._first = _TAKEN
        self._coro.close()

    def __next__(self) -> Any:
        return self.send(None)

    def __iter__(self) -> _Resumed:
        return self

    def __await__(self) -> _Resumed:
        return self


class Consumer(_aiokafka.Consumer):
    """Faust's aiokafka consumer; `_drain_messages` skips `wait_first` when it can."""

    fast_path = True  # install(): STREAMER_DRAIN_FAST_PATH

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.drained = 0  # messages handed to the callback
        self.slow_path = 0  # ... of which through wait_first
        self.refetched = 0  # partitions sought back to records a fetch did not hand out
        self._fetch: dict[Any, list[Any]] = {}  # the fetch being handed out (getmany)
        self._fetch_ends: dict[Any, int | None] = {}  # aiokafka's positions right after it

    async def _wait_next_records(self, timeout: float) -> Any:
        records, active = await super()._wait_next_records(timeout)
        self._fetch = records or {}
        if self._fetch:
            self._fetch_ends = {tp: _position(self, tp) for tp in self._fetch}
        return records, active

    async def getmany(self, timeout: float) -> Any:  # type: ignore[override]
        """Faust's `getmany`; then what it fetched and did not hand out is fetched again."""
        self._fetch = {}
        handed: dict[Any, int] = {}
        async for tp, message in super().getmany(timeout):
            handed[tp] = message.offset
            yield tp, message
        fetch, self._fetch = self._fetch, {}
        wanted = {}
        for tp, records in fetch.items():
            last = handed.get(tp)
            if records and (last is None or last < records[-1].offset):
                first = next(r.offset for r in records if last is None or r.offset > last)
                wanted[tp] = (first, self._fetch_ends.get(tp))
        if wanted:
            await self._seek_back(wanted)

    async def _seek_back(self, wanted: dict[Any, tuple[int, int | None]]) -> None:
        """Seek each partition to its first record not handed out, in aiokafka's thread,
        if it is still assigned and where the fetch left it."""
        kafka = self._thread._consumer

        async def seek_back() -> dict[Any, int]:
            done = {}
            for tp, (first, end) in wanted.items():
                if end is not None and _position(self, tp) == end:
                    kafka.seek(tp, first)
                    done[tp] = first
            return done

        done = await self._thread.call_thread(seek_back)
        for tp, first in done.items():
            self._read_offset[tp] = first  # (what Faust's seek_wait sets)
        if done:
            self.refetched += len(done)
            log.info("fetched records not handed out (the flow or generation changed), "
                     "sought back to: %s", _short(done))

    async def _drain_messages(self, fetcher: Any) -> None:  # pragma: no cover
        # Faust 0.15.3's Consumer._drain_messages; the two changes are marked "streamer".
        if not self.fast_path:
            return await super()._drain_messages(fetcher)
        callback = self.callback
        getmany = self.getmany
        consumer_should_stop = self._stopped.is_set
        fetcher_should_stop = fetcher._stopped.is_set

        get_read_offset = self._read_offset.__getitem__
        set_read_offset = self._read_offset.__setitem__
        flag_consumer_fetching = _faust_consumer.CONSUMER_FETCHING
        set_flag = self.diag.set_flag
        unset_flag = self.diag.unset_flag
        commit_every = self._commit_every
        acks_enabled_for = self.app.topics.acks_enabled_for

        yield_every = 100
        num_since_yield = 0
        sleep = asyncio.sleep

        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                set_flag(flag_consumer_fetching)
                # -- streamer: a short fetch while a stream's buffer is full (see above)
                ait = getmany(timeout=BUFFERED_FETCH_S if self._buffered_partitions else 1.0)

                # Sleeping because sometimes getmany is called in a loop
                # never releasing to the event loop
                await self.sleep(0)
                if not self.should_stop:
                    async for tp, message in ait:
                        num_since_yield += 1
                        if num_since_yield > yield_every:
                            await sleep(0)
                            num_since_yield = 0

                        offset = message.offset
                        r_offset = get_read_offset(tp)
                        if r_offset is None or offset >= r_offset:
                            gap = offset - (r_offset or 0)
                            # We have a gap in income messages
                            if gap > 1 and r_offset:
                                acks_enabled = acks_enabled_for(message.topic)
                                if acks_enabled:
                                    await self._add_gap(tp, r_offset + 1, offset)
                            if commit_every is not None:
                                if self._n_acked >= commit_every:
                                    self._n_acked = 0
                                    await self.commit()
                            # -- streamer: the delivery (Faust: always the wait_first) --
                            self.drained += 1
                            suspend_flow = self.suspend_flow
                            coro = callback(message)
                            if not suspend_flow.is_set():
                                try:
                                    coro = _Resumed(coro, coro.send(None))
                                except StopIteration:
                                    coro = None  # delivered without suspending
                            if coro is not None:
                                self.slow_path += 1
                                await self.wait_first(coro, suspend_flow.wait())
                            # -- end ---------------------------------------------------
                            set_read_offset(tp, offset)
                        else:
                            self.log.dev(
                                "DROPPED MESSAGE ROFF %r: k=%r v=%r",
                                offset,
                                message.key,
                                message.value,
                            )
                    unset_flag(flag_consumer_fetching)

        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                # we're already stopping so ignore
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                # we're already stopping so ignore
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            unset_flag(flag_consumer_fetching)
            log.info("drain loop ends: %d messages so far, %d through wait_first",
                     self.drained, self.slow_path)


async def commit(consumer: Any, offsets: dict[Any, int]) -> bool:
    """Commit `offsets` (topic-partition -> next offset to read) for the group, in the
    consumer's thread; False (logged) when Kafka refuses, e.g. after a rebalance.

    Faust's own commit path is not used (see `offsets.py`); a failed commit loses nothing
    (the partitions' next owner reads from the last commit and recognises what was done),
    so it is no reason to crash the worker, as Faust's `_commit` does.
    """
    from aiokafka.structs import OffsetAndMetadata, TopicPartition

    assigned = consumer.assignment()
    wanted = {TopicPartition(tp.topic, tp.partition): OffsetAndMetadata(offset, "")
              for tp, offset in offsets.items() if tp in assigned}
    if not wanted:
        return False
    thread = consumer._thread

    async def go() -> None:
        await thread._ensure_consumer().commit(wanted)

    try:
        await thread.call_thread(go)
    except Exception as exc:  # noqa: BLE001 - at least once: the next commit, or the next owner
        log.info("commit of %s refused: %r", _short(offsets), exc)
        return False
    # Faust's record of offsets its fetch loop jumped over serves only its own commits
    # (which chop it); with those replaced it would grow with every jump (e.g. each
    # transaction marker of a transactional producer), so it is chopped here.
    gaps = consumer._gap
    for tp, offset in offsets.items():
        if tp in gaps:
            gaps[tp].chop(0, offset)
    return True


def describe(consumer: Any, tps: list[Any]) -> str:
    """What Faust's consumer and aiokafka believe of `tps` (for a guard's log line)."""
    wanted = set(tps)

    def part(tps: Any) -> list[str]:
        return sorted(_label(tp) for tp in (tps or ()) if tp in wanted)

    try:
        kafka = {}
        for tp in tps:
            st = kafka_state(consumer, tp)
            if st is not None:
                kafka[_label(tp)] = (st.position if st.has_valid_position else "no position",
                                     "paused" if st.paused else "",
                                     "reset" if st.awaiting_reset else "")
    except Exception as exc:  # noqa: BLE001 - a diagnostic must not stop the worker
        kafka = {"unavailable": repr(exc)}
    return (f"flow_active={consumer.flow_active} suspend_flow={consumer.suspend_flow.is_set()} "
            f"active={part(consumer._active_partitions)} "
            f"paused={part(consumer._paused_partitions)} "
            f"buffered={part(consumer._buffered_partitions)} "
            f"read_offsets={ {_label(tp): consumer._read_offset.get(tp) for tp in tps} } "
            f"aiokafka={kafka}")


def _label(tp: Any) -> str:
    return f"{tp.topic}[{tp.partition}]"


def _short(offsets: dict[Any, int]) -> dict[str, int]:
    return {_label(tp): o for tp, o in offsets.items()}


def kafka_state(consumer: Any, tp: Any) -> Any:
    """aiokafka's state of `tp` in Faust's consumer thread (position, paused, reset), or
    None when `tp` is not assigned."""
    subscription = consumer._thread._consumer._subscription.subscription
    assignment = subscription.assignment if subscription is not None else None
    return assignment.state_value(tp) if assignment is not None else None


def _position(consumer: Consumer, tp: Any) -> int | None:
    """aiokafka's position of `tp` (None: not assigned, or no position yet)."""
    state = kafka_state(consumer, tp)
    return state.position if state is not None and state.has_valid_position else None


class Transport(_aiokafka.Transport):
    """Faust's aiokafka transport with :class:`Consumer`."""

    Consumer = Consumer


def install(app: faust.App, fast_path: bool = True) -> None:
    """Give `app` this module's consumer (before anything creates `app.consumer`);
    `fast_path=False` keeps Faust's own fetch loop."""
    Consumer.fast_path = fast_path
    urls = app.conf.broker_consumer
    if by_url(urls[0]) is not _aiokafka.Transport:
        raise ValueError(f"streamer's consumer needs the aiokafka transport, not {urls[0]}")
    app.transport = Transport(urls, app)
