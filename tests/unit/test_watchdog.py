"""streamer.faust015.watchdog: input waiting with nothing delivered; a recovery that stands."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from faust.types import TP

from streamer.faust015 import watchdog as watchdog_module
from streamer.faust015.watchdog import Watchdog

T0 = TP("p.credit.repayments", 0)
CHANGELOG = [TP("p-app-borrowers-changelog", n) for n in range(3)]


def consumer(**kw: Any) -> SimpleNamespace:
    """What the watchdog's log line reads of Faust's consumer (no aiokafka thread here)."""
    return SimpleNamespace(flow_active=True, suspend_flow=asyncio.Event(),
                           _active_partitions=set(), _paused_partitions=set(),
                           _buffered_partitions=set(), _read_offset={}, **kw)


class FakeRuntime:
    """What the watchdog reads and calls of the worker's Runtime."""

    def __init__(self, app: Any, next_offset: int = 100) -> None:
        self.app, self.inputs = app, ["p.credit.repayments"]
        self.batches, self.stuck, self.in_flight, self.is_ready = 0, False, False, True
        self.metrics = SimpleNamespace(stalls=0)
        self.next_offset, self.taken = next_offset, []

        async def start_of(tp: TP) -> int:
            return self.next_offset

        self.offsets = SimpleNamespace(start_of=start_of)

    def busy(self) -> bool:
        return self.in_flight

    def ready(self) -> bool:
        return self.is_ready

    async def take(self, waiting: dict) -> None:
        self.taken.append(dict(waiting))
        self.next_offset = max(waiting.values())


def input_runtime(end: int = 120) -> FakeRuntime:
    async def highwaters(*tps: TP) -> dict:
        return {tp: end for tp in tps}

    app = SimpleNamespace(consumer=consumer(assignment=lambda: {T0}, highwaters=highwaters),
                          tables=SimpleNamespace(recovery=SimpleNamespace(in_recovery=False)))
    return FakeRuntime(app)


def checks(dog: Watchdog, batches_between: list[int]) -> list[int]:
    """Runs one check after each number of batches; how many takes each check made."""
    rt, seen = dog.runtime, []

    async def go() -> None:
        for n in batches_between:
            rt.batches += n
            before = len(rt.taken)
            await dog.check()
            seen.append(len(rt.taken) - before)

    asyncio.run(go())
    return seen


def test_input_waiting_with_no_batch_is_taken_and_a_busy_worker_is_left_alone() -> None:
    rt = input_runtime()
    dog = Watchdog(rt)
    # the first check has no "last" to compare with; batches came -> nothing to do; then a
    # stall: the records up to the end are taken, and then nothing waits any more
    assert checks(dog, [0, 3, 0, 0]) == [0, 0, 1, 0]
    assert rt.taken == [{T0: 120}] and rt.metrics.stalls == 1
    rt.next_offset = 105  # behind again
    rt.in_flight = True  # a batch in flight (e.g. waiting for the broker): not a stall
    assert checks(dog, [0, 0]) == [0, 0]
    rt.in_flight, rt.is_ready = False, False  # a rebalance or recovery: not a stall either
    assert checks(dog, [0]) == [0]
    rt.is_ready = True
    assert checks(dog, [0]) == [1] and rt.metrics.stalls == 2


def test_a_recovery_that_receives_nothing_reads_its_changelogs_again(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Changelog partitions behind their last offset and no offset moved since the last
    check -> sought back to where recovery stands and resumed, once per stalled state; a
    recovery that moves, or is done, is left alone; one the seek does not move fails
    /healthz after RECOVERY_STUCK_S."""
    sought: list[dict] = []
    resumed: list[set] = []

    async def seek_wait(offsets: dict) -> None:
        sought.append(dict(offsets))

    recovery = SimpleNamespace(in_recovery=True,
                               active_offsets={CHANGELOG[0]: -1, CHANGELOG[1]: 40,
                                               CHANGELOG[2]: 9},
                               active_highwaters={CHANGELOG[0]: 36, CHANGELOG[1]: 74,
                                                  CHANGELOG[2]: 9})  # [2] is read to its end
    app = SimpleNamespace(tables=SimpleNamespace(recovery=recovery), consumer=consumer(
        seek_wait=seek_wait, resume_partitions=lambda tps: resumed.append(set(tps))))
    rt = FakeRuntime(app)
    dog = Watchdog(rt)

    def seeks(n: int) -> list[int]:
        seen = []
        for _ in range(n):
            before = len(sought)
            asyncio.run(dog.check())
            seen.append(len(sought) - before)
        return seen

    assert seeks(3) == [0, 1, 0]
    assert sought == [{CHANGELOG[0]: 0, CHANGELOG[1]: 40}]  # Faust re-reads the last one too
    assert resumed == [{CHANGELOG[0], CHANGELOG[1]}]
    assert rt.metrics.stalls == 1
    recovery.active_offsets[CHANGELOG[0]] = 20  # events arrive: moving, no seek
    assert seeks(1) == [0]
    assert seeks(1) == [1]  # and stuck again at new offsets
    assert sought[-1] == {CHANGELOG[0]: 20, CHANGELOG[1]: 40}
    assert not rt.stuck
    monkeypatch.setattr(watchdog_module, "RECOVERY_STUCK_S", 0.0)
    assert seeks(1) == [0] and rt.stuck  # no help from the seek: /healthz fails
    recovery.active_offsets.update({CHANGELOG[0]: 36, CHANGELOG[1]: 74})  # done
    assert seeks(2) == [0, 0] and not rt.stuck
    # the next recovery (after a rebalance) may stall at the very offsets of an earlier one
    recovery.in_recovery, rt.is_ready = False, False
    seeks(1)
    recovery.in_recovery = True
    recovery.active_offsets.update({CHANGELOG[0]: 20, CHANGELOG[1]: 40})
    assert seeks(2) == [0, 1]
