"""A fault for one test (on a worker's PYTHONPATH): the first fetch of changelog records
that a recovery receives is dropped, as Faust 0.15.3's `Consumer.getmany` drops records
it is handing out when the flow or the generation changes meanwhile (seen in CI: a worker
whose recovery received nothing for minutes). aiokafka's position is then past the records.
"""

import sys

from faust.transport import consumer as _consumer

_wait_next_records = _consumer.Consumer._wait_next_records
_done: list[bool] = []


async def _dropping(self, timeout):  # type: ignore[no-untyped-def]
    records, active = await _wait_next_records(self, timeout)
    recovery = self.app.tables.recovery
    if records and not _done and recovery.in_recovery:
        dropped = {tp for tp in records if tp in recovery.active_tps}
        if dropped:
            _done.append(True)
            print(f"fault: dropped {sum(len(records[tp]) for tp in dropped)} changelog records",
                  file=sys.stderr, flush=True)
            records = {tp: r for tp, r in records.items() if tp not in dropped}
    return records, active


_consumer.Consumer._wait_next_records = _dropping
