"""Two checks every `CHECK_S` from the worker's start, for what Faust's consumer leaves
waiting with nothing in flight.

* **Input waiting, nothing delivered.** Faust's `getmany` can stop handing out a fetch
  (the flow stops or the generation changes) and the records it did not hand out are
  gone: aiokafka's position is past them (faust-streaming #223/#234/#235/#253, reverted by
  #256; robinhood/faust#580/#583). `consumer.py` seeks back to them when it can see it;
  when it cannot (the records were a partition's last, so no later message shows the
  hole), the worker is ready and idle while its input partitions end beyond the next
  offset it expects. Then the log says what the consumer believes and the worker reads
  those records itself (`Runtime.take`), as it reads any hole. Reproduced by
  tests/unit/test_watchdog.py; seen in CI before (a worker that took over a killed one's
  partitions and fetched nothing more).
* **A recovery that receives nothing.** Recovery seeks the changelogs, resumes the flow,
  and no changelog event arrives for minutes ("No event received for active tp ... since
  recovery start"; the dropped fetch above, and faust-streaming #176, #155, #651, #597,
  #432); the worker never becomes ready. When no changelog offset moved in a whole check
  interval, the log gets what recovery, the consumer and aiokafka believe, with the stacks
  of the fetch loop and of recovery's reader, and the waiting partitions are sought back
  to where recovery stands and resumed (a record applied twice leaves the same table). A
  recovery that the seek does not move for `RECOVERY_STUCK_S` makes /healthz fail, so
  that the orchestrator restarts the worker. Reproduced by tests/unit/test_watchdog.py and
  tests/integration/test_runtime.py::test_a_worker_whose_recovery_fetch_is_dropped_reads_the_changelog_again.

A service of the worker's own, not a Faust timer: Faust starts an app's timers once its
first recovery is done, and a recovery that receives nothing is one of the stalls. Both
checks can go when Faust's consumer hands out or seeks back to every record it fetched.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import mode
from mode.utils.tracebacks import format_task_stack

from streamer.faust015.consumer import describe

log = logging.getLogger("streamer.watchdog")
CHECK_S = 5.0  # an input stall is seen 5-10 s after the last batch
RECOVERY_STUCK_S = 300.0  # a recovery still standing this long after its seek: /healthz fails
QUERY_S = 20.0


class Watchdog(mode.Service):
    """`check` every `CHECK_S` (see the module docstring)."""

    def __init__(self, runtime: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.runtime = runtime
        self._seen_batches = -1
        self._recovered: dict[Any, int] | None = None  # recovery offsets at the last check
        self._recovery_stalled: dict[Any, int] | None = None  # ... and at the last seek
        self._recovery_sought_at = 0.0

    @mode.Service.timer(CHECK_S)
    async def _check(self) -> None:
        await self.check()

    async def check(self) -> None:
        rt = self.runtime
        if rt.app.tables.recovery.in_recovery:
            await self.check_recovery()
            return
        self._recovered = self._recovery_stalled = None
        rt.stuck = False
        await self.check_inputs()

    async def check_inputs(self) -> None:
        """Take the records of input partitions that wait while nothing is delivered."""
        rt = self.runtime
        batches, self._seen_batches = self._seen_batches, rt.batches
        if batches != rt.batches or rt.busy() or not rt.ready():
            return
        consumer = rt.app.consumer
        inputs = set(rt.inputs)
        tps = [tp for tp in consumer.assignment() if tp.topic in inputs]
        if not tps:
            return
        try:
            ends = await asyncio.wait_for(consumer.highwaters(*tps), QUERY_S)
            starts = {tp: await rt.offsets.start_of(tp) for tp in tps}
        except Exception as exc:  # noqa: BLE001 - a check must not stop the worker
            log.info("input check skipped: %r", exc)
            return
        waiting = {tp: ends[tp] for tp in tps if ends.get(tp, 0) > starts[tp]}
        if not waiting or rt.batches != batches or rt.busy() or not rt.ready():
            return  # nothing waits, or a batch came or a rebalance began meanwhile
        rt.metrics.stalls += 1
        log.warning("no batch for %.0f s with input waiting (next offset, end): %s; "
                    "consumer: %s", CHECK_S,
                    {_label(tp): (starts[tp], end) for tp, end in waiting.items()},
                    describe(consumer, list(waiting)))
        await rt.take(waiting)

    async def check_recovery(self) -> None:
        """Fetch again the changelogs that recovery waits for while nothing arrives."""
        rt = self.runtime
        recovery = rt.app.tables.recovery
        read = {tp: o for tp, o in recovery.active_offsets.items() if o is not None}
        waiting = {tp: (read.get(tp, -1), last) for tp, last in recovery.active_highwaters.items()
                   if last is not None and last > read.get(tp, -1)}
        seen, self._recovered = self._recovered, read
        if not waiting or read != seen:
            rt.stuck = False
            return  # done, or moving
        if read == self._recovery_stalled:  # sought from these very offsets already
            if not rt.stuck and time.monotonic() - self._recovery_sought_at > RECOVERY_STUCK_S:
                rt.stuck = True
                log.error("recovery: no changelog event in the %.0f s since the seek; the "
                          "worker reports itself unhealthy (/healthz) to be restarted",
                          RECOVERY_STUCK_S)
            return
        self._recovery_stalled, self._recovery_sought_at = read, time.monotonic()
        rt.metrics.stalls += 1
        consumer = rt.app.consumer
        log.warning("recovery: no changelog event for %.0f s (read, last offset): %s; "
                    "consumer: %s", CHECK_S, {_label(tp): v for tp, v in waiting.items()},
                    describe(consumer, list(waiting)))
        for task in asyncio.all_tasks():
            stack = format_task_stack(task)
            if "_drain_messages" in stack or "_slurp_changelogs" in stack:
                log.warning("recovery: task %s\n%s", task.get_name(), stack)
        log.warning("recovery: seeking the waiting changelog partitions back to the offsets read")
        await consumer.seek_wait({tp: max(o, 0) for tp, (o, _) in waiting.items()})
        consumer.resume_partitions(list(waiting))


def _label(tp: Any) -> str:
    return f"{tp.topic}[{tp.partition}]"
