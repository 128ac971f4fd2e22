"""Faults for the integration tests, chosen by ``STREAMER_TEST_FAULT`` in a worker whose
PYTHONPATH holds this directory. Both are what Faust 0.15.3's `Consumer.getmany` does in
a rebalance: it stops handing out a fetch when the flow stops or the generation changes,
and the records it did not hand out are gone (aiokafka's position is past them).

- ``drop_recovery_fetch``: the first fetch of changelog records a recovery receives is
  dropped before streamer's consumer sees it (seen in CI: a recovery that received nothing
  for minutes; `Runtime.check_recovery` reads the changelogs again).
- ``stop_flow_mid_fetch``: once the worker is ready, the flow stops after 5 messages of the
  first fetch of 50 or more, and resumes 0.5 s later (streamer's `Consumer.getmany` seeks
  back to the records not handed out).
"""

import asyncio
import os
import sys

from faust.transport import consumer as _consumer

FAULT = os.environ.get("STREAMER_TEST_FAULT", "")
_done: list[bool] = []


def _say(text: str) -> None:
    print(f"fault: {text}", file=sys.stderr, flush=True)


if FAULT == "drop_recovery_fetch":
    _wait_next_records = _consumer.Consumer._wait_next_records

    async def _dropping(self, timeout):  # type: ignore[no-untyped-def]
        records, active = await _wait_next_records(self, timeout)
        recovery = self.app.tables.recovery
        if records and not _done and recovery.in_recovery:
            dropped = {tp for tp in records if tp in recovery.active_tps}
            if dropped:
                _done.append(True)
                _say(f"dropped {sum(len(records[tp]) for tp in dropped)} changelog records")
                records = {tp: r for tp, r in records.items() if tp not in dropped}
        return records, active

    _consumer.Consumer._wait_next_records = _dropping

elif FAULT == "stop_flow_mid_fetch":
    _wait_next_records = _consumer.Consumer._wait_next_records
    _getmany = _consumer.Consumer.getmany

    async def _counting(self, timeout):  # type: ignore[no-untyped-def]
        records, active = await _wait_next_records(self, timeout)
        self._fault_fetched = sum(len(r) for r in (records or {}).values())
        return records, active

    async def _stopping(self, timeout):  # type: ignore[no-untyped-def]
        handed = 0
        async for tp, message in _getmany(self, timeout):
            yield tp, message
            handed += 1
            ready = self.app.tables.recovery.completed.is_set() and not self.app.rebalancing
            if (handed == 5 and not _done and ready
                    and getattr(self, "_fault_fetched", 0) >= 50):
                _done.append(True)
                _say(f"flow stopped after 5 of {self._fault_fetched} fetched records")
                self.stop_flow()
                asyncio.get_running_loop().call_later(0.5, self.resume_flow)

    _consumer.Consumer._wait_next_records = _counting
    _consumer.Consumer.getmany = _stopping
